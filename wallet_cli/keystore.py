"""The keystore directory: one Web3 Secret Storage file per named account.

As geth does: the directory is 0700, files are 0600, and a keystore is decrypted once more from
the temporary file on disk before it replaces anything, so a bad write can never cost a key.
Listing reads the `address` member only and needs no password (and no crypto import).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wallet_cli.errors import KeystoreError
from wallet_cli.home import atomic_write, ensure_private_dir
from wallet_cli.names import check_account_name


@dataclass(frozen=True)
class AccountInfo:
    name: str
    address: str
    path: str | None
    file: Path

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "path": self.path,
            "file": str(self.file),
        }


class Keystore:
    """Named accounts stored under `<home>/keystore/<name>.json`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def file_for(self, name: str) -> Path:
        return self.directory / f"{check_account_name(name)}.json"

    def exists(self, name: str) -> bool:
        return self.file_for(name).exists()

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.json") if not p.name.startswith("."))

    def load(self, name: str) -> dict[str, Any]:
        """The keystore of `name`, refused when others can read the file (they could try
        passwords offline): checked on the file opened, so a link swapped after a check cannot
        hand over another file."""
        return self._read(name, private=True)

    def _read(self, name: str, *, private: bool) -> dict[str, Any]:
        file = self.file_for(name)
        try:
            with open(file, encoding="utf-8") as handle:
                mode = os.fstat(handle.fileno()).st_mode
                if private and mode & 0o077:
                    raise KeystoreError(
                        f"The keystore {file} can be read by other users (mode {mode & 0o777:o}): "
                        f"run `chmod 600 {file}` and try again."
                    )
                data = json.loads(handle.read())
        except FileNotFoundError:
            raise KeystoreError(self._missing_message(name)) from None
        except (OSError, json.JSONDecodeError) as exc:
            raise KeystoreError(f"The keystore {file} cannot be read: {exc}.") from exc
        if not isinstance(data, dict):
            raise KeystoreError(f"The keystore {file} is not a JSON object.")
        return data

    def info(self, name: str) -> AccountInfo:
        data = self._read(name, private=False)  # the address is public; listing needs no check
        return AccountInfo(name, _address_member(data), _path_member(data), self.file_for(name))

    def accounts(self) -> list[AccountInfo]:
        result = []
        for name in self.names():
            try:
                result.append(self.info(name))
            except KeystoreError:
                result.append(AccountInfo(name, "(unreadable)", None, self.file_for(name)))
        return result

    def save(
        self, name: str, keystore: dict[str, Any], password: str, *, overwrite: bool = False
    ) -> Path:
        """Write a keystore atomically (0600) after decrypting it again from the disk."""
        from wallet_cli.keys import decrypt_keystore

        file = self.file_for(name)
        if not overwrite and file.exists():
            raise KeystoreError(f"An account named '{name}' exists already: choose another name.")
        ensure_private_dir(self.directory.parent)
        ensure_private_dir(self.directory)
        expected = _address_member(keystore).lower()

        def verify(tmp: Path) -> None:
            written = json.loads(tmp.read_text(encoding="utf-8"))
            if decrypt_keystore(written, password).address.lower() != expected:
                raise KeystoreError("The keystore did not decrypt back to its address: not saved.")

        data = (json.dumps(keystore, indent=2) + "\n").encode()
        atomic_write(file, data, verify=verify, overwrite=overwrite)
        return file

    def address_of(self, name: str) -> str:
        return self.info(name).address

    def find_by_address(self, address: str) -> str | None:
        for account in self.accounts():
            if account.address.lower() == address.lower():
                return account.name
        return None

    def _missing_message(self, name: str) -> str:
        known = self.names()
        hint = f" Accounts: {', '.join(known)}." if known else " Create one with `wallet new`."
        return f"There is no account named '{name}'.{hint}"


def _address_member(data: dict[str, Any]) -> str:
    from wallet_cli.names import to_checksum_address

    raw = str(data.get("address", "")).lower().removeprefix("0x")
    if len(raw) != 40:
        raise KeystoreError("The keystore has no address member.")
    return to_checksum_address("0x" + raw)


def _path_member(data: dict[str, Any]) -> str | None:
    extra = data.get("x-m3e")
    if isinstance(extra, dict) and isinstance(extra.get("path"), str):
        return str(extra["path"])
    return None
