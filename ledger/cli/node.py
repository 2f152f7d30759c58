"""`ledger node`: the district's local chain, kept across restarts (anvil with a state file).

Runs in the foreground until Ctrl-C or SIGTERM, which stop it gracefully (the state is written
on the way out); a kill -9 loses at most the last second (the state is also written every second).
Exit codes: 0 stopped, 1 could not start (the message says why), 2 usage.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer


def node(
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8545,
    state_file: Annotated[
        Path | None,
        typer.Option(help="the chain's state file (default: <LEDGER_STATE_DIR>/chain/state.json)"),
    ] = None,
    block_time: Annotated[
        int | None, typer.Option(min=1, help="also an empty block every this many seconds "
                                 "(default: a block per transaction only)")
    ] = None,
) -> None:
    """Run the local chain (chain id 69003, zero gas price) that keeps its state across restarts."""
    from ledger.chain.devnode import AnvilNode
    from ledger.settings import LedgerSettings

    settings = LedgerSettings()
    path = state_file or settings.state_dir / "chain" / "state.json"
    again = path.exists()
    stopping = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        stopping.set()

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    running = AnvilNode(port, path, block_time=block_time,
                        log_path=path.parent / "anvil.log").start()
    try:
        typer.echo(f"The local chain runs at {running.url} (chain id 69003), "
                   f"{'reloaded from' if again else 'keeping its state in'} {path}. "
                   "Ctrl-C stops it and keeps the state.")
        while not stopping.wait(1.0):
            if running.process is not None and running.process.poll() is not None:
                typer.echo(f"the chain exited (code {running.process.returncode}); see "
                           f"{path.parent / 'anvil.log'}", err=True)
                sys.exit(1)
    finally:
        running.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
        typer.echo("The local chain stopped; its state is kept.")


def register(app: typer.Typer) -> None:
    app.command("node")(node)
