"""`ledger`: the district ledger's service and operator command.

Exit codes: 0 done; 1 the ledger, the chain or a contract refused (the sentence says why);
2 bad usage or settings.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ledger.errors import ConfigError, InputError, LedgerError
from ledger.settings import LedgerSettings

app = typer.Typer(
    help="The district ledger of Lyon 3e (Monnaie du 3e): deploy, verify, index, settle, serve.",
    no_args_is_help=True,
    add_completion=True,
    epilog="Exit codes: 0 done, 1 refused or failed (the message says why), 2 usage or settings.",
)

RpcOption = Annotated[str | None, typer.Option("--rpc-url", help="JSON-RPC URL (env LEDGER_RPC_URL)")]
ManifestOption = Annotated[
    Path | None, typer.Option("--manifest", help="deployment manifest (env LEDGER_MANIFEST)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="one JSON object on stdout")]


def load_settings(rpc_url: str | None = None, manifest: Path | None = None) -> LedgerSettings:
    overrides: dict[str, object] = {}
    if rpc_url:
        overrides["rpc_url"] = rpc_url
    if manifest:
        overrides["manifest"] = manifest
    return LedgerSettings(**overrides)  # type: ignore[arg-type]


def _emit(as_json: bool, payload: dict[str, object], text: str) -> None:
    if as_json:
        typer.echo(json.dumps(payload, sort_keys=True))
    else:
        typer.echo(text)


def _hidden_prompt(question: str) -> str:
    import getpass

    return getpass.getpass(question)


def _register_areas() -> None:
    """Each area adds its commands from ledger/cli/<area>.py."""
    for area in ("deploy", "energy", "registry", "readings", "indexer", "settlement", "serve",
                 "treasury", "node", "ops", "operator", "network"):
        try:
            module = importlib.import_module(f"ledger.cli.{area}")
        except ModuleNotFoundError as exc:
            if exc.name != f"ledger.cli.{area}":
                raise
            continue
        module.register(app)


_register_areas()


def main() -> None:
    try:
        code = app(standalone_mode=False)
        # click returns the code of typer.Exit instead of raising it when not standalone
        sys.exit(code if isinstance(code, int) else 0)
    except (ConfigError, InputError) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except LedgerError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        # typer >= 0.20 raises its own copy of click's exceptions (TyperException underneath)
        if isinstance(exc, typer.TyperException):
            show = getattr(exc, "show", None)
            if callable(show):
                show()
            else:
                typer.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        raise
