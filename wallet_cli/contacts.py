"""Contacts (name -> address) and the last-seen payout address of each merchant.

Both are small JSON files in the wallet home, written atomically with mode 0600. Contact names
are compared without regard to case and can never look like an address or an ENS name, so
`wallet send alice ...` can never be read as an address and the other way round.

`check_payout` is the guard the chain commands call before paying a merchant: it compares the
payout address the registry gives now with the one seen last time and returns a warning when it
changed (the registrar may have moved it legitimately, or someone may be redirecting payments).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wallet_cli.errors import ContactError
from wallet_cli.home import read_json, write_json
from wallet_cli.names import check_contact_name, to_checksum_address

CONTACTS_FILE = "contacts.json"
PAYOUTS_FILE = "merchants-seen.json"


class Contacts:
    def __init__(self, home: Path) -> None:
        self.file = home / CONTACTS_FILE

    def _load(self) -> dict[str, str]:
        data = read_json(self.file, {"version": 1, "contacts": {}})
        contacts = data.get("contacts", {})
        if not isinstance(contacts, dict):
            raise ContactError(f"{self.file} is malformed: 'contacts' should be an object.")
        return {str(k): str(v) for k, v in contacts.items()}

    def _save(self, contacts: dict[str, str]) -> None:
        write_json(self.file, {"version": 1, "contacts": contacts})

    def all(self) -> dict[str, str]:
        return dict(sorted(self._load().items(), key=lambda kv: kv[0].lower()))

    def get(self, name: str) -> str | None:
        key = name.strip().lower()
        for stored, address in self._load().items():
            if stored.lower() == key:
                return address
        return None

    def names_for(self, address: str) -> list[str]:
        return [n for n, a in self._load().items() if a.lower() == address.lower()]

    def add(self, name: str, address: str, *, replace: bool = False) -> tuple[str, str]:
        clean = check_contact_name(name)
        checksummed = to_checksum_address(address)
        contacts = self._load()
        existing = next((n for n in contacts if n.lower() == clean.lower()), None)
        if existing is not None and not replace:
            raise ContactError(
                f"A contact named '{existing}' exists already ({contacts[existing]}): "
                "remove it first or use --replace."
            )
        if existing is not None:
            del contacts[existing]
        contacts[clean] = checksummed
        self._save(contacts)
        return clean, checksummed

    def remove(self, name: str) -> tuple[str, str]:
        contacts = self._load()
        existing = next((n for n in contacts if n.lower() == name.strip().lower()), None)
        if existing is None:
            raise ContactError(self._missing(name, contacts))
        address = contacts.pop(existing)
        self._save(contacts)
        return existing, address

    def _missing(self, name: str, contacts: dict[str, str]) -> str:
        import difflib

        close = difflib.get_close_matches(name, list(contacts), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        return f"There is no contact named '{name}'.{hint}"


@dataclass(frozen=True)
class PayoutCheck:
    """Result of comparing a merchant's payout address with the one seen last time."""

    merchant: str
    payout: str
    previous: str | None
    first_seen: bool
    changed: bool

    @property
    def warning(self) -> str | None:
        if not self.changed:
            return None
        return (
            f"Warning: the payout address of '{self.merchant}' changed since your last payment "
            f"(was {self.previous}, now {self.payout}). Check with the merchant before paying."
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "merchant": self.merchant,
            "payout": self.payout,
            "previous": self.previous,
            "first_seen": self.first_seen,
            "changed": self.changed,
            "warning": self.warning,
        }


class SeenPayouts:
    """Last-seen payout address per merchant, keyed by registry address and merchant id."""

    def __init__(self, home: Path) -> None:
        self.file = home / PAYOUTS_FILE

    @staticmethod
    def key(registry: str, merchant_id: int) -> str:
        return f"{registry.lower()}:{merchant_id}"

    def _load(self) -> dict[str, dict[str, Any]]:
        data = read_json(self.file, {"version": 1, "merchants": {}})
        merchants = data.get("merchants", {})
        return merchants if isinstance(merchants, dict) else {}

    def last_seen(self, registry: str, merchant_id: int) -> str | None:
        entry = self._load().get(self.key(registry, merchant_id))
        return str(entry["payout"]) if isinstance(entry, dict) and "payout" in entry else None

    def check(self, registry: str, merchant_id: int, name: str, payout: str) -> PayoutCheck:
        """Compare without recording (call `remember` once the person confirmed and paid)."""
        payout = to_checksum_address(payout)
        previous = self.last_seen(registry, merchant_id)
        return PayoutCheck(
            merchant=name,
            payout=payout,
            previous=previous,
            first_seen=previous is None,
            changed=previous is not None and previous.lower() != payout.lower(),
        )

    def remember(self, registry: str, merchant_id: int, name: str, payout: str) -> None:
        merchants = self._load()
        merchants[self.key(registry, merchant_id)] = {
            "name": name,
            "payout": to_checksum_address(payout),
            "seen_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_json(self.file, {"version": 1, "merchants": merchants})


def check_payout(
    home: Path, registry: str, merchant_id: int, name: str, payout: str, *, remember: bool = True
) -> PayoutCheck:
    """Compare a merchant's payout with the last one seen, then (by default) remember it."""
    store = SeenPayouts(home)
    result = store.check(registry, merchant_id, name, payout)
    if remember:
        store.remember(registry, merchant_id, name, payout)
    return result
