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
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import httpx
import orjson

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


def port_listening(port: int) -> bool:
    """Something accepts connections on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


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


def _whole_json(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:  # cut short, or bytes that are not UTF-8
        return False
    return True


def state_file_whole(path: Path) -> bool:
    """False when an anvil state file exists but is not a whole JSON document (cut short)."""
    try:
        return _whole_json(path.read_bytes())
    except FileNotFoundError:
        return True


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


class _Every:
    """A daemon thread calling `tick` every `seconds` until stop()."""

    def __init__(self, name: str, seconds: float, tick: Callable[[], None]) -> None:
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(seconds, tick), name=name,
                                        daemon=True)
        self._thread.start()

    def _run(self, seconds: float, tick: Callable[[], None]) -> None:
        while not self._done.wait(seconds):
            tick()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=30)


RECENT_STATES = 16  # blocks whose state the local chain keeps (reads at a recent block)
WHOLE_COPY_EVERY = 60.0  # seconds between two copies of the state file known to be whole


class AnvilNode:
    """An anvil process on 127.0.0.1 whose chain survives restarts: `--state FILE` loads the file
    at start and dumps it on exit, `--state-interval 1` also every second (a kill -9 loses at most
    the last second). Every block, transaction, receipt and log is kept; of the states, those of
    the last `RECENT_STATES` blocks (`--prune-history`, dumped with
    `--preserve-historical-states`), as Besu's default storage keeps recent states only: reads at
    a recent block (`ledger reconcile` at the cursor) answer across a restart. Keeping every
    state made the file grow by a whole state per block (300 KB a block with 320 accounts), and
    dumping it every second took the node a core within hours of the demo's 2-second blocks.
    Cancun, as the contracts are compiled for and the validators' genesis runs: anvil's default
    (Prague) also writes each block's hash into a system contract's storage, in every state.
    Each state still holds every block hash (anvil's design): the file grows by about 3 KB a
    block, so the dump's cost grows with the chain's length.
    Each transaction is mined at once (automine); with `block_time` (seconds), an empty block
    is also mined that often, by `evm_mine` from a thread of this object: anvil's own interval
    mining (`--block-time`, `evm_setIntervalMining`) keeps the state of every block whatever
    `--prune-history` says (measured with anvil 1.7.1).
    Same interface as DevNode: url, start(), stop(), a context manager; plus kill() (SIGKILL)."""

    def __init__(self, port: int, state_path: Path, block_time: float | None = None,
                 log_path: Path | None = None, initial_date: str | None = None) -> None:
        self.port = port
        self.state_path = state_path
        self.initial_date = initial_date
        self.block_time = block_time
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: BinaryIO | None = None
        self._miner: _Every | None = None
        self.missed_blocks = 0  # timer ticks the node did not answer (down, restarting)
        self._keeper: _Every | None = None

    def mine_every(self, seconds: float | None) -> None:
        """From now on, an empty block every `seconds` besides each transaction's (None: only
        transactions' blocks). The thread outlives a crash of the node (it retries until the
        node answers again); stop() ends it."""
        if seconds is not None and seconds < 0:
            raise ValueError(f"a block time is a positive number of seconds, not {seconds}")
        self._stop_miner()
        self.block_time = seconds
        if seconds:
            self._miner = _Every("anvil-miner", seconds, self._mine)

    def _mine(self) -> None:
        try:
            httpx.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": []},
                       timeout=10)
        except httpx.HTTPError:  # the node restarting: the next tick tries again
            self.missed_blocks += 1

    @property
    def whole_copy(self) -> Path:
        return self.state_path.with_name(self.state_path.name + ".whole")

    def keep_whole_copy(self) -> bool:
        """Copy the state file aside when it is whole JSON (atomically: a temporary file renamed
        over the copy). anvil rewrites the file in place every second, so a kill -9 during a
        write leaves it cut short: the longer the chain, the likelier (measured from outside: 2 %
        of the time at 5,000 blocks, 15 % at 43,200, a day of 2-second blocks). False when the
        file is missing or was caught mid-write (the next round copies it)."""
        try:
            data = self.state_path.read_bytes()
        except FileNotFoundError:
            return False
        if not _whole_json(data):
            return False
        partial = self.whole_copy.with_name(self.whole_copy.name + ".tmp")
        with open(partial, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, self.whole_copy)
        return True

    def _keep_copy(self) -> None:
        with contextlib.suppress(OSError):  # a full disk: the copy before stays
            self.keep_whole_copy()

    def _reload_whole_copy(self) -> bool:
        """The state file is cut short: set it aside and start again from the last whole copy
        (the blocks mined since that copy are lost; the indexer sees a node behind, then a reorg).
        False when there is no whole copy."""
        if not state_file_whole(self.whole_copy) or not self.whole_copy.exists():
            return False
        cut = self.state_path.with_name(f"{self.state_path.name}.cut-{time.strftime('%Y%m%d%H%M%S')}")
        os.replace(self.state_path, cut)
        shutil.copyfile(self.whole_copy, self.state_path)
        age = time.time() - self.whole_copy.stat().st_mtime
        print(f"the chain's state file was cut short (a kill -9 or a power cut while the node wrote "
              f"it): starting again from its last whole copy, {age:.0f} s old (the blocks mined "
              f"since are lost); the cut file is kept as {cut.name}", file=sys.stderr)
        return True

    def _stop_miner(self) -> None:
        if self._miner is not None:
            self._miner.stop()
            self._miner = None

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
            "--chain-id", "69003", "--base-fee", "0", "--gas-price", "0", "--hardfork", "cancun",
            "--state", str(self.state_path), "--state-interval", "1",
            "--preserve-historical-states", "--prune-history", str(RECENT_STATES),
            "--accounts", "20",
        ]
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
        if port_listening(self.port):  # anvil would not start, and the timer would mine there
            raise ChainUnavailable(
                f"another program already listens on port {self.port} (another node?): stop it or "
                "choose another port"
            )
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        if not self.state_path.exists() and self.whole_copy.exists():
            # A new chain: the copy of the one whose file was removed must never stand in for it.
            stale = f"{self.whole_copy.name}.previous-chain-{time.strftime('%Y%m%d%H%M%S')}"
            os.replace(self.whole_copy, self.whole_copy.with_name(stale))
        if not state_file_whole(self.state_path) and not self._reload_whole_copy():
            raise ChainUnavailable(
                f"the chain's state file {self.state_path} is cut short: the node was stopped "
                "while writing it (anvil rewrites it in place every second; a kill -9 or a power "
                "cut landed during a write) and there is no whole copy of it beside it "
                f"({self.whole_copy.name}, made every {WHOLE_COPY_EVERY:.0f} s), so the chain "
                "cannot be reloaded from it. Move the file aside to start a new chain (the demo "
                "then keeps the old index aside, never deleting it)"
            )
        repair_anvil_state(self.state_path)
        if self._log is not None:  # the process died without stop() (the demo restarts it)
            self._log.close()
        self._log = open(self.log_path, "ab") if self.log_path else None
        log: BinaryIO | int = self._log if self._log is not None else subprocess.DEVNULL
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if rpc_answers(self.url):
                    if self.block_time and self._miner is None:
                        self.mine_every(self.block_time)
                    if self._keeper is None:
                        self._keeper = _Every("anvil-state-copy", WHOLE_COPY_EVERY, self._keep_copy)
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
        self._stop_miner()
        if self._keeper is not None:
            self._keeper.stop()
            self._keeper = None
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
