"""Settings of the operator's bank account (environment prefix LEDGER_TREASURY_).

Created by the CLI entry or the app factory, never at import time.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class TreasurySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_TREASURY_", env_file=None, extra="ignore")

    iban: str | None = None  # the operator's account: statements of another account are refused
    bic: str | None = None
    name: str = "Association Monnaie du 3e"
    # the day payouts are executed: 0 = the next business day is left to the bank (today's date)
    execution_days: int = 0
    # The secret key of the top-up references (64 hex digits in a 0600 file); unset, the key is
    # `treasury-reference.key` in the state directory, made on first use.
    reference_key_file: Path | None = None

    def reference_key(self, state_dir: Path) -> bytes:
        """The top-up reference key: the configured file, or the state directory's (made once)."""
        if self.reference_key_file is not None:
            return read_reference_key(self.reference_key_file)
        path = state_dir / DEFAULT_KEY_FILE
        if not path.exists():
            _create_key_file(path)
        return read_reference_key(path)

    def existing_reference_key(self, state_dir: Path) -> bytes:
        """The key `reference_key` reads, never made here: a command that judges the registry by
        the key (retiring references) must use the key the API uses, not a new one."""
        path = self.reference_key_file or state_dir / DEFAULT_KEY_FILE
        return read_reference_key(path)

    def reference_key_path(self, state_dir: Path) -> Path:
        return self.reference_key_file or state_dir / DEFAULT_KEY_FILE

    @field_validator("iban")
    @classmethod
    def _valid_iban(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from schwifty import IBAN

        try:
            return str(IBAN(value).compact)
        except ValueError as exc:
            raise ValueError(f"LEDGER_TREASURY_IBAN is not a valid IBAN: {exc}") from exc


DEFAULT_KEY_FILE = "treasury-reference.key"


def _create_key_file(path: Path) -> None:
    """A new random key, written 0600 then linked into place: never over an existing key, and
    never seen half-written (two workers starting at once: both read the first one linked)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
    finally:
        draft.unlink(missing_ok=True)


def read_reference_key(path: Path) -> bytes:
    """The key in `path` (64 hex digits), refused when others may read the file."""
    from ledger.errors import ConfigError

    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise ConfigError(
            f"the top-up reference key file {path} does not exist: create it with 64 hex digits "
            "(`python -c 'import secrets; print(secrets.token_hex(32))'`) and chmod 600"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        why = type(exc).__name__
        raise ConfigError(f"the top-up reference key file {path} cannot be read ({why})") from None
    if stat.S_IMODE(mode) & 0o077:
        raise ConfigError(f"the top-up reference key file {path} is readable by others: chmod 600 it")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ConfigError(f"the top-up reference key file {path} must hold 64 hex digits (32 bytes)")
    return key
