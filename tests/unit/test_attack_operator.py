"""Attacks on the operator commands and the demo's process handling, without a chain: a signal
while the local chain starts, a pause that fails half-way."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

import ledger.chain.devnode as devnode
from ledger.chain.client import SentTx
from ledger.errors import ChainError
from tests.unit.test_cli_operator import FakeOperator, run


@pytest.fixture
def sleeper_node(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[devnode.AnvilNode]:
    """An AnvilNode whose process is a long `sleep` that never answers JSON-RPC."""
    node = devnode.AnvilNode(devnode.free_port(), tmp_path / "chain" / "state.json")
    monkeypatch.setattr(node, "command", lambda: ["sleep", "300"])
    yield node
    if node.process is not None and node.process.poll() is None:  # never leave it behind
        os.killpg(node.process.pid, signal.SIGKILL)
        node.process.wait()


def test_attack_a_signal_while_the_local_chain_starts_leaves_no_chain_running(
    monkeypatch: pytest.MonkeyPatch, sleeper_node: devnode.AnvilNode
) -> None:
    # `ledger demo` turns SIGINT/SIGTERM into KeyboardInterrupt; one arriving while the node is
    # awaited must not leave the node (in its own session, out of the terminal's reach) running.
    def interrupted(url: str, timeout: float = 1.0) -> bool:
        raise KeyboardInterrupt

    monkeypatch.setattr(devnode, "rpc_answers", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sleeper_node.start()
    assert sleeper_node.process is not None
    assert sleeper_node.process.poll() is not None, "the chain process was left running"


class FailingSecondPause(FakeOperator):
    """The first contract pauses; the second one's transaction fails (node gone, not mined)."""

    def set_paused(self, name: str, paused: bool) -> SentTx | None:
        if name == "ServicePayments":
            raise ChainError("transaction 0xfeed was sent but not mined in time; check it later")
        return super().set_paused(name, paused)


def test_attack_a_pause_failing_half_way_says_which_contracts_are_paused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FailingSecondPause({("DistrictToken", "pauser"), ("ServicePayments", "pauser")})
    code, out, err = run(monkeypatch, capsys, fake, "pause")
    assert code == 1
    assert fake.paused == {"DistrictToken": True, "ServicePayments": False}
    # the operator must learn the token IS paused and the payments contract is NOT
    assert "DistrictToken is now paused" in out + err
    assert "ServicePayments" in err and "not mined in time" in err
