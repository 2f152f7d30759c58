"""The indexer against a real Hardhat node: backfill, reorgs, crashes, outages, one writer."""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger.db import WriterBusy, make_engine
from ledger.db.lock import writer_lock
from ledger.indexer.errors import NodeBehind
from tests.fixtures.districtchain import Chain, MockDistrict, seed_activity
from tests.integration.indexer.helpers import (
    CHAIN_ID,
    ROOT,
    chain_logs,
    check,
    digest,
    index_once,
    indexed_logs,
    ledger_cmd,
    run_ledger,
    store_for,
)

pytestmark = pytest.mark.chain


def test_backfill_stores_every_log_and_the_balances_match_the_chain(
    chain: Chain, district: MockDistrict, manifest: Path, sqlite_url: str
) -> None:
    seed_activity(district)
    events = index_once(chain.url, manifest, sqlite_url, confirmations=2)
    assert events == len(chain_logs(chain.url, manifest)) > 40
    assert indexed_logs(sqlite_url) == chain_logs(chain.url, manifest)
    result = check(chain.url, manifest, sqlite_url)
    assert result.ok, result.differences
    store = store_for(sqlite_url)
    assert store.count("bookings", CHAIN_ID) == 2
    assert store.count("merchants", CHAIN_ID) == 2
    balances = store.balances(CHAIN_ID)
    assert max(balances.values()) > 2**200  # above 2^53, exact
    with store.engine.connect() as conn:
        states = sorted(r[0] for r in conn.exec_driver_sql("SELECT state FROM bookings"))
        active = dict(conn.exec_driver_sql("SELECT merchant_id, active FROM merchants").all())
    assert states == ["closed", "reclaimed"]
    assert sorted(bool(v) for v in active.values()) == [False, True]
    store.engine.dispose()


def test_reconcile_at_an_older_block_uses_the_balance_history(
    chain: Chain, district: MockDistrict, manifest: Path, sqlite_url: str
) -> None:
    seed_activity(district, rounds=1)
    middle = chain.block_number()
    seed_activity(district, rounds=1, salt=1)
    index_once(chain.url, manifest, sqlite_url, confirmations=0)
    assert check(chain.url, manifest, sqlite_url, block=middle).ok
    assert check(chain.url, manifest, sqlite_url).ok


def test_the_reconcile_command_exits_non_zero_on_a_difference(
    chain: Chain, district: MockDistrict, manifest: Path, sqlite_url: str
) -> None:
    seed_activity(district, rounds=1)
    index_once(chain.url, manifest, sqlite_url, confirmations=0)
    args = ["reconcile", "--rpc-url", chain.url, "--manifest", str(manifest),
            "--database-url", sqlite_url]
    ok = run_ledger(*args)
    assert ok.returncode == 0, ok.stderr
    assert "match" in ok.stdout
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE balances SET balance = ? WHERE account = ?",
                             ((5).to_bytes(32, "big"), district.account(3).lower()))
    engine.dispose()
    bad = run_ledger(*args, "--json")
    assert bad.returncode == 3
    assert district.account(3).lower() in bad.stdout


@pytest.mark.parametrize("depth", [1, 2, 3, 5, 7, 10])
def test_a_reorg_is_rolled_back_to_the_common_ancestor(
    depth: int, chain: Chain, district: MockDistrict, manifest: Path, sqlite_url: str
) -> None:
    seed_activity(district, rounds=1)
    snapshot = chain.snapshot()
    a = district.account
    for i in range(depth):
        district.transfer(1, a(10 + i % 5), 1_000 + i)  # one block each (automine)
    index_once(chain.url, manifest, sqlite_url, confirmations=12)
    assert check(chain.url, manifest, sqlite_url).ok
    chain.revert(snapshot)
    for i in range(depth + 1):  # a different, longer fork
        district.transfer(2, a(15 + i % 3), 7_000 + i)
    index_once(chain.url, manifest, sqlite_url, confirmations=12)
    assert indexed_logs(sqlite_url) == chain_logs(chain.url, manifest)
    result = check(chain.url, manifest, sqlite_url)
    assert result.ok, result.differences
    store = store_for(sqlite_url)
    assert a(10).lower() not in store.balances(CHAIN_ID)
    store.engine.dispose()


def test_a_shorter_chain_is_waited_for_then_its_reorg_is_rolled_back(
    chain: Chain, district: MockDistrict, manifest: Path, sqlite_url: str
) -> None:
    seed_activity(district, rounds=1)
    snapshot = chain.snapshot()
    for i in range(4):
        district.transfer(1, district.account(12), 10 + i)
    index_once(chain.url, manifest, sqlite_url, confirmations=12)
    before = digest(sqlite_url)
    chain.revert(snapshot)
    district.transfer(2, district.account(13), 99)
    # A head below the cursor is a node behind (a lagging replica looks the same): nothing goes.
    with pytest.raises(NodeBehind, match="below block"):
        index_once(chain.url, manifest, sqlite_url, confirmations=12)
    assert digest(sqlite_url) == before
    chain.mine(4)  # the new fork grows past the cursor: now it is a reorg, rolled back
    index_once(chain.url, manifest, sqlite_url, confirmations=12)
    assert indexed_logs(sqlite_url) == chain_logs(chain.url, manifest)
    assert check(chain.url, manifest, sqlite_url).ok


def test_live_mode_follows_new_blocks_within_a_poll(
    chain: Chain, district: MockDistrict, manifest: Path, sqlite_url: str
) -> None:
    from ledger.indexer.progress import Progress
    from ledger.indexer.service import IndexerConfig, open_indexer

    seed_activity(district, rounds=1)
    stop = threading.Event()
    config = IndexerConfig(chain.url, sqlite_url, manifest, confirmations=3, poll_interval=0.2)
    import io

    with open_indexer(config, progress=Progress(io.StringIO()), stop=stop) as indexer:
        worker = threading.Thread(target=indexer.run, kwargs={"follow": True})
        worker.start()
        try:
            for i in range(3):
                district.transfer(1, district.account(11), 5 + i)
                target = chain.block_number()
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and indexer.cursor().block_number < target:
                    time.sleep(0.05)
                assert indexer.cursor().block_number == target
        finally:
            stop.set()
            worker.join(10)
    assert check(chain.url, manifest, sqlite_url).ok


def test_following_reads_a_new_block_when_the_head_moves_not_a_poll_interval_later(
    chain: Chain, district: MockDistrict, manifest: Path, sqlite_url: str
) -> None:
    """Caught up, the indexer asks only for the head every `head_poll`: a new block is indexed
    well within the (here very long) interval between its checks of the last block."""
    import io

    from ledger.indexer.progress import Progress
    from ledger.indexer.service import IndexerConfig, open_indexer

    seed_activity(district, rounds=1)
    stop = threading.Event()
    config = IndexerConfig(chain.url, sqlite_url, manifest, confirmations=2, poll_interval=60.0,
                           head_poll=0.05)
    with open_indexer(config, progress=Progress(io.StringIO()), stop=stop) as indexer:
        worker = threading.Thread(target=indexer.run, kwargs={"follow": True})
        worker.start()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and indexer.cursor().block_number < chain.block_number():
                time.sleep(0.02)
            for i in range(3):
                district.transfer(1, district.account(12), 7 + i)
                target = chain.block_number()
                started = time.monotonic()
                while time.monotonic() - started < 10 and indexer.cursor().block_number < target:
                    time.sleep(0.02)
                assert indexer.cursor().block_number == target  # not 60 s later
        finally:
            stop.set()
            worker.join(10)
        assert not worker.is_alive()
    assert check(chain.url, manifest, sqlite_url).ok


def _index_process(url: str, manifest: Path, database_url: str, *extra: str,
                   capture: bool = True) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ledger_cmd("index", "--once", "--rpc-url", url, "--manifest", str(manifest),
                   "--database-url", database_url, "--confirmations", "0", *extra),
        cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if capture else subprocess.DEVNULL,
    )


def _cursor_of(db_file: Path) -> int | None:
    """The indexed block of a SQLite index another process writes (None before its first
    commit), read without creating the file."""
    try:
        with closing(sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT block_number FROM indexer_cursor").fetchone()
    except sqlite3.OperationalError:  # no file yet, or its tables not yet created
        return None
    return None if row is None else int(row[0])


def _wait_for_commit(proc: subprocess.Popen[bytes], db_file: Path, before: int | None,
                     timeout: float = 120.0) -> bool:
    """Wait until `proc` has moved the cursor past `before`; False when it ended first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        now = _cursor_of(db_file)
        if now is not None and (before is None or now > before):
            return True
        assert time.monotonic() < deadline, "the indexer never committed"
        time.sleep(0.005)
    return False


def test_kill_9_during_backfill_never_loses_or_doubles_a_row(
    chain: Chain, district: MockDistrict, manifest: Path, tmp_path: Path
) -> None:
    seed_activity(district, rounds=2)
    district.spray_mint(10**24)
    seeded = chain.block_number()
    # 90,000 events in ranges of about 10,000 to 20,000 logs: several commits per backfill.
    for seed in range(60):
        district.spray(1_500, seed)
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    started = time.monotonic()
    index_once(chain.url, manifest, reference, confirmations=0)
    whole = time.monotonic() - started  # this machine's pace, whatever its load
    victim_file = tmp_path / "victim.db"
    victim = f"sqlite:///{victim_file}"
    rng = random.Random(69003)
    kills = 0
    for _ in range(15):
        before = _cursor_of(victim_file)
        proc = _index_process(chain.url, manifest, victim, capture=False)
        # Killed at a random moment of the ranges that follow this run's first commit (a
        # tenth of a whole backfill's time here: a range or two), so that every kill falls
        # mid-backfill, past the migrations and the seed blocks, on a fast or a loaded machine.
        if _wait_for_commit(proc, victim_file, before):
            time.sleep(rng.uniform(0.0, whole / 10))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
        proc.wait(30)
    assert kills >= 4, f"only {kills} runs were killed mid-backfill"
    reached = _cursor_of(victim_file)
    assert reached is not None and reached > seeded  # the sprayed blocks were reached
    final = _index_process(chain.url, manifest, victim)
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()[-2000:]
    assert digest(victim) == digest(reference)


class FlakyProxy:
    """A TCP proxy to the node that can be switched off (connections refused) and on again; it
    switches itself off after `down_after` requests when given (a condition, not a delay)."""

    def __init__(self, target_port: int, down_after: int | None = None) -> None:
        self.target_port = target_port
        self.down_after = down_after
        self.requests = 0
        self.went_down = threading.Event()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.closed = False
        self.listener.listen(16)
        self.listener.settimeout(0.1)
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.connections += [client, upstream]
            for a, b, count in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=(a, b, count), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        try:
            while data := src.recv(65536):
                if count and self.down_after is not None:
                    self.requests += data.count(b"POST ")
                    if self.requests >= self.down_after and not self.went_down.is_set():
                        self.went_down.set()
                        self.down()
                        return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def down(self) -> None:
        self.up.clear()
        for s in self.connections:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.connections.clear()

    def close(self) -> None:
        self.closed = True
        self.down()
        self.listener.close()


def test_the_node_going_down_mid_run_is_retried_and_nothing_is_lost(
    chain: Chain, district: MockDistrict, manifest: Path, sqlite_url: str, tmp_path: Path
) -> None:
    from ledger.chain.devnode import DevNode  # noqa: F401 - the node fixture is a DevNode

    seed_activity(district, rounds=2)
    district.spray_mint(10**24)
    # Enough events that the run is still reading when the proxy cuts the node off.
    for seed in range(60):
        district.spray(1_500, seed)
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    index_once(chain.url, manifest, reference, confirmations=0)
    # The proxy cuts the node off by itself after a few requests (mid-backfill, whatever the
    # machine's load); it comes back once the indexer has said it is retrying.
    proxy = FlakyProxy(int(chain.url.rsplit(":", 1)[1]), down_after=8)
    lines: list[bytes] = []
    try:
        proc = _index_process(proxy.url, manifest, sqlite_url)
        assert proc.stderr is not None
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, b"")),
                                  daemon=True)
        reader.start()
        assert proxy.went_down.wait(120), "the indexer never reached the proxy"
        deadline = time.monotonic() + 120
        while not any(b"rpc-retry" in line for line in list(lines)):
            assert time.monotonic() < deadline and proc.poll() is None, b"".join(lines)[-2000:]
            time.sleep(0.05)
        proxy.up.set()
        proc.wait(120)
        reader.join(10)
        proc.stderr.close()
        err = b"".join(lines)
        assert proc.returncode == 0, err.decode()[-2000:]
    finally:
        proxy.close()
    assert b"rpc-retry" in err
    assert indexed_logs(sqlite_url) == chain_logs(chain.url, manifest)
    assert digest(sqlite_url) == digest(reference)  # spray events move no state: no reconcile


def test_a_read_only_database_keeps_no_half_written_batch(
    chain: Chain, district: MockDistrict, manifest: Path, sqlite_url: str, tmp_path: Path
) -> None:
    seed_activity(district, rounds=1)
    until = chain.block_number()
    index_once(chain.url, manifest, sqlite_url, confirmations=0)
    before = digest(sqlite_url)
    seed_activity(district, rounds=1, salt=7)
    db_file = Path(sqlite_url.removeprefix("sqlite:///"))
    result = run_ledger("index", "--once", "--rpc-url", chain.url, "--manifest", str(manifest),
                        "--database-url", f"sqlite:///file:{db_file}?mode=ro&uri=true",
                        "--confirmations", "0")
    assert result.returncode == 1, result.stderr
    assert "nothing of this batch was kept" in result.stderr
    assert digest(sqlite_url) == before
    store = store_for(sqlite_url)
    cursor = store.cursor(CHAIN_ID)
    store.engine.dispose()
    assert cursor is not None and cursor.block_number == until
    index_once(chain.url, manifest, sqlite_url, confirmations=0)
    assert check(chain.url, manifest, sqlite_url).ok


def test_a_second_indexer_on_the_same_sqlite_file_exits_with_a_clear_message(
    chain: Chain, manifest: Path, sqlite_url: str
) -> None:
    engine = make_engine(sqlite_url)
    with writer_lock(engine):
        result = run_ledger("index", "--once", "--rpc-url", chain.url, "--manifest", str(manifest),
                            "--database-url", sqlite_url)
        assert result.returncode == 1
        assert "already writing" in result.stderr
        with pytest.raises(WriterBusy):
            with writer_lock(engine):
                pass
    engine.dispose()


def test_the_index_command_is_registered_on_a_typer_app() -> None:
    import typer

    from ledger.cli.indexer import register

    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["index", "--help"])
    assert result.exit_code == 0
    assert "--once" in result.output


def test_a_database_failure_in_the_middle_of_a_batch_keeps_none_of_it(
    chain: Chain, district: MockDistrict, manifest: Path, sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from ledger.db.errors import DatabaseUnavailable
    from ledger.db.store import Store

    seed_activity(district, rounds=1)
    index_once(chain.url, manifest, sqlite_url, confirmations=0)
    before = digest(sqlite_url)
    seed_activity(district, rounds=1, salt=3)
    original = Store._apply_bookings

    def fail_after_inserts(self: Store, conn: object, batch: object) -> None:
        # raw logs, transfers and balances of this batch are written by now
        raise OperationalError("INSERT ...", {}, sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(Store, "_apply_bookings", fail_after_inserts)
    with pytest.raises(DatabaseUnavailable):
        index_once(chain.url, manifest, sqlite_url, confirmations=0)
    assert digest(sqlite_url) == before
    monkeypatch.setattr(Store, "_apply_bookings", original)
    index_once(chain.url, manifest, sqlite_url, confirmations=0)
    assert check(chain.url, manifest, sqlite_url).ok


def _secondary_indexes(database_url: str) -> set[str]:
    from sqlalchemy import inspect

    from ledger.db.store import deferred_indexes

    store = store_for(database_url)
    try:
        inspector = inspect(store.engine)
        names = {str(ix.name) for ix in deferred_indexes()}
        tables = {ix.table.name for ix in deferred_indexes()}  # type: ignore[union-attr]
        return names & {str(i["name"]) for t in tables for i in inspector.get_indexes(t)}
    finally:
        store.engine.dispose()


def test_an_initial_backfill_builds_the_readers_indexes_at_its_end_even_after_a_crash(
    chain: Chain, district: MockDistrict, manifest: Path, sqlite_url: str
) -> None:
    from ledger.db.store import deferred_indexes

    seed_activity(district)
    expected = {str(ix.name) for ix in deferred_indexes()}
    assert "ix_transfers_from_history" in expected and "ix_transfers_to_history" in expected
    index_once(chain.url, manifest, sqlite_url, confirmations=0)
    assert _secondary_indexes(sqlite_url) == expected
    # A run killed mid-backfill leaves them dropped: the next run's backfill end builds them.
    store = store_for(sqlite_url)
    with store.engine.begin() as conn:
        for ix in deferred_indexes():
            ix.drop(conn)
    store.engine.dispose()
    assert _secondary_indexes(sqlite_url) == set()
    before = digest(sqlite_url)
    seed_activity(district, rounds=1, salt=1)
    index_once(chain.url, manifest, sqlite_url, confirmations=0)
    assert _secondary_indexes(sqlite_url) == expected
    assert digest(sqlite_url) != before
    result = check(chain.url, manifest, sqlite_url)
    assert result.ok, result.differences
