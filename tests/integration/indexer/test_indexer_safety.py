"""The indexer never wipes what it cannot replace: another genesis, a node behind the index, a
reorg below finality (refused, then rebuilt on command), a lost PostgreSQL lock, rate limits,
range caps and removed logs, each against a real Hardhat node (through a loopback proxy)."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from ledger.chain.devnode import DevNode, free_port
from ledger.db import WriterBusy, make_engine
from ledger.db.errors import WriterLockLost
from ledger.db.lock import writer_lock
from ledger.indexer.errors import DeepReorgError
from ledger.indexer.progress import Progress
from ledger.indexer.service import IndexerConfig, open_indexer
from tests.fixtures.districtchain import Chain, MockDistrict, seed_activity
from tests.integration.indexer.helpers import (
    chain_logs,
    check,
    digest,
    following,
    index_once,
    indexed_logs,
    run_ledger,
)
from tests.integration.indexer.rpc_proxy import RpcProxy, error, span

pytestmark = pytest.mark.chain


def _wait_for(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _index_args(url: str, manifest: Path, database_url: str, *extra: str) -> list[str]:
    return ["index", "--once", "--rpc-url", url, "--manifest", str(manifest),
            "--database-url", database_url, *extra]


@pytest.fixture(scope="module")
def fresh_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevNode]:
    """A second, empty node with the same chain id."""
    log = tmp_path_factory.mktemp("fresh") / "hardhat.log"
    with DevNode(free_port(), log_path=log) as running:
        yield running


@pytest.mark.parametrize("genesis_in_manifest", [True, False])
def test_an_empty_node_with_the_same_chain_id_deletes_nothing_and_exits_non_zero(
    genesis_in_manifest: bool, chain: Chain, district: MockDistrict, manifest: Path,
    sqlite_url: str, fresh_node: DevNode,
) -> None:
    if not genesis_in_manifest:  # an older manifest: the database's recorded genesis decides
        raw = json.loads(manifest.read_text())
        del raw["genesis_hash"]
        manifest.write_text(json.dumps(raw))
    seed_activity(district, rounds=1)
    index_once(chain.url, manifest, sqlite_url, confirmations=2)
    before = digest(sqlite_url)
    fresh = Chain(fresh_node.url)
    assert fresh.block_number() < chain.block_number()
    fresh.close()
    result = run_ledger(*_index_args(fresh_node.url, manifest, sqlite_url))
    assert result.returncode == 1, result.stderr
    assert "block 0" in result.stderr and "Nothing was read or deleted" in result.stderr
    assert digest(sqlite_url) == before
    assert check(chain.url, manifest, sqlite_url).ok


def _lagging(lag: dict[str, int | None]) -> Any:
    """A replica whose head is `lag["head"]` (None: not lagging)."""
    def rule(call: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
        head = lag["head"]
        if head is None:
            return reply
        if call["method"] == "eth_blockNumber":
            return {**reply, "result": hex(head)}
        if call["method"] == "eth_getBlockByNumber" and call["params"][0] not in (
                "finalized", "latest", "safe") and int(call["params"][0], 16) > head:
            return {**reply, "result": None}
        return reply
    return rule


def test_a_node_behind_the_index_is_waited_for_never_rolled_back(
    chain: Chain, district: MockDistrict, manifest: Path, sqlite_url: str
) -> None:
    seed_activity(district, rounds=1)
    index_once(chain.url, manifest, sqlite_url, confirmations=2)
    before = digest(sqlite_url)
    lag: dict[str, int | None] = {"head": chain.block_number() - 5}
    with RpcProxy(chain.url, _lagging(lag)) as proxy:
        once = run_ledger(*_index_args(proxy.url, manifest, sqlite_url))
        assert once.returncode == 1, once.stderr
        assert "behind" in once.stderr and "Nothing was deleted" in once.stderr
        assert digest(sqlite_url) == before
        # Following: it says so and waits; once the replica catches up, it goes on.
        stream = io.StringIO()
        stop = threading.Event()
        config = IndexerConfig(proxy.url, sqlite_url, manifest, confirmations=2, poll_interval=0.1)
        with open_indexer(config, progress=Progress(stream, tty=False), stop=stop) as indexer:
            worker = threading.Thread(target=indexer.run, kwargs={"follow": True})
            worker.start()
            try:
                _wait_for(lambda: "node-behind" in stream.getvalue(), "the node-behind event")
                assert digest(sqlite_url) == before
                lag["head"] = None
                district.transfer(1, district.account(14), 321)
                target = chain.block_number()
                _wait_for(lambda: indexer.cursor().block_number >= target, "the new block")
            finally:
                stop.set()
                worker.join(30)
    assert indexed_logs(sqlite_url) == chain_logs(chain.url, manifest)
    assert check(chain.url, manifest, sqlite_url).ok


def test_a_reorg_below_finality_names_the_rebuild_command_which_recovers(
    chain: Chain, district: MockDistrict, manifest: Path, sqlite_url: str
) -> None:
    seed_activity(district, rounds=1)
    snapshot = chain.snapshot()
    for i in range(6):
        district.transfer(1, district.account(12), 10 + i)
    index_once(chain.url, manifest, sqlite_url, confirmations=2)
    before = digest(sqlite_url)
    chain.revert(snapshot)
    for i in range(8):
        district.transfer(2, district.account(13), 20 + i)
    # (this scenario is also the alert test: a reorg deeper than finality deletes nothing)
    with pytest.raises(DeepReorgError, match="ALERT") as refused:
        index_once(chain.url, manifest, sqlite_url, confirmations=2)
    assert digest(sqlite_url) == before
    command = f"ledger index --rebuild-from {refused.value.rebuild_from}"
    assert command in str(refused.value)
    cli = run_ledger(*_index_args(chain.url, manifest, sqlite_url, "--confirmations", "2"))
    assert cli.returncode == 1 and command in cli.stderr
    rebuilt = run_ledger(*_index_args(chain.url, manifest, sqlite_url, "--confirmations", "2",
                                      "--rebuild-from", str(refused.value.rebuild_from)))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert indexed_logs(sqlite_url) == chain_logs(chain.url, manifest)
    assert check(chain.url, manifest, sqlite_url).ok
    # block 0 is below any deploy block: outside the index whatever ran on this chain before
    outside = run_ledger(*_index_args(chain.url, manifest, sqlite_url, "--rebuild-from", "0"))
    assert outside.returncode == 1 and "outside the indexed blocks" in outside.stderr


def test_a_dropped_postgres_lock_never_leaves_two_writers(
    chain: Chain, district: MockDistrict, manifest: Path, postgres_url: str
) -> None:
    seed_activity(district, rounds=1)
    stop = threading.Event()
    failure: list[BaseException] = []
    config = IndexerConfig(chain.url, postgres_url, manifest, confirmations=0, poll_interval=0.1)
    admin = make_engine(postgres_url)
    second = make_engine(postgres_url)

    def kill_lock_session(indexer_lock_pid: int) -> None:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"),
                                {"p": indexer_lock_pid}).scalar_one()
            conn.commit()

    with open_indexer(config, progress=Progress(io.StringIO()), stop=stop) as indexer:
        guard = indexer.store.write_guard
        assert guard is not None
        lock = guard.__self__  # type: ignore[attr-defined]
        worker = following(indexer, failure)
        try:
            head = chain.block_number()
            _wait_for(lambda: indexer.cursor().block_number >= head, "the first backfill")
            # 1. The lock's connection dies and nobody else wants it: taken again, no gap.
            kill_lock_session(lock.pid)
            district.transfer(1, district.account(11), 7)
            head = chain.block_number()
            _wait_for(lambda: indexer.cursor().block_number >= head, "indexing after a drop")
            assert lock.retaken == 1
            with pytest.raises(WriterBusy), writer_lock(second):
                pass
            # 2. It dies again and a second indexer takes the lock first: the first one stops
            #    before writing anything more.
            kill_lock_session(lock.pid)
            with writer_lock(second):
                cursor = indexer.cursor().block_number
                district.transfer(1, district.account(11), 8)
                _wait_for(lambda: bool(failure), "the first indexer to stop")
                assert isinstance(failure[0], WriterLockLost), failure
                assert indexer.cursor().block_number == cursor
        finally:
            stop.set()
            worker.join(30)
            admin.dispose()
            second.dispose()
    index_once(chain.url, manifest, postgres_url, confirmations=0)
    assert indexed_logs(postgres_url) == chain_logs(chain.url, manifest)
    assert check(chain.url, manifest, postgres_url).ok


def test_rate_limits_back_off_and_never_shrink_the_range(
    chain: Chain, district: MockDistrict, manifest: Path, sqlite_url: str
) -> None:
    seed_activity(district, rounds=1)
    chain.mine(2_000)
    refused = {"n": 0}

    def rule(call: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
        if call["method"] == "eth_getLogs" and refused["n"] < 6:
            refused["n"] += 1
            return error(call, -32005, "rate limited: too many requests, slow down")
        return reply

    with RpcProxy(chain.url, rule) as proxy:
        index_once(proxy.url, manifest, sqlite_url, confirmations=0)
        spans = [span(c) for c in proxy.calls if c["method"] == "eth_getLogs"]
    assert refused["n"] == 6
    assert spans[:7] == [spans[0]] * 7  # the same range retried after each refusal
    assert min(spans[:-1]) >= spans[0]  # never shrunk (the last one ends at the head)
    assert indexed_logs(sqlite_url) == chain_logs(chain.url, manifest)


@pytest.mark.parametrize("message", [
    "block range is too large",              # no number: found by bisection, then kept
    "exceed maximum block range: 300",        # stated: learned from one refusal
])
def test_a_node_range_cap_is_learned_once_and_remembered(
    message: str, chain: Chain, district: MockDistrict, manifest: Path, sqlite_url: str
) -> None:
    seed_activity(district, rounds=1)
    chain.mine(6_000)
    cap = 300

    def rule(call: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
        if call["method"] == "eth_getLogs" and span(call) > cap:
            return error(call, -32000, message)
        return reply

    with RpcProxy(chain.url, rule) as proxy:
        index_once(proxy.url, manifest, sqlite_url, confirmations=0)
        spans = [span(c) for c in proxy.calls if c["method"] == "eth_getLogs"]
        port = proxy.server.server_address[1]
    refusals = sum(s > cap for s in spans)
    assert refusals <= (1 if "300" in message else 8), spans
    assert refusals / len(spans) < 0.25, spans
    assert indexed_logs(sqlite_url) == chain_logs(chain.url, manifest)

    # A restart (a new indexer, a new process's memory) starts at the cap kept in the database.
    chain.mine(3_000)
    with RpcProxy(chain.url, rule, port=port) as proxy:  # the same node URL
        index_once(proxy.url, manifest, sqlite_url, confirmations=0)
        spans = [span(c) for c in proxy.calls if c["method"] == "eth_getLogs"]
    assert spans and all(s <= cap for s in spans), spans
    assert max(spans[:-1]) > cap // 2, spans  # at the cap from the first call, not from 16
    assert indexed_logs(sqlite_url) == chain_logs(chain.url, manifest)


def test_a_removed_log_takes_the_reorg_path_and_is_never_written(
    chain: Chain, district: MockDistrict, manifest: Path, sqlite_url: str
) -> None:
    seed_activity(district, rounds=1)
    marked = {"done": False}

    def rule(call: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
        if call["method"] == "eth_getLogs" and reply.get("result") and not marked["done"]:
            marked["done"] = True
            logs = list(reply["result"])
            logs[0] = {**logs[0], "removed": True}
            return {**reply, "result": logs}
        return reply

    stream = io.StringIO()
    # Every block above finality: the live path, whose removed log triggers the reorg check.
    with RpcProxy(chain.url, rule) as proxy:
        config = IndexerConfig(proxy.url, sqlite_url, manifest, confirmations=500)
        with open_indexer(config, progress=Progress(stream, tty=False)) as indexer:
            indexer.run(follow=False)
    assert marked["done"]
    assert "removed-log" in stream.getvalue()
    assert indexed_logs(sqlite_url) == chain_logs(chain.url, manifest)
    assert check(chain.url, manifest, sqlite_url).ok


@pytest.mark.postgres
def test_a_follower_waits_for_a_database_gone_away_between_writes(
    chain: Chain, district: MockDistrict, manifest: Path, postgres_url: str
) -> None:
    """Caught up, a follower's next database access is a read (its cursor): a database that
    refuses connections then is waited for, as during a write, instead of ending the run."""
    seed_activity(district, rounds=1)
    stop = threading.Event()
    failure: list[BaseException] = []
    log = io.StringIO()
    config = IndexerConfig(chain.url, postgres_url, manifest, confirmations=0, poll_interval=0.1)
    admin = make_engine(postgres_url.rsplit("/", 1)[0] + "/postgres")
    name = postgres_url.rsplit("/", 1)[1]

    def allow_connections(allowed: bool) -> None:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {str(allowed).lower()}")
            if not allowed:
                conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     f"WHERE datname = '{name}'")

    with open_indexer(config, progress=Progress(log), stop=stop) as indexer:
        worker = following(indexer, failure)
        try:
            head = chain.block_number()
            _wait_for(lambda: indexer.cursor().block_number >= head, "the first backfill")
            allow_connections(False)
            try:
                district.transfer(1, district.account(11), 7)  # a new block: the follower reads
                _wait_for(lambda: bool(failure) or '"retrying"' in log.getvalue(),
                          "the follower meeting the outage")
                assert not failure, failure
            finally:
                allow_connections(True)
            head = chain.block_number()
            _wait_for(lambda: bool(failure) or indexer.cursor().block_number >= head,
                      "indexing after the outage")
            assert not failure, failure
        finally:
            stop.set()
            worker.join(timeout=60)
            admin.dispose()
    assert check(chain.url, manifest, postgres_url).ok
