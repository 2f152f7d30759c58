"""`ledger energy reconcile-enedis`: Enedis's published allocated / complement / surplus figures
for a day equal the ledger's own allocation of the same readings (exit 0); a figure more than
1 Wh off is printed and the command exits 3; a 1 Wh difference is tolerated."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from ledger.domain.energy.allocation import allocate_step
from ledger.energy.enedis_reconcile import parse_publication, reconcile
from ledger.energy.ingest import IngestPipeline
from ledger.energy.settlement_source import day_inputs
from tests.integration.test_reviews_and_corrections import _rows, _world
from tests.unit.test_settlement_source import DAY, NOW, OP


def _published(url: str) -> list[str]:
    """What Enedis would publish for DAY: the figures of the ledger's allocation."""
    store = _world(url)
    IngestPipeline(store, clock=lambda: NOW).ingest_distributor(_rows(), b"file")
    inputs = day_inputs(store, OP, DAY)
    serial = {m.serial_hash: m.serial for m in store.operation_meters(OP)}
    lines = ["meter,start,allocated_wh,complement_wh,surplus_wh"]
    for start, readings in sorted(inputs.readings.items()):
        alloc = allocate_step(readings, inputs.key)
        iso = start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        supplied = alloc.supplied()
        for h, a in alloc.allocated.items():
            lines.append(f"{serial[h]},{iso},{a},{alloc.consumption[h] - a},")
        for h, p in alloc.production.items():
            lines.append(f"{serial[h]},{iso},,,{p - supplied.get(h, 0)}")
    store.engine.dispose()
    return lines


def test_equal_figures_reconcile_and_a_difference_above_one_wh_exits_3(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'enedis.db'}"
    lines = _published(url)
    from ledger.db import make_engine
    from ledger.db.energy_store import SqlEnergyStore

    store = SqlEnergyStore(make_engine(url))
    try:
        exact = reconcile(store, OP, parse_publication("\n".join(lines).encode()))
        assert exact.differences == () and exact.compared == 96 * 3 * 2 + 96 * 2
        # a consumer's allocated figure 1 Wh off is tolerated, 2 Wh is reported
        n = next(i for i, line in enumerate(lines)
                 if line.startswith("PRM-C1,") and line.split(",")[2] not in ("", "0"))
        meter, start, allocated, complement, surplus = lines[n].split(",")
        lines[n] = ",".join((meter, start, str(int(allocated) + 1), complement, surplus))
        assert reconcile(store, OP, parse_publication("\n".join(lines).encode())).differences == ()
        lines[n] = ",".join((meter, start, str(int(allocated) + 2), complement, surplus))
        (diff,) = reconcile(store, OP, parse_publication("\n".join(lines).encode())).differences
        off_by = diff.enedis_wh - (diff.ledger_wh or 0)
        assert (diff.meter, diff.figure, off_by) == ("PRM-C1", "allocated_wh", 2)
    finally:
        store.engine.dispose()
    published = tmp_path / "enedis.csv"
    published.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "LEDGER_DATABASE_URL": url, "LEDGER_STATE_DIR": str(tmp_path)}
    done = subprocess.run([str(Path(sys.executable).parent / "ledger"), "energy", "reconcile-enedis",
                           str(published), "--operation", OP], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 3, done.stderr
    when = datetime.fromisoformat(start).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"PRM-C1 {when} allocated_wh: Enedis {int(allocated) + 2} Wh, ledger {allocated} Wh" in done.stdout
    assert "1 differ by more than 1 Wh" in done.stdout
