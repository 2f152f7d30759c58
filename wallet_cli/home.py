"""The wallet home: where keystores, contacts and settings live, and how files are written.

Location, first found: `--home DIR`, env `WALLET_HOME`, else the platform's user data path:
`$XDG_DATA_HOME/m3e-wallet` (default `~/.local/share/m3e-wallet`) on Linux,
`~/Library/Application Support/m3e-wallet` on macOS, `%APPDATA%\\m3e-wallet` on Windows.

Layout::

    <home>/                 0700
    ├── keystore/           0700, one Web3 Secret Storage file per account: <name>.json (0600)
    ├── contacts.json       0600, name -> address
    ├── merchants-seen.json 0600, last-seen merchant payout addresses
    ├── sessions/           0700, Sign-In with Ethereum sessions: <address>@<api>.json (0600)
    └── config.toml         settings (rpc_url, api_url, manifest)

Every file is written atomically (a temporary file in the same directory, fsync, os.replace,
fsync of the directory), created 0600, so a crash never leaves half a keystore behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wallet_cli.errors import UsageError, WalletError

APP_DIR = "m3e-wallet"
DIR_MODE = 0o700
FILE_MODE = 0o600


def default_home() -> Path:
    """The platform's user data path for the wallet."""
    if sys.platform == "win32":  # pragma: no cover - not this machine
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":  # pragma: no cover - not this machine
        base = Path.home() / "Library" / "Application Support"
    else:
        xdg = os.environ.get("XDG_DATA_HOME", "")
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / APP_DIR


def resolve_home(override: str | os.PathLike[str] | None = None) -> Path:
    """`--home`, else env WALLET_HOME, else the platform default (nothing is created here)."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("WALLET_HOME", "")
    if env:
        return Path(env).expanduser()
    return default_home()


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) and make sure it is 0700: only the owner can list it."""
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        if stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
            path.chmod(DIR_MODE)
    except OSError as exc:
        raise WalletError(f"Cannot create the private directory {path}: {exc.strerror}.") from exc
    return path


def atomic_write(
    path: Path,
    data: bytes,
    *,
    verify: Callable[[Path], None] | None = None,
    overwrite: bool = True,
    private_dir: bool = True,
) -> None:
    """Write `data` to `path` atomically with mode 0600 (with `private_dir=False`, a directory
    the person chose, such as where a QR code goes, is left as it is: it must exist).

    The bytes go to a temporary file in the same directory (created 0600), are flushed and
    fsynced; `verify(temp_path)` may read them back and raise to abandon the write; then the
    file is renamed over `path` and the directory is fsynced. With `overwrite=False` an
    existing `path` is never replaced (checked again right before the rename).
    """
    directory = path.parent
    if private_dir:
        ensure_private_dir(directory)
    import tempfile  # here: it pulls random and hashlib, which most commands never need

    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if verify is not None:
            verify(tmp)
        if overwrite:
            os.replace(tmp, path)
        else:
            # link() fails if the target exists: no race between the check and the rename
            try:
                os.link(tmp, path)
            except FileExistsError as exc:
                raise WalletError(f"{path} exists already: nothing was overwritten.") from exc
            tmp.unlink()
        _fsync_dir(directory)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _fsync_dir(directory: Path) -> None:
    if sys.platform == "win32":  # pragma: no cover
        return
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_document(path: Path, what: str) -> dict[str, Any]:
    """A JSON object the user hands over (a signed payment, a signed transfer): a sentence, never
    a traceback, when it is missing, unreadable or not an object. `what` names it in that sentence."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist.") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path} cannot be read: {exc}.") from exc
    if not isinstance(value, dict):
        raise UsageError(f"{path} is not {what}.")
    return value


def read_json(path: Path, default: dict[str, Any]) -> dict[str, Any]:
    """Read a JSON object, `default` when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return default
    except OSError as exc:
        raise WalletError(f"Cannot read {path}: {exc.strerror}.") from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"{path} is not valid JSON (line {exc.lineno}): fix or remove it."
        raise WalletError(message) from exc
    if not isinstance(value, dict):
        raise WalletError(f"{path} should hold a JSON object.")
    return value


def write_json(path: Path, value: dict[str, Any]) -> None:
    """Write a JSON object atomically, 0600, sorted and indented for people reading it."""
    data = (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    atomic_write(path, data)
