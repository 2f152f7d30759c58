"""A resident owns their data, on real SQLite and PostgreSQL through the real app: the export
holds everything the district keeps about them and nothing of anyone else; a consent refused
takes their readings out of the district figures from that moment (k-anonymity still counted
without them); erasure leaves only what the law and the settlements keep, shown by scanning
every column of every table."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, create_engine, insert, select, text
from sqlalchemy.engine import Engine

from api.app import create_app
from ledger.db import make_engine, migrate
from ledger.db import models as chain_models
from ledger.db.api_models import ApiNamedAccount
from ledger.db.energy_models import (
    EnergyMembership,
    EnergyMeter,
    EnergyMeterSite,
    EnergyOperation,
    EnergyRawInput,
    EnergyReading,
)
from ledger.domain.energy.steps import day_bounds
from ledger.domain.treasury import topup_reference
from ledger.treasury.ports import FakeTreasuryChain
from ledger.treasury.service import register_reference
from tests.conftest import require_service
from tests.fixtures.camt import Entry, Stmt, Tx, camt053
from tests.unit.test_api import make_settings
from tests.unit.test_api_security import RESIDENT_A, RESIDENT_B, sign_in
from tests.unit.test_treasury import D1, REFERENCE_KEY, do_import

ME = RESIDENT_A.address.lower()
OTHER = RESIDENT_B.address.lower()
NEIGHBOURS = [f"0x{n:040x}" for n in range(1, 6)]
DAY = date(2025, 6, 21)
NOON = int(day_bounds(DAY)[0].timestamp()) + 12 * 3600
GAS_SERIAL = "GAS-SERIAL-OF-ME-0001"
PAYER_IBAN = "FR1420041010050500013M02606"
# Tables where the resident's address may stay after erasure, each for a reason the resident is
# told (ledger.domain.data_ownership.KEPT_AFTER_ERASURE).
KEPT = {
    # the public chain, indexed: pseudonymous, rebuilt from the chain
    "transfers",
    "payments",
    "refunds",
    "bookings",
    "deposits",
    "balances",
    "balance_history",
    "settlement_shortfalls",
    "raw_logs",
    # accounting and anti-money-laundering records (10 years)
    "treasury_entries",
    # the solar-sharing operation: the settlement basis and the mandate's proof
    "energy_meters",
    "energy_memberships",
    "energy_participants",
    "energy_consents",
    "energy_supply_contracts",
    # the refusal of the aggregates, so kept readings never count again
    "resident_consents",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    base = require_service("LEDGER_TEST_POSTGRES_URL", "PostgreSQL")
    name = f"ownership_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _meter(conn: Any, serial: str, wallet: str, commodity: str, operation: str | None) -> int:
    return int(
        conn.execute(
            insert(EnergyMeter)
            .values(
                serial=serial,
                serial_hash="0x" + uuid.uuid4().hex * 2,
                commodity=commodity,
                max_rate=36_000,
                wallet=wallet,
                operation_id=operation,
            )
            .returning(EnergyMeter.meter_id)
        ).scalar_one()
    )


def _read(conn: Any, meter: int, at: int, value: int, direction: str = "import") -> None:
    raw = uuid.uuid4().hex * 2
    conn.execute(
        insert(EnergyRawInput).values(sha256=raw, source="gateway", channel="http", size=1, received_ts=at)
    )
    conn.execute(
        insert(EnergyReading).values(
            source="gateway",
            meter_id=meter,
            start_ts=at,
            step_s=900,
            direction=direction,
            version="v1",
            value=value,
            current=True,
            raw_sha256=raw,
            clock_status="ok",
            received_ts=at,
        )
    )


def _seed(url: str) -> Engine:
    """Me: a payment, a transfer, a booking, a bank credit (my name and IBAN), my top-up
    reference, my naming choice, an electricity meter in the operation and a gas meter with its
    site, their readings. The other resident and five neighbours: their own rows."""
    engine = make_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(EnergyOperation).values(operation_id="op-1", name="Op", key="default", step_s=900)
        )
        mine = _meter(conn, "ELEC-SERIAL-OF-ME-001", ME, "electricity", "op-1")
        gas = _meter(conn, GAS_SERIAL, ME, "gas", None)
        conn.execute(insert(EnergyMeterSite).values(meter_id=gas, lat_e6=45_760_000, lon_e6=4_850_000))
        conn.execute(
            insert(EnergyMembership).values(
                operation_id="op-1", wallet=ME, role="consumer", start_day="2025-01-01", recorded_ts=1
            )
        )
        _read(conn, mine, NOON, 600)
        _read(conn, gas, NOON, 900)
        for n, home in enumerate([*NEIGHBOURS, OTHER]):
            _read(conn, _meter(conn, f"NEIGHBOUR-{n}", home, "electricity", "op-1"), NOON, 100 + n)
        for address, named in ((ME, True), (OTHER, False)):
            conn.execute(insert(ApiNamedAccount).values(address=address, named=named, updated_at=1))
        tx = "0x" + "ab" * 32
        conn.execute(
            insert(chain_models.Transfer).values(
                chain_id=69003,
                block_number=7,
                log_index=0,
                tx_hash=tx,
                from_address=ME,
                to_address=OTHER,
                value=2_400_000,
            )
        )
        conn.execute(
            insert(chain_models.Payment).values(
                chain_id=69003,
                block_number=7,
                log_index=1,
                tx_hash=tx,
                merchant_id=1,
                payer=ME,
                ref="0x" + "cd" * 32,
                amount=2_400_000,
                day="2025-06-21",
            )
        )
        conn.execute(
            insert(chain_models.Booking).values(
                chain_id=69003,
                booking_id=3,
                merchant_id=2,
                payer=ME,
                deposit=5_000_000,
                expires_at=99,
                ref="0x" + "ef" * 32,
                state="open",
                opened_block=7,
                opened_log_index=2,
                opened_tx=tx,
            )
        )
    for account in (ME, OTHER):
        register_reference(engine, account, "resident", REFERENCE_KEY)
    statement = Stmt(
        "STMT-OWN",
        D1,
        0,
        [
            Entry(
                [Tx(30_00, rf=topup_reference(ME, REFERENCE_KEY), name="Chloe Martin", iban=PAYER_IBAN)],
                ref="BNK-ME",
            ),
            Entry([Tx(10_00, rf=topup_reference(OTHER, REFERENCE_KEY), name="Bob Durand")], ref="BNK-OTHER"),
        ],
    )
    do_import(engine, FakeTreasuryChain(), camt053(statement))
    return engine


def _client(url: str) -> TestClient:
    return TestClient(create_app(make_settings(database_url=url)))


def _scan(engine: Engine, needles: list[str]) -> dict[str, set[str]]:
    """Every table (reflected from the database itself, so a table added later is scanned too):
    which of its columns hold any of `needles`, case-blind."""
    meta = MetaData()
    meta.reflect(engine)
    wanted = [n.lower() for n in needles]
    hits: dict[str, set[str]] = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                for column, value in row._mapping.items():
                    shown = bytes(value).hex() if isinstance(value, bytes | memoryview) else str(value)
                    if any(n in shown.lower() for n in wanted):
                        hits.setdefault(table.name, set()).add(column)
    return hits


def test_the_export_holds_everything_kept_about_me_and_nothing_of_anyone_else(database_url: str) -> None:
    engine = _seed(database_url)
    try:
        with _client(database_url) as client:
            assert client.get("/v1/me/export").status_code == 401
            sign_in(client, RESIDENT_A)
            reply = client.get("/v1/me/export")
    finally:
        engine.dispose()
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/zip" and "no-store" in reply.headers["cache-control"]
    archive = zipfile.ZipFile(io.BytesIO(reply.content))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["format"] == "m3e-resident-archive/1" and manifest["account"] == ME
    rows = {name: json.loads(archive.read(f"{name}.json")) for name in manifest["collections"]}
    assert {name: len(r) for name, r in rows.items() if r} == {
        "transfers": 1,
        "payments": 1,
        "bookings": 1,
        "energy_meters": 2,
        "energy_meter_sites": 1,
        "energy_readings": 2,
        "energy_memberships": 1,
        "consents": 3,
        "naming": 1,
        "topup_references": 1,
        "bank_credits": 1,
        "sessions": 1,  # the one signed in to ask
    }
    assert rows["bank_credits"][0]["counterparty_name"] == "Chloe Martin"
    assert rows["payments"][0]["amount"] == 2_400_000
    assert archive.read("energy_readings.csv").decode().count("\n") == 3  # header + 2 readings
    everything = b"".join(archive.read(n) for n in archive.namelist()).decode().lower()
    for stranger in ("bob durand", *NEIGHBOURS, "neighbour-"):
        assert stranger not in everything, stranger
    # OTHER appears only as the receiver of my transfer, never with their own data
    assert everything.count(OTHER) == 2  # transfers.json and transfers.csv


def test_refusing_the_aggregates_takes_my_readings_out_of_the_district_from_then_on(
    database_url: str,
) -> None:
    """Seven homes at noon (me, the other resident, five neighbours): my refusal removes my
    600 Wh from the figure published afterwards. At 12:15 five homes reported, me among them:
    without me the group is under 5 homes and withheld, never published as four homes' sum."""
    engine = _seed(database_url)
    with engine.begin() as conn:
        meters = dict(
            conn.execute(
                select(EnergyMeter.wallet, EnergyMeter.meter_id).where(EnergyMeter.commodity == "electricity")
            ).all()
        )
        for home in (ME, *NEIGHBOURS[:4]):
            _read(conn, meters[home], NOON + 900, 50)
    try:
        with _client(database_url) as client:
            sign_in(client, RESIDENT_A)
            assert client.get("/v1/me/consents").json()["consents"][0] == {
                "purpose": "district_aggregates",
                "party": None,
                "granted": True,
                "changed_ts": None,
            }
            refused = client.put("/v1/me/consents", json={"purpose": "district_aggregates", "granted": False})
            assert refused.status_code == 200, refused.text
            assert refused.json()["consents"][0]["granted"] is False
            bad = client.put(
                "/v1/me/consents",
                json={"purpose": "third_party_sharing", "party": "an-advertiser", "granted": True},
            )
            assert bad.status_code == 422 and "party" in bad.text
            shared = client.put(
                "/v1/me/consents",
                json={"purpose": "third_party_sharing", "party": "research-team", "granted": True},
            )
            assert [c["granted"] for c in shared.json()["consents"]] == [False, False, True]
            noon = _noon(client)
            quarter_past = _step(client, "2025-06-21T10:15:00Z")
        assert noon == sum(100 + n for n in range(6))  # the neighbours and the other resident, not me
        assert quarter_past["consumption_wh"] is None
        assert {"figure": "consumption", "reason": "fewer_than_5_homes"} in quarter_past["withheld"]
    finally:
        engine.dispose()


def _step(client: TestClient, start: str) -> dict[str, Any]:
    body = client.get("/v1/energy/district", params={"day": DAY.isoformat()}).json()
    step: dict[str, Any] = next(s for s in body["steps"] if s["start"] == start)
    return step


def _noon(client: TestClient) -> int | None:
    value = _step(client, "2025-06-21T10:00:00Z")["consumption_wh"]
    assert value is None or isinstance(value, int)
    return value


def test_erasure_leaves_only_what_the_law_and_the_settlements_keep(database_url: str) -> None:
    engine = _seed(database_url)
    try:
        before = _scan(engine, [ME, GAS_SERIAL])
        assert {"api_named_accounts", "treasury_account_refs", "energy_meters"} <= set(before), before
        with _client(database_url) as client:
            sign_in(client, RESIDENT_A)
            wrong = client.post("/v1/me/erase", json={"confirm": OTHER})
            assert wrong.status_code == 409 and "your own address" in wrong.text
            done = client.post("/v1/me/erase", json={"confirm": RESIDENT_A.address})
            assert done.status_code == 200, done.text
            report = done.json()
            assert client.get("/v1/me/export").status_code == 401  # the session went with the rest
        assert report["deleted"]["energy_readings"] == 1 and report["deleted"]["api_named_accounts"] == 1
        assert any("10 years" in k["until"] for k in report["kept"])
        after = _scan(engine, [ME, GAS_SERIAL, "45760000"])
        assert set(after) <= KEPT, {t: c for t, c in after.items() if t not in KEPT}
        assert "treasury_account_refs" not in after and "api_named_accounts" not in after
        assert _scan(engine, [GAS_SERIAL]) == {}  # the gas meter and all it measured are gone
        assert _scan(engine, [OTHER])["api_named_accounts"]  # nobody else's data was touched
        assert _scan(engine, ["Bob Durand"]) == {"treasury_entries": {"counterparty_name"}}
    finally:
        engine.dispose()
