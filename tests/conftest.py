"""Shared fixtures: a real local chain (Hardhat node) per test session, and service URLs.

Tests that need PostgreSQL or MQTT read LEDGER_TEST_POSTGRES_URL / LEDGER_TEST_MQTT_URL. Without
them they skip with the reason, except under CI=true, where a missing service is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.chain.devnode import DevNode, free_port


def require_service(env_name: str, what: str) -> str:
    value = os.environ.get(env_name)
    if value:
        return value
    if os.environ.get("CI"):
        pytest.fail(f"CI needs {what}: set {env_name}")
    pytest.skip(f"{what} not configured: set {env_name} to run this test")


@pytest.fixture(scope="session")
def chain_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevNode]:
    log = tmp_path_factory.mktemp("chain") / "node.log"
    node = DevNode(free_port(), log_path=log).start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def compilation():  # type: ignore[no-untyped-def]
    from ledger.chain.solc import compile_contracts

    return compile_contracts()


@pytest.fixture
def fresh_chain(tmp_path: Path) -> Iterator[DevNode]:
    """A chain of one's own, for tests that revert, reorg or kill it."""
    node = DevNode(free_port(), log_path=tmp_path / "node.log").start()
    try:
        yield node
    finally:
        node.stop()
