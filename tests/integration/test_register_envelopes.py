"""Cumulative register indexes in the signed envelope, through the real paths (the HTTP gateway
route on SQLite and PostgreSQL, and a real MQTT broker): the same samples as the register-index
CSV end in the same interval energy (a rollover across two envelopes, a meter replaced inside a
step, a reset left as a gap), and an out-of-range register is a 422 naming the field."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.db.energy_store import SqlEnergyStore
from ledger.energy.envelope import (
    Envelope,
    RegisterBlock,
    RegisterReading,
    canonical_bytes,
    format_utc,
    seal,
    sign,
)
from ledger.energy.ingest import IngestPipeline
from ledger.energy.mqtt_subscriber import MqttSubscriber, make_client, readings_topic, rejections_topic
from ledger.energy.register_import import import_registers
from ledger.energy.simulator import Home, build_district
from tests.conftest import require_service
from tests.integration.test_ingest_paths import SEED, _store, _wait, postgres_url  # noqa: F401
from tests.unit.test_api import make_settings

T = int(datetime(2025, 6, 15, 8, 0, tzinfo=UTC).timestamp())
HOME = build_district(4, SEED)[0]

# (at, index, device, event) as a gateway reads them; the same samples as the CSV integration test
FIRST = [(T, 999_999_000, "A", ""), (T + 900, 999_999_800, "A", "")]
SECOND = [
    (T + 1800, 150, "A", ""),  # the register rolled over at 10^9 between the two envelopes
    (T + 2700, 400, "A", ""),
    (T + 3000, 500, "A", "final"),  # meter A replaced by meter B inside the step
    (T + 3000, 0, "B", "initial"),
    (T + 3600, 80, "B", ""),
    (T + 4500, 10, "B", ""),  # went backwards far beyond a rollover: a reset, left missing
]
EXPECTED = [(0, 800), (900, 350), (1800, 250), (2700, 180)]


def _envelope(home: Home, counter: int, samples: list[tuple[int, int, str, str]],
              *, index_of_first: int | None = None) -> bytes:
    block = RegisterBlock(900, 10**9, tuple(
        RegisterReading(at, index, "import", device, event) for at, index, device, event in samples
    ))
    envelope = Envelope(home.device_id, counter, home.electricity, "synced", (), block)
    if index_of_first is None:
        return seal(envelope, home.key)
    # a gateway that sends an index no register holds: built by hand, signed by its own key
    payload = envelope.payload()
    payload["registers"]["samples"][0]["index"] = index_of_first
    signature = sign(home.key, canonical_bytes(payload))
    return orjson.dumps({"payload": payload, "signature": base64.b64encode(signature).decode()})


def _energy(store: SqlEnergyStore, source: str) -> list[tuple[int, int]]:
    return sorted((r.start_ts - T, r.value) for r in store.readings()
                  if r.source == source and r.meter_serial == HOME.electricity)


def _same_as_the_csv(tmp_path: Path) -> list[tuple[int, int]]:
    store = _store(f"sqlite:///{tmp_path / f'csv-{uuid.uuid4().hex}.db'}")
    try:
        pipeline = IngestPipeline(store)
        for part in (FIRST, SECOND):
            text = "meter,at,index,device,event\n" + "".join(
                f"{HOME.electricity},{format_utc(at)},{index},{device},{event}\n"
                for at, index, device, event in part
            )
            import_registers(pipeline, store, text.encode())
        return _energy(store, "distributor")
    finally:
        store.engine.dispose()


def _client(store: SqlEnergyStore, url: str, tmp_path: Path) -> TestClient:
    """The API app, its gateway route writing through `store` (whose engine the test disposes)."""
    app = create_app(make_settings(database_url=url, settlement_dir=tmp_path / "s"),
                     ingest=IngestPipeline(store))
    return TestClient(app, raise_server_exceptions=False)


def _over_http(url: str, tmp_path: Path) -> None:
    store = _store(url)
    client = _client(store, url, tmp_path)
    route = f"/v1/gateways/{HOME.device_id}/readings"
    try:
        with client:
            first = client.post(route, content=_envelope(HOME, 1, FIRST))
            assert first.status_code == 200 and first.json()["stored"] == 1, first.text
            second = client.post(route, content=_envelope(HOME, 2, SECOND))
            assert second.status_code == 200, second.text
            # the first step again (from the stored sample at T + 900) is a duplicate, not new
            assert (second.json()["stored"], second.json()["duplicates"]) == (3, 0)
            assert _energy(store, "gateway") == EXPECTED == _same_as_the_csv(tmp_path)
            again = client.post(route, content=_envelope(HOME, 2, SECOND))
            assert again.status_code == 200 and again.json()["status"] == "duplicate"
            assert _energy(store, "gateway") == EXPECTED
    finally:
        store.engine.dispose()


def test_register_envelopes_over_http_on_sqlite(tmp_path: Path) -> None:
    _over_http(f"sqlite:///{tmp_path / 'http.db'}", tmp_path)


def test_register_envelopes_over_http_on_postgresql(postgres_url: str, tmp_path: Path) -> None:  # noqa: F811
    _over_http(postgres_url, tmp_path)


@pytest.mark.parametrize(
    ("index", "field"),
    [(2**53, "payload.registers.samples[0].index"), (10**9, "payload.registers.samples[0].index"),
     (2**63, "payload.registers.samples[0].index"), (-1, "payload.registers.samples[0].index")],
)
def test_a_register_out_of_range_is_a_422_naming_the_field(tmp_path: Path, index: int, field: str) -> None:
    url = f"sqlite:///{tmp_path / 'bounds.db'}"
    store = _store(url)
    client = _client(store, url, tmp_path)
    route = f"/v1/gateways/{HOME.device_id}/readings"
    try:
        with client:
            response = client.post(route, content=_envelope(HOME, 1, FIRST, index_of_first=index))
            assert response.status_code == 422, response.text
            error = response.json()["error"]
            assert field in error["message"] and error["code"] == "out_of_range"
            # nothing was stored or moved: the same counter with good registers is accepted
            assert client.post(route, content=_envelope(HOME, 1, FIRST)).status_code == 200
            assert _energy(store, "gateway") == [(0, 800)]
    finally:
        store.engine.dispose()


def test_register_envelopes_over_the_real_broker(tmp_path: Path) -> None:
    broker_url = require_service("LEDGER_TEST_MQTT_URL", "an MQTT broker (Mosquitto)")
    store = _store(f"sqlite:///{tmp_path / 'mqtt.db'}")
    subscriber = MqttSubscriber(
        IngestPipeline(store), broker_url, client_id=f"t-{uuid.uuid4().hex[:8]}"
    )
    subscriber.keep_results = True
    subscriber.start()
    publisher, address = make_client(broker_url, f"pub-{uuid.uuid4().hex[:8]}")
    answers: list[dict[str, object]] = []
    publisher.on_message = lambda _c, _u, m: answers.append(orjson.loads(m.payload))
    publisher.connect(address.host, address.port)
    publisher.loop_start()
    topic = readings_topic(HOME.device_id)
    try:
        publisher.subscribe(rejections_topic(HOME.device_id), qos=1)
        assert _wait(lambda: subscriber.alive)
        publisher.publish(topic, _envelope(HOME, 1, FIRST), qos=1).wait_for_publish(5)
        publisher.publish(topic, _envelope(HOME, 2, SECOND), qos=1).wait_for_publish(5)
        bad = _envelope(HOME, 3, [(T + 5400, 2**53, "B", "")])
        publisher.publish(topic, bad, qos=1).wait_for_publish(5)
        assert _wait(lambda: len(subscriber.results) >= 3 and bool(answers))
        assert subscriber.drain(20)
    finally:
        publisher.disconnect()
        publisher.loop_stop()
        subscriber.stop()
    try:
        assert [r.status for r in subscriber.results] == ["accepted", "accepted", "rejected"]
        assert any(a.get("code") == "out_of_range"
                   and "payload.registers.samples[0].index" in str(a.get("message")) for a in answers)
        assert _energy(store, "gateway") == EXPECTED == _same_as_the_csv(tmp_path)
    finally:
        store.engine.dispose()
