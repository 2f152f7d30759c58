"""The QR code of a payment request, saved as a private file.

The request's URI carries the reference and its salt: the file is written like every other file
of the wallet, atomically and readable by its owner only (0600), whatever the umask.
"""

from __future__ import annotations

import io
from pathlib import Path

from wallet_cli.errors import UsageError
from wallet_cli.home import atomic_write


def save_qr(uri: str, path: Path) -> None:
    """Save the QR code of `uri` to `path` (.png or .svg), 0600, atomically."""
    import segno

    kind = path.suffix.lower().removeprefix(".")
    if kind not in ("png", "svg"):
        raise UsageError(f"'{path.name}' is not a .png or .svg file name: choose one of those.")
    if not path.parent.is_dir():
        raise UsageError(f"The directory of '{path}' does not exist: create it first.")
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind=kind, scale=8)
    atomic_write(path, buffer.getvalue(), private_dir=False)
