"""A real `ledger serve` on loopback for the multi-worker and sign-in flood tests.

The server runs in its own process group (stopped by its id when the test ends); sign-in goes
through the real SIWE routes with eth_account keys. `serving_pid` tells which worker process
holds the server side of a client's connection (psutil), so a test can prove that a session made
on one worker is honoured by another.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from ledger.chain.devnode import free_port
from ledger.db import migrate

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    port: int

    def workers(self) -> set[int]:
        parent = psutil.Process(self.process.pid)
        return {p.pid for p in parent.children(recursive=True)} or {parent.pid}


@contextlib.contextmanager
def running_server(
    tmp: Path, database_url: str, *, workers: int, rate_limits: bool = False, **env: str
) -> Iterator[Server]:
    migrate(database_url)
    port = free_port()
    environment = {
        **os.environ,
        "LEDGER_API_DATABASE_URL": database_url,
        "LEDGER_API_HOST": "127.0.0.1",
        "LEDGER_API_PORT": str(port),
        "LEDGER_STATE_DIR": str(tmp),
        "LEDGER_MANIFEST": str(tmp / "none.json"),
        "LEDGER_API_RATE_LIMIT_ENABLED": "true" if rate_limits else "false",
        **env,
    }
    log = (tmp / f"serve-{port}.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ledger",
            "serve",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(process, f"http://127.0.0.1:{port}", port)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"ledger serve stopped: {(tmp / f'serve-{port}.log').read_text()}")
            try:
                if httpx.get(f"{server.url}/v1/health", timeout=1).status_code == 200 and (
                    len(server.workers()) >= workers
                ):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("ledger serve did not answer within 60 s")
            time.sleep(0.1)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


def client_port(response: httpx.Response) -> int:
    stream = response.extensions["network_stream"]
    return int(stream.get_extra_info("client_addr")[1])


def serving_pid(server: Server, local_port: int) -> int | None:
    """The worker process holding the server side of the connection from `local_port`."""
    for pid in server.workers():
        with contextlib.suppress(psutil.Error):
            for conn in psutil.Process(pid).net_connections(kind="tcp"):
                if conn.raddr and conn.raddr.port == local_port and conn.laddr.port == server.port:
                    return pid
    return None


def signed(account: LocalAccount, text: str) -> str:
    return "0x" + bytes(account.sign_message(encode_defunct(text=text)).signature).hex()


def new_resident() -> LocalAccount:
    account: LocalAccount = Account.create()
    return account
