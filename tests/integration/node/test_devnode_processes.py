"""Every node process a DevNode starts is stopped with it (the indexer bench left one behind)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from ledger.chain import devnode
from ledger.chain.devnode import DevNode, free_port

pytestmark = pytest.mark.chain


def test_starting_a_dev_node_twice_leaves_no_process_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[subprocess.Popen[bytes]] = []
    real = subprocess.Popen

    def recording(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        proc: subprocess.Popen[bytes] = real(*args, **kwargs)
        started.append(proc)
        return proc

    monkeypatch.setattr(devnode.subprocess, "Popen", recording)
    with DevNode(free_port()).start() as node:  # the bench's former pattern
        assert devnode.rpc_answers(node.url)
    assert started
    assert all(p.poll() is not None for p in started), [p.pid for p in started]
