"""The local chain keeps its data: anvil with a state file survives a graceful restart and a
kill -9 (receipts, logs, old states), and the indexer recovers by itself."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger.chain.devnode import RECENT_STATES, AnvilNode, anvil_binary, free_port, repair_anvil_state
from ledger.errors import ChainUnavailable
from ledger.indexer.errors import IndexerError
from ledger.indexer.progress import Progress
from ledger.indexer.service import IndexerConfig, open_indexer
from tests.fixtures.districtchain import Chain, MockDistrict, seed_activity
from tests.integration.indexer.helpers import (
    ROOT,
    chain_logs,
    check,
    digest,
    following,
    index_once,
    indexed_logs,
)

pytestmark = [
    pytest.mark.chain,
    # CI installs anvil (./run.sh setup): there a missing binary is a failure, never a skip.
    pytest.mark.skipif(
        anvil_binary() is None and not os.environ.get("CI"), reason="anvil not installed (./run.sh setup)"
    ),
]


def _wait_for(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _dumped_block(state: Path) -> int:
    """The newest block the state file holds (-1 while none is written)."""
    try:
        return int(str(json.loads(state.read_text())["best_block_number"]), 0)
    except (FileNotFoundError, json.JSONDecodeError, KeyError, ValueError):
        return -1


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[AnvilNode]:
    node = AnvilNode(free_port(), tmp_path / "chain" / "state.json", log_path=tmp_path / "anvil.log")
    with node:
        yield node


def _seeded(node: AnvilNode, manifest: Path) -> tuple[Chain, MockDistrict]:
    chain = Chain(node.url)
    district = MockDistrict(chain)
    seed_activity(district, rounds=2)
    district.write_manifest(manifest)
    return chain, district


def _snapshot(chain: Chain, manifest: Path) -> dict[str, Any]:
    head = chain.block_number()
    logs = chain_logs(chain.url, manifest)
    return {
        "head": head,
        "logs": logs,
        "blocks": [chain.rpc("eth_getBlockByNumber", [hex(n), False])["hash"] for n in range(head + 1)],
        "receipts": [chain.rpc("eth_getTransactionReceipt", [chain.rpc(
            "eth_getBlockByNumber", [hex(n), False])["transactions"][0]]) for n in range(1, head + 1)],
    }


def test_a_graceful_restart_keeps_the_chain_every_balance_and_the_index(
    anvil: AnvilNode, tmp_path: Path
) -> None:
    manifest = tmp_path / "deployment.json"
    chain, district = _seeded(anvil, manifest)
    database = f"sqlite:///{tmp_path / 'ledger.db'}"
    index_once(chain.url, manifest, database, confirmations=2)
    before, index_before = _snapshot(chain, manifest), digest(database)
    balance_call = {"to": district.token, "data": "0x70a08231" + "00" * 12 + district.account(1)[2:]}
    balance_before = chain.rpc("eth_call", [balance_call, hex(before["head"] - 3)])
    chain.close()
    genesis = before["blocks"][0]
    for _ in range(5):  # from the second restart on, anvil could load another block 0
        anvil.stop()
        anvil.start()
        again = Chain(anvil.url)
        assert again.rpc("eth_getBlockByNumber", ["0x0", False])["hash"] == genesis
        again.close()
    chain = Chain(anvil.url)
    assert _snapshot(chain, manifest) == before  # blocks, logs, receipts, genesis
    assert chain.rpc("eth_call", [balance_call, hex(before["head"] - 3)]) == balance_before
    result = check(chain.url, manifest, database)
    assert result.ok, result.differences
    # An old block's state is not kept: reconciling there says so and what to do instead.
    assert before["head"] - 1 > RECENT_STATES
    with pytest.raises(IndexerError, match=r"at block 1 .*recent blocks only.*no --block"):
        check(chain.url, manifest, database, block=1)
    index_once(chain.url, manifest, database, confirmations=2)
    assert digest(database) == index_before
    district.chain = chain
    district.transfer(1, district.account(3), 77)  # and it goes on
    index_once(chain.url, manifest, database, confirmations=2)
    assert indexed_logs(database) == chain_logs(chain.url, manifest)
    # An index left further behind than the node keeps states: catch up first, it says.
    chain.rpc("anvil_mine", [hex(RECENT_STATES + 5)])
    with pytest.raises(IndexerError, match=r"recent blocks only.*let `ledger index` catch up"):
        check(chain.url, manifest, database)
    index_once(chain.url, manifest, database, confirmations=2)
    assert check(chain.url, manifest, database).ok
    chain.close()


def test_kill_9_of_the_local_node_then_restart_the_indexer_recovers_by_itself(
    anvil: AnvilNode, tmp_path: Path
) -> None:
    manifest = tmp_path / "deployment.json"
    chain, district = _seeded(anvil, manifest)
    database = f"sqlite:///{tmp_path / 'ledger.db'}"
    stop = threading.Event()
    failure: list[BaseException] = []
    config = IndexerConfig(chain.url, database, manifest, confirmations=5, poll_interval=0.1)
    with open_indexer(config, progress=Progress(io.StringIO()), stop=stop) as indexer:
        worker = following(indexer, failure)
        try:
            head = chain.block_number()
            _wait_for(lambda: indexer.cursor().block_number >= head, "the backfill")
            _wait_for(lambda: _dumped_block(anvil.state_path) >= head, "a state dump")
            # One more block, indexed, then the power cut: it may or may not be in the dump.
            district.transfer(1, district.account(12), 5)
            head = chain.block_number()
            _wait_for(lambda: indexer.cursor().block_number >= head, "the last block")
            anvil.kill()
            anvil.start()
            for i in range(7):  # the chain goes on past whatever was lost
                district.transfer(2, district.account(13), 10 + i)
            head = chain.block_number()
            _wait_for(lambda: indexer.cursor().block_number >= head or bool(failure),
                      "the indexer to catch up after the restart")
            assert not failure, failure
        finally:
            stop.set()
            worker.join(30)
    assert indexed_logs(database) == chain_logs(chain.url, manifest)
    reconcile = subprocess.run(
        [sys.executable, "-m", "ledger", "reconcile", "--rpc-url", chain.url, "--manifest",
         str(manifest), "--database-url", database],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
    chain.close()


def test_a_state_file_with_two_genesis_blocks_keeps_the_original(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    original = {"header": {"number": "0x0", "timestamp": "0x10"}}
    later = {"header": {"number": "0x0", "timestamp": "0x20"}}
    one = {"header": {"number": "0x1", "timestamp": "0x11"}}
    state.write_text(json.dumps({"blocks": [one, later, original], "best_block_number": "0x1"}))
    assert repair_anvil_state(state)
    assert json.loads(state.read_text())["blocks"] == [one, original]
    assert not repair_anvil_state(state)


def _dumped_size(state: Path, head: int) -> int:
    _wait_for(lambda: _dumped_block(state) >= head, f"a state dump at block {head}")
    return state.stat().st_size


def test_the_state_file_grows_by_blocks_not_by_a_whole_state_per_block(
    anvil: AnvilNode, tmp_path: Path
) -> None:
    """Keeping every block's state made the file grow by the whole state at each block, empty
    ones included, and the node spent a core dumping it every second after a few hours of the
    demo: only the states of the last RECENT_STATES blocks are kept."""
    chain = Chain(anvil.url)
    sender = chain.rpc("eth_accounts")[0]
    for i in range(150):  # a district's worth of accounts in every state
        chain.rpc("eth_sendTransaction", [{"from": sender, "to": f"0x{0xD15 + i:040x}", "value": "0x1"}])
    chain.rpc("anvil_mine", [hex(RECENT_STATES + 10)])  # the window of recent states is full
    head = chain.block_number()
    before = _dumped_size(anvil.state_path, head)
    empty_blocks = 400
    chain.rpc("anvil_mine", [hex(empty_blocks)])
    after = _dumped_size(anvil.state_path, head + empty_blocks)
    per_block = (after - before) / empty_blocks
    # an empty block is about 3 KB of the file (its header, its hash in each recent state);
    # keeping every state, the file grew by 116 KB a block here
    assert per_block < 4_000, f"the state file grew by {per_block:,.0f} bytes per empty block"
    # The recent states survive a restart; an old one is gone, and the node says so.
    balance = chain.rpc("eth_getBalance", [f"0x{0xD15:040x}", hex(chain.block_number() - 3)])
    anvil.stop()
    anvil.start()
    assert chain.rpc("eth_getBalance", [f"0x{0xD15:040x}", hex(chain.block_number() - 3)]) == balance
    with pytest.raises(RuntimeError, match="BlockOutOfRange"):
        chain.rpc("eth_getBalance", [f"0x{0xD15:040x}", hex(chain.block_number() - RECENT_STATES - 5)])
    chain.close()


def test_blocks_mined_on_a_timer_keep_only_the_recent_states(anvil: AnvilNode) -> None:
    """anvil's own interval mining keeps every block's state whatever --prune-history says: the
    demo's 2-second blocks come from AnvilNode.mine_every, whose blocks are pruned."""
    chain = Chain(anvil.url)
    start = chain.block_number()
    anvil.mine_every(0.02)
    _wait_for(lambda: chain.block_number() >= start + 3 * RECENT_STATES, "blocks on the timer")
    anvil.mine_every(None)
    head = chain.block_number()
    _wait_for(lambda: _dumped_block(anvil.state_path) >= head, f"a state dump at block {head}")
    kept = len(json.loads(anvil.state_path.read_text())["historical_states"])
    assert kept <= RECENT_STATES, f"{kept} states kept after {head - start} blocks on the timer"
    # and the timer's blocks go on across a crash of the node, ticks missed while it is down
    anvil.mine_every(0.02)
    ticking = chain.block_number()
    _wait_for(lambda: chain.block_number() >= ticking + 2, "the timer running")
    anvil.process.kill()  # type: ignore[union-attr]
    anvil.process.wait()  # type: ignore[union-attr]
    missed = anvil.missed_blocks
    _wait_for(lambda: anvil.missed_blocks >= missed + 2, "ticks missed while the node is down")
    anvil.start()
    after_restart = chain.block_number()
    _wait_for(lambda: chain.block_number() >= after_restart + 3, "blocks on the timer after a restart")
    chain.close()


def test_a_state_file_cut_short_by_a_kill_during_its_write_is_refused_with_a_sentence(
    anvil: AnvilNode,
) -> None:
    """anvil rewrites its state file in place: a kill -9 during a write leaves half a file."""
    chain = Chain(anvil.url)
    chain.rpc("anvil_mine", ["0x20"])
    chain.close()
    anvil.stop()
    whole = anvil.state_path.read_bytes()
    anvil.state_path.write_bytes(whole[: len(whole) // 2])
    assert not anvil.whole_copy.exists()  # within the first minute: no copy yet
    with pytest.raises(ChainUnavailable, match=r"is cut short.*no whole copy.*Move the file aside"):
        anvil.start()
    assert anvil.state_path.read_bytes() == whole[: len(whole) // 2]  # left as it was


def test_a_demo_interrupted_before_its_tariff_sets_it_on_the_reloaded_chain(tmp_path: Path) -> None:
    """Ctrl-C during seeding, then `ledger demo` again: the chain is reloaded from its state file,
    its clock now the wall clock's; the tariff must still be set (it failed at every start)."""
    from datetime import UTC, datetime

    from ledger.chain.client import ChainClient, connect
    from ledger.chain.deploy import decoder_for_manifest
    from ledger.chain.governance import deploy_with_plan
    from ledger.demo import demo_chain_start, demo_plan, dev_account, ensure_demo_tariff
    from ledger.energy.settlement import operation_number
    from ledger.energy.settlement_chain import ChainSettlement
    from ledger.energy.simulator import OPERATION_ID

    node = AnvilNode(free_port(), tmp_path / "chain" / "state.json", initial_date=demo_chain_start(),
                     log_path=tmp_path / "anvil.log")
    with node:
        operator = dev_account(0)
        manifest = deploy_with_plan(connect(node.url), operator, demo_plan()).manifest
        node.stop()
        node.start()
        w3 = connect(node.url)
        assert ensure_demo_tariff(w3, operator, manifest, OPERATION_ID)
        clock = datetime.fromtimestamp(int(w3.eth.get_block("latest")["timestamp"]), UTC)
        assert clock > datetime.now(UTC) - timedelta(hours=1)  # the reloaded chain's clock
        chain = ChainSettlement(ChainClient(w3, operator, decoder_for_manifest(manifest)), manifest)
        (tariff,) = chain.tariffs(operation_number(OPERATION_ID))
        assert clock.date() < tariff.effective_from <= clock.date() + timedelta(days=2)


def _miners() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "anvil-miner" and t.is_alive())


def test_the_timer_starts_with_the_node_resumes_after_a_kill_and_ends_with_stop(tmp_path: Path) -> None:
    before = _miners()
    node = AnvilNode(free_port(), tmp_path / "state.json", block_time=0.05, log_path=tmp_path / "a.log")
    with node:
        chain = Chain(node.url)
        start = chain.block_number()
        _wait_for(lambda: chain.block_number() >= start + 3, "blocks from `block_time` alone")
        assert _miners() == before + 1
        node.kill()
        assert _miners() == before  # kill() stops the node, and its timer with it
        node.start()
        again = chain.block_number()
        _wait_for(lambda: chain.block_number() >= again + 3, "blocks after kill() and start()")
        assert _miners() == before + 1
        # Another node on the same port: refused, so that no timer mines on someone else's chain.
        other = AnvilNode(node.port, tmp_path / "other.json")
        with pytest.raises(ChainUnavailable, match="already listens on port"):
            other.start()
        with pytest.raises(ValueError, match="positive number of seconds"):
            node.mine_every(-1)
        chain.close()
    assert _miners() == before


def test_a_state_file_cut_short_restarts_from_its_last_whole_copy(
    anvil: AnvilNode, capsys: pytest.CaptureFixture[str]
) -> None:
    """Instead of losing the whole chain to a kill during a write, the node starts again from the
    copy kept every WHOLE_COPY_EVERY seconds; only the blocks mined since are lost."""
    chain = Chain(anvil.url)
    chain.rpc("anvil_mine", ["0x20"])
    copied_head = chain.block_number()
    _wait_for(lambda: _dumped_block(anvil.state_path) >= copied_head, "a state dump")
    assert anvil.keep_whole_copy()
    copied_hash = chain.rpc("eth_getBlockByNumber", [hex(copied_head), False])["hash"]
    chain.rpc("anvil_mine", ["0x10"])  # mined after the copy: lost with the cut file
    anvil.stop()
    whole = anvil.state_path.read_bytes()
    anvil.state_path.write_bytes(whole[: len(whole) // 2])
    anvil.start()
    assert chain.block_number() == copied_head
    assert chain.rpc("eth_getBlockByNumber", [hex(copied_head), False])["hash"] == copied_hash
    cut = list(anvil.state_path.parent.glob("state.json.cut-*"))
    assert len(cut) == 1 and cut[0].read_bytes() == whole[: len(whole) // 2]  # kept, as it was
    assert "starting again from its last whole copy" in capsys.readouterr().err
    # a copy is never taken of a file caught mid-write
    anvil.stop()
    anvil.state_path.write_bytes(whole[: len(whole) // 3])
    before = anvil.whole_copy.read_bytes()
    assert not anvil.keep_whole_copy() and anvil.whole_copy.read_bytes() == before
    # the state file removed (a new chain wanted): the old chain's copy never stands in for it
    anvil.state_path.unlink()
    anvil.start()
    assert chain.block_number() == 0
    assert not anvil.whole_copy.exists()
    assert list(anvil.state_path.parent.glob("state.json.whole.previous-chain-*"))
    chain.close()
