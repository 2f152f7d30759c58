"""Crash tests of `ledger settle`: killed at every step, re-run, nothing paid twice, no line missed.

An injected hook raises at the N-th step of a run (after the lines are stored, after the commit is
sent, after it is mined, after each payment is sent but before its receipt is read, after each
receipt), for every N; a real `kill -9` stops a `ledger settle` process between two payments.
After the re-run, every balance equals the start plus exactly what the transfer lines say.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from ledger.chain.client import connect
from ledger.chain.deploy import deploy_district
from ledger.chain.devnode import DevNode, free_port
from ledger.chain.manifest import Manifest
from ledger.db import make_engine
from ledger.db.settlement_store import settle_store
from ledger.demo import dev_account
from ledger.domain.energy.allocation import DefaultKey, StepReadings
from ledger.domain.energy.steps import StepLength
from ledger.energy.settlement import (
    Compute,
    DayLines,
    SettlementBusy,
    SettlementError,
    Settler,
    day_compute,
    tariff_book,
)
from ledger.energy.settlement_sim import SettlementWorld, build_world, synthetic_day
from tests.conftest import require_service
from tests.processes import wait_until_open
from tests.settle_store import ledger_day_store, sql_day_store

DAY = date(2025, 6, 16)
PRODUCERS = ("PRM-P1", "PRM-P2")
CONSUMERS = ("PRM-C1", "PRM-C2", "PRM-C3")
BATCH = 2  # 5 member lines -> 3 payments
POINTS = 3 + 2 * 3  # stored, commit-sent, committed, then (pay-sent, paid) per payment
KILL_RUNS = int(os.environ.get("LEDGER_CRASH_RUNS", "3"))
"""Random kill -9 runs; a bench run sets LEDGER_CRASH_RUNS=25 (each run settles its own day)."""
FIRST_DAY = date(2025, 6, 1)


class Crash(Exception):
    """The simulated crash."""


@pytest.fixture(scope="module")
def crash_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevNode]:
    """A chain whose clock starts before the tariff, then jumps past the days settled here."""
    log = tmp_path_factory.mktemp("chain") / "node.log"
    node = DevNode(free_port(), log_path=log, initial_date="2025-05-20T00:00:00Z").start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def manifest(crash_node: DevNode) -> Manifest:
    return deploy_district(connect(crash_node.url), dev_account(0))


@pytest.fixture(scope="module")
def world(crash_node: DevNode, manifest: Manifest) -> SettlementWorld:
    """One operation; each test settles days of its own (2025-06-01 + n), all within the mandates."""
    w3 = connect(crash_node.url)
    built = build_world(
        w3,
        manifest,
        200,
        PRODUCERS,
        CONSUMERS,
        operator=dev_account(0),
        tariff_from=FIRST_DAY,
        fund=10_000_000_000,
        mandate=(1_000_000_000, 30_000_000_000),
    )
    end = datetime.combine(FIRST_DAY + timedelta(days=KILL_RUNS + POINTS + 6), datetime.min.time(), UTC)
    w3.provider.make_request("evm_setNextBlockTimestamp", [int(end.timestamp())])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return built


def day_of(n: int) -> date:
    return FIRST_DAY + timedelta(days=n)


def run(world: SettlementWorld, store: Path, day: date, crash_at: int | None = None) -> None:
    calls: list[str] = []

    def hook(point: str) -> None:
        calls.append(point)
        if crash_at is not None and len(calls) == crash_at + 1:
            raise Crash(point)

    compute = day_compute(
        operation_id=world.operation_id,
        day=day,
        step=StepLength.MIN15,
        readings=synthetic_day(day, PRODUCERS, CONSUMERS),
        key=DefaultKey(),
        book=tariff_book(world.chain.tariffs(world.operation_id)),
        accounts=world.accounts,
        batch_size=BATCH,
    )
    Settler(world.chain, sql_day_store(store), batch_size=BATCH, hook=hook).run(
        world.operation_id, day, compute
    )


def assert_settled_exactly_once(
    world: SettlementWorld, lines: DayLines, before: dict[str, int], day: date
) -> None:
    """Balances equal an uninterrupted run: start + exactly what the member lines say."""
    moves: dict[str, int] = {}
    for t in lines.transfers:
        moves[t.member] = moves.get(t.member, 0) - t.amount
    for account, start in before.items():
        assert world.balance(account) == start + moves.get(account, 0), account
    on_chain = world.chain.commitment(world.operation_id, day, 1)
    assert on_chain.next_batch == lines.batch_count and on_chain.closed  # no line lost
    assert on_chain.debits == on_chain.credits == lines.totals.amount  # none paid twice
    assert world.chain.latest_version(world.operation_id, day) == 1
    assert world.chain.pool(world.operation_id) == 0


@pytest.mark.parametrize("crash_at", range(POINTS))
def test_a_crash_at_any_step_then_a_rerun_pays_every_line_exactly_once(
    world: SettlementWorld, tmp_path: Path, crash_at: int
) -> None:
    day = day_of(crash_at)
    before = {a: world.balance(a) for a in world.accounts.values()}
    with pytest.raises(Crash):
        run(world, tmp_path, day, crash_at)
    run(world, tmp_path, day)
    lines = sql_day_store(tmp_path).load(world.operation_id, day)[1]
    assert lines.totals.transfers == 5
    assert_settled_exactly_once(world, lines, before, day)
    # every mined transaction is recorded, even one whose run died before writing its row
    recorded = sql_day_store(tmp_path).progress(world.operation_id, day)[1]
    assert recorded == ("paid", world.chain.day_logs(world.operation_id, day).commits[1], lines.batch_count)
    run(world, tmp_path, day)  # and once more: still nothing paid twice
    assert_settled_exactly_once(world, lines, before, day)


def write_inputs(world: SettlementWorld, folder: Path, day: date) -> tuple[Path, Path]:
    readings, participants = folder / "readings.csv", folder / "participants.csv"
    with readings.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["step_start", "meter", "direction", "wh"])
        for start, step in synthetic_day(day, PRODUCERS, CONSUMERS).items():
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


def settle_args(day: date, readings: Path, participants: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ledger",
        "settle",
        "--day",
        day.isoformat(),
        "--operation",
        "200",
        "--readings",
        str(readings),
        "--participants",
        str(participants),
        "--batch",
        "1",
    ]


def ledger_env(crash_node: DevNode, manifest: Manifest, folder: Path) -> dict[str, str]:
    manifest_path = folder / "deployment.json"
    manifest.save(manifest_path)
    env = {
        **os.environ,
        "LEDGER_RPC_URL": crash_node.url,
        "LEDGER_STATE_DIR": str(folder / "state"),
        "LEDGER_MANIFEST": str(manifest_path),
    }
    env.pop("LEDGER_DEPLOYER_KEY", None)
    env.pop("LEDGER_KEYSTORE", None)
    return env


def test_kill_9_of_ledger_settle_between_payments_then_rerun_pays_each_line_once(
    crash_node: DevNode, manifest: Manifest, world: SettlementWorld, tmp_path: Path
) -> None:
    day = day_of(POINTS)
    before = {a: world.balance(a) for a in world.accounts.values()}
    env = ledger_env(crash_node, manifest, tmp_path)
    readings, participants = write_inputs(world, tmp_path, day)
    args = settle_args(day, readings, participants)
    log = (tmp_path / "killed.log").open("wb")
    proc = subprocess.Popen([*args, "--batch-delay", "1.0"], env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if world.chain.commitment(200, day, 1).next_batch >= 2:
                break
            assert proc.poll() is None, (tmp_path / "killed.log").read_text()
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        log.close()
    assert proc.returncode == -signal.SIGKILL
    stopped_at = world.chain.commitment(200, day, 1).next_batch
    assert 2 <= stopped_at < 5, "the kill must land between two payments"
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    lines = ledger_day_store(tmp_path / "state").load(200, day)[1]
    assert_settled_exactly_once(world, lines, before, day)
    proof = subprocess.run(
        [
            sys.executable,
            "-m",
            "ledger",
            "proof",
            "--day",
            day.isoformat(),
            "--operation",
            "200",
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


def test_kill_9_at_random_moments_then_rerun_settles_each_day_exactly_once(
    crash_node: DevNode, manifest: Manifest, world: SettlementWorld, tmp_path: Path
) -> None:
    """KILL_RUNS runs: `ledger settle` killed at a random moment (seeded), rerun until done."""
    rng = random.Random(20250601)
    env = ledger_env(crash_node, manifest, tmp_path)
    killed = 0
    for n in range(KILL_RUNS):
        day = day_of(POINTS + 1 + n)
        before = {a: world.balance(a) for a in world.accounts.values()}
        readings, participants = write_inputs(world, tmp_path, day)
        args = settle_args(day, readings, participants)
        proc = subprocess.Popen(
            [*args, "--batch-delay", "0.3"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # A random moment of its work, counted from its opening the state database (past the
        # interpreter's start): storing, committing, then a payment per batch, 0.3 s apart.
        if wait_until_open(proc, tmp_path / "state" / "ledger.db"):
            time.sleep(rng.uniform(0.0, 1.2))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                killed += 1
        proc.wait(timeout=30)
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
        lines = ledger_day_store(tmp_path / "state").load(200, day)[1]
        assert_settled_exactly_once(world, lines, before, day)
    assert killed >= KILL_RUNS // 2, f"most runs must really be killed ({killed} of {KILL_RUNS})"


def spare_day(n: int) -> date:
    """Days after those of the kill tests, still ended by the chain's clock."""
    return day_of(POINTS + KILL_RUNS + 1 + n)


def compute_of(world: SettlementWorld, day: date, readings: dict[datetime, StepReadings]) -> Compute:
    return day_compute(
        operation_id=world.operation_id, day=day, step=StepLength.MIN15, readings=readings,
        key=DefaultKey(), book=tariff_book(world.chain.tariffs(world.operation_id)),
        accounts=world.accounts, batch_size=BATCH,
    )


def test_a_commit_sent_but_not_mined_when_the_readings_change_is_resent_as_stored_and_the_day_moves_on(
    crash_node: DevNode, world: SettlementWorld, tmp_path: Path
) -> None:
    day = spare_day(0)
    first = synthetic_day(day, PRODUCERS, CONSUMERS)
    revised = dict(first)
    noon = sorted(revised)[52]
    revised[noon] = replace(revised[noon], withdrawals={**revised[noon].withdrawals, "PRM-C1": 700})
    w3 = connect(crash_node.url)

    def die_once_sent(point: str) -> None:
        if point == "commit-sent":
            raise Crash(point)

    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        with pytest.raises(Crash):  # the process dies with its commit in the mempool
            Settler(world.chain, sql_day_store(tmp_path / "a"), batch_size=BATCH, hook=die_once_sent).run(
                world.operation_id, day, compute_of(world, day, first)
            )
    finally:
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    stored = sql_day_store(tmp_path / "a").load(world.operation_id, day)[1]
    assert sql_day_store(tmp_path / "a").progress(world.operation_id, day)[1][0] == "commit-sent"
    assert world.chain.latest_version(world.operation_id, day) == 0  # still in the mempool
    # the rerun (a new process: a new engine on the same database) reads revised readings while
    # the first commit is pending, then once it is mined
    store = settle_store(f"sqlite:///{tmp_path / 'a' / 'settle.db'}")
    try:
        rerun = Settler(world.chain, store, batch_size=BATCH)
        with pytest.raises(SettlementError, match="not mined yet"):  # the node has it pending
            rerun.run(world.operation_id, day, compute_of(world, day, revised))
        assert store.load(world.operation_id, day)[1].root == stored.root  # nothing overwritten
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        resent = rerun.run(world.operation_id, day, compute_of(world, day, revised))
        assert resent.version == 1 and resent.root == stored.root  # the stored version, not recomputed
        on_chain = world.chain.commitment(world.operation_id, day, 1)
        assert on_chain.root == stored.root and on_chain.closed
        # the day is not stuck: the next run commits the revision as version 2
        corrected = Settler(world.chain, store, batch_size=BATCH).run(
            world.operation_id, day, compute_of(world, day, revised)
        )
        assert corrected.version == 2 and world.chain.commitment(world.operation_id, day, 2).closed
        assert store.progress(world.operation_id, day)[1][0] == "paid"
        assert store.progress(world.operation_id, day)[2][0] == "paid"
    finally:
        store.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def settle_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
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


def test_two_runs_on_the_same_day_never_both_send(world: SettlementWorld, settle_url: str) -> None:
    day = spare_day(1 if settle_url.startswith("sqlite") else 2)
    readings = synthetic_day(day, PRODUCERS, CONSUMERS)
    first, second = settle_store(settle_url), settle_store(settle_url)  # two processes' connections
    refusals: list[str] = []
    sent: list[str] = []

    def meanwhile(point: str) -> None:
        sent.append(point)
        if point == "commit-sent":
            try:
                Settler(world.chain, second, batch_size=BATCH).run(
                    world.operation_id, day, compute_of(world, day, readings)
                )
            except SettlementBusy as exc:
                refusals.append(str(exc))

    before = {a: world.balance(a) for a in world.accounts.values()}
    try:
        Settler(world.chain, first, batch_size=BATCH, hook=meanwhile).run(
            world.operation_id, day, compute_of(world, day, readings)
        )
        assert len(refusals) == 1 and "is settling" in refusals[0]
        assert sent.count("commit-sent") == 1 and sent.count("pay-sent") == 3  # only the first run sent
        lines = first.load(world.operation_id, day)[1]
        assert_settled_exactly_once(world, lines, before, day)
        again = Settler(world.chain, second, batch_size=BATCH).run(
            world.operation_id, day, compute_of(world, day, readings)
        )
        assert again.nothing_to_do
    finally:
        first.engine.dispose()
        second.engine.dispose()
