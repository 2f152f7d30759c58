"""`ledger settle --day D --operation ID` from the readings store, on a real chain and SQLite.

Distributor load curves of a small operation (2 producers, 3 consumers) go through the CSV import
pipeline into SQLite; the settlement reads them back with the registry and pays on chain: a full
day at 15 minutes, a day at 30 minutes (one consumer only has half-hours), a day with a missing
reading that stays open with nothing committed, and a corrected reading after settlement that
commits version 2 paying only the difference.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text as sql_text

from ledger.chain.client import connect
from ledger.chain.deploy import deploy_district
from ledger.chain.devnode import DevNode, free_port
from ledger.chain.manifest import Manifest
from ledger.db import make_engine, migrate
from ledger.db.energy_store import SqlEnergyStore
from ledger.demo import dev_account
from ledger.domain.energy.allocation import StepReadings
from ledger.domain.energy.steps import StepLength
from ledger.energy import registry
from ledger.energy.csv_import import CsvFormat, import_csv
from ledger.energy.ingest import IngestPipeline
from ledger.energy.settlement import DayLines, LineKind, operation_number
from ledger.energy.settlement_sim import SettlementWorld, build_world, synthetic_day
from tests.settle_store import ledger_day_store

DAY = date(2025, 6, 15)
HALF_DAY = date(2025, 6, 16)
PRODUCERS = ("PRM-P1", "PRM-P2")
CONSUMERS = ("PRM-C1", "PRM-C2", "PRM-C3")
SALT = b"integration-salt-0123456789"
OPERATIONS = itertools.count(4101)

pytestmark = pytest.mark.chain


@pytest.fixture
def chain_node(tmp_path: Path) -> Iterator[DevNode]:
    """A chain per test whose clock starts before the tariff (tariffs are never retroactive);
    `setup` moves it past the days settled here."""
    node = DevNode(free_port(), log_path=tmp_path / "node.log", initial_date="2025-05-20T00:00:00Z")
    with node:
        yield node


@pytest.fixture
def manifest(chain_node: DevNode) -> Manifest:
    return deploy_district(connect(chain_node.url), dev_account(0))


@dataclass
class Setup:
    operation: str
    world: SettlementWorld
    store: SqlEnergyStore
    pipeline: IngestPipeline
    env: dict[str, str]
    state: Path

    @property
    def op(self) -> int:
        return operation_number(self.operation)

    def settle(self, day: date) -> subprocess.CompletedProcess[str]:
        args = [sys.executable, "-m", "ledger", "settle", "--day", day.isoformat(),
                "--operation", self.operation, "--batch", "4", "--json"]
        return subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=180)

    def lines(self, day: date) -> dict[int, DayLines]:
        return ledger_day_store(self.state).load(self.op, day)

    def balances(self) -> dict[str, int]:
        return {a: self.world.balance(a) for a in self.world.accounts.values()}

    def import_rows(self, rows: list[str], fmt: CsvFormat) -> None:
        header = "meter,start,wh,direction,version" if fmt is CsvFormat.ENERGY_15MIN else (
            "meter,end,power_w,direction,version")
        report = import_csv(self.pipeline, "\n".join([header, *rows]).encode(), fmt)
        assert not report.rejected, report.rejected
        assert report.result.held == 0


@pytest.fixture
def setup(chain_node: DevNode, manifest: Manifest,
          tmp_path: Path) -> Iterator[Setup]:
    operation = str(next(OPERATIONS))  # numeric: build_world's deposit refs stay distinct
    world = build_world(
        connect(chain_node.url), manifest, operation_number(operation), PRODUCERS, CONSUMERS,
        operator=dev_account(0), tariff_from=date(2025, 6, 1),
    )
    w3 = connect(chain_node.url)
    w3.provider.make_request("evm_setNextBlockTimestamp", [1_750_400_000])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    state = tmp_path / "state"
    state.mkdir()
    url = f"sqlite:///{state / 'ledger.db'}"
    engine = make_engine(url)
    migrate(engine)
    store = SqlEnergyStore(engine)
    registry.add_operation(store, operation, "store test", "default", 900)
    for meter in (*PRODUCERS, *CONSUMERS):
        wallet = world.accounts[meter]
        role = "producer" if meter in PRODUCERS else "consumer"
        registry.add_participant(store, operation, wallet, role)
        registry.add_meter(store, SALT, meter, "electricity", 36_000, operation_id=operation, wallet=wallet)
    manifest_path = tmp_path / "deployment.json"
    manifest.save(manifest_path)
    env = {**os.environ, "LEDGER_RPC_URL": chain_node.url, "LEDGER_STATE_DIR": str(state),
           "LEDGER_MANIFEST": str(manifest_path), "LEDGER_DATABASE_URL": url}
    for name in ("LEDGER_DEPLOYER_KEY", "LEDGER_KEYSTORE"):
        env.pop(name, None)
    yield Setup(operation, world, store, IngestPipeline(store), env, state)
    engine.dispose()


def quarter_rows(readings: dict[object, StepReadings], skip: set[tuple[str, int]] = frozenset(),  # type: ignore[assignment]
                 only: tuple[str, ...] = (*PRODUCERS, *CONSUMERS)) -> list[str]:
    rows = []
    for n, (start, step) in enumerate(sorted(readings.items())):  # type: ignore[type-var]
        iso = start.astimezone(UTC).isoformat()  # type: ignore[attr-defined]
        for meter, wh in step.injections.items():
            if meter in only and (meter, n) not in skip:
                rows.append(f"{meter},{iso},{wh},export,raw")
        for meter, wh in step.withdrawals.items():
            if meter in only and (meter, n) not in skip:
                rows.append(f"{meter},{iso},{wh},import,raw")
    return rows


def moves(lines: DayLines) -> dict[str, int]:
    delta: dict[str, int] = {}
    for t in lines.transfers:
        delta[t.member] = delta.get(t.member, 0) - t.amount
    return delta


def assert_moved(before: dict[str, int], after: dict[str, int], lines: DayLines) -> None:
    expected = moves(lines)
    assert any(expected.values())
    for account, start in before.items():
        assert after[account] == start + expected.get(account, 0)


def test_a_full_day_of_stored_readings_and_a_half_hourly_day_settle_on_chain_as_the_lines_say(
    setup: Setup,
) -> None:
    day1 = synthetic_day(DAY, PRODUCERS, CONSUMERS)
    setup.import_rows(quarter_rows(day1), CsvFormat.ENERGY_15MIN)  # type: ignore[arg-type]
    day2 = synthetic_day(HALF_DAY, PRODUCERS, CONSUMERS)
    setup.import_rows(quarter_rows(day2, only=(*PRODUCERS, "PRM-C1", "PRM-C2")),  # type: ignore[arg-type]
                      CsvFormat.ENERGY_15MIN)
    halves = synthetic_day(HALF_DAY, PRODUCERS, CONSUMERS, StepLength.MIN30)
    c3 = [f"PRM-C3,{(s + timedelta(minutes=30)).isoformat()},{2 * r.withdrawals['PRM-C3']},import,raw"
          for s, r in sorted(halves.items())]
    setup.import_rows(c3, CsvFormat.ENEDIS_30MIN)

    before = setup.balances()
    done = setup.settle(DAY)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    lines = setup.lines(DAY)[1]
    assert result["version"] == 1 and result["committed_now"]
    assert result["root"] == "0x" + lines.root.hex()
    assert lines.step_minutes == 15
    assert {ln.index for ln in lines.lines if ln.kind is LineKind.STEP} <= set(range(96))
    produced = sum(sum(s.injections.values()) for s in day1.values())  # type: ignore[misc]
    consumed = sum(sum(s.withdrawals.values()) for s in day1.values())  # type: ignore[misc]
    shared = sum(ln.wh for ln in lines.lines if ln.kind is LineKind.STEP)
    assert 0 < shared <= min(produced, consumed)  # the readings of the store, every step
    assert lines.totals.as_tuple()[:4] == (0, 0, 0, 0)  # public totals: no energy figure
    assert result["paid_up_to"] == lines.batch_count > 0 and result["shortfall"] == 0
    assert result["paid"] == lines.totals.amount
    on_chain = setup.world.chain.commitment(setup.op, DAY, 1)
    assert on_chain.closed and on_chain.root == lines.root
    after = setup.balances()
    assert_moved(before, after, lines)
    # no meter number in the settlement tables: the core saw salted hashes only
    with setup.store.engine.connect() as conn:
        stored = [
            str(row)
            for table in ("settle_versions", "settle_lines", "settle_residues")
            for row in conn.execute(sql_text(f"SELECT * FROM {table}"))
        ]
    assert len(stored) > len(lines.lines) and not any("PRM-" in row for row in stored)

    done = setup.settle(HALF_DAY)
    assert done.returncode == 0, done.stderr
    lines2 = setup.lines(HALF_DAY)[1]
    assert lines2.step_minutes == 30
    assert max(ln.index for ln in lines2.lines if ln.kind is LineKind.STEP) < 48
    consumed2 = sum(sum(s.withdrawals.values()) for s in halves.values())  # type: ignore[misc]
    assert 0 < sum(ln.wh for ln in lines2.lines if ln.kind is LineKind.STEP) <= consumed2
    assert_moved(after, setup.balances(), lines2)


def test_a_day_with_a_missing_reading_stays_open_with_a_clear_error_and_nothing_committed(
    setup: Setup,
) -> None:
    day1 = synthetic_day(DAY, PRODUCERS, CONSUMERS)
    setup.import_rows(quarter_rows(day1, skip={("PRM-C2", 48)}), CsvFormat.ENERGY_15MIN)  # type: ignore[arg-type]
    before = setup.balances()
    done = setup.settle(DAY)
    assert done.returncode == 1
    assert "stays open" in done.stderr and "PRM-C2 (import): 12:00-12:15" in done.stderr
    assert setup.world.chain.latest_version(setup.op, DAY) == 0
    assert setup.lines(DAY) == {}
    assert setup.balances() == before
    # the reading arrives: the day settles
    iso = sorted(day1)[48].astimezone(UTC).isoformat()  # type: ignore[attr-defined]
    setup.import_rows([f"PRM-C2,{iso},{day1[sorted(day1)[48]].withdrawals['PRM-C2']},import,raw"],
                      CsvFormat.ENERGY_15MIN)
    done = setup.settle(DAY)
    assert done.returncode == 0, done.stderr
    assert setup.world.chain.commitment(setup.op, DAY, 1).closed


def test_a_corrected_reading_after_settlement_commits_version_two_paying_only_the_difference(
    setup: Setup,
) -> None:
    day1 = synthetic_day(DAY, PRODUCERS, CONSUMERS)
    setup.import_rows(quarter_rows(day1), CsvFormat.ENERGY_15MIN)  # type: ignore[arg-type]
    assert setup.settle(DAY).returncode == 0
    v1 = setup.lines(DAY)[1]
    after_v1 = setup.balances()
    noon = sorted(day1)[52]
    corrected = int(day1[noon].withdrawals["PRM-C1"]) + 400  # type: ignore[call-overload]
    setup.import_rows([f"PRM-C1,{noon.astimezone(UTC).isoformat()},{corrected},import,corrected"],  # type: ignore[attr-defined]
                      CsvFormat.ENERGY_15MIN)
    done = setup.settle(DAY)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["version"] == 2
    v2 = setup.lines(DAY)[2]
    c1 = setup.world.accounts["PRM-C1"]
    c1_bought = [
        sum(ln.wh for ln in v.lines if ln.kind is LineKind.BOUGHT and ln.payer == c1) for v in (v1, v2)
    ]
    assert c1_bought[1] > c1_bought[0]  # the corrected reading counts
    assert 0 < v2.totals.amount < v1.totals.amount
    c1 = setup.world.accounts["PRM-C1"]
    assert {t.member for t in v2.transfers if t.amount > 0} == {c1}
    assert_moved(after_v1, setup.balances(), v2)
    # a third run has nothing to do
    again = setup.settle(DAY)
    assert again.returncode == 0 and json.loads(again.stdout)["nothing_to_do"]


class Crash(Exception):
    """The simulated crash of a run."""


def ledger(setup: Setup, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ledger", *args], env=setup.env, capture_output=True,
                          text=True, timeout=180)


def wipe_settlement_tables(setup: Setup) -> None:
    with setup.store.engine.begin() as conn:
        for table in ("settle_batches", "settle_residues", "settle_lines", "settle_versions"):
            conn.execute(sql_text(f"DELETE FROM {table}"))


def test_a_lost_store_is_rebuilt_from_the_chain_and_the_readings_then_settle_continues_without_paying_twice(
    setup: Setup,
) -> None:
    from ledger.energy.settlement import Settler, tariff_book, with_batch_size
    from ledger.energy.settlement_source import store_compute

    second_day = DAY + timedelta(days=1)
    for day in (DAY, second_day):
        setup.import_rows(quarter_rows(synthetic_day(day, PRODUCERS, CONSUMERS)),  # type: ignore[arg-type]
                          CsvFormat.ENERGY_15MIN)
    assert setup.settle(DAY).returncode == 0
    before = setup.balances()
    # the second day: committed, then the run dies after its first payment
    chain = setup.world.chain
    book = lambda: tariff_book(chain.tariffs(setup.op), chain.price_bounds())  # noqa: E731
    paid: list[str] = []

    def crash_after_first_payment(point: str) -> None:
        if point == "paid":
            paid.append(point)
            raise Crash(point)

    compute = with_batch_size(store_compute(setup.store, setup.operation, second_day, book), 1)
    settler = Settler(chain, ledger_day_store(setup.state), batch_size=1, hook=crash_after_first_payment)
    with pytest.raises(Crash):
        settler.run(setup.op, second_day, compute)
    half_paid = setup.lines(second_day)[1]
    assert half_paid.batch_count > 2 and chain.commitment(setup.op, second_day, 1).next_batch == 1
    c2 = setup.world.accounts["PRM-C2"]
    proof_before = ledger(setup, "proof", "--day", DAY.isoformat(), "--operation", setup.operation,
                          "--account", c2, "--json")
    assert proof_before.returncode == 0, proof_before.stderr

    wipe_settlement_tables(setup)  # the store is lost
    stuck = setup.settle(second_day)
    assert stuck.returncode == 1 and "rebuild it from the chain" in stuck.stderr

    rebuilt = ledger(setup, "settle-rebuild", "--operation", setup.operation, "--json")
    assert rebuilt.returncode == 0, rebuilt.stderr
    versions = json.loads(rebuilt.stdout)["versions"]
    assert [(v["day"], v["version"], v["state"], v["batches_paid"]) for v in versions] == [
        (DAY.isoformat(), 1, "paid", setup.lines(DAY)[1].batch_count),
        (second_day.isoformat(), 1, "committed", 1),
    ]
    assert setup.lines(second_day)[1].root == half_paid.root

    done = setup.settle(second_day)  # pays the remaining batches only
    assert done.returncode == 0, done.stderr
    on_chain = chain.commitment(setup.op, second_day, 1)
    assert on_chain.closed and on_chain.next_batch == half_paid.batch_count
    assert on_chain.debits == on_chain.credits == half_paid.totals.amount  # nothing paid twice
    assert_moved(before, setup.balances(), half_paid)
    assert chain.latest_version(setup.op, second_day) == 1
    proof_after = ledger(setup, "proof", "--day", DAY.isoformat(), "--operation", setup.operation,
                         "--account", c2, "--json")
    assert proof_after.returncode == 0 and json.loads(proof_after.stdout) == json.loads(proof_before.stdout)
    assert json.loads(proof_after.stdout)["ok"] is True


def test_a_rebuild_that_cannot_reproduce_a_committed_root_refuses_and_writes_nothing(setup: Setup) -> None:
    day1 = synthetic_day(DAY, PRODUCERS, CONSUMERS)
    setup.import_rows(quarter_rows(day1), CsvFormat.ENERGY_15MIN)  # type: ignore[arg-type]
    assert setup.settle(DAY).returncode == 0
    noon = sorted(day1)[52]
    corrected = int(day1[noon].withdrawals["PRM-C1"]) + 400  # type: ignore[call-overload]
    setup.import_rows([f"PRM-C1,{noon.astimezone(UTC).isoformat()},{corrected},import,corrected"],  # type: ignore[attr-defined]
                      CsvFormat.ENERGY_15MIN)
    assert setup.settle(DAY).returncode == 0  # version 2 from the corrected reading
    wipe_settlement_tables(setup)
    refused = ledger(setup, "settle-rebuild", "--operation", setup.operation)
    assert refused.returncode == 1
    assert f"{DAY} version 1" in refused.stderr and "nothing was rebuilt" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert setup.lines(DAY) == {}
