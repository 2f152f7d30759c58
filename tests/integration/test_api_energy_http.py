"""Signed readings posted over HTTP to the real app (SQLite, migrated) end in the store exactly as
the pipeline called directly (the MQTT and CSV paths are compared to that one in
test_ingest_paths); the district aggregates read back through SQL withhold groups under 5 homes."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from ledger.db.queries_energy import EnergyQueries
from ledger.domain.energy.steps import day_bounds
from tests.integration.test_ingest_paths import DAY, _messages, _store, _via_http
from tests.unit.test_api import make_settings


def _app_store(tmp_path: Path) -> tuple[str, TestClient]:
    url = f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"
    _store(url)  # migrated, the simulated district registered
    settings = make_settings(database_url=url, settlement_dir=tmp_path / "settlement")
    return url, TestClient(create_app(settings))


def test_readings_posted_over_http_are_stored_like_the_other_paths(tmp_path: Path) -> None:
    url, client = _app_store(tmp_path)
    with client:
        for device, body in _messages():
            response = client.post(
                f"/v1/gateways/{device}/readings", content=body, headers={"content-type": "application/json"}
            )
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "accepted"
        device, body = _messages()[0]
        again = client.post(f"/v1/gateways/{device}/readings", content=body)
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        refused = client.post(f"/v1/gateways/{device}/readings", content=b'{"payload": {}}')
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "malformed"
        district = client.get(f"/v1/energy/district?day={DAY.isoformat()}").json()
    over_http = _store_readings(url)
    direct = _via_http(f"sqlite:///{tmp_path / 'direct.db'}").readings()
    assert over_http == [
        (r.meter_serial, r.start_ts, r.step_s, r.direction, r.version, r.value, r.raw_sha256) for r in direct
    ]
    # 4 simulated homes: fewer than 5, so nothing of theirs is published
    assert district["step_minutes"] == 15 and len(district["steps"]) == 92
    assert all(s["consumption_wh"] is None for s in district["steps"])
    reasons = {w["reason"] for s in district["steps"] for w in s["withheld"]}
    assert "fewer_than_5_homes" in reasons


def _store_readings(url: str) -> list[tuple[str, int, int, str, str, int, str]]:
    from ledger.db import make_engine
    from ledger.db.energy_store import SqlEnergyStore

    engine = make_engine(url)
    try:
        return [
            (r.meter_serial, r.start_ts, r.step_s, r.direction, r.version, r.value, r.raw_sha256)
            for r in SqlEnergyStore(engine).readings()
        ]
    finally:
        engine.dispose()


def test_the_sql_aggregates_count_homes_not_meters(tmp_path: Path) -> None:
    url, client = _app_store(tmp_path)
    with client:
        for device, body in _messages():
            assert client.post(f"/v1/gateways/{device}/readings", content=body).status_code == 200
    queries = EnergyQueries.from_url(url, 69003)
    try:
        start, end = day_bounds(DAY)
        rows = queries.district(int(start.timestamp()), int(end.timestamp()))
        assert rows.step_s == 900 and rows.figures
        consumption = [f for f in rows.figures if f.figure == "consumption"]
        # four homes consume, two produce; a home whose register reads 0 in a step adds nothing
        # to that step's figure and is not counted toward it
        assert consumption and max(f.homes for f in consumption) >= 2
        assert all(1 <= f.homes <= 4 for f in consumption)
        production = [f for f in rows.figures if f.figure == "production"]
        assert production and max(f.homes for f in production) >= 1
        assert all(1 <= f.homes <= 2 for f in production)
        wallet = next(iter(_wallets(url)))
        mixed_case = "0x" + wallet[2:].upper()
        own = queries.own_readings(mixed_case, int(start.timestamp()), int(end.timestamp()))
        assert own and {r.source for r in own} == {"gateway"}
    finally:
        queries.close()


def _wallets(url: str) -> set[str]:
    from sqlalchemy import text

    from ledger.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT wallet FROM energy_meters WHERE wallet IS NOT NULL"))
            return {str(w) for (w,) in rows}
    finally:
        engine.dispose()


def test_settlement_days_join_the_stored_versions_and_the_indexed_commitments(tmp_path: Path) -> None:
    from sqlalchemy import insert

    from api.energy_sources import SettlementRecords
    from ledger.db import make_engine, migrate
    from ledger.db.models import SettlementDay, SettlementPayment
    from ledger.db.settlement_store import SqlDayStore
    from ledger.energy.settlement import Line, LineKind
    from tests.unit.test_api_energy import DAY as SETTLED
    from tests.unit.test_api_energy import day_lines

    url = f"sqlite:///{tmp_path / 'settle.db'}"
    engine = make_engine(url)
    migrate(engine)
    # the store checks on reading that the DAY line and the batch lines agree with the totals
    base = day_lines(1)
    zero = "0x" + "0" * 40
    lines = replace(
        base,
        lines=(
            *(replace(ln, index=2) if ln.kind is LineKind.DAY else ln for ln in base.lines),
            Line(LineKind.BATCH, 0, 0, zero, zero, 2, 0),
        ),
        batch_size=2,
    )
    SqlDayStore(engine).save(lines)
    produced, consumed, allocated, surplus, amount, transfers = lines.totals.as_tuple()
    key = {"chain_id": 69003, "operation_id": 1, "day": 20250621, "version": 1}
    with engine.begin() as conn:
        conn.execute(insert(SettlementDay), [{
            **key, "block_number": 7, "log_index": 0, "tx_hash": "0x" + "aa" * 32,
            "root": "0x" + lines.root.hex(), "produced_wh": produced, "consumed_wh": consumed,
            "allocated_wh": allocated, "surplus_wh": surplus, "amount": amount,
            "transfers": transfers,
        }])
        conn.execute(insert(SettlementPayment), [{
            **key, "block_number": 8, "log_index": 0, "tx_hash": "0x" + "bb" * 32,
            "from_index": 0, "to_index": 2, "paid": 81_000, "shortfall": 0,
        }])
    engine.dispose()
    source = SettlementRecords.from_url(url, EnergyQueries.from_url(url, 69003))
    try:
        (day,) = source.day(SETTLED)
        assert day.lines is not None and day.chain is not None
        assert day.chain.root == "0x" + lines.root.hex() and day.chain.totals == lines.totals.as_tuple()
        assert (day.chain.paid, day.chain.paid_up_to, day.chain.tx_hash) == (81_000, 2, "0x" + "aa" * 32)
        assert [d.day for d in source.recent(5)] == [SETTLED]
    finally:
        source.close()


def _insert_readings(url: str, at: int, readings: list[tuple[str | None, str, int]]) -> None:
    """Meters (wallet or none, no gateway) each with one current reading of `at` (SQL, no
    pipeline: only the aggregate query is under test)."""
    from sqlalchemy import text

    from ledger.db import make_engine

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO energy_raw_inputs (sha256, source, channel, size, received_ts)"
                    " VALUES (:h, 'gateway', 'http', 1, :t)"
                ),
                {"h": "ab" * 32, "t": at},
            )
            for n, (wallet, direction, value) in enumerate(readings):
                meter = conn.execute(
                    text(
                        "INSERT INTO energy_meters (serial, serial_hash, commodity, max_rate, wallet)"
                        " VALUES (:s, :sh, 'electricity', 36000, :w) RETURNING meter_id"
                    ),
                    {"s": f"ATTACK{n:04d}", "sh": f"0x{n:064x}", "w": wallet},
                ).scalar_one()
                conn.execute(
                    text(
                        "INSERT INTO energy_readings (source, meter_id, start_ts, step_s, direction,"
                        " version, value, current, raw_sha256, clock_status, received_ts)"
                        " VALUES ('gateway', :m, :t, 900, :d, 'v1', :v, 1, :h, 'ok', :t)"
                    ),
                    {"m": meter, "t": at, "d": direction, "v": value, "h": "ab" * 32},
                )
    finally:
        engine.dispose()


def test_the_sql_aggregates_count_only_homes_that_add_to_the_figure(tmp_path: Path) -> None:
    """Four homes exporting 0 do not hide the one solar home's export, and a meter without a
    home is neither summed nor counted (SQLite, the SQL path of the fake's rule). A figure of 0
    stands for every home that reported it (five homes importing 0: a group of 5)."""
    url, _client = _app_store(tmp_path)
    at = 1_900_000_800  # far from the simulated district's day
    homes = [f"0x{n:040x}" for n in range(1, 11)]
    _insert_readings(
        url,
        at,
        [
            (homes[0], "export", 1234),
            *[(homes[n], "export", 0) for n in range(1, 5)],
            (None, "import", 4321),
            *[(homes[n], "import", 0) for n in range(5, 10)],
        ],
    )
    queries = EnergyQueries.from_url(url, 69003)
    try:
        rows = queries.district(at, at + 900)
        figures = {f.figure: (f.total, f.homes) for f in rows.figures}
        assert figures["production"] == (1234, 1)
        assert figures["consumption"] == (0, 5)  # the home-less 4321 is not summed
    finally:
        queries.close()
