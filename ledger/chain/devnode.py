"""Starting and stopping a local Hardhat node (chain id 69003, zero base fee) for the demo and tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import BinaryIO

import httpx

from ledger.chain.solc import project_root
from ledger.errors import ChainUnavailable, ConfigError


def rpc_answers(url: str, timeout: float = 1.0) -> bool:
    try:
        reply = httpx.post(
            url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=timeout
        )
        return reply.status_code == 200 and "result" in reply.json()
    except (httpx.HTTPError, ValueError):
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DevNode:
    """A Hardhat node process on 127.0.0.1 (automine unless `block_ms` is given)."""

    def __init__(
        self,
        port: int,
        block_ms: int | None = None,
        log_path: Path | None = None,
        initial_date: str | None = None,
    ) -> None:
        self.port = port
        self.initial_date = initial_date
        self.block_ms = block_ms
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: BinaryIO | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> DevNode:
        root = project_root()
        hardhat = root / "node_modules" / ".bin" / "hardhat"
        if not hardhat.exists():
            raise ConfigError("Hardhat is not installed: run `npm ci` at the project root")
        env = dict(os.environ)
        env["PATH"] = f"{root / 'node_modules' / '.bin'}{os.pathsep}{env.get('PATH', '')}"
        env.pop("DISTRICT_BLOCK_MS", None)
        if self.block_ms:
            env["DISTRICT_BLOCK_MS"] = str(self.block_ms)
        env.pop("DISTRICT_INITIAL_DATE", None)
        if self.initial_date:
            env["DISTRICT_INITIAL_DATE"] = self.initial_date
        self._log = open(self.log_path, "ab") if self.log_path else None
        log: BinaryIO | int = self._log if self._log is not None else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [
                str(hardhat),
                "node",
                "--network",
                "district",
                "--hostname",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if rpc_answers(self.url):
                return self
            if self.process.poll() is not None:
                raise ChainUnavailable(f"the local chain exited at start (code {self.process.returncode})")
            time.sleep(0.2)
        self.stop()
        raise ChainUnavailable(f"the local chain did not answer on port {self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        try:
            self._terminate()
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def _terminate(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def __enter__(self) -> DevNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
