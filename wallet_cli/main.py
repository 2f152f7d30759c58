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

This module only builds the `wallet` app: the root options and the table of commands, each
with the command modules (`wallet_cli/commands/`) whose `register(app)` adds it. Start-up matters
(`wallet --help` <= 0.2 s and <= 4x a bare `python -c pass`): a command's module is imported, and
its parameters built, only when that command runs (`LazyCommands`); `wallet --help` lists the
commands from the table without importing any of them. The command modules import only typer
and the standard library at the top; httpx, web3, eth-account, eth-keyfile, segno and pydantic
are imported inside the commands that need them.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from wallet_cli import light_params
from wallet_cli.context import State
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

# The commands in the order `wallet --help` lists them: name -> (the command modules whose
# `register(app)` adds it, the first paragraph of its help). A new command adds its line here;
# tests/unit/test_wallet_cli.py checks this table against what the modules register.
COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {
    "new": (("offline",), "Create an account: a BIP-39 mnemonic shown once, and an encrypted keystore."),
    "import": (("offline",), "Import an account from a mnemonic, a keystore file or a private key."),
    "list": (("offline",), "List the accounts of this wallet (no password needed)."),
    "address": (("offline",), "Print the address of one account."),
    "export": (("offline",), "Export an account's encrypted keystore (Web3 Secret Storage JSON)."),
    "passwd": (
        ("offline",),
        "Change the password of an account's keystore (the key and address stay the same).",
    ),
    "request": (
        ("offline",),
        "Ask for a payment: prints an ERC-681 URI and its QR code for the payer's wallet.",
    ),
    "check-uri": (("offline",), "Read a payment request and say what it asks for (nothing is paid)."),
    "balance": (("chain",), "Show the M3E balance (raw JSON-RPC: fast, no web3)."),
    "send": (
        ("chain",),
        "Send M3E to someone (a plain transfer). To pay a merchant with a reference, use `pay`.",
    ),
    "pay": (("chain",), "Pay a merchant by name with a reference, or pay an ERC-681 payment request (URI)."),
    "refund": (("chain",), "Refund a payer (merchants: from the payout account, up to what they paid net)."),
    "book": (
        ("chain",),
        "Book a service: the deposit is held by the contract until the merchant closes it (charging part "
        "of it) or, after expiry, you reclaim it.",
    ),
    "close": (("chain",), "Close a booking (merchants): charge part of the deposit, return the rest."),
    "reclaim": (
        ("chain",),
        "Take your whole deposit back from a booking the merchant did not close before expiry.",
    ),
    "redeem": (
        ("chain",),
        "Convert M3E back to euros (merchants only; the operator's fee funds the commons).",
    ),
    "broadcast": (
        ("chain",),
        "Submit a signed payment or a signed transfer; refuses one signed for another chain.",
    ),
    "cancel": (
        ("chain",),
        "Cancel a payment you signed and that was not used yet: it can then never be submitted.",
    ),
    "history": (
        ("report",),
        "Your history grouped by category (merchants by category, energy, transfers...), with receipts: "
        "transaction hash, block and reference.",
    ),
    "statement": (
        ("report",),
        "Your monthly statement as CSV (payments negative, refunds positive); needs `wallet login`.",
    ),
    "login": (("session",), "Sign in to the district API with your key (Sign-In with Ethereum, EIP-4361)."),
    "logout": (
        ("session",),
        "Sign out of the district API: the session is ended there and removed from this wallet.",
    ),
    "topup": (
        ("topup",),
        "Buy M3E by bank transfer: IBAN, amount and your RF reference, with a SEPA QR code.",
    ),
    "sign": (
        ("offline", "chain", "session"),
        "Sign offline: a payment for a merchant's terminal to submit, or a transfer (`wallet broadcast "
        "FILE` sends either); or a message (EIP-191, to sign in on the web page).",
    ),
    "contacts": (("offline",), "Contacts: names for addresses (a name can never look like an address)."),
    "config": (("offline",), "Settings kept in <home>/config.toml."),
    "energy": (("energy",), "Your solar energy: the report, and your mandate of an operation."),
    "references": (
        ("reference",),
        "Payment references kept by this wallet (the chain has only their commitments).",
    ),
    "data": (("data",), "Your data kept by the district: export it, choose its uses, erase it."),
}


def registered_app(modules: tuple[str, ...]) -> typer.Typer:
    """A bare app holding every command that these command modules register."""
    holder = typer.Typer(rich_markup_mode=None)
    for module in modules:
        importlib.import_module(f"wallet_cli.commands.{module}").register(holder)
    return holder


def load_command(name: str) -> Any:
    """The click command `name` of the table, built from its modules (only that command's
    parameters are built: the others of the same module are left out)."""
    holder = registered_app(COMMANDS[name][0])
    holder.registered_commands = [
        info for info in holder.registered_commands
        if (info.name or typer.main.get_command_name(getattr(info.callback, "__name__", ""))) == name
    ]
    holder.registered_groups = [info for info in holder.registered_groups if info.name == name]
    return typer.main.get_group(holder).commands[name]


# click's UsageError as typer vendors it (typer exports only its subclass BadParameter).
USAGE_ERROR: type[Any] = typer.BadParameter.__mro__[1]


class LazyCommands(TyperGroup):
    """The root group: a command is loaded when it is asked for; listing them loads none."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.commands[cmd_name] = load_command(cmd_name)
        return self.commands.get(cmd_name)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except USAGE_ERROR as error:
            # typer suggests close names from the loaded commands only: suggest from the table.
            matches = difflib.get_close_matches(args[0], list(COMMANDS)) if args else []
            if matches and "Did you mean" not in error.message:
                suggestions = ", ".join(f"{m!r}" for m in matches)
                error.message = f"{error.message.rstrip('.')}. Did you mean {suggestions}?"
            raise

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        # The same rows as the loaded commands would give (click shortens each help the same
        # way), from the table: stand-ins carrying only a name and a help.
        stand_ins: dict[str, Any] = {
            name: TyperCommand(name, help=text) for name, (_, text) in COMMANDS.items()
        }
        TyperGroup(name=self.name, commands=stand_ins).format_commands(ctx, formatter)

    def load_all(self) -> LazyCommands:
        """Every command loaded (what a walk over all the commands needs, in tests)."""
        for name in COMMANDS:
            self.get_command(None, name)
        return self


app = typer.Typer(
    name="wallet",
    cls=LazyCommands,
    help="The Monnaie du 3e (M3E) wallet: keys, contacts, payments, bookings, history, and "
    "your private data on the district API (wallet login).",
    epilog=EPILOG,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
)


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


def full_command() -> LazyCommands:
    """The `wallet` click group with every command loaded."""
    root = typer.main.get_command(app)
    assert isinstance(root, LazyCommands)
    return root.load_all()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        typer.echo("\nInterrupted: nothing was changed.", err=True)
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":  # pragma: no cover
    main()
