"""The live feed: what changed in the indexed ledger since the last look, as SSE events.

`FeedTracker.poll()` compares the indexer cursor and the stored block hashes with what it already
announced and yields events:
- `block`    the indexed head moved (number, hash);
- `payment`  a merchant payment or refund appeared (in (block, log index) order);
- `reorg`    a block already announced is no longer on the indexed chain (the cursor went back,
             or the hash stored for an announced block changed): the event names the last block
             still valid, and payments above it are announced again from the new chain.

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
from api.ports import LedgerReader

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


class FeedTracker:
    def __init__(self, reader: LedgerReader, last_event_id: str | None = None, replay: int = 0) -> None:
        self.reader = reader
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
            )
            items = list(reversed(recent.items))
            events += self._payment_events(items)
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

    def _payment_events(self, items: list[Any]) -> list[FeedEvent]:
        hashes = self.reader.blocks(sorted({p.block_number for p in items}))
        return [
            FeedEvent(
                p.kind,
                f"{p.block_number}.{p.log_index}.{_h8(hashes.get(p.block_number, ''))}",
                {
                    "block": p.block_number,
                    "log_index": p.log_index,
                    "tx_hash": p.tx_hash,
                    "merchant_id": p.merchant_id,
                    "merchant": p.merchant_name,
                    "amount": {"micro": str(p.amount), "display": display(p.amount)},
                    "ref": ref_text(p.ref),
                    "day": p.day,
                },
            )
            for p in items
        ]

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
            page = self.reader.payments(after=self._position, until_block=cursor.block_number, limit=_BATCH)
            events += self._payment_events(page.items)
            if len(page.items) == _BATCH:  # more to come: move on to the last one announced
                newest = page.items[-1]
                self._position = (newest.block_number, newest.log_index)
                return events
            self._last_block = cursor.block_number
            self._position = (cursor.block_number, END_OF_BLOCK)
            self._remember(cursor.block_number, cursor.block_hash)
            events.append(self._block_event(cursor.block_number, cursor.block_hash))
        return events
