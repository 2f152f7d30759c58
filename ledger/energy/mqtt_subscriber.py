"""MQTT subscriber: signed envelopes from home gateways into the ingestion pipeline.

Topics: gateways publish on `district/gateways/<device_id>/readings`; a rejection goes back on
`district/gateways/<device_id>/rejections` as JSON {"status": "rejected", "code", "message",
"sha256", ...}. The topic's device id must be the envelope's (a gateway cannot speak for another).

The subscriber never dies on input: garbage, non-JSON, oversized payloads, odd topics are
logged, counted and answered; the pipeline runs on a worker thread (batches of what arrived),
so the network loop keeps reading; a store outage is logged and counted, the loop continues.
Any broker by URL: mqtt://host:port or mqtts://user:password@host:port (credentials are never
logged). paho-mqtt 2.x with automatic reconnection.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
from collections import Counter
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from ledger.energy.envelope import MAX_ENVELOPE_BYTES
from ledger.energy.errors import BrokerError
from ledger.energy.ingest import IngestPipeline, IngestResult

log = logging.getLogger(__name__)

TOPIC_PREFIX = "district/gateways/"
READINGS_TOPIC = TOPIC_PREFIX + "+/readings"
QUEUE_LIMIT = 10_000
BATCH_LIMIT = 500


def readings_topic(device_id: str) -> str:
    return f"{TOPIC_PREFIX}{device_id}/readings"


def rejections_topic(device_id: str) -> str:
    return f"{TOPIC_PREFIX}{device_id}/rejections"


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None

    def __repr__(self) -> str:  # never show the password
        return f"BrokerAddress({'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port})"


def parse_broker_url(url: str) -> BrokerAddress:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp"):
        raise BrokerError(f"the broker URL must start with mqtt:// or mqtts://, not {parts.scheme}://")
    if not parts.hostname:
        raise BrokerError("the broker URL has no host, e.g. mqtt://127.0.0.1:1883")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise BrokerError("the broker URL has an invalid port") from None
    return BrokerAddress(
        parts.hostname, port, tls,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
    )


def make_client(url: str, client_id: str) -> tuple[mqtt.Client, BrokerAddress]:
    address = parse_broker_url(url)
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id)
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client, address


class MqttSubscriber:
    """Subscribes to every gateway's readings topic and feeds the pipeline."""

    def __init__(self, pipeline: IngestPipeline, url: str, *, client_id: str = "ledger-ingest") -> None:
        self._pipeline = pipeline
        self._client, self._address = make_client(url, client_id)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(QUEUE_LIMIT)
        self._worker = threading.Thread(target=self._work, name="mqtt-ingest", daemon=True)
        self._connected = threading.Event()
        self._idle = threading.Condition()
        self._pending = 0
        self.counts: Counter[str] = Counter()
        self.results: list[IngestResult] = []
        self.keep_results = False

    # Lifecycle -------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> MqttSubscriber:
        self._worker.start()
        try:
            self._client.connect_async(self._address.host, self._address.port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise BrokerError(f"cannot reach the MQTT broker {self._address!r}: {exc}") from exc
        self._client.loop_start()
        if not self._connected.wait(timeout):
            self.stop()
            raise BrokerError(f"no connection to the MQTT broker {self._address!r} within {timeout:.0f} s")
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        if self._worker.is_alive():
            self._queue.put(None)
            self._worker.join(10)

    @property
    def alive(self) -> bool:
        return self._worker.is_alive() and self._connected.is_set()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every message received so far has been ingested (for tests and the demo)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0 and self._queue.empty(), timeout)

    # paho callbacks (network thread) ---------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _userdata: object, _flags: object,
                    reason: ReasonCode, _props: object = None) -> None:
        if reason.is_failure:
            log.warning("the MQTT broker refused the connection: %s", reason)
            return
        client.subscribe(READINGS_TOPIC, qos=1)
        self._connected.set()
        log.info("subscribed to %s on %r", READINGS_TOPIC, self._address)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: object, _flags: object,
                       reason: ReasonCode, _props: object = None) -> None:
        self._connected.clear()
        if reason.is_failure:
            log.warning("lost the MQTT broker (%s); reconnecting", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
            payload = bytes(message.payload)
        except Exception:  # a topic that is not UTF-8, for instance
            self.counts["dropped.bad_topic"] += 1
            log.warning("dropped a message with an unreadable topic")
            return
        self.counts["received"] += 1
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait((topic, payload))
        except queue.Full:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()
            self.counts["dropped.queue_full"] += 1
            log.warning("ingest queue full: dropped a message (the gateway will resend)")

    # Worker thread -----------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < BATCH_LIMIT:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            try:
                self._handle(batch)
            except Exception:  # never die: log, count, carry on with the next messages
                self.counts["errors.internal"] += len(batch)
                log.exception("ingesting %d MQTT messages failed; continuing", len(batch))
            finally:
                with self._idle:
                    self._pending -= len(batch)
                    self._idle.notify_all()

    def _handle(self, batch: list[tuple[str, bytes]]) -> None:
        items: list[tuple[bytes, str | None]] = []
        devices: list[str] = []
        for topic, payload in batch:
            device = _device_of(topic)
            if device is None:
                self.counts["dropped.bad_topic"] += 1
                log.warning("dropped a message on an unexpected topic")
                continue
            if len(payload) > MAX_ENVELOPE_BYTES:  # do not even hash megabytes of garbage twice
                payload = payload[: MAX_ENVELOPE_BYTES + 1]
            items.append((payload, device))
            devices.append(device)
        if not items:
            return
        results = self._pipeline.ingest_signed(items, channel="mqtt")
        for device, result in zip(devices, results, strict=True):
            self.counts[result.status] += 1
            if self.keep_results:
                self.results.append(result)
            if result.status == "rejected":
                log.info("rejected an envelope from %s: %s", device[:64], result.code)
                self._client.publish(rejections_topic(device), orjson.dumps(result.to_json()), qos=1)


def _device_of(topic: str) -> str | None:
    if not topic.startswith(TOPIC_PREFIX) or not topic.endswith("/readings"):
        return None
    device = topic[len(TOPIC_PREFIX) : -len("/readings")]
    if not device or "/" in device or len(device) > 128:
        return None
    return device

