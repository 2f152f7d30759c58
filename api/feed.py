"""The live feed: what changed in the indexed ledger since the last look, as SSE events.

`FeedTracker.poll()` compares the indexer cursor and the stored block hashes with what it already
announced and yields events:
- `block`    the indexed head moved (number, hash);
- `payment`  a merchant payment or refund appeared (in (block, log index) order): merchant,
             amount, day and block time only (no payer, reference or transaction: the feed is public);
- `settlement` a solar-sharing day was committed on chain (`"event": "committed"`, with its
             Merkle root and totals) or a batch of its transfer lines was paid (`"event": "paid"`,
             with the lines, the amount paid and the shortfall), in the same order as payments;
- `reorg`    a block already announced is no longer on the indexed chain (the cursor went back,
             or the hash stored for an announced block changed): the event names the last block
             still valid, and payments and settlements above it are announced again from the new chain.

Event ids are `<block>.<log index>.<first 8 hex of the block hash>`; a client reconnecting with
`Last-Event-ID` resumes after it, or gets a `reorg` when that block is no longer on the chain.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

from api.money import display
from api.ports import LedgerReader, SettlementSource
from ledger.db.queries_energy import SettlementEvent
from ledger.energy.settlement import day_of_number

END_OF_BLOCK = 999_999_999
_EVENT_ID = re.compile(r"^(\d{1,18})\.(\d{1,9})\.([0-9a-f]{0,8})$")
_KEEP_BLOCKS = 256
_BATCH = 200


@dataclass(frozen=True)
class FeedEvent:
    kind: str
    id: str
    data: dict[str, Any]

    def encode(self) -> bytes:
        return b"id: %s\nevent: %s\ndata: %s\n\n" % (
            self.id.encode(),
            self.kind.encode(),
            orjson.dumps(self.data),
        )


def _h8(block_hash: str) -> str:
    return block_hash.removeprefix("0x")[:8].lower()


def parse_event_id(value: str | None) -> tuple[int, int, str] | None:
    if not value:
        return None
    match = _EVENT_ID.match(value.strip())
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), match.group(3)


def ref_text(ref: str) -> str:
    """A bytes32 reference as text when it is UTF-8 padded with zeros, else its hex."""
    try:
        raw = bytes.fromhex(ref.removeprefix("0x")).rstrip(b"\0")
        text = raw.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return ref
    return text if text.isprintable() else ref


def _position(item: Any) -> tuple[int, int]:
    return int(item.block_number), int(item.log_index)


def _iso_day(number: int) -> str | None:
    try:
        return day_of_number(number).isoformat()
    except ValueError:
        return None


def _money(micro: int) -> dict[str, str]:
    return {"micro": str(micro), "display": display(micro)}


class FeedTracker:
    def __init__(
        self,
        reader: LedgerReader,
        last_event_id: str | None = None,
        replay: int = 0,
        settlements: SettlementSource | None = None,
    ) -> None:
        self.reader = reader
        self.settlements = settlements
        self._known: OrderedDict[int, str] = OrderedDict()
        self._last_block = -1
        self._position: tuple[int, int] | None = None
        self._resume = parse_event_id(last_event_id)
        self._replay = replay
        self._started = False

    def _remember(self, number: int, block_hash: str) -> None:
        self._known[number] = block_hash
        self._known.move_to_end(number)
        while len(self._known) > _KEEP_BLOCKS:
            self._known.popitem(last=False)

    def _start(self) -> list[FeedEvent]:
        self._started = True
        cursor = self.reader.cursor()
        events: list[FeedEvent] = []
        if self._resume is not None:
            block, log_index, h8 = self._resume
            stored = self.reader.blocks([block]).get(block)
            if stored is not None and _h8(stored) == h8 and block <= cursor.block_number:
                self._last_block = block
                self._position = (block, log_index)
                self._remember(block, stored)
                return self._delta()
            events.append(
                FeedEvent(
                    "reorg",
                    f"{max(cursor.block_number, 0)}.{END_OF_BLOCK}.{_h8(cursor.block_hash)}",
                    {
                        "from_block": block,
                        "to_block": None,
                        "reload": True,
                        "message": f"Block {block} you saw last is no longer on the indexed chain; reload.",
                    },
                )
            )
        elif self._replay > 0:
            recent = self.reader.payments(
                until_block=cursor.block_number, limit=self._replay, newest_first=True
            ).items
            settled = self._settled(None, cursor.block_number, self._replay, newest_first=True)
            newest = sorted([*recent, *settled], key=_position, reverse=True)[: self._replay]
            events += self._item_events(
                [p for p in newest if not isinstance(p, SettlementEvent)],
                [e for e in newest if isinstance(e, SettlementEvent)],
            )
        self._last_block = cursor.block_number
        self._position = (cursor.block_number, END_OF_BLOCK)
        if cursor.block_number >= 0:
            self._remember(cursor.block_number, cursor.block_hash)
            events.append(self._block_event(cursor.block_number, cursor.block_hash))
        return events

    def _block_event(self, number: int, block_hash: str) -> FeedEvent:
        return FeedEvent(
            "block", f"{number}.{END_OF_BLOCK}.{_h8(block_hash)}", {"number": number, "hash": block_hash}
        )

    def _settled(
        self, after: tuple[int, int] | None, until_block: int, limit: int, newest_first: bool = False
    ) -> list[SettlementEvent]:
        if self.settlements is None:
            return []
        return self.settlements.events(
            after=after, until_block=until_block, limit=limit, newest_first=newest_first
        )

    def _item_events(self, payments: list[Any], settled: list[SettlementEvent]) -> list[FeedEvent]:
        """Payments, refunds and settlement events, merged in (block, log index) order."""
        hashes = self.reader.blocks(sorted({_position(i)[0] for i in [*payments, *settled]}))
        times = self.reader.block_times(sorted({p.block_number for p in payments}))
        keyed = [(_position(p), self._payment_event(p, hashes, times)) for p in payments]
        keyed += [(_position(e), self._settlement_event(e, hashes)) for e in settled]
        keyed.sort(key=lambda k: k[0])
        return [event for _, event in keyed]

    @staticmethod
    def _payment_event(p: Any, hashes: dict[int, str], times: dict[int, int]) -> FeedEvent:
        return FeedEvent(
            p.kind,
            f"{p.block_number}.{p.log_index}.{_h8(hashes.get(p.block_number, ''))}",
            # Public: which merchant, how much, when. Never the payer, the reference or the
            # transaction (which would join the payment to the payer's address on chain).
            {
                "block": p.block_number,
                "log_index": p.log_index,
                "merchant_id": p.merchant_id,
                "merchant": p.merchant_name,
                "amount": _money(p.amount),
                "day": p.day,
                "time": times.get(p.block_number),
            },
        )

    @staticmethod
    def _settlement_event(e: SettlementEvent, hashes: dict[int, str]) -> FeedEvent:
        data: dict[str, Any] = {
            "event": e.kind,
            "block": e.block_number,
            "log_index": e.log_index,
            "tx_hash": e.tx_hash,
            "operation_id": e.operation_id,
            "day": _iso_day(e.day_number),
            "day_number": e.day_number,
            "version": e.version,
        }
        if e.totals is not None:
            # The chain's event may carry energy totals (a commitment made before they were left
            # out, or by another oracle): the public feed repeats only what the day moved.
            amount, transfers = e.totals[4], e.totals[5]
            data["root"] = e.root
            data["totals"] = {"amount": _money(amount), "transfers": transfers}
        if e.paid is not None:
            data["lines"] = {"from_index": e.from_index, "to_index": e.to_index}
            data["paid"] = _money(e.paid)
            data["shortfall"] = _money(e.shortfall or 0)
        return FeedEvent(
            "settlement", f"{e.block_number}.{e.log_index}.{_h8(hashes.get(e.block_number, ''))}", data
        )

    def poll(self) -> list[FeedEvent]:
        """The events since the previous call (the first call starts or resumes the feed)."""
        if not self._started:
            return self._start()
        return self._delta()

    def _delta(self) -> list[FeedEvent]:
        cursor = self.reader.cursor()
        events: list[FeedEvent] = []
        if self._known:
            numbers = list(self._known)
            stored = self.reader.blocks(numbers)
            last = numbers[-1]
            if cursor.block_number < self._last_block or stored.get(last) != self._known[last]:
                ancestor = -1
                for number in reversed(numbers):
                    if number <= cursor.block_number and stored.get(number) == self._known[number]:
                        ancestor = number
                        break
                if ancestor < 0:
                    ancestor = min(cursor.block_number, numbers[0] - 1)
                for number in [n for n in numbers if n > ancestor]:
                    del self._known[number]
                events.append(
                    FeedEvent(
                        "reorg",
                        f"{ancestor}.{END_OF_BLOCK}.{_h8(self._known.get(ancestor, ''))}",
                        {
                            "from_block": self._last_block,
                            "to_block": ancestor,
                            "reload": False,
                            "message": (
                                f"Blocks after {ancestor} were replaced on the chain; what the feed "
                                f"said about blocks {ancestor + 1} to {self._last_block} no longer holds."
                            ),
                        },
                    )
                )
                self._last_block = ancestor
                self._position = (ancestor, END_OF_BLOCK)
        if cursor.block_number > self._last_block:
            payments = self.reader.payments(
                after=self._position, until_block=cursor.block_number, limit=_BATCH
            ).items
            settled = self._settled(self._position, cursor.block_number, _BATCH)
            # A full page may hide more: announce only up to the first full page's last item
            # (the other kind's later items come with the next poll, in order).
            full = [_position(page[-1]) for page in (payments, settled) if len(page) == _BATCH]
            if full:
                upto = min(full)
                events += self._item_events(
                    [p for p in payments if _position(p) <= upto],
                    [e for e in settled if _position(e) <= upto],
                )
                self._position = upto
                return events
            events += self._item_events(payments, settled)
            self._last_block = cursor.block_number
            self._position = (cursor.block_number, END_OF_BLOCK)
            self._remember(cursor.block_number, cursor.block_hash)
            events.append(self._block_event(cursor.block_number, cursor.block_hash))
        return events
