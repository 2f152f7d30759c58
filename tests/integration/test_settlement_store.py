"""The settlement store on real SQLite and PostgreSQL: exact round trips, one version per number,
one run per day across connections and processes, and a restored backup that holds the same
versions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from ledger.db import make_engine
from ledger.db.backup import backup, restore
from ledger.db.settlement_store import SqlDayStore, settle_store
from ledger.domain.energy.allocation import DefaultKey
from ledger.domain.energy.steps import StepLength
from ledger.energy.settlement import (
    ChainTariff,
    DayLines,
    SettlementBusy,
    SettlementError,
    compute_day,
    tariff_book,
)
from ledger.energy.settlement_sim import synthetic_day
from tests.conftest import require_service

DAY = date(2025, 6, 15)
PRODUCERS = ("P1", "P2")
CONSUMERS = ("C1", "C2", "C3")
ACCOUNTS = {m: "0x" + c * 40 for m, c in zip((*PRODUCERS, *CONSUMERS), "abcde", strict=True)}
BOOK = tariff_book([ChainTariff(date(2025, 6, 1), 80_123, 100_007, 60_011)])
HUGE_OPERATION = 2**256 - 1  # a keccak operation id can be any uint256


def day_lines(day: date = DAY, version: int = 1, scale: int = 1, operation: int = HUGE_OPERATION) -> DayLines:
    readings = synthetic_day(day, PRODUCERS, CONSUMERS)
    if scale != 1:
        readings = {s: replace(r, withdrawals={m: wh * scale for m, wh in r.withdrawals.items()})
                    for s, r in readings.items()}
    return compute_day(
        operation_id=operation, day=day, step=StepLength.MIN15, readings=readings, key=DefaultKey(),
        book=BOOK, accounts=ACCOUNTS, residues={("P1", "C1"): 999, ("P2", "C3"): 1}, version=version,
        batch_size=2,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    base = require_service("LEDGER_TEST_POSTGRES_URL", "PostgreSQL")
    name = f"settle_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def store(database_url: str) -> Iterator[SqlDayStore]:
    opened = settle_store(database_url)
    yield opened
    opened.engine.dispose()


def test_a_version_round_trips_exactly_and_a_changed_line_is_refused_on_reading(store: SqlDayStore) -> None:
    lines = day_lines()
    store.save(lines)
    loaded = store.load(HUGE_OPERATION, DAY)[1]
    assert loaded.lines == lines.lines and loaded.root == lines.root
    assert loaded.totals == lines.totals and loaded.batch_size == 2 and loaded.step_minutes == 15
    assert dict(loaded.residues_before) == {("P1", "C1"): 999, ("P2", "C3"): 1}
    assert dict(loaded.residues_after) == dict(lines.residues_after)
    assert max(ln.value for ln in loaded.lines) == max(ln.value for ln in lines.lines) > 2**200  # hashes
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE settle_lines SET payer = :p WHERE line_number = 3"), {"p": "0x" + "f" * 40})
    with pytest.raises(SettlementError, match="altered"):
        store.load(HUGE_OPERATION, DAY)


def test_a_version_number_holds_one_set_of_lines_whoever_stores_it(database_url: str) -> None:
    first, second = settle_store(database_url), settle_store(database_url)  # two connections
    try:
        lines = day_lines()
        first.save(lines)
        second.save(lines)  # the same lines again: a re-run, accepted
        with pytest.raises(SettlementError, match="already stored with other lines"):
            second.save(day_lines(scale=2))
        assert first.load(HUGE_OPERATION, DAY)[1].root == lines.root
    finally:
        first.engine.dispose()
        second.engine.dispose()


def test_progress_and_residues_carry_across_connections(database_url: str) -> None:
    writer, reader = settle_store(database_url), settle_store(database_url)
    try:
        v1, v2 = day_lines(), day_lines(version=2, scale=2)
        writer.save(v1)
        writer.mark(HUGE_OPERATION, DAY, 1, "commit-sent", "0x" + "12" * 32)
        writer.mark(HUGE_OPERATION, DAY, 1, "committed")
        writer.record_batch(HUGE_OPERATION, DAY, 1, 0, "0x" + "34" * 32, 77)
        writer.save(v2)
        assert reader.progress(HUGE_OPERATION, DAY) == {
            1: ("committed", "0x" + "12" * 32, 1), 2: ("computed", None, 0)
        }
        # the next day starts from the residues of the day's latest version, not the first
        assert v1.residues_after != v2.residues_after
        assert reader.residues_before(HUGE_OPERATION, date(2025, 6, 16)) == dict(v2.residues_after)
        assert reader.residues_before(HUGE_OPERATION, DAY) == {}
    finally:
        writer.engine.dispose()
        reader.engine.dispose()


def test_two_connections_cannot_hold_the_same_day_at_once(database_url: str) -> None:
    first, second = settle_store(database_url), settle_store(database_url)
    try:
        with first.claim(7, DAY):
            with pytest.raises(SettlementBusy, match="wait for it to finish"), second.claim(7, DAY):
                pass
            with second.claim(7, date(2025, 6, 16)):  # another day is free
                pass
        with second.claim(7, DAY):  # released when the first run ends
            pass
    finally:
        first.engine.dispose()
        second.engine.dispose()


HOLDER = """
import sys
from datetime import date
from ledger.db.settlement_store import settle_store
store = settle_store(sys.argv[1])
with store.claim(7, date(2025, 6, 15)):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_day_held_by_another_process_is_refused_and_freed_when_that_process_is_killed(
    database_url: str,
) -> None:
    store = settle_store(database_url)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, database_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        with pytest.raises(SettlementBusy), store.claim(7, DAY):
            pass
        os.kill(holder.pid, signal.SIGKILL)  # a run killed with -9 never leaves the day held
        holder.wait(timeout=30)
        deadline = time.monotonic() + 30
        while True:
            try:
                with store.claim(7, DAY):
                    break
            except SettlementBusy:
                # PostgreSQL drops the session's lock once it notices the dead connection
                assert time.monotonic() < deadline, "the day stayed held after its process died"
                time.sleep(0.05)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)
        for pipe in (holder.stdin, holder.stdout):
            if pipe is not None:
                pipe.close()
        store.engine.dispose()


def test_a_restored_backup_holds_the_same_versions(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("sqlite"):
        restored_url = database_url.rsplit("/", 1)[0] + f"/restored_{uuid.uuid4().hex[:10]}"
        admin = make_engine(database_url)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{restored_url.rsplit("/", 1)[1]}"')
        admin.dispose()
    else:
        restored_url = f"sqlite:///{tmp_path / 'restored.db'}"
    store = settle_store(database_url)
    try:
        v1, v2 = day_lines(), day_lines(version=2, scale=3)
        store.save(v1)
        store.save(v2)
        store.mark(HUGE_OPERATION, DAY, 1, "paid")
        backup(database_url, tmp_path / "ledger.backup")
        restore(tmp_path / "ledger.backup", restored_url)
        again = SqlDayStore(make_engine(restored_url))
        versions = again.load(HUGE_OPERATION, DAY)
        assert {v: lines.root for v, lines in versions.items()} == {1: v1.root, 2: v2.root}
        assert again.progress(HUGE_OPERATION, DAY)[1][0] == "paid"
        again.engine.dispose()
    finally:
        store.engine.dispose()
        if not restored_url.startswith("sqlite"):
            admin = make_engine(database_url)
            name = restored_url.rsplit("/", 1)[1]
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


def test_the_json_files_of_earlier_versions_are_imported_once_and_an_altered_one_is_refused(
    tmp_path: Path,
) -> None:
    import json

    v1, v2 = day_lines(operation=9), day_lines(version=2, scale=2, operation=9)
    folder = tmp_path / "settlement" / "op-9"
    folder.mkdir(parents=True)
    body = {"operation_id": "9", "day": DAY.isoformat(),
            "versions": {"1": v1.to_json(), "2": v2.to_json()}}
    (folder / f"{DAY}.json").write_text(json.dumps(body))
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "LEDGER_STATE_DIR": str(tmp_path / "state")}
    env.pop("LEDGER_DATABASE_URL", None)
    command = [sys.executable, "-m", "ledger", "settle-import-json", str(tmp_path / "settlement")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "imported 2 versions from 1 day files" in done.stdout
    store = settle_store(f"sqlite:///{tmp_path / 'state' / 'ledger.db'}")
    try:
        assert {v: lines.root for v, lines in store.load(9, DAY).items()} == {1: v1.root, 2: v2.root}
        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr  # the same versions again: nothing changes
        body["versions"]["2"]["lines"][0]["wh"] += 1  # type: ignore[index]
        (folder / f"{DAY}.json").write_text(json.dumps(body))
        refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert refused.returncode == 1 and "altered" in refused.stderr and "Traceback" not in refused.stderr
        assert store.load(9, DAY)[2].root == v2.root
    finally:
        store.engine.dispose()


def test_a_store_refusal_other_than_a_stored_version_says_so(
    store: SqlDayStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An integrity error for another reason (no version stored under that number) is not read
    as "already stored with other lines": the sentence names the store's own refusal."""
    from sqlalchemy.exc import IntegrityError

    import ledger.db.settlement_store as module

    def refuse(*_: object) -> None:
        raise IntegrityError("INSERT INTO settle_lines", {}, Exception("CHECK constraint failed: wh"))

    monkeypatch.setattr(module, "_insert_version", refuse)
    with pytest.raises(SettlementError, match=r"refused .* CHECK constraint failed: wh.*nothing was stored"):
        store.save(day_lines())
    assert store.load(HUGE_OPERATION, DAY) == {}
