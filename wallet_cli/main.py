"""`wallet`: the Monnaie du 3e (M3E) wallet of the Lyon 3e district, on the command line.

Keys live in encrypted Web3 Secret Storage keystores (scrypt, geth's cost) in the wallet home;
secrets come only from a hidden prompt, from standard input when it is not a terminal, or from
`--password-file`, never from the command line.

Exit codes (also in `wallet --help`):

    0  done
    1  failed (wrong password, unknown account, the chain refused...); a sentence says why
    2  usage: the command was called wrongly (bad amount, address, name, URI, missing terminal)
    3  submitted but not confirmed in time: the transaction may still go through

Every command takes `--json` and then prints exactly one JSON object on standard output
(`{"ok": false, "error": ..., "message": ...}` on failure); prompts go to standard error.

This module only builds the `wallet` app: the root options and the list of command modules
(`wallet_cli/commands/`), each of which adds its commands with `register(app)`. Start-up matters
(`wallet --help` <= 0.2 s): the command modules import only typer and the standard library at
the top; httpx, web3, eth-account, eth-keyfile, segno and pydantic are imported inside the
commands that need them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from wallet_cli import light_params
from wallet_cli.commands import chain, data, energy, offline, reference, report, session, topup
from wallet_cli.context import SIGN_HELP, State, group
from wallet_cli.errors import EXIT_FAILED

light_params.install()  # plain parameters converted without importing pydantic (start-up)

EPILOG = (
    "\b\nExit codes:\n"
    "  0  done\n"
    "  1  failed (a sentence says why)\n"
    "  2  usage: called wrongly (bad amount, address, name, URI; no terminal for a secret)\n"
    "  3  submitted but not confirmed in time (it may still go through)\n"
    "\b\nSecrets are never taken from the command line: hidden prompt, standard input when\n"
    "it is not a terminal, or --password-file. Settings, for every command: flags, else env\n"
    "WALLET_RPC_URL, WALLET_API_URL, WALLET_MANIFEST, else <home>/config.toml, else defaults."
)

app = typer.Typer(
    name="wallet",
    help="The Monnaie du 3e (M3E) wallet: keys, contacts, payments, bookings, history, and "
    "your private data on the district API (wallet login).",
    epilog=EPILOG,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
)
group(app, "sign", SIGN_HELP)


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[
        str | None,
        typer.Option(
            "--home",
            help="Wallet home (keystore, contacts, config). Default: env WALLET_HOME, else "
            "$XDG_DATA_HOME/m3e-wallet.",
            show_default=False,
        ),
    ] = None,
    rpc_url: Annotated[
        str | None, typer.Option("--rpc-url", help="JSON-RPC URL of the district chain.")
    ] = None,
    api_url: Annotated[
        str | None, typer.Option("--api-url", help="URL of the district ledger API.")
    ] = None,
    manifest: Annotated[
        Path | None, typer.Option("--manifest", help="Deployment manifest (contract addresses).")
    ] = None,
) -> None:
    """The Monnaie du 3e (M3E) wallet: keys, contacts and payment requests."""
    ctx.obj = State(
        home_override=home,
        flags={"rpc_url": rpc_url, "api_url": api_url, "manifest": manifest},
    )


# One line per command module: a new module adds its line here.
offline.register(app)
chain.register(app)
report.register(app)
energy.register(app)
session.register(app)
reference.register(app)
topup.register(app)
data.register(app)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        typer.echo("\nInterrupted: nothing was changed.", err=True)
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":  # pragma: no cover
    main()
