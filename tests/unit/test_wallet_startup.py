"""Start-up of the wallet: `wallet balance` speaks JSON-RPC over the standard library and its
parameters are converted without pydantic, so neither httpx nor pydantic is imported; the
conversions keep their outcomes (values, usage errors with exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wallet_cli.errors import ChainError
from wallet_cli.main import app
from wallet_cli.rpc import Rpc

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
HOLDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
runner = CliRunner()


class Node:
    """A JSON-RPC node on a loopback port: chain 69003, every eth_call answers 12.50 M3E."""

    def __init__(self) -> None:
        self.connections = 0
        node = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real node

            def setup(self) -> None:
                node.connections += 1
                super().setup()

            def do_POST(self) -> None:
                call = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                result: Any = {"eth_chainId": "0x10d8b", "eth_call": "0x" + f"{12_500_000:064x}"}.get(
                    call["method"])
                body = json.dumps({"jsonrpc": "2.0", "id": call["id"], "result": result}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def node() -> Iterator[Node]:
    running = Node()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()
    thread.join()


def test_rpc_over_the_standard_library_keeps_one_connection(node: Node) -> None:
    with Rpc(node.url) as rpc:
        assert rpc.chain_id() == 69003
        assert rpc.balance_of(TOKEN, HOLDER) == 12_500_000
    assert node.connections == 1


def test_rpc_to_a_closed_port_says_what_to_check() -> None:
    with Rpc("http://127.0.0.1:9", timeout=2.0) as rpc, pytest.raises(ChainError) as refused:
        rpc.chain_id()
    assert "does not answer" in refused.value.message and "--rpc-url" in refused.value.message


def test_balance_imports_neither_httpx_nor_pydantic(node: Node, tmp_path: Path) -> None:
    manifest = tmp_path / "deployment.json"
    manifest.write_text(json.dumps({"chain_id": 69003, "contracts": {"DistrictToken": {
        "address": TOKEN}}}))
    code = (
        "import sys\n"
        f"sys.argv = ['wallet', 'balance', '--account', '{HOLDER}', '--json']\n"
        "from wallet_cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ['httpx', 'pydantic', 'web3', 'eth_account', 'rich']\n"
        "print('HEAVY:' + ','.join(m for m in heavy if m in sys.modules))\n"
    )
    env = {**os.environ, "WALLET_HOME": str(tmp_path / "home"), "WALLET_RPC_URL": node.url,
           "WALLET_MANIFEST": str(manifest)}
    env.pop("WALLET_API_URL", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=env)
    lines = out.stdout.strip().splitlines()
    assert json.loads(lines[0])["balance"] == "12500000", out.stderr
    assert lines[-1] == "HEAVY:"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WALLET_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_plain_parameters_keep_their_usage_errors(home: Path, tmp_path: Path) -> None:
    out_of_range = runner.invoke(app, ["energy", "--days", "0"])
    assert out_of_range.exit_code == 2 and "out of range" in out_of_range.output
    not_a_number = runner.invoke(app, ["energy", "--days", "many"])
    assert not_a_number.exit_code == 2 and "'many' is not a valid whole number" in not_a_number.output
    a_directory = runner.invoke(app, ["passwd", "x", "--password-file", str(tmp_path)])
    assert a_directory.exit_code == 2 and "directory" in a_directory.output
