"""Payment references in clear, kept by the wallet; on chain only their salted commitment.

A reference ("DESK-2026-11-CHLOE") says who paid what for what, so the chain never carries it:
`pay`, `refund` and `book` send `commitment = keccak256(DOMAIN || salt || reference)` (the one
definition is ledger.chain.reference), with a 32-byte random salt. Whoever holds the reference
and its salt can match the commitment; anyone else (RPC access, the public API) sees 32 bytes
that cannot be guessed, even for a short or predictable reference.

Where the salt comes from:
- `wallet request` (the merchant) draws it and puts it in the ERC-681 URI (`refsalt=0x...`,
  see wallet_cli.payment_uri) and its QR code; the payer's `wallet pay URI` uses it, so both
  wallets match the payment;
- `wallet pay MERCHANT AMOUNT --ref R` and `wallet book` draw it for the payer (the command
  prints it: give it with the reference to the merchant who needs to match the payment);
- `wallet refund ... --ref R` reuses the salt this wallet holds for R (a reference it
  requested or paid), so the payer's wallet matches the refund too; else it draws one.

The book is `<home>/references.json` (0600, atomic writes), keyed by commitment::

    {"version": 1, "references": {"0x<commitment>": {"ref": "...", "salt": "0x...",
     "role": "requested|paid|refund|booking|signed", "merchant_id": 1, "amount": "7500000",
     "at": "2026-12-02T01:00:00+00:00"}}}

`wallet history` shows the clear reference of every commitment found in the book.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wallet_cli.errors import UsageError
from wallet_cli.home import read_json, write_json

REFERENCES_FILE = "references.json"


@dataclass(frozen=True)
class Committed:
    """A reference, its salt and the commitment that goes on chain."""

    ref: str
    salt: bytes
    commitment: bytes

    @property
    def commitment_hex(self) -> str:
        return "0x" + self.commitment.hex()

    @property
    def salt_hex(self) -> str:
        return "0x" + self.salt.hex()

    def as_json(self) -> dict[str, str]:
        return {"ref": self.ref, "ref_salt": self.salt_hex, "ref_commitment": self.commitment_hex}


def commit(ref: str, salt: bytes | None = None) -> Committed:
    """The commitment to `ref` under `salt` (a fresh random salt when None)."""
    from ledger.chain.reference import ReferenceError, new_salt, reference_commitment

    salt = new_salt() if salt is None else salt
    try:
        return Committed(ref, salt, reference_commitment(ref, salt))
    except ReferenceError as exc:
        raise UsageError(str(exc)) from None


def check_reference(ref: str) -> str:
    """A reference that can be committed: printable text of 1 to 140 UTF-8 bytes."""
    from ledger.chain.reference import ReferenceError
    from ledger.chain.reference import check_reference as check

    try:
        check(ref)
    except ReferenceError as exc:
        raise UsageError(str(exc)) from None
    return ref


class ReferenceBook:
    """The clear references (and salts) behind the commitments this wallet sent or asked for."""

    def __init__(self, home: Path) -> None:
        self.file = home / REFERENCES_FILE

    def _load(self) -> dict[str, dict[str, Any]]:
        data = read_json(self.file, {"version": 1, "references": {}})
        refs = data.get("references", {})
        return refs if isinstance(refs, dict) else {}

    def remember(self, committed: Committed, role: str, **meta: Any) -> None:
        from wallet_cli.home import ensure_private_dir

        ensure_private_dir(self.file.parent)
        refs = self._load()
        refs[committed.commitment_hex] = {
            "ref": committed.ref, "salt": committed.salt_hex, "role": role,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            **{k: v for k, v in meta.items() if v is not None},
        }
        write_json(self.file, {"version": 1, "references": refs})

    def entries(self) -> dict[str, dict[str, Any]]:
        return dict(self._load())

    def lookup(self, commitment: bytes | str) -> str | None:
        """The clear reference of a commitment, when this wallet holds it (checked again)."""
        from ledger.chain.reference import matches, parse_salt

        key = commitment if isinstance(commitment, str) else "0x" + commitment.hex()
        entry = self._load().get(key.lower())
        if not isinstance(entry, dict):
            return None
        ref, salt = str(entry.get("ref", "")), str(entry.get("salt", ""))
        try:
            ok = matches(bytes.fromhex(key[2:]), ref, parse_salt(salt))
        except ValueError:
            return None
        return ref if ok else None

    def salt_for(self, ref: str) -> bytes | None:
        """The salt of the latest commitment to `ref` this wallet requested or paid."""
        from ledger.chain.reference import parse_salt

        latest: tuple[str, str] | None = None
        for entry in self._load().values():
            if isinstance(entry, dict) and entry.get("ref") == ref:
                at = str(entry.get("at", ""))
                if latest is None or at >= latest[0]:
                    latest = (at, str(entry.get("salt", "")))
        if latest is None:
            return None
        try:
            return parse_salt(latest[1])
        except ValueError:
            return None


def reveal(entries: Any, book: ReferenceBook) -> int:
    """Put the clear reference on each history entry whose on-chain reference is a commitment
    this wallet holds; returns how many were matched. Others stay as their 0x commitment."""
    import re

    from wallet_cli.payment_uri import ref_to_bytes32

    matched = 0
    for entry in entries:
        ref = getattr(entry, "ref", None)
        if not ref:
            continue
        if re.fullmatch(r"0x[0-9a-fA-F]{64}", ref):
            key = ref.lower()
        else:
            try:
                key = "0x" + ref_to_bytes32(ref).hex()
            except UsageError:
                continue
        clear = book.lookup(key)
        if clear is not None:
            entry.ref = clear
            matched += 1
    return matched
