"""Readings in three ways, one pipeline: the same readings sent over MQTT (Mosquitto and the
embedded amqtt broker), through the HTTP service function and as a distributor CSV end in the same
stored data, on SQLite and PostgreSQL; garbage on the topic leaves the subscriber running."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import orjson
import pytest
from sqlalchemy import create_engine, text

from ledger.db import make_engine, migrate
from ledger.db.energy_store import SqlEnergyStore
from ledger.energy.broker import start_embedded_broker
from ledger.energy.csv_import import CsvFormat, import_csv
from ledger.energy.envelope import format_utc, open_wire, parse_payload
from ledger.energy.ingest import IngestPipeline
from ledger.energy.mqtt_subscriber import MqttSubscriber, make_client, readings_topic, rejections_topic
from ledger.energy.simulator import (
    Counters,
    build_district,
    register_district,
    signed_messages,
    simulated_steps,
)
from tests.conftest import require_service

SALT = b"integration-salt-0123456789"
SEED = 7
DAY = date(2025, 3, 30)  # spring change: 92 quarter-hours


def _messages() -> list[tuple[str, bytes]]:
    steps = simulated_steps(DAY, 1)[30:38]  # across the 02:00 -> 03:00 jump
    district = build_district(4, SEED)
    out: list[tuple[str, bytes]] = []
    for _, batch in signed_messages(district, steps, SEED, Counters(1_000)):
        out += batch
    return out


def _store(url: str) -> SqlEnergyStore:
    engine = make_engine(url)
    migrate(engine)
    store = SqlEnergyStore(engine)
    register_district(store, SALT, build_district(4, SEED))
    return store


def _electricity(store: SqlEnergyStore) -> list[tuple[str, int, int, str, str, int, bool]]:
    return [
        (r.meter_serial, r.start_ts, r.step_s, r.direction, r.version, r.value, r.current)
        for r in store.readings()
        if "E" in r.meter_serial[7:]
    ]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    base = require_service("LEDGER_TEST_POSTGRES_URL", "PostgreSQL")
    name = f"ingest_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _via_http(url: str) -> SqlEnergyStore:
    store = _store(url)
    pipeline = IngestPipeline(store)
    for device, body in _messages():
        assert pipeline.ingest_http(body, device).status == "accepted"
    return store


def _via_csv(url: str) -> SqlEnergyStore:
    store = _store(url)
    lines = ["meter,start,wh,direction"]
    for _, body in _messages():
        envelope = parse_payload(open_wire(body).payload)
        for r in envelope.readings:
            if r.commodity == "electricity":
                lines.append(f"{envelope.meter_serial},{format_utc(r.start_ts)},{r.value},{r.direction}")
    report = import_csv(IngestPipeline(store), "\n".join(lines).encode(), CsvFormat.ENERGY_15MIN)
    assert report.rejected == () and report.result.stored == len(lines) - 1
    return store


def _via_mqtt(url: str, broker_url: str) -> tuple[SqlEnergyStore, MqttSubscriber]:
    store = _store(url)
    subscriber = MqttSubscriber(
        IngestPipeline(store), broker_url, client_id=f"t-{uuid.uuid4().hex[:8]}"
    ).start()
    publisher, address = make_client(broker_url, f"pub-{uuid.uuid4().hex[:8]}")
    rejections: list[dict[str, object]] = []
    publisher.on_message = lambda _c, _u, m: rejections.append(orjson.loads(m.payload))
    publisher.connect(address.host, address.port)
    publisher.loop_start()
    try:
        publisher.subscribe(rejections_topic("+"), qos=1)
        time.sleep(0.3)
        garbage = [
            b"",
            b"\xff\xfe garbage",
            b"{}",
            b"[" * 100_000,
            orjson.dumps({"payload": {"device_id": "x"}}),
        ]
        for n, body in enumerate(garbage):
            publisher.publish(readings_topic(f"sim-gw-00{n % 4}"), body, qos=1).wait_for_publish(5)
        publisher.publish("district/gateways/a/b/readings", b"odd topic", qos=1).wait_for_publish(5)
        for device, body in _messages():
            publisher.publish(readings_topic(device), body, qos=1).wait_for_publish(5)
        assert _wait(lambda: subscriber.counts["received"] >= len(garbage) + len(_messages()))
        assert subscriber.drain(30)
        assert _wait(lambda: len(rejections) >= len(garbage))
    finally:
        publisher.disconnect()
        publisher.loop_stop()
    assert subscriber.alive, "the subscriber died on garbage"
    assert subscriber.counts["rejected"] == len(garbage)
    assert {r["code"] for r in rejections} >= {"malformed", "too_large"}
    return store, subscriber


def _wait(condition, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_http_and_csv_end_in_the_same_readings_on_sqlite(sqlite_url: str, tmp_path: Path) -> None:
    http = _via_http(sqlite_url)
    csv = _via_csv(f"sqlite:///{tmp_path / 'csv.db'}")
    assert _electricity(http) == _electricity(csv)
    assert len(_electricity(http)) == 8 * (4 + 2)  # 4 homes import, 2 producers also export
    assert {r.source for r in csv.readings()} == {"distributor"}
    assert http.raw_input_count() == len(_messages())


def test_the_embedded_broker_path_matches_http(sqlite_url: str, tmp_path: Path) -> None:
    with start_embedded_broker(0) as broker:
        mqtt_store, subscriber = _via_mqtt(sqlite_url, broker.url)
        subscriber.stop()
    http = _via_http(f"sqlite:///{tmp_path / 'http.db'}")
    assert _electricity(mqtt_store) == _electricity(http)
    assert mqtt_store.readings() == http.readings()  # gas and water too, same raw hashes
    counts = mqtt_store.counts()
    assert counts["accepted"] == len(_messages()) and counts["rejected.malformed"] >= 3


@pytest.mark.mqtt
def test_the_mosquitto_path_matches_http(sqlite_url: str, tmp_path: Path) -> None:
    broker_url = require_service("LEDGER_TEST_MQTT_URL", "an MQTT broker (Mosquitto)")
    mqtt_store, subscriber = _via_mqtt(sqlite_url, broker_url)
    subscriber.stop()
    assert mqtt_store.readings() == _via_http(f"sqlite:///{tmp_path / 'http.db'}").readings()


@pytest.mark.postgres
def test_postgresql_stores_exactly_what_sqlite_stores(postgres_url: str, sqlite_url: str) -> None:
    pg = _via_http(postgres_url)
    assert pg.readings() == _via_http(sqlite_url).readings()
    pipeline = IngestPipeline(pg)
    device, body = _messages()[0]
    assert pipeline.ingest_http(body, device).status == "duplicate"
    csv = _via_csv(postgres_url + "")  # same database: distributor rows kept beside gateway rows
    assert {r.source for r in csv.readings()} == {"gateway", "distributor"}
    pg.engine.dispose()
    csv.engine.dispose()
