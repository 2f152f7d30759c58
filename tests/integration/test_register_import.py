"""Cumulative register indexes through the real import path (CSV `register-index` on SQLite and
PostgreSQL, and the `ledger readings import` command): a rollover across two files, a meter
replaced inside a step, and a reset left as a gap, never guessed."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from ledger.energy.ingest import IngestPipeline
from ledger.energy.register_import import import_registers
from tests.integration.test_reviews_and_corrections import _world, postgres_url  # noqa: F401

NOW = 1_800_000_000
T = int(datetime(2025, 6, 15, 8, 0, tzinfo=UTC).timestamp())


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


FIRST = f"meter,at,index,device\nPRM-C1,{_iso(T)},999999000,A\nPRM-C1,{_iso(T + 900)},999999800,A\n"
SECOND = (
    "meter,at,index,device,event\n"
    f"PRM-C1,{_iso(T + 1800)},150,A,\nPRM-C1,{_iso(T + 2700)},400,A,\n"
    f"PRM-C1,{_iso(T + 3000)},500,A,final\nPRM-C1,{_iso(T + 3000)},0,B,initial\n"
    f"PRM-C1,{_iso(T + 3600)},80,B,\nPRM-C1,{_iso(T + 4500)},10,B,\n"
)


def _check(url: str) -> None:
    store = _world(url)
    try:
        pipeline = IngestPipeline(store, clock=lambda: NOW)
        first = import_registers(pipeline, store, FIRST.encode())
        assert first.samples == 2 and first.report.result.stored == 1
        second = import_registers(pipeline, store, SECOND.encode())
        assert second.report.rejected == ()
        got = [(r.start_ts - T, r.value, r.source, r.step_s) for r in store.readings()]
        assert got == [
            (0, 800, "distributor", 900),  # 999,999,000 -> 999,999,800
            (900, 350, "distributor", 900),  # rollover at 10^9 across the two files
            (1800, 250, "distributor", 900),
            (2700, 180, "distributor", 900),  # 400 -> 500 on A, then 0 -> 80 on B
        ]
        ((meter, direction, gap),) = second.gaps
        assert (meter, direction, gap.start_ts - T) == ("PRM-C1", "import", 3600)
        assert "reset" in gap.reason
        again = import_registers(pipeline, store, SECOND.encode())
        assert again.report.result.stored == 0 and again.report.result.duplicates == 3
    finally:
        store.engine.dispose()


def test_registers_on_sqlite(tmp_path: Path) -> None:
    _check(f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}")


def test_registers_on_postgresql(postgres_url: str) -> None:  # noqa: F811
    _check(postgres_url)


def test_the_import_command_takes_register_indexes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    _world(url).engine.dispose()
    env = {**os.environ, "LEDGER_DATABASE_URL": url, "LEDGER_STATE_DIR": str(tmp_path)}
    ledger = str(Path(sys.executable).parent / "ledger")
    (tmp_path / "first.csv").write_text(FIRST)
    (tmp_path / "second.csv").write_text(SECOND)
    for name, stored in (("first.csv", "1 stored"), ("second.csv", "3 stored")):
        done = subprocess.run([ledger, "readings", "import", str(tmp_path / name), "--format",
                               "register-index"], env=env, capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert stored in done.stdout
    assert "gap (left missing, never guessed)" in done.stdout and "reset" in done.stdout
