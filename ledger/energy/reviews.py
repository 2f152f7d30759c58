"""The review queue of conflicting readings: list them, resolve them, and what "open" means.

A reading is held for review when a second, different value arrives for a key already stored
(same source, meter, interval, step, direction and version): neither value is trusted until the
operator decides. While a review is open, the local day of its interval stays open (settlement
refuses it, naming the reviews). The operator resolves it with

    ledger readings resolve ID --keep raw|corrected|VALUE

- `raw`: keep the reading as it is stored (the value first received; the held one is dropped);
- `corrected`: the held value (the one that arrived later) replaces the stored one;
- `VALUE`: a whole number of Wh (or L) the operator establishes (from the distributor's portal,
  a meter photo...), bounded by the meter's physical maximum for the step.

Nothing is lost: the review row keeps both values, the decision, the value kept, when and by
whom; a replaced reading points to the sha256 of the decision (stored like any raw input, source
"review"), so every stored value still has the hash of the input it came from. Resolving moves
the day's data: `days_needing_settlement` (ledger.energy.settlement_source) then lists the day,
and `settle-watch` commits the correction version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

import orjson

from ledger.energy.envelope import UNITS, format_utc
from ledger.energy.errors import EnergyIOError
from ledger.errors import InputError

KEEP_STORED = "stored"
KEEP_PROPOSED = "proposed"
KEEP_VALUE = "value"
MAX_RESOLVED_VALUE = 2**53 - 1


class ReviewError(EnergyIOError, InputError):
    """A review that cannot be resolved as asked (unknown, already resolved, value out of range)."""


@dataclass(frozen=True, slots=True)
class ReviewItem:
    review_id: int
    status: str  # "open" | "resolved"
    source: str
    meter_serial: str
    commodity: str
    start_ts: int
    step_s: int
    direction: str
    version: str
    stored_value: int
    proposed_value: int
    reason: str
    raw_sha256: str
    received_ts: int
    resolution: str | None = None
    resolved_value: int | None = None
    resolved_ts: int | None = None
    resolved_by: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.review_id, "status": self.status, "source": self.source,
            "meter": self.meter_serial, "start": format_utc(self.start_ts),
            "step_minutes": self.step_s // 60, "direction": self.direction,
            "version": self.version, "unit": UNITS.get(self.commodity, "Wh"),
            "stored_value": self.stored_value, "proposed_value": self.proposed_value,
            "reason": self.reason, "raw_sha256": self.raw_sha256,
            "resolution": self.resolution, "resolved_value": self.resolved_value,
            "resolved_by": self.resolved_by,
        }


@dataclass(frozen=True, slots=True)
class Keep:
    """What the operator decided: KEEP_STORED, KEEP_PROPOSED, or KEEP_VALUE with `value`."""

    what: str
    value: int | None = None


def parse_keep(text: str) -> Keep:
    """`raw`, `corrected` or a whole number >= 0; anything else is a `ReviewError` sentence."""
    word = text.strip().lower()
    if word == "raw":
        return Keep(KEEP_STORED)
    if word == "corrected":
        return Keep(KEEP_PROPOSED)
    if word.isdigit() and int(word) <= MAX_RESOLVED_VALUE:
        return Keep(KEEP_VALUE, int(word))
    raise ReviewError(
        f"--keep must be raw (the stored value), corrected (the held value) or a whole number of "
        f"Wh or L, not {text[:24]!r}"
    )


def decision_bytes(review_id: int, value: int, by: str) -> bytes:
    """The canonical bytes of a decision that replaces a value; their sha256 is kept with it."""
    return orjson.dumps({"decision": "review", "review_id": review_id, "value": value, "by": by},
                        option=orjson.OPT_SORT_KEYS)


def decision_sha256(review_id: int, value: int, by: str) -> str:
    return hashlib.sha256(decision_bytes(review_id, value, by)).hexdigest()


class ReviewStore(Protocol):
    def review_queue(self, status: str | None = "open") -> list[ReviewItem]: ...

    def resolve_review(self, review_id: int, keep: Keep, by: str) -> ReviewItem:
        """Apply the decision in one transaction; raises `ReviewError` with a sentence."""
        ...


def resolve(store: ReviewStore, review_id: int, keep_text: str, by: str) -> ReviewItem:
    if review_id < 1:
        raise ReviewError("a review id is a whole number from 1 (see `ledger readings reviews`)")
    if not by or len(by) > 64:
        raise ReviewError("say who resolves the review (1 to 64 characters)")
    return store.resolve_review(review_id, parse_keep(keep_text), by)
