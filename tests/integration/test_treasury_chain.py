"""`ledger treasury` against a real local node: statements mint on DistrictToken, a redemption
becomes a pain.001 transfer, reconcile exits 3 on a planted cent; kill -9 of `ledger treasury
import` at random moments never mints twice nor loses a credit.

The crash test runs TREASURY_CRASH_RUNS kills (default 5 here; the README quotes a run of 25).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from eth_account import Account

from ledger.chain.client import connect
from ledger.chain.deploy import deploy_district
from ledger.chain.devnode import DevNode, free_port
from ledger.chain.district import Category, District
from ledger.chain.manifest import Manifest
from ledger.db import make_engine, migrate
from ledger.demo import dev_account
from ledger.domain.treasury import topup_reference
from ledger.treasury.chain import ChainTreasury
from ledger.treasury.payouts import set_payee, validate_pain
from ledger.treasury.service import register_reference
from tests.fixtures.camt import OPERATOR_IBAN, Entry, Stmt, Tx, camt053, camt054
from tests.unit.test_treasury import REFERENCE_KEY

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def manifest(chain_node: DevNode) -> Manifest:
    return deploy_district(connect(chain_node.url), dev_account(0))


def env_for(node: DevNode, manifest: Manifest, folder: Path) -> dict[str, str]:
    path = folder / "deployment.json"
    if not path.exists():
        manifest.save(path)
    env = {
        **os.environ,
        "LEDGER_RPC_URL": node.url,
        "LEDGER_STATE_DIR": str(folder / "state"),
        "LEDGER_MANIFEST": str(path),
        "LEDGER_TREASURY_IBAN": OPERATOR_IBAN,
    }
    for name in ("LEDGER_DEPLOYER_KEY", "LEDGER_KEYSTORE", "LEDGER_DATABASE_URL"):
        env.pop(name, None)
    return env


def ledger(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger", "treasury", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def residents(n: int) -> list[str]:
    return [Account.create().address for _ in range(n)]


def statements(folder: Path, tag: str, people: list[str], day: date, adjust: int = 0) -> list[Path]:
    """A camt.054 notification of a batch of top-ups, then the day's camt.053 repeating it with more
    credits and one without a reference; keys unique to `tag`."""
    half = len(people) // 2
    batch = Entry(
        [
            Tx(10_00 + i, acct_svcr_ref=f"{tag}-A{i}", rf=topup_reference(p, REFERENCE_KEY))
            for i, p in enumerate(people[:half])
        ],
        ref=f"{tag}-BATCH",
    )
    rest = [
        Entry([Tx(20_00 + i, rf=topup_reference(p, REFERENCE_KEY))], ref=f"{tag}-B{i}")
        for i, p in enumerate(people[half:])
    ]
    noref = Entry([Tx(3_00)], ref=f"{tag}-NOREF")
    day_statement = Stmt(f"{tag}-D1", day, 0, [batch, *rest, noref], closing_adjust=adjust)
    notification, statement = folder / "a.xml", folder / "b.xml"
    notification.write_bytes(camt054(f"{tag}-N1", day, [batch]))
    statement.write_bytes(camt053(day_statement, msg_id=f"{tag}-M1"))
    return [notification, statement]


def prepare(folder: Path, env: dict[str, str], people: list[str]) -> None:
    engine = make_engine(f"sqlite:///{folder / 'state' / 'ledger.db'}")
    migrate(engine)
    for p in people:
        register_reference(engine, p, "test", REFERENCE_KEY)
    engine.dispose()


def test_import_mints_on_chain_once_and_reconcile_payouts_and_the_planted_cent(
    chain_node: DevNode, manifest: Manifest, tmp_path: Path
) -> None:
    env = env_for(chain_node, manifest, tmp_path)
    w3 = connect(chain_node.url)
    treasury = ChainTreasury(w3, Account.create(), manifest)
    district = District(w3, dev_account(0), manifest)
    day = treasury.today()
    people = residents(4)
    prepare(tmp_path, env, people)
    files = statements(tmp_path, "T1", people, day)
    supply0, reserve0 = district.total_supply(), district.reserve()
    done = ledger(env, "import", *map(str, files), "--json")
    assert done.returncode == 0, done.stderr
    expected = {people[0]: 10_000_000, people[1]: 10_010_000, people[2]: 20_000_000, people[3]: 20_010_000}
    assert {p: district.balance_of(p) for p in people} == expected
    again = ledger(env, "import", *map(str, files))
    assert again.returncode == 0, again.stderr
    assert district.total_supply() - supply0 == sum(expected.values()) == district.reserve() - reserve0
    review = ledger(env, "review")
    assert "no RF creditor reference" in review.stdout

    # a merchant redeems; the payout file carries its redemption id as EndToEndId
    merchant = dev_account(7)
    district.record_deposit("T1-MERCHANT-FLOAT", merchant.address, 50_000_000)
    district.register_merchant("Boulangerie T1", Category.FOOD, merchant.address)
    rid, _ = district.as_(merchant).redeem(30_000_000, "T1-INVOICE")
    engine = make_engine(f"sqlite:///{tmp_path / 'state' / 'ledger.db'}")
    set_payee(
        engine,
        merchant=merchant.address,
        iban="FR7630006000011234567890189",
        holder="Boulangerie T1",
        consent_date=day,
    )
    engine.dispose()
    out = tmp_path / "payouts.xml"
    made = ledger(env, "payouts", "--out", str(out), "--json")
    assert made.returncode == 0, made.stderr
    xml = out.read_bytes()
    validate_pain(xml)
    assert f"<EndToEndId>M3E-R{rid}</EndToEndId>".encode() in xml
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert "Nothing to pay" in ledger(env, "payouts", "--out", str(tmp_path / "p2.xml")).stdout

    # the reconciliation: the deposit made by hand is not on any statement, the redemption unpaid
    result = ledger(env, "reconcile", "--date", day.isoformat(), "--json")
    assert result.returncode == 3, result.stderr
    assert '"reserve-gap"' in result.stdout


def test_reconcile_exits_0_to_the_cent_and_3_on_a_planted_cent(tmp_path: Path) -> None:
    # a chain of its own, so no other test's deposits are in the reserve
    node = DevNode(free_port(), log_path=tmp_path / "node.log").start()
    try:
        own = deploy_district(connect(node.url), dev_account(0))
        for folder, adjust, code in ((tmp_path / "ok", 0, 0), (tmp_path / "cent", 1, 3)):
            folder.mkdir()
            env = env_for(node, own, folder)
            treasury = ChainTreasury(connect(node.url), Account.create(), own)
            people = residents(2)
            prepare(folder, env, people)
            files = statements(folder, f"R{adjust}", people, treasury.today(), adjust=adjust)
            assert ledger(env, "import", *map(str, files)).returncode == 0
            result = ledger(env, "reconcile")
            assert result.returncode == code, result.stdout + result.stderr
            if code:
                assert "0.01 EUR more" in result.stdout
            else:
                assert "OK: to the cent" in result.stdout
            # the next folder's chain must start again from a zero reserve: undo by a fresh deploy
            own = deploy_district(connect(node.url), dev_account(0))
    finally:
        node.stop()


def test_kill_9_of_import_at_random_moments_mints_like_an_uninterrupted_run(
    chain_node: DevNode, manifest: Manifest, tmp_path: Path
) -> None:
    runs = int(os.environ.get("TREASURY_CRASH_RUNS", "5"))
    w3 = connect(chain_node.url)
    district = District(w3, dev_account(0), manifest)
    rng = random.Random(int(os.environ.get("TREASURY_CRASH_SEED", "13")))

    def one_run(index: int, kill: tuple[str, float] | None) -> tuple[list[int], int, int, float, bool]:
        """kill: ("time", seconds) kills after a random time; ("mints", k) right after the k-th
        deposit of this run is on chain (so kills also land between two mints)."""
        folder = tmp_path / f"run{index}"
        folder.mkdir()
        env = env_for(chain_node, manifest, folder)
        people = residents(8)
        prepare(folder, env, people)
        files = statements(folder, f"K{index}", people, today)
        supply0, reserve0 = district.total_supply(), district.reserve()
        args = [sys.executable, "-m", "ledger", "treasury", "import", *map(str, files)]
        started = time.monotonic()
        killed = False
        with (folder / "killed.log").open("wb") as log:
            proc = subprocess.Popen(args, env=env, stdout=log, stderr=log)
            try:
                if kill is not None:
                    mode, value = kill
                    deadline = started + (value if mode == "time" else 300)
                    while time.monotonic() < deadline and proc.poll() is None:
                        if mode == "mints" and sum(district.balance_of(p) > 0 for p in people) >= value:
                            break
                        time.sleep(0.01)
                    if proc.poll() is None:
                        os.kill(proc.pid, signal.SIGKILL)
                        killed = True
                proc.wait(timeout=300)
                if killed:
                    landed.append(where_it_stopped(folder, people))
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        elapsed = time.monotonic() - started
        if kill is None:
            assert proc.returncode == 0, (folder / "killed.log").read_text()
        rerun = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        balances = [district.balance_of(p) for p in people]
        return balances, district.total_supply() - supply0, district.reserve() - reserve0, elapsed, killed

    landed: list[str] = []

    def where_it_stopped(folder: Path, people: list[str]) -> str:
        db = folder / "state" / "ledger.db"
        stored = 0
        if db.exists():
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                try:
                    stored = conn.execute("SELECT count(*) FROM treasury_statements").fetchone()[0]
                except sqlite3.OperationalError:
                    stored = 0
        minted = sum(district.balance_of(p) > 0 for p in people)
        if not stored:
            return "before the statements were stored"
        if minted == 0:
            return "after storing, before the first mint"
        if minted < len(people):
            return "between two mints"
        return "after the last mint"

    today = ChainTreasury(w3, Account.create(), manifest).today()
    reference, supply_delta, reserve_delta, duration, _ = one_run(0, None)
    assert supply_delta == reserve_delta == sum(reference) > 0
    kills = 0
    for i in range(1, runs + 1):
        plan = ("time", rng.uniform(0.0, duration)) if i % 2 else ("mints", float(rng.randint(1, 7)))
        balances, s, r, _, killed = one_run(i, plan)
        kills += killed
        assert balances == reference, f"run {i}"
        assert (s, r) == (supply_delta, reserve_delta), f"run {i}"
    summary = {where: landed.count(where) for where in sorted(set(landed))}
    print(f"\n{runs} runs, {kills} killed mid-import, uninterrupted {duration:.1f} s; kills: {summary}")
    assert kills >= max(1, runs // 2), "most kills must land while the import runs"
