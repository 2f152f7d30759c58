"""Contacts (name -> address) and the last-seen payout address of each merchant.

Both are small JSON files in the wallet home, written atomically with mode 0600. Contact names
can never look like an address or an ENS name, so `wallet send alice ...` can never be read as
an address and the other way round.

Names nobody can fake (the rule is `ledger.names`: case, accents and Unicode look-alikes
folded): a contact may not be, or look like, one of your own accounts, another contact or a
merchant of the registry; a name mixing scripts with look-alike letters (a Cyrillic `а` in a
Latin name) is refused too. Each refusal names what the contact resembles. When a name is
typed, your own accounts come first, then contacts; a contact found by name is checked again
(`check_contact_in_use`), so a contact saved before a look-alike merchant was registered, or by
an older wallet, is refused rather than paid.

`check_payout` is the guard the chain commands call before paying a merchant: it compares the
payout address the registry gives now with the one seen last time and flags both a payout
never seen before for that merchant and one that changed (the registrar may have moved it
legitimately, or someone may be redirecting payments).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wallet_cli.errors import BadNameError, ContactError
from wallet_cli.home import read_json, write_json
from wallet_cli.names import check_contact_name, to_checksum_address


@dataclass(frozen=True)
class KnownName:
    """A name a contact must not resemble: an own account, a contact or a merchant."""

    kind: str  # "account", "contact" or "merchant"
    name: str
    detail: str = ""  # the address, or "#3, payout 0x..." for a merchant

    def describe(self) -> str:
        what = {"account": "your own account", "contact": "your contact",
                "merchant": "the merchant"}[self.kind]
        return f"{what} '{self.name}'" + (f" ({self.detail})" if self.detail else "")


def resembled(name: str, known: Iterable[KnownName]) -> list[KnownName]:
    """The known names that `name` is, or looks like (case, accents and look-alikes folded)."""
    from ledger.names import resembling

    return resembling(name, known, lambda k: k.name)


def refuse_lookalike(name: str, known: Sequence[KnownName], *, what: str = "a contact") -> None:
    """BadNameError naming what `name` resembles; or a mixed-script look-alike."""
    from ledger.names import char_names, fold, foreign_lookalikes

    hits = resembled(name, known)
    if hits:
        first = hits[0]
        how = "is" if fold(name) == fold(first.name) else "looks like"
        others = f" (and {len(hits) - 1} other name(s))" if len(hits) > 1 else ""
        rule = ("your own accounts always come first"
                if first.kind == "account" else "a name must point to one payee only")
        raise BadNameError(
            f"'{name}' cannot be {what}: it {how} {first.describe()}{others}, and {rule}. "
            "Choose a clearly different name.")
    foreign = foreign_lookalikes(name)
    if foreign:
        chars = char_names([c for c, _ in foreign])
        scripts = ", ".join(sorted({s for _, s in foreign}))
        raise BadNameError(
            f"'{name}' cannot be {what}: it mixes letters of another script ({scripts}: {chars}) "
            "that look like ordinary letters. Type the name in one script.")

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
        found = self.find(name)
        return found[1] if found else None

    def find(self, name: str) -> tuple[str, str] | None:
        """(stored name, address) of the contact named `name` up to case, accents and spacing."""
        from ledger.names import fold

        key = fold(name)
        for stored, address in self._load().items():
            if fold(stored) == key:
                return stored, address
        return None

    def names_for(self, address: str) -> list[str]:
        return [n for n, a in self._load().items() if a.lower() == address.lower()]

    def add(
        self, name: str, address: str, *, replace: bool = False,
        accounts: Iterable[KnownName] = (), merchants: Iterable[KnownName] = (),
    ) -> tuple[str, str]:
        """Save a contact; refused when the name is, or looks like, an own account, another
        contact or a merchant (`--replace` only re-points a contact of the same name)."""
        from ledger.names import fold

        clean = check_contact_name(name)
        checksummed = to_checksum_address(address)
        contacts = self._load()
        existing = next((n for n in contacts if fold(n) == fold(clean)), None)
        if existing is not None and not replace:
            raise ContactError(
                f"A contact named '{existing}' exists already ({contacts[existing]}): "
                "remove it first or use --replace."
            )
        others = [KnownName("contact", n, a) for n, a in contacts.items() if n != existing]
        refuse_lookalike(clean, [*accounts, *others, *merchants])
        if existing is not None:
            del contacts[existing]
        contacts[clean] = checksummed
        self._save(contacts)
        return clean, checksummed

    def remove(self, name: str) -> tuple[str, str]:
        found = self.find(name)
        contacts = self._load()
        existing = found[0] if found else None
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
        if self.first_seen:
            return (
                f"Note: this wallet has never paid '{self.merchant}' at the payout address "
                f"{self.payout}. Check it with the merchant (their receipt or counter sign) "
                "before paying."
            )
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

    def names(self, registry: str | None = None) -> list[tuple[int, str, str]]:
        """(merchant id, name, payout) of the merchants this wallet has paid (for offline checks)."""
        out = []
        for key, entry in self._load().items():
            where, _, number = key.rpartition(":")
            if not isinstance(entry, dict) or not (number.isascii() and number.isdigit()):
                continue
            if registry is not None and where != registry.lower():
                continue
            out.append((int(number), str(entry.get("name", "")), str(entry.get("payout", ""))))
        return out

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
