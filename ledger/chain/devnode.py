"""Local chain nodes (chain id 69003, zero base fee): a Hardhat node that keeps nothing (tests) and
an anvil node that keeps its chain in a state file across restarts (the demo, `ledger node`)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
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
        if self.process is not None and self.process.poll() is None:
            return self  # already running (`with DevNode(...).start()` must not start two)
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
        try:
            while time.monotonic() < deadline:
                if rpc_answers(self.url):
                    return self
                if self.process.poll() is not None:
                    code = self.process.returncode
                    raise ChainUnavailable(f"the local chain exited at start (code {code})")
                time.sleep(0.2)
        except BaseException:
            # a signal (KeyboardInterrupt) while waiting: the node has its own session, so
            # nothing else would stop it
            self.stop()
            raise
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


ANVIL_PACKAGE = Path("node_modules") / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"


def anvil_binary() -> Path | None:
    """The anvil executable: LEDGER_ANVIL, the npm package's binary, else `anvil` on PATH."""
    configured = os.environ.get("LEDGER_ANVIL")
    if configured:
        return Path(configured)
    packaged = project_root() / ANVIL_PACKAGE
    if packaged.exists():
        return packaged
    found = shutil.which("anvil")
    return Path(found) if found else None


def repair_anvil_state(path: Path) -> bool:
    """Keep one block 0 in an anvil state file; True when it had to be fixed.

    anvil 1.7 creates a fresh genesis block (stamped with its start time) on every start and
    dumps it beside the one it loaded; the next load takes the later one, so block 0's hash would
    change at the second restart and block 1 would no longer name its parent. The original is the
    oldest: keep it, drop the others. Written atomically (a crash leaves the old file).
    """
    try:
        state = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    blocks = state.get("blocks") if isinstance(state, dict) else None
    if not isinstance(blocks, list):
        return False

    def field(block: object, name: str) -> int:
        header = block.get("header") if isinstance(block, dict) else None
        value = header.get(name, 0) if isinstance(header, dict) else 0
        return int(value, 16) if isinstance(value, str) else int(value)

    def number(block: object) -> int:
        return field(block, "number")

    def stamp(block: object) -> int:
        return field(block, "timestamp")

    geneses = [b for b in blocks if number(b) == 0]
    if len(geneses) <= 1:
        return False
    keep = min(geneses, key=stamp)
    state["blocks"] = [b for b in blocks if number(b) != 0 or b is keep]
    tmp = path.with_name(path.name + ".repair")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)
    return True


class AnvilNode:
    """An anvil process on 127.0.0.1 whose chain survives restarts: `--state FILE` loads the file
    at start and dumps it on exit, `--state-interval 1` also every second (a kill -9 loses at most
    the last second), `--preserve-historical-states` keeps the states of old blocks (reads at a
    past block, `ledger reconcile --block`). Automine unless `block_time` (seconds) is given.
    Same interface as DevNode: url, start(), stop(), a context manager; plus kill() (SIGKILL)."""

    def __init__(self, port: int, state_path: Path, block_time: int | None = None,
                 log_path: Path | None = None, initial_date: str | None = None) -> None:
        self.port = port
        self.state_path = state_path
        self.initial_date = initial_date
        self.block_time = block_time
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: BinaryIO | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        binary = anvil_binary()
        if binary is None:
            raise ConfigError(
                "anvil is not installed: run `./run.sh setup` (npm package "
                "@foundry-rs/anvil-linux-amd64) or set LEDGER_ANVIL to an anvil binary"
            )
        args = [
            str(binary), "--host", "127.0.0.1", "--port", str(self.port),
            "--chain-id", "69003", "--base-fee", "0", "--gas-price", "0",
            "--state", str(self.state_path), "--state-interval", "1",
            "--preserve-historical-states", "--accounts", "20",
        ]
        if self.block_time:
            args += ["--block-time", str(self.block_time)]
        if self.initial_date and not self.state_path.exists():
            # Only a chain created now takes the date; a reloaded chain keeps its genesis.
            from datetime import datetime

            start = datetime.fromisoformat(self.initial_date.replace("Z", "+00:00"))
            args += ["--timestamp", str(int(start.timestamp()))]
        return args

    def start(self, timeout: float = 60.0) -> AnvilNode:
        if self.process is not None and self.process.poll() is None:
            return self
        command = self.command()
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        repair_anvil_state(self.state_path)
        self._log = open(self.log_path, "ab") if self.log_path else None
        log: BinaryIO | int = self._log if self._log is not None else subprocess.DEVNULL
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if rpc_answers(self.url):
                    return self
                if self.process.poll() is not None:
                    raise ChainUnavailable(
                        f"the local chain exited at start (code {self.process.returncode}); "
                        f"see {self.log_path or 'its log'} (is port {self.port} taken?)"
                    )
                time.sleep(0.1)
        except BaseException:
            # a signal (KeyboardInterrupt) while waiting, or the exit above: the node has its own
            # session, so nothing else would stop it
            self.stop()
            raise
        self.stop()
        raise ChainUnavailable(f"the local chain did not answer on port {self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        """Graceful: SIGTERM, so anvil dumps its state before exiting."""
        try:
            if self.process is not None and self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=10)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def kill(self) -> None:
        """SIGKILL, as a power cut would: only what the last dump holds survives."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.stop()

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
