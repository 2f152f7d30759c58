"""On SQLite (PostgreSQL too when configured): a conflicting reading is held for review and keeps
its day open; `resolve` keeps the stored value, the held one or an operator's value with the hash
of the decision; distributor data arriving for a settled day, or a review resolved, make
`days_needing_settlement` list the day and `settle-watch` commit the correction version by
itself."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from ledger.db import make_engine, migrate
from ledger.db.energy_store import SqlEnergyStore
from ledger.domain.energy.pricing import TariffBook
from ledger.domain.energy.steps import StepLength, day_bounds, day_step_starts
from ledger.energy import registry
from ledger.energy.envelope import IntervalReading
from ledger.energy.ingest import IngestPipeline
from ledger.energy.reviews import ReviewError, decision_sha256, resolve
from ledger.energy.settlement import MemoryDayStore, tariff_book
from ledger.energy.settlement_source import (
    DayOpenError,
    SettleWatcher,
    day_inputs,
    days_needing_settlement,
)
from tests.conftest import require_service
from tests.unit.test_settlement_source import CONSUMERS, DAY, NOW, OP, PRODUCERS, SALT, WALLETS, FakeChain


def _world(url: str) -> SqlEnergyStore:
    engine = make_engine(url)
    migrate(engine)
    store = SqlEnergyStore(engine)
    registry.add_operation(store, OP, "integration", "default", 900)
    for serial in (*PRODUCERS, *CONSUMERS):
        role = "producer" if serial in PRODUCERS else "consumer"
        registry.add_participant(store, OP, WALLETS[serial], role)
        registry.add_meter(store, SALT, serial, "electricity", 12_000, operation_id=OP,
                           wallet=WALLETS[serial])
    return store


def _rows(c2: int = 70) -> list[tuple[str, IntervalReading]]:
    rows = []
    for n, start in enumerate(day_step_starts(DAY, StepLength.MIN15)):
        ts = int(start.timestamp())
        for k, meter in enumerate(PRODUCERS):
            rows.append((meter, IntervalReading(ts, 900, "electricity", "export",
                                                100 * (k + 1) if 30 <= n < 80 else 0, "raw")))
        for i, meter in enumerate(CONSUMERS):
            value = c2 if meter == "PRM-C2" else 50 + 10 * i
            rows.append((meter, IntervalReading(ts, 900, "electricity", "import", value, "raw")))
    return rows


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    base = require_service("LEDGER_TEST_POSTGRES_URL", "PostgreSQL")
    name = f"reviews_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _watcher(
    store: SqlEnergyStore,
    chain: FakeChain,
    events: list[dict[str, Any]],
    days: MemoryDayStore | None = None,
) -> SettleWatcher:
    def book() -> TariffBook:
        return tariff_book(chain.tariffs(0))

    return SettleWatcher(
        store=store, chain=chain, days=days or MemoryDayStore(), operation_id=OP, book=book,
        emit=events.append, retries=1, retry_delay_s=0, clock=lambda: NOW, sleep=lambda _s: None,
        changes=store,
    )


def _review_then_resolve(url: str) -> None:
    store = _world(url)
    try:
        _review_then_resolve_on(store)
    finally:
        store.engine.dispose()


def _review_then_resolve_on(store: SqlEnergyStore) -> None:
    pipeline = IngestPipeline(store, clock=lambda: NOW)
    pipeline.ingest_distributor(_rows(), b"first file")
    chain = FakeChain()
    events: list[dict[str, Any]] = []
    watch = _watcher(store, chain, events)
    assert [e["event"] for e in watch.check()] == ["day-settled"] and chain.commits == 1
    assert watch.check() == []  # nothing changed: nothing done

    # a second raw file disagrees on one quarter-hour: held, the day is open again
    t = int(day_step_starts(DAY, StepLength.MIN15)[40].timestamp())
    held, _ = pipeline.ingest_distributor(
        [("PRM-C2", IntervalReading(t, 900, "electricity", "import", 90, "raw"))], b"second file"
    )
    assert held.held == 1
    (review,) = store.review_queue()
    assert (review.stored_value, review.proposed_value, review.status) == (70, 90, "open")
    with pytest.raises(DayOpenError, match=f"#{review.review_id} meter PRM-C2"):
        day_inputs(store, OP, DAY)

    # resolve: refused sentences first, nothing changed by them
    with pytest.raises(ReviewError, match="--keep must be"):
        resolve(store, review.review_id, "maybe", "operator")
    with pytest.raises(ReviewError, match="above what the meter can carry"):
        resolve(store, review.review_id, "3001", "operator")
    with pytest.raises(ReviewError, match="no review 999"):
        resolve(store, 999, "raw", "operator")
    done = resolve(store, review.review_id, "corrected", "operator@pmo")
    assert (done.status, done.resolution, done.resolved_value) == ("resolved", "proposed", 90)
    with pytest.raises(ReviewError, match="already resolved"):
        resolve(store, review.review_id, "raw", "operator@pmo")
    (row,) = [r for r in store.readings() if r.meter_serial == "PRM-C2" and r.start_ts == t]
    assert row.value == 90 and row.raw_sha256 == decision_sha256(review.review_id, 90, "operator@pmo")
    assert store.review_queue() == [] and len(store.review_queue(None)) == 1

    # the watcher sees the resolution and commits version 2 by itself
    start, _ = day_bounds(DAY)
    assert DAY in days_needing_settlement(store, OP, int(start.timestamp())).days
    settled = [e for e in watch.check() if e["event"] == "day-settled"]
    assert [(e["day"], e["version"]) for e in settled] == [(DAY.isoformat(), 2)]
    assert chain.commits == 2

    # distributor corrections for the settled day: version 3, no command typed
    t2 = int(day_step_starts(DAY, StepLength.MIN15)[50].timestamp())
    pipeline.ingest_distributor(
        [("PRM-C1", IntervalReading(t2, 900, "electricity", "import", 10, "corrected"))], b"fix"
    )
    settled = [e for e in watch.check() if e["event"] == "day-settled"]
    assert [(e["day"], e["version"]) for e in settled] == [(DAY.isoformat(), 3)]
    assert watch.check() == [] and chain.commits == 3

    # a gateway reading for that day is not settlement data: nothing moves
    registry.add_gateway(store, "gw-x", bytes(32 * [7]))
    assert days_needing_settlement(store, OP, int(datetime.now(UTC).timestamp()) + 1).days == ()


def test_a_review_keeps_the_day_open_and_resolving_or_new_distributor_data_resettle_it_on_sqlite(
    sqlite_url: str,
) -> None:
    _review_then_resolve(sqlite_url)


def test_the_same_on_postgresql(postgres_url: str) -> None:
    _review_then_resolve(postgres_url)


def test_a_restarted_watcher_corrects_a_day_changed_while_it_was_down(sqlite_url: str) -> None:
    store = _world(sqlite_url)
    pipeline = IngestPipeline(store, clock=lambda: NOW)
    pipeline.ingest_distributor(_rows(), b"first file")
    chain = FakeChain()
    lines = MemoryDayStore()  # the settlement state outlives the process (its own store)
    _watcher(store, chain, [], lines).check()
    # A sunny step: the corrected reading changes what PRM-C3 bought, so money moves. (A change
    # at a step with no production changes no line and no public total: nothing to settle.)
    t = int(day_step_starts(DAY, StepLength.MIN15)[50].timestamp())
    pipeline.ingest_distributor(
        [("PRM-C3", IntervalReading(t, 900, "electricity", "import", 5, "corrected"))], b"fix"
    )
    events: list[dict[str, Any]] = []
    _watcher(store, chain, events, lines).check()
    assert [(e["event"], e.get("version")) for e in events if e["event"] != "watch-started"] == [
        ("day-settled", 2)
    ]
    assert DAY + timedelta(days=1) not in days_needing_settlement(store, OP, 0).days


def _held(url: str) -> tuple[SqlEnergyStore, int]:
    store = _world(url)
    pipeline = IngestPipeline(store, clock=lambda: NOW)
    pipeline.ingest_distributor(_rows(), b"first file")
    t = int(day_step_starts(DAY, StepLength.MIN15)[40].timestamp())
    pipeline.ingest_distributor(
        [("PRM-C2", IntervalReading(t, 900, "electricity", "import", 90, "raw"))], b"second file"
    )
    (review,) = store.review_queue()
    return store, review.review_id


def test_a_correction_at_a_step_without_production_changes_no_line_and_commits_nothing(
    sqlite_url: str,
) -> None:
    """Before dawn nothing is shared: a corrected reading there changes no line of the day and no
    public total (the committed totals carry no energy), so no version 2 is committed."""
    store = _world(sqlite_url)
    pipeline = IngestPipeline(store, clock=lambda: NOW)
    pipeline.ingest_distributor(_rows(), b"first file")
    chain = FakeChain()
    lines = MemoryDayStore()
    _watcher(store, chain, [], lines).check()
    assert chain.commits == 1
    t = int(day_step_starts(DAY, StepLength.MIN15)[20].timestamp())
    pipeline.ingest_distributor(
        [("PRM-C3", IntervalReading(t, 900, "electricity", "import", 5, "corrected"))], b"fix"
    )
    events: list[dict[str, Any]] = []
    _watcher(store, chain, events, lines).check()
    assert [e for e in events if e["event"] == "day-settled"] == [] and chain.commits == 1


def test_the_cli_lists_and_resolves_reviews(sqlite_url: str, tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    store, review_id = _held(sqlite_url)
    env = {**os.environ, "LEDGER_DATABASE_URL": sqlite_url, "LEDGER_STATE_DIR": str(tmp_path)}
    ledger = [str(Path(sys.executable).parent / "ledger")]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*ledger, "readings", *args], env=env, capture_output=True, text=True,
                              timeout=60, check=False)

    listed = run("reviews")
    assert listed.returncode == 0 and f"#{review_id}" in listed.stdout and "stored 70 Wh" in listed.stdout
    refused = run("resolve", str(review_id), "--keep", "lots")
    assert refused.returncode == 2 and "--keep must be raw" in refused.stderr
    done = run("resolve", str(review_id), "--keep", "75", "--by", "pmo-ops", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["resolved_value"] == 75
    assert run("reviews").stdout.startswith("No reading awaits review.")
    assert "kept 75 (value, by pmo-ops)" in run("reviews", "--all").stdout
    again = run("resolve", str(review_id), "--keep", "raw")
    assert again.returncode == 2 and "already resolved" in again.stderr
    store.engine.dispose()


def test_the_operator_api_lists_and_resolves_reviews_with_the_role(sqlite_url: str) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.deps import get_operator
    from api.fakes import FakeOperator
    from tests.unit.test_api import make_settings
    from tests.unit.test_api_security import RESIDENT_A, sign_in

    store, review_id = _held(sqlite_url)
    app = create_app(make_settings(database_url=sqlite_url), reviews=store)
    operator = FakeOperator()
    app.dependency_overrides[get_operator] = lambda: operator
    with TestClient(app) as client:
        assert client.get("/v1/operator/readings/reviews").status_code == 401
        sign_in(client, RESIDENT_A)
        refused = client.get("/v1/operator/readings/reviews")
        assert refused.status_code == 403 and "registrar" in refused.json()["error"]["message"]
        operator.grant(RESIDENT_A.address, "registrar")
        (item,) = client.get("/v1/operator/readings/reviews").json()["reviews"]
        assert (item["id"], item["stored_value"], item["proposed_value"]) == (review_id, 70, 90)
        path = f"/v1/operator/readings/reviews/{review_id}/resolve"
        assert client.post(path, json={"keep": "-3"}).status_code == 422
        assert client.post(path, json={"keep": "999999"}).status_code == 400  # above the meter
        done = client.post(path, json={"keep": "raw"})
        assert done.status_code == 200, done.text
        assert done.json()["resolved_by"] == RESIDENT_A.address and done.json()["resolved_value"] == 70
        assert client.get("/v1/operator/readings/reviews").json()["reviews"] == []
        assert client.post(path, json={"keep": "corrected"}).status_code == 400
    day_inputs(store, OP, DAY)  # no open review left: the day settles
    store.engine.dispose()
