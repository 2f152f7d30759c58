"""The demo's services are real process groups: every group it ever started is stopped at
shutdown, including one whose leader exited and left its own children (uvicorn workers) behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger.demo import ServiceGroups, group_alive

# a leader that starts a worker in its own process group, says the worker's pid, then exits
LEADER_THAT_LEAVES_A_WORKER = (
    "import subprocess, sys\n"
    "worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "print(worker.pid, flush=True)\n"
)


def _wait_for(condition: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.05)


def _running(pid: int) -> bool:
    """Running, not a zombie nobody reaped (an orphan's parent may never reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc (Linux)")
def test_a_service_whose_leader_exited_still_has_its_workers_stopped_at_shutdown(tmp_path: Path) -> None:
    services = ServiceGroups()
    leader = services.start([sys.executable, "-c", LEADER_THAT_LEAVES_A_WORKER], tmp_path / "svc.log",
                            dict(os.environ), stdout=subprocess.PIPE)
    assert leader.stdout is not None
    worker = int(leader.stdout.readline())
    leader.stdout.close()
    leader.wait(timeout=30)
    assert _running(worker) and os.getpgid(worker) == leader.pid
    assert services.newly_exited() == [leader]
    assert services.newly_exited() == []  # said once
    assert group_alive(leader.pid)
    services.stop(timeout=15)
    _wait_for(lambda: not _running(worker), "the worker left behind by the exited leader is stopped")
    assert not group_alive(leader.pid)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc (Linux)")
def test_a_service_that_ignores_sigterm_is_killed_with_its_group(tmp_path: Path) -> None:
    services = ServiceGroups()
    stubborn = services.start(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
         "print('ready', flush=True); time.sleep(600)"],
        tmp_path / "svc.log", dict(os.environ), stdout=subprocess.PIPE,
    )
    assert stubborn.stdout is not None and stubborn.stdout.readline().strip() == b"ready"
    stubborn.stdout.close()
    services.stop(timeout=0.5)
    assert stubborn.poll() is not None and not group_alive(stubborn.pid)
