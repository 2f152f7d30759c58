"""Crash tests of `ledger settle`: killed at every step, re-run, nothing paid twice, no line missed.

An injected hook raises at the N-th step of a run (after the lines are stored, after the commit is
sent, after it is mined, after each payment is sent but before its receipt is read, after each
receipt), for every N; a real `kill -9` stops a `ledger settle` process between two payments.
After the re-run, every balance equals the start plus exactly what the transfer lines say.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from ledger.chain.client import connect
from ledger.chain.deploy import deploy_district
from ledger.chain.devnode import DevNode
from ledger.chain.manifest import Manifest
from ledger.demo import dev_account
from ledger.domain.energy.allocation import DefaultKey
from ledger.domain.energy.steps import StepLength
from ledger.energy.settlement import DayLines, JsonDayStore, Settler, day_compute, tariff_book
from ledger.energy.settlement_sim import SettlementWorld, build_world, synthetic_day

DAY = date(2025, 6, 16)
PRODUCERS = ("PRM-P1", "PRM-P2")
CONSUMERS = ("PRM-C1", "PRM-C2", "PRM-C3")
BATCH = 2  # 6 transfer lines -> 3 payments
POINTS = 3 + 2 * 3  # stored, commit-sent, committed, then (pay-sent, paid) per payment


class Crash(Exception):
    """The simulated crash."""


@pytest.fixture(scope="module")
def manifest(chain_node: DevNode) -> Manifest:
    return deploy_district(connect(chain_node.url), dev_account(0))


def make_world(chain_node: DevNode, manifest: Manifest, operation_id: int) -> SettlementWorld:
    return build_world(
        connect(chain_node.url),
        manifest,
        operation_id,
        PRODUCERS,
        CONSUMERS,
        operator=dev_account(0),
        tariff_from=date(2025, 6, 1),
    )


def run(world: SettlementWorld, store: Path, crash_at: int | None = None) -> None:
    calls: list[str] = []

    def hook(point: str) -> None:
        calls.append(point)
        if crash_at is not None and len(calls) == crash_at + 1:
            raise Crash(point)

    compute = day_compute(
        operation_id=world.operation_id,
        day=DAY,
        step=StepLength.MIN15,
        readings=synthetic_day(DAY, PRODUCERS, CONSUMERS),
        key=DefaultKey(),
        book=tariff_book(world.chain.tariffs(world.operation_id)),
        accounts=world.accounts,
    )
    Settler(world.chain, JsonDayStore(store), batch_size=BATCH, hook=hook).run(
        world.operation_id, DAY, compute
    )


def assert_settled_exactly_once(world: SettlementWorld, lines: DayLines, before: dict[str, int]) -> None:
    moves: dict[str, int] = {}
    for t in lines.transfers:
        moves[t.payer] = moves.get(t.payer, 0) - t.amount
        moves[t.payee] = moves.get(t.payee, 0) + t.amount
    for account, start in before.items():
        assert world.balance(account) == start + moves.get(account, 0), account
    on_chain = world.chain.commitment(world.operation_id, DAY, 1)
    assert on_chain.paid_up_to == lines.totals.transfers == len(lines.transfers)
    assert on_chain.paid == lines.totals.amount and on_chain.shortfall == 0
    assert world.chain.latest_version(world.operation_id, DAY) == 1


@pytest.mark.parametrize("crash_at", range(POINTS))
def test_a_crash_at_any_step_then_a_rerun_pays_every_line_exactly_once(
    chain_node: DevNode, manifest: Manifest, tmp_path: Path, crash_at: int
) -> None:
    world = make_world(chain_node, manifest, 200 + crash_at)
    before = {a: world.balance(a) for a in world.accounts.values()}
    with pytest.raises(Crash):
        run(world, tmp_path, crash_at)
    run(world, tmp_path)
    lines = JsonDayStore(tmp_path).load(world.operation_id, DAY)[1]
    assert lines.totals.transfers == 6
    assert_settled_exactly_once(world, lines, before)
    run(world, tmp_path)  # and once more: still nothing paid twice
    assert_settled_exactly_once(world, lines, before)


def write_inputs(world: SettlementWorld, folder: Path) -> tuple[Path, Path]:
    readings, participants = folder / "readings.csv", folder / "participants.csv"
    with readings.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["step_start", "meter", "direction", "wh"])
        for start, step in synthetic_day(DAY, PRODUCERS, CONSUMERS).items():
            for meter, wh in step.injections.items():
                out.writerow([start.isoformat(), meter, "export", wh])
            for meter, wh in step.withdrawals.items():
                out.writerow([start.isoformat(), meter, "import", wh])
    with participants.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["meter", "account"])
        for meter, account in world.accounts.items():
            out.writerow([meter, account])
    return readings, participants


def test_kill_9_of_ledger_settle_between_payments_then_rerun_pays_each_line_once(
    chain_node: DevNode, manifest: Manifest, tmp_path: Path
) -> None:
    world = make_world(chain_node, manifest, 299)
    before = {a: world.balance(a) for a in world.accounts.values()}
    manifest_path = tmp_path / "deployment.json"
    manifest.save(manifest_path)
    readings, participants = write_inputs(world, tmp_path)
    env = {
        **os.environ,
        "LEDGER_RPC_URL": chain_node.url,
        "LEDGER_STATE_DIR": str(tmp_path / "state"),
        "LEDGER_MANIFEST": str(manifest_path),
    }
    env.pop("LEDGER_DEPLOYER_KEY", None)
    env.pop("LEDGER_KEYSTORE", None)
    args = [
        sys.executable,
        "-m",
        "ledger",
        "settle",
        "--day",
        DAY.isoformat(),
        "--operation",
        "299",
        "--readings",
        str(readings),
        "--participants",
        str(participants),
        "--batch",
        "1",
    ]
    log = (tmp_path / "killed.log").open("wb")
    proc = subprocess.Popen([*args, "--batch-delay", "1.0"], env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if world.chain.commitment(299, DAY, 1).paid_up_to >= 2:
                break
            assert proc.poll() is None, (tmp_path / "killed.log").read_text()
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        log.close()
    assert proc.returncode == -signal.SIGKILL
    stopped_at = world.chain.commitment(299, DAY, 1).paid_up_to
    assert 2 <= stopped_at < 6, "the kill must land between two payments"
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    lines = JsonDayStore(tmp_path / "state" / "settlement").load(299, DAY)[1]
    assert_settled_exactly_once(world, lines, before)
    proof = subprocess.run(
        [
            sys.executable,
            "-m",
            "ledger",
            "proof",
            "--day",
            DAY.isoformat(),
            "--operation",
            "299",
            "--account",
            world.accounts["PRM-C2"],
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proof.returncode == 0, proof.stderr
    assert '"ok": true' in proof.stdout
