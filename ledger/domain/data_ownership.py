"""A resident's data: the consents they choose, the archive they take away, what erasure keeps.

Pure: the standard library only. The SQL side is `ledger.db.resident_data`.

Consents, one per purpose, revocable at any time, honoured from the moment they change:
- `district_aggregates`: the resident's readings count in the public district figures. Granted
  until revoked (the figures only ever show groups of 5 homes or more, and a figure once
  published never changes, so revoking takes the home out of every figure published after).
- `third_party_sharing`, per named party (`THIRD_PARTIES`): the resident's readings may be given
  to that party. Refused until granted.

The archive (`wallet data export`, `GET /v1/me/export`) is a zip: `manifest.json` (format,
account, when, and per collection its row count and files), then each collection twice,
`<name>.json` (a list of objects) and `<name>.csv` (a header line, then one line per object).
Integers are written as JSON numbers up to 2^53 and as decimal strings beyond; bytes as 0x-hex.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ARCHIVE_FORMAT = "m3e-resident-archive/1"
AGGREGATES = "district_aggregates"
SHARING = "third_party_sharing"
THIRD_PARTIES = ("energy-cooperative", "research-team")
DEFAULTS = {AGGREGATES: True, SHARING: False}
_SAFE_INTEGER = 2**53


class DataOwnershipError(ValueError):
    """A consent or an erasure request that cannot be applied; the message says what to write."""


@dataclass(frozen=True, slots=True)
class Consent:
    purpose: str
    party: str  # "" for a purpose that names no party
    granted: bool
    changed_ts: int | None  # None: the default, never changed


def check_consent(purpose: str, party: str | None) -> tuple[str, str]:
    """(purpose, party) when the pair is one a resident can choose, else a sentence."""
    if purpose == AGGREGATES:
        if party:
            raise DataOwnershipError("The district_aggregates consent names no third party: leave party out.")
        return purpose, ""
    if purpose == SHARING:
        if party not in THIRD_PARTIES:
            raise DataOwnershipError(
                f"Sharing is chosen per named party: party must be one of {', '.join(THIRD_PARTIES)}."
            )
        return purpose, party
    raise DataOwnershipError(f"Unknown purpose {purpose!r}: choose {AGGREGATES} or {SHARING}.")


def every_consent(stored: Sequence[Consent]) -> list[Consent]:
    """Each choosable (purpose, party) with the stored choice, or its default."""
    by_key = {(c.purpose, c.party): c for c in stored}
    pairs = [(AGGREGATES, ""), *[(SHARING, p) for p in THIRD_PARTIES]]
    return [by_key.get((p, q), Consent(p, q, DEFAULTS[p], None)) for p, q in pairs]


@dataclass(frozen=True, slots=True)
class Kept:
    """Data erasure does not delete: what, why, and for how long."""

    what: str
    why: str
    until: str


# What an erasure keeps, in the words the resident reads (the API and the wallet print them).
KEPT_AFTER_ERASURE = (
    Kept(
        "bank credits you sent to buy M3E (name, IBAN, amount, date, reference, and the address "
        "they credited)",
        "accounting records (Code de commerce, art. L123-22) and anti-money-laundering records "
        "(Code monétaire et financier, art. L561-12)",
        "10 years after the end of the financial year of the transfer",
    ),
    Kept(
        "electricity readings of meters in a solar-sharing operation, the meter, its site and your "
        "membership, mandates and signed consents of that operation",
        "they are the basis of the settlements paid to and by you (supporting documents of the "
        "operation's accounts) and the proof of your mandate",
        "10 years after the settled day; the consents 5 years after you leave (Code civil, art. 2224)",
    ),
    Kept(
        "your refusal of the district aggregates",
        "so the readings kept above never count in a public figure again",
        "as long as those readings are kept",
    ),
    Kept(
        "what the public chain holds: your address, transfers, payments (their references only as "
        "salted commitments), bookings and settlement lines, and the ledger's index of it",
        "a blockchain cannot forget; the address is a pseudonym: nothing on chain names you; off "
        "chain, your top-up reference and naming choice go, and only the bank credits above still "
        "join your name to your address",
        "for ever (the index is rebuilt from the chain)",
    ),
)


def _cell(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -_SAFE_INTEGER < value < _SAFE_INTEGER else str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    return value if isinstance(value, str | float) else str(value)


def archive(account: str, generated_ts: int, collections: Mapping[str, Sequence[Mapping[str, Any]]]) -> bytes:
    """The zip a resident takes away: manifest.json, then `<name>.json` and `<name>.csv` each."""
    out = io.BytesIO()
    manifest: dict[str, Any] = {
        "format": ARCHIVE_FORMAT,
        "account": account.lower(),
        "generated_ts": generated_ts,
        "collections": {},
    }
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for name, rows in collections.items():
            clean = [{k: _cell(v) for k, v in row.items()} for row in rows]
            columns = sorted({k for row in clean for k in row})
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            for row in clean:
                writer.writerow({k: "" if v is None else v for k, v in row.items()})
            zipped.writestr(f"{name}.json", json.dumps(clean, ensure_ascii=False, indent=1))
            zipped.writestr(f"{name}.csv", text.getvalue())
            manifest["collections"][name] = {"rows": len(clean), "files": [f"{name}.json", f"{name}.csv"]}
        zipped.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
    return out.getvalue()
