"""Benchmark: what the demo's simulator costs once it follows the wall clock.

    .venv/bin/python bench/simulator.py [--seconds 60] [--homes 30] [--days 3]

Starts `ledger simulate --follow` as the demo does (its own state directory, an embedded MQTT
broker, the ingest in the same process), waits until it says it has caught up with the wall
clock, then reads the process's CPU time (utime + stime in /proc/<pid>/stat, its threads
included) over `--seconds`. The goal: under 5 % of one core on average. The one-off fill of the
past days and of today up to now is printed apart. SIGINT stops it, as in the demo; the bench
waits for it to exit and fails if it does not.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT_SHARE_OF_ONE_CORE = 0.05
TICKS_PER_S = os.sysconf("SC_CLK_TCK")
BRUNO = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"
DRISS = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (every thread), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> float:
    """Seconds until `text` appears in `log` (the process must stay alive meanwhile)."""
    started = time.monotonic()
    while text not in log.read_text(errors="replace"):
        if process.poll() is not None:
            raise SystemExit(
                f"the simulator exited ({process.returncode}) before {text!r}:\n{log.read_text()}"
            )
        if time.monotonic() - started > timeout:
            raise SystemExit(f"no {text!r} after {timeout:.0f} s:\n{log.read_text()}")
        time.sleep(0.2)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--homes", type=int, default=30)
    parser.add_argument("--days", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "simulator.log"
        env = {**os.environ, "LEDGER_STATE_DIR": str(Path(tmp) / "state")}
        env.pop("LEDGER_MQTT_URL", None)
        command = [sys.executable, "-m", "ledger", "simulate", "--follow", "--homes", str(args.homes),
                   "--days", str(args.days), "--prosumer", BRUNO, "--prosumer", DRISS]
        with open(log, "wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            fill_s = wait_for_line(log, "Caught up", process, timeout=1800)
            fill_cpu = cpu_seconds(process.pid)
            time.sleep(args.seconds)  # the measured window: the simulator alone, following the clock
            steady_cpu = cpu_seconds(process.pid) - fill_cpu
        finally:
            process.send_signal(signal.SIGINT)
            try:
                code = process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise SystemExit("the simulator did not stop on SIGINT within 120 s") from None
        share = steady_cpu / args.seconds
        caught = next(line for line in log.read_text().splitlines() if "Caught up" in line)
        print(f"fill of the past {args.days} days and today up to now: {fill_s:.1f} s wall, "
              f"{fill_cpu:.1f} s CPU ({caught.strip()})")
        print(f"following the wall clock: {steady_cpu:.2f} s CPU over {args.seconds:.0f} s = "
              f"{share * 100:.2f} % of one core; limit {LIMIT_SHARE_OF_ONE_CORE * 100:.0f} %: "
              f"{share / LIMIT_SHARE_OF_ONE_CORE:.2f} of the limit, "
              f"{'ok' if share < LIMIT_SHARE_OF_ONE_CORE else 'OVER'}")
        print(f"stopped by SIGINT with exit code {code}")


if __name__ == "__main__":
    main()
