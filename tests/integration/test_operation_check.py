"""`ledger operation check` on SQLite through the commands that record the facts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.integration.test_reviews_and_corrections import _world
from tests.unit.test_settlement_source import CONSUMERS, OP, PRODUCERS, WALLETS


def test_the_check_reports_each_rule_and_exits_3_until_the_facts_are_in(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'check.db'}"
    _world(url).engine.dispose()
    env = {**os.environ, "LEDGER_DATABASE_URL": url, "LEDGER_STATE_DIR": str(tmp_path)}
    ledger = str(Path(sys.executable).parent / "ledger")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([ledger, *args], env=env, capture_output=True, text=True, timeout=60,
                              check=False)

    first = run("operation", "check", OP)
    assert first.returncode == 3 and "FAIL coordinates" in first.stdout
    assert "FAIL supply contracts" in first.stdout
    for n, serial in enumerate((*PRODUCERS, *CONSUMERS)):
        extra = ["--installed-w", "9000"] if serial in PRODUCERS else []
        done = run("meter", "site", serial, "--lat", f"45.7597{n}", "--lon", "4.8422", *extra)
        assert done.returncode == 0, done.stderr
    assert run("meter", "site", "PRM-C1", "--lat", "45.1234567", "--lon", "4.8").returncode == 2
    for serial in CONSUMERS:
        assert run("participant", "contract", "--operation", OP, "--wallet", WALLETS[serial],
                   "--supplier", "Enercoop", "--contract", f"C-{serial}").returncode == 0
    done = run("operation", "check", OP)
    assert done.returncode == 0, done.stdout
    assert done.stdout.count("ok  ") == 4 and "18,000 W installed over 2 producer(s)" in done.stdout
    assert run("operation", "rules", OP, "--perimeter-km", "5").returncode == 2
    assert run("operation", "rules", OP, "--perimeter-km", "10", "--power-cap-mw", "5").returncode == 0
    assert "distributor and gateway" in run("operation", "data", OP, "--gateway").stdout
    assert run("operation", "data", "nope", "--gateway").returncode == 2
    from ledger.db import make_engine
    from ledger.db.energy_store import SqlEnergyStore

    engine = make_engine(url)
    operation = SqlEnergyStore(engine).operation(OP)
    engine.dispose()
    assert operation is not None and operation.settle_on_gateway
