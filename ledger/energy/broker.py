"""An embedded MQTT broker (amqtt 0.12) for the demo when no LEDGER_MQTT_URL is set.

`start_embedded_broker(port)` runs the broker on its own thread and event loop, bound to
127.0.0.1 only, anonymous clients allowed (local demo: nothing leaves the machine), and returns
an `EmbeddedBroker` handle with `url` and `stop()`. Production and CI use Mosquitto by URL.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any

from ledger.energy.errors import BrokerError

log = logging.getLogger(__name__)
_START_TIMEOUT_S = 15.0


class EmbeddedBroker:
    """Handle of a running embedded broker."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"mqtt://127.0.0.1:{port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"amqtt-{port}", daemon=True)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._start())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_until_complete(self._wait_stop())
        finally:
            loop.close()
            self._stopped.set()

    async def _start(self) -> None:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._stop_event = asyncio.Event()
        self._broker = Broker(config)
        await self._broker.start()

    async def _wait_stop(self) -> None:
        await self._stop_event.wait()
        try:
            await self._broker.shutdown()
        except Exception:  # a broker failing to close cleanly must not hang the demo
            log.exception("the embedded broker did not shut down cleanly")

    def start(self) -> EmbeddedBroker:
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT_S):
            raise BrokerError(f"the embedded MQTT broker did not start within {_START_TIMEOUT_S:.0f} s")
        if self._error is not None:
            raise BrokerError(
                f"the embedded MQTT broker could not listen on 127.0.0.1:{self.port}: {self._error}"
            ) from self._error
        log.info("embedded MQTT broker listening on %s", self.url)
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._stopped.is_set() or not self._thread.is_alive():
            return
        loop.call_soon_threadsafe(self._stop_event.set)
        self._thread.join(_START_TIMEOUT_S)

    def __enter__(self) -> EmbeddedBroker:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def start_embedded_broker(port: int = 0) -> EmbeddedBroker:
    """Start an amqtt broker on 127.0.0.1:`port` (0: a free port) and return its handle."""
    return EmbeddedBroker(port or free_port()).start()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
