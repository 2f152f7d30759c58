"""Every integer of a gateway envelope is bounded before it reaches SQL: a counter of 2^63 is a
422 naming the field over HTTP (it was a 500: the BIGINT column overflowed), and on MQTT the
envelope is answered with a rejection while a good envelope from another gateway in the same
batch is stored (the whole batch used to be lost)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.energy.envelope import Envelope, open_wire, parse_payload, seal
from ledger.energy.ingest import IngestPipeline
from ledger.energy.simulator import build_district
from tests.integration.test_ingest_paths import SEED, _messages, _store
from tests.unit.test_api import make_settings


def _forged(counter: int | None = None, **reading: object) -> tuple[str, bytes]:
    """The first simulated envelope, re-signed by its own gateway with one field changed."""
    device, body = _messages()[0]
    envelope = parse_payload(open_wire(body).payload)
    if counter is not None:
        envelope = replace(envelope, counter=counter)
    if reading:
        first = replace(envelope.readings[0], **reading)  # type: ignore[arg-type]
        envelope = replace(envelope, readings=(first, *envelope.readings[1:]))
    home = next(h for h in build_district(4, SEED) if h.device_id == device)
    return device, seal(Envelope(envelope.device_id, envelope.counter, envelope.meter_serial,
                                 envelope.clock_status, envelope.readings), home.key)


@pytest.mark.parametrize(
    ("counter", "reading", "field"),
    [
        (2**63, {}, "payload.counter"),
        (2**64 - 1, {}, "payload.counter"),
        (None, {"value": 2**63}, "readings[0].value"),
        (None, {"start_ts": 0}, "readings[0].start"),
    ],
)
def test_an_out_of_range_integer_is_a_422_naming_the_field(
    tmp_path: Path, counter: int | None, reading: dict[str, object], field: str
) -> None:
    url = f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"
    _store(url)
    client = TestClient(create_app(make_settings(database_url=url, settlement_dir=tmp_path / "s")),
                        raise_server_exceptions=False)
    device, body = _forged(counter, **reading)
    with client:
        response = client.post(f"/v1/gateways/{device}/readings", content=body)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert field in error["message"] and error["code"] == "out_of_range"
        # the gateway can still send its next good envelope: nothing was stored or moved
        good_device, good = _messages()[0]
        assert client.post(f"/v1/gateways/{good_device}/readings", content=good).status_code == 200


def test_one_bad_envelope_in_a_batch_never_costs_another_its_place(tmp_path: Path) -> None:
    store = _store(f"sqlite:///{tmp_path / 'batch.db'}")
    bad_device, bad = _forged(2**63)
    good_device, good = next((d, b) for d, b in _messages() if d != bad_device)
    results = IngestPipeline(store).ingest_signed([(bad, bad_device), (good, good_device)])
    assert [r.status for r in results] == ["rejected", "accepted"]
    assert results[0].code == "out_of_range" and "payload.counter" in (results[0].message or "")
    assert results[1].stored > 0
    assert {r.raw_sha256 for r in store.readings()} == {results[1].sha256}


class _ExplodingOnce:
    """A store whose batch write fails for one envelope's readings (a store-side refusal the
    checks did not foresee): the others of the batch must still be stored, each on its own."""

    def __init__(self, inner: object, poison_sha: str) -> None:
        self._inner = inner
        self._poison = poison_sha

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def batch(self):  # type: ignore[no-untyped-def]
        from contextlib import contextmanager

        inner = self._inner.batch()  # type: ignore[attr-defined]
        poison = self._poison

        @contextmanager
        def wrapped():  # type: ignore[no-untyped-def]
            with inner as b:
                original = b.write

                def write(changes):  # type: ignore[no-untyped-def]
                    if any(r.sha256 == poison for r in changes.raw_inputs):
                        raise OverflowError("Python int too large to convert to SQLite INTEGER")
                    original(changes)

                b.write = write
                yield b

        return wrapped()


def test_a_store_failure_on_one_envelope_is_answered_for_that_one_only(tmp_path: Path) -> None:
    import hashlib

    inner = _store(f"sqlite:///{tmp_path / 'poison.db'}")
    messages = _messages()
    (d1, b1), (d2, b2) = messages[0], next((d, b) for d, b in messages if d != messages[0][0])
    store = _ExplodingOnce(inner, hashlib.sha256(b1).hexdigest())
    results = IngestPipeline(store).ingest_signed([(b1, d1), (b2, d2)])  # type: ignore[arg-type]
    assert [r.status for r in results] == ["rejected", "accepted"]
    assert results[0].code == "internal_error" and results[0].http_status == 503
    assert {r.raw_sha256 for r in inner.readings()} == {results[1].sha256}


def test_mqtt_batch_keeps_the_other_gateways_envelope(tmp_path: Path) -> None:
    """Over a real broker: the bad envelope is answered on its rejections topic, the other kept."""
    import time

    from ledger.energy.broker import start_embedded_broker
    from ledger.energy.mqtt_subscriber import MqttSubscriber, make_client, readings_topic, rejections_topic

    store = _store(f"sqlite:///{tmp_path / 'mqtt.db'}")
    broker = start_embedded_broker(0)
    subscriber = MqttSubscriber(IngestPipeline(store), broker.url, client_id=f"t-{uuid.uuid4().hex[:8]}")
    subscriber.keep_results = True
    subscriber.start()
    publisher, address = make_client(broker.url, f"pub-{uuid.uuid4().hex[:8]}")
    answers: list[dict[str, object]] = []
    publisher.on_message = lambda _c, _u, m: answers.append(orjson.loads(m.payload))
    try:
        publisher.connect(address.host, address.port)
        publisher.loop_start()
        publisher.subscribe(rejections_topic("+"), qos=1)
        bad_device, bad = _forged(2**63)
        good_device, good = next((d, b) for d, b in _messages() if d != bad_device)
        subscribed = time.monotonic() + 5
        while not subscriber.alive and time.monotonic() < subscribed:
            time.sleep(0.05)
        publisher.publish(readings_topic(bad_device), bad, qos=1).wait_for_publish(5)
        publisher.publish(readings_topic(good_device), good, qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 20
        while (len(subscriber.results) < 2 or not answers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert subscriber.drain(20)
    finally:
        publisher.disconnect()
        publisher.loop_stop()
        subscriber.stop()
        broker.stop()
    assert sorted(r.status for r in subscriber.results) == ["accepted", "rejected"]
    assert any(a.get("code") == "out_of_range" and "payload.counter" in str(a.get("message"))
               for a in answers), answers
    assert {r.meter_serial for r in store.readings()} and all(
        r.device_id == good_device for r in store.readings()
    )
