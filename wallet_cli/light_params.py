"""Command-line values converted without pydantic, for the wallet's plain parameter types.

Typer (0.2x) converts every parameter of an invoked command through a pydantic TypeAdapter, so
any `wallet` command imported pydantic first: about 0.15 s, more than `wallet balance` may take
in all (bench/wallet.sh). The wallet's parameters are plain `str`, `bool`, `int`, `float` (some
with `min`/`max`) and `Path`; `install()` gives those a conversion with the same outcomes
(the value, or a usage error, exit 2) and leaves every other parameter to typer. A typer without
this machinery (older or newer) is left alone: the commands work the same, only slower.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

_INSTALLED = False


def _to_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _to_text(value).strip().lower()
    if text in ("1", "true", "t", "yes", "y", "on"):
        return True
    if text in ("", "0", "false", "f", "no", "n", "off"):
        return False
    raise ValueError(f"'{value}' is not true or false.")


def install() -> None:
    """Route the wallet's plain parameters around pydantic (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    try:
        from typer import _coercion, core
        from typer._click.exceptions import BadParameter
        from typer._param_types import coerce_cli_path, routes_to_path

        base: Any = _coercion.RuntimeParam
        parameter_class: Any = core._TyperParameter
        original = parameter_class.get_runtime_param
    except (ImportError, AttributeError):
        return

    @dataclass(frozen=True)
    class PlainParam(base):  # type: ignore[misc]
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            info, kind = self.parameter_info, self.annotation
            try:
                if kind is str:
                    return _to_text(value)
                if kind is bool:
                    return _to_bool(value)
                if kind in (int, float):
                    number = kind(_to_text(value).strip()) if not isinstance(value, kind) else value
                    low, high = info.min, info.max
                    if info.clamp:
                        if low is not None and number < low:
                            number = kind(low)
                        if high is not None and number > high:
                            number = kind(high)
                        return number
                    if (low is not None and number < low) or (high is not None and number > high):
                        bounds = " and ".join(p for p in (
                            f">= {low}" if low is not None else "",
                            f"<= {high}" if high is not None else "") if p)
                        raise ValueError(f"{value} is out of range: it must be {bounds}.")
                    return number
            except ValueError as exc:
                message = str(exc) if "range" in str(exc) or "true or false" in str(exc) else (
                    f"'{value}' is not a valid {'whole number' if kind is int else 'number'}.")
                raise BadParameter(message, ctx=ctx, param=param) from None
            path_type = info.path_type or (kind if isinstance(kind, type) and issubclass(kind, Path)
                                           else None)
            return coerce_cli_path(value, info, path_type=path_type, param=param, ctx=ctx)

    def plain(descriptor: Any) -> bool:
        info, kind = descriptor.parameter_info, descriptor.annotation
        if descriptor.file_annotation is not None or info.parser is not None:
            return False
        if getattr(info, "click_type", None) is not None:
            return False
        if kind in (str, bool, int, float):
            return True
        return bool(isinstance(kind, type) and issubclass(kind, Path)
                    and routes_to_path(kind, info))

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None and plain(self.type_descriptor):
            descriptor = self.type_descriptor
            self._runtime_param = PlainParam(parameter_info=descriptor.parameter_info,
                                             annotation=descriptor.annotation)
        return original(self)

    parameter_class.get_runtime_param = get_runtime_param
    _INSTALLED = True
