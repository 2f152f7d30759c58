"""Progress of the indexer: one updating line on a terminal, JSON lines otherwise (stderr)."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import orjson


class Progress:
    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None,
                 every: float = 2.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every = every
        self.started = time.monotonic()
        self.events = 0
        self.first_block: int | None = None
        self._last = 0.0
        self._line = False

    def event(self, name: str, **fields: Any) -> None:
        """A structured line (JSON off a terminal, text on it)."""
        if self.tty:
            self._clear()
            extra = " ".join(f"{k}={v}" for k, v in fields.items())
            self.stream.write(f"{name} {extra}\n")
        else:
            record = {"ts": round(time.time(), 3), "event": name, **fields}
            self.stream.write(orjson.dumps(record).decode() + "\n")
        self.stream.flush()

    def _clear(self) -> None:
        if self._line:
            self.stream.write("\r\x1b[2K")
            self._line = False

    def update(self, block: int, head: int, events: int, *, force: bool = False) -> None:
        self.events += events
        if self.first_block is None:
            self.first_block = block
        now = time.monotonic()
        if not force and now - self._last < (0.2 if self.tty else self.every):
            return
        self._last = now
        elapsed = max(now - self.started, 1e-6)
        done = block - self.first_block
        left = max(head - block, 0)
        rate = self.events / elapsed
        blocks_rate = done / elapsed if done > 0 else 0.0
        eta = left / blocks_rate if blocks_rate > 0 else 0.0
        if self.tty:
            self.stream.write(
                f"\r\x1b[2Kblock {block:,} / {head:,}  ({left:,} left)  "
                f"{self.events:,} events  {rate:,.0f} ev/s  ETA {eta:,.0f} s"
            )
            self._line = True
            self.stream.flush()
        else:
            self.event("progress", block=block, head=head, blocks_left=left, events=self.events,
                       events_per_s=round(rate), eta_s=round(eta, 1))

    def done(self) -> None:
        if self.tty and self._line:
            self.stream.write("\n")
            self._line = False
            self.stream.flush()
