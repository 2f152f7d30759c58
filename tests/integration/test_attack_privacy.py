"""An outside review of the residents' data promises, written as attacks on real SQLite and
PostgreSQL through the real app: each test is what a curious neighbour or a resident probing the
district tried, and what the district must answer."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import MetaData, insert, select
from sqlalchemy.engine import Engine

from api.app import create_app
from ledger.db import models as chain_models
from ledger.db.energy_models import EnergyMeter, EnergyRawInput, EnergyReading
from ledger.db.resident_data import collection_tables
from ledger.db.settlement_models import SettleLine, SettleVersion
from tests.conftest import require_service
from tests.integration.test_data_ownership import (
    DAY,
    ME,
    NEIGHBOURS,
    NOON,
    OTHER,
    _client,
    _read,
    _seed,
    _step,
    database_url,
)
from tests.unit.test_api import make_settings
from tests.unit.test_api_security import RESIDENT_A, sign_in

__all__ = ["database_url"]  # the fixture, parametrised over SQLite and PostgreSQL
# The raw event logs hold every address as a 32-byte topic; the export gives them decoded (the
# transfers, payments, bookings... collections), not as the undecoded copy.
NOT_A_COLLECTION = {"raw_logs"}


def test_attack_the_export_leaves_out_tables_that_hold_my_address(database_url: str) -> None:
    """The settlement lines now live in SQL (settle_lines), and my signed authorizations, my
    freeze record and my sessions are kept too: scanning every table of the database for my
    address, each table that holds it must be in my archive."""
    engine = _seed(database_url)
    tx = "0x" + "12" * 32
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(SettleVersion).values(
                    operation_id=7, day=date(2025, 6, 21), version=1, step_minutes=15, batch_size=10,
                    root="0x" + "01" * 32, transfers_hash="0x" + "02" * 32, produced_wh=600,
                    consumed_wh=600, allocated_wh=600, surplus_wh=0, amount=54_000, transfers=1,
                    line_count=1, state="committed",
                )
            )
            conn.execute(
                insert(SettleLine).values(
                    operation_id=7, day=date(2025, 6, 21), version=1, line_number=0, kind=1, index=0,
                    time=0, payer=ME, payee=OTHER, wh=600, value=54_000,
                )
            )
            conn.execute(
                insert(chain_models.TokenAuthorization).values(
                    chain_id=69003, block_number=8, log_index=0, tx_hash=tx, authorizer=ME,
                    nonce="0x" + "34" * 32, state="used",
                )
            )
        with _client(database_url) as client:
            sign_in(client, RESIDENT_A)
            reply = client.get("/v1/me/export")
        assert reply.status_code == 200, reply.text
        archive = zipfile.ZipFile(io.BytesIO(reply.content))
        exported = json.loads(archive.read("manifest.json"))["collections"]
        found = {name for name, about in exported.items() if about["rows"]}
        holding_me = _tables_holding(engine, ME) - NOT_A_COLLECTION
        assert {"settle_lines", "token_authorizations", "api_sessions"} <= holding_me
        collections_of = collection_tables()
        missing = {t for t in holding_me if collections_of.get(t) not in found}
        assert missing == set(), f"tables holding my address left out of my export: {sorted(missing)}"
        sessions = json.loads(archive.read("sessions.json"))
        assert sessions and all(set(s) == {"address", "expires_at"} for s in sessions)  # no token hash
        lines = json.loads(archive.read("settlement_lines.json"))
        assert [(x["payer"].lower(), x["wh"]) for x in lines] == [(ME, 600)]
    finally:
        engine.dispose()


def _tables_holding(engine: Engine, needle: str) -> set[str]:
    meta = MetaData()
    meta.reflect(engine)
    held: set[str] = set()
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                if any(needle in str(v).lower() for v in row):
                    held.add(table.name)
                    break
    return held



def test_attack_a_later_half_hour_reading_republishes_a_day_without_a_refusing_home(
    database_url: str,
) -> None:
    """Seven homes report 10:00 and 10:15 (UTC) in quarter-hours; both figures are published and
    frozen. I then refuse the district aggregates, and one 30-minute reading arrives for the day
    (the distributor's load curve, at night): the day is now shown in half-hours, and the 10:00
    half-hour was computed afresh without me. Its difference with the two quarter-hours already
    published is exactly my consumption: a figure published twice, differing by one home."""
    engine = _seed(database_url)
    with engine.begin() as conn:
        meters = dict(
            conn.execute(
                select(EnergyMeter.wallet, EnergyMeter.meter_id).where(EnergyMeter.commodity == "electricity")
            ).all()
        )
        for n, home in enumerate([ME, OTHER, *NEIGHBOURS]):
            _read(conn, meters[home], NOON + 900, 40 + n)
    try:
        with _client(database_url) as client:
            sign_in(client, RESIDENT_A)
            quarters = _step(client, "2025-06-21T10:00:00Z"), _step(client, "2025-06-21T10:15:00Z")
            assert all(q["consumption_wh"] is not None for q in quarters), quarters
            published = sum(q["consumption_wh"] for q in quarters)
            refused = client.put("/v1/me/consents", json={"purpose": "district_aggregates", "granted": False})
            assert refused.status_code == 200, refused.text
            with engine.begin() as conn:
                _read_half_hour(conn, meters[NEIGHBOURS[0]], NOON - 9 * 3600, 300)
            body = client.get("/v1/energy/district", params={"day": DAY.isoformat()}).json()
        assert body["step_minutes"] == 30
        half_hour = next(s for s in body["steps"] if s["start"] == "2025-06-21T10:00:00Z")
        mine = 600 + 40
        assert half_hour["consumption_wh"] != published - mine, "the half-hour gives my consumption away"
        assert half_hour["consumption_wh"] == published  # the sum of the two quarters as published
    finally:
        engine.dispose()


def _read_half_hour(conn: Any, meter: int, at: int, value: int) -> None:
    raw = uuid.uuid4().hex * 2
    conn.execute(
        insert(EnergyRawInput).values(
            sha256=raw, source="distributor", channel="file", size=1, received_ts=at
        )
    )
    conn.execute(
        insert(EnergyReading).values(
            source="distributor", meter_id=meter, start_ts=at, step_s=1800, direction="import",
            version="v1", value=value, current=True, raw_sha256=raw, clock_status="ok", received_ts=at,
        )
    )


def test_attack_erasure_says_the_link_to_my_address_is_gone_while_bank_credits_keep_it(
    database_url: str,
) -> None:
    """After an erasure the bank credits I sent are kept (the law asks it), and each one keeps the
    account it credited: my name and IBAN stay joined to my address. The answer must say so; it
    told me instead that the link between me and my address is erased."""
    engine = _seed(database_url)
    try:
        with _client(database_url) as client:
            sign_in(client, RESIDENT_A)
            done = client.post("/v1/me/erase", json={"confirm": RESIDENT_A.address})
        assert done.status_code == 200, done.text
        still_joined = _tables_holding(engine, ME) & _tables_holding(engine, "chloe martin")
        assert still_joined == {"treasury_entries"}
        kept = done.json()["kept"]
        credits = next(k for k in kept if "bank credits" in k["what"])
        assert "address" in credits["what"], credits
        assert not any("is erased" in k["why"] for k in kept), "the answer claims a link erased that is kept"
    finally:
        engine.dispose()


def test_attack_with_redis_a_session_outlives_the_erasure(tmp_path: Path) -> None:
    """Sessions live in Redis when it is configured. Someone holding a second session of mine
    (another device, or a stolen cookie) keeps reading my data after I erased it, although the
    erasure promises that my sessions end with it."""
    redis_url = require_service("LEDGER_TEST_REDIS_URL", "Redis")
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = _seed(url)
    settings = make_settings(database_url=url, redis_url=redis_url)
    try:
        with TestClient(create_app(settings)) as mine, TestClient(create_app(settings)) as other_device:
            sign_in(mine, RESIDENT_A)
            sign_in(other_device, RESIDENT_A)
            assert other_device.get("/v1/me/consents").status_code == 200
            done = mine.post("/v1/me/erase", json={"confirm": RESIDENT_A.address})
            assert done.status_code == 200, done.text
            assert mine.get("/v1/me/export").status_code == 401
            assert other_device.get("/v1/me/export").status_code == 401, "a session outlived the erasure"
    finally:
        engine.dispose()
