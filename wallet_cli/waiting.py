"""Waiting for a receipt: a spinner on standard error (only on a terminal) and a deadline.

`wait_for_receipt` polls `receipt(tx_hash)` until the node returns one or `timeout` seconds
pass; then NotConfirmedError (exit 3) says the transaction was submitted and may still go
through, with its hash. A receipt with status 0 (reverted on chain) is a ChainError.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from wallet_cli.errors import ChainError, NotConfirmedError

FRAMES = "|/-\\"


class Spinner:
    """`with Spinner("Waiting"):` draws `Waiting |` on stderr when it is a terminal."""

    def __init__(self, text: str, stream: TextIO | None = None, interval: float = 0.1) -> None:
        self.text = text
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        try:
            return bool(self.stream.isatty())
        except (AttributeError, ValueError):
            return False

    def _run(self) -> None:
        for frame in itertools.cycle(FRAMES):
            self.stream.write(f"\r{self.text} {frame}")
            self.stream.flush()
            if self._stop.wait(self.interval):
                break
        self.stream.write("\r" + " " * (len(self.text) + 2) + "\r")
        self.stream.flush()

    def __enter__(self) -> Spinner:
        if self.enabled:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def wait_for_receipt(
    receipt: Callable[[str], dict[str, Any] | None],
    tx_hash: str,
    *,
    timeout: float,
    what: str = "the transaction",
    poll: float = 0.1,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    deadline = clock() + timeout
    with Spinner(f"Waiting for {what} to be confirmed"):
        while True:
            found = receipt(tx_hash)
            if found is not None and found.get("blockNumber") is not None:
                break
            if clock() >= deadline:
                raise NotConfirmedError(
                    f"{what[0].upper() + what[1:]} was submitted ({tx_hash}) but not confirmed "
                    f"within {timeout:g} s: it may still go through. Check later with "
                    "`wallet history`; do not pay again before.",
                    tx_hash,
                )
            sleep(poll)
    status = found.get("status")
    if status is not None and int(str(status), 16) != 1:
        raise ChainError(f"{what[0].upper() + what[1:]} {tx_hash} was refused on chain (reverted).")
    return found


def block_of(receipt: dict[str, Any]) -> int:
    return int(str(receipt["blockNumber"]), 16)
