"""`/healthz`, `/readyz` and `/metrics` against a real node and an indexed database: ready when
the node, the genesis, the indexer lag and the database are right, 503 with the reason if not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.fixtures.districtchain import Chain, MockDistrict, seed_activity
from tests.integration.indexer.helpers import index_once
from tests.unit.test_api import make_settings

pytestmark = pytest.mark.chain


def _client(chain_url: str, database_url: str, manifest: Path, tmp_path: Path) -> TestClient:
    settings = make_settings(database_url=database_url, rpc_url=chain_url, manifest=manifest,
                             settlement_dir=tmp_path / "settlement", ready_max_lag_blocks=3)
    return TestClient(create_app(settings))


def test_ready_when_indexed_then_not_when_lagging_or_on_another_genesis(
    chain: Chain, district: MockDistrict, manifest: Path, sqlite_url: str, tmp_path: Path
) -> None:
    seed_activity(district, rounds=1)
    index_once(chain.url, manifest, sqlite_url, confirmations=0)
    with _client(chain.url, sqlite_url, manifest, tmp_path) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert {c["name"] for c in ready.json()["checks"]} == {"database", "node", "genesis",
                                                                "indexer"}
        client.get("/v1/token")
        metrics = client.get("/metrics").text
        assert "ledger_indexer_lag_blocks 0.0" in metrics
        assert "ledger_indexed_events_total" in metrics
        assert 'ledger_api_request_seconds_count{method="GET",route="/v1/token"' in metrics
        chain.mine(5)  # the indexer is not running: the lag grows past the limit
        lagging = client.get("/readyz")
        assert lagging.status_code == 503
        indexer = next(c for c in lagging.json()["checks"] if c["name"] == "indexer")
        assert not indexer["ok"] and "5 block(s) behind" in indexer["detail"]
    other = json.loads(manifest.read_text())
    other["genesis_hash"] = "0x" + "ab" * 32
    manifest.write_text(json.dumps(other))
    with _client(chain.url, sqlite_url, manifest, tmp_path) as client:
        wrong = client.get("/readyz")
        assert wrong.status_code == 503
        genesis = next(c for c in wrong.json()["checks"] if c["name"] == "genesis")
        assert not genesis["ok"] and "block 0" in genesis["detail"]


def test_not_ready_when_the_node_is_down(
    manifest: Path, sqlite_url: str, tmp_path: Path
) -> None:
    from ledger.chain.devnode import free_port

    with _client(f"http://127.0.0.1:{free_port()}", sqlite_url, manifest, tmp_path) as client:
        down = client.get("/readyz")
        assert down.status_code == 503
        node = next(c for c in down.json()["checks"] if c["name"] == "node")
        assert not node["ok"] and "is it running" in node["detail"]
        assert client.get("/healthz").status_code == 200
