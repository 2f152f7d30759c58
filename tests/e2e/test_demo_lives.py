"""`ledger demo` as a user starts it in the background (`ledger demo &`): the district comes up,
the energy chart of today has data, Bruno and Driss have readings of their own, and `kill -INT`
(which a shell hands over ignored to a background job) stops the demo and every process it started.

A real anvil node, a real API server and an embedded MQTT broker, on free ports in a scratch
directory; every wait is on a condition, with a generous bound only to fail instead of hanging.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from ledger.chain.devnode import anvil_binary, free_port
from ledger.demo import NAMED_PROSUMERS, dev_account


def wait_until(condition: Callable[[], bool], what: str, timeout: float, process: subprocess.Popen[bytes],
               log: Path) -> float:
    """Seconds until `condition()` holds; fails with the demo's output if it exits or never does."""
    started = time.monotonic()
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the demo exited ({process.returncode}) before {what}:\n{log.read_text()[-4000:]}")
        if time.monotonic() - started > timeout:
            pytest.fail(f"no {what} after {timeout:.0f} s:\n{log.read_text()[-4000:]}")
        time.sleep(0.5)
    return time.monotonic() - started


def descendants(pid: int) -> set[int]:
    """Every process whose parent chain leads to `pid` (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def today_has_energy(api: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api}/v1/energy/district", timeout=10) as answer:
            return json.loads(answer.read())["latest_step"] is not None
    except OSError:
        return False


def readings_of(db: Path, wallet: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db, timeout=30) as conn:
        row = conn.execute(
            "SELECT count(*) FROM energy_readings r JOIN energy_meters m ON m.meter_id = r.meter_id "
            "WHERE lower(m.wallet) = lower(?) AND m.commodity = 'electricity' AND r.direction = 'export'",
            (wallet,),
        ).fetchone()
    return int(row[0])


def test_the_demo_lives_and_a_background_kill_int_stops_everything(tmp_path: Path) -> None:
    if anvil_binary() is None:
        pytest.skip("anvil is not installed (./run.sh setup installs it)")
    api_port = free_port()
    env = {
        **os.environ,
        "LEDGER_STATE_DIR": str(tmp_path / ".state"),
        "LEDGER_API_PORT": str(api_port),
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("LEDGER_MQTT_URL", "LEDGER_RPC_URL", "LEDGER_MANIFEST", "LEDGER_DATABASE_URL"):
        env.pop(name, None)
    log = tmp_path / "demo.out"

    def as_a_background_job() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # what `cmd &` does in a non-interactive shell

    with open(log, "wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "ledger", "demo", "--port", str(free_port())],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=as_a_background_job,
        )
    started: set[int] = set()
    try:
        wait_until(lambda: "Running." in log.read_text(), "'Running.'", 1200, demo, log)
        started = descendants(demo.pid)
        api = f"http://127.0.0.1:{api_port}"
        seconds = wait_until(lambda: today_has_energy(api), "energy data for today", 600, demo, log)
        print(f"today's energy chart had data {seconds:.0f} s after 'Running.'")
        db = tmp_path / ".state" / "ledger.db"
        for _label, index in NAMED_PROSUMERS:
            wallet = str(dev_account(index).address)

            def has_readings(of: str = wallet) -> bool:
                return readings_of(db, of) > 0

            wait_until(has_readings, f"solar readings of {wallet}", 600, demo, log)
        started |= descendants(demo.pid)
        assert len(started) >= 4, started  # chain, indexer, API, simulator, settlement
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=180)
        assert "Stopping" in log.read_text()
        wait_until_gone = time.monotonic()
        while any(alive(pid) for pid in started) and time.monotonic() - wait_until_gone < 60:
            time.sleep(0.5)
        assert not [pid for pid in started if alive(pid)], log.read_text()[-4000:]
    finally:
        # only when the test failed: nothing of this demo may outlive it
        if demo.poll() is None:
            started |= descendants(demo.pid)
            demo.kill()
            demo.wait()
        for pid in started:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
