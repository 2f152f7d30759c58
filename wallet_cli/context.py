"""What every `wallet` command shares: its state, settings, output, errors and the seams tests swap.

The command modules (`wallet_cli/commands/`) import this module and the library modules of
`wallet_cli`, never each other nor `wallet_cli.main`, so imports run one way:
main -> commands -> context -> the rest (an import-linter contract in pyproject.toml).

Start-up matters: only typer and the standard library are imported at the top; httpx, web3,
eth-account and pydantic are imported inside the functions that need them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec

import typer

from wallet_cli.errors import ConfigError, UsageError, WalletError
from wallet_cli.home import resolve_home

if TYPE_CHECKING:
    from wallet_cli.contacts import KnownName
    from wallet_cli.gateway import ChainGateway
    from wallet_cli.rpc import Merchant, Rpc
    from wallet_cli.settings import Settings

P = ParamSpec("P")
ZERO_ADDRESS = ("0x0000000000000000000000000000000000000000 is the zero address: nobody holds its key, "
                "so M3E sent there would be lost and the token refuses it. Check the address with "
                "the person you pay; nothing was sent.")
DEFAULT_TIMEOUT = 60.0

# For commands taking an amount argument: "-1" is then read as the amount (and refused with a
# sentence by parse_amount) instead of click's "No such option: -1".
AMOUNT_ARGUMENTS: dict[str, Any] = {"ignore_unknown_options": True}

SIGN_HELP = (
    "Sign offline: a payment for a merchant's terminal to submit, or a transfer "
    "(`wallet broadcast FILE` sends either); or a message (EIP-191, to sign in on the web page)."
)


def group(app: typer.Typer, name: str, help_text: str) -> typer.Typer:
    """The sub-command group `name` of `app`, created on first use: several command modules add
    to one group (`wallet sign payment|tx|message`) without importing each other."""
    for registered in app.registered_groups:
        if registered.name == name and registered.typer_instance is not None:
            return registered.typer_instance
    sub = typer.Typer(help=help_text, rich_markup_mode=None, no_args_is_help=True)
    app.add_typer(sub, name=name)
    return sub


@dataclass
class State:
    home_override: str | None = None
    flags: dict[str, Any] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return resolve_home(self.home_override)


def state_of(ctx: typer.Context) -> State:
    """The root state (home and flags) set by the `wallet` callback; a bare one in tests."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, State) else State()


# ---------------------------------------------------------------- output and errors


def _print_json(data: dict[str, Any]) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, sort_keys=False))


def emit(as_json: bool, data: dict[str, Any], human: str | Callable[[], None]) -> None:
    """Print the result: one JSON object (`{"ok": true, ...}`) or text for people."""
    if as_json:
        _print_json({"ok": True, **data})
    elif callable(human):
        human()
    else:
        typer.echo(human)


def info(text: str) -> None:
    """A note for the person at the terminal (standard error: never mixes with the output)."""
    typer.echo(text, err=True)


def guarded(func: Callable[P, None]) -> Callable[P, None]:
    """Map WalletError to its exit code with a plain sentence (or a JSON error object)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        as_json = bool(kwargs.get("as_json", False))
        try:
            func(*args, **kwargs)
        except WalletError as exc:
            if as_json:
                error: dict[str, Any] = {"ok": False, "error": exc.kind, "message": exc.message}
                tx_hash = getattr(exc, "tx_hash", None)
                if tx_hash:
                    error["tx_hash"] = tx_hash
                details = getattr(exc, "details", None)
                if isinstance(details, dict):
                    error.update(details)
                _print_json(error)
            typer.secho(f"Error: {exc.message}", err=True, fg=typer.colors.RED)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on standard output.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask to confirm (scripts).")]
AccountOpt = Annotated[
    str | None,
    typer.Option("--account", "-a", help="Which of your accounts (default: env WALLET_ACCOUNT, "
                 "else `account` in config.toml, else the only one)."),
]
PasswordFileOpt = Annotated[
    Path | None,
    typer.Option("--password-file", dir_okay=False,
                 help="Read the password from the first line of this file instead of a prompt."),
]
TimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", min=0.0,
                 help="Seconds to wait for the confirmation; then exit 3 (it may still go through)."),
]
RefOpt = Annotated[str, typer.Option("--ref", help="Payment reference (up to 140 bytes; only a "
                                     "salted commitment to it goes on chain).")]


def complete_account(incomplete: str) -> list[str]:
    from wallet_cli.keystore import Keystore

    try:
        names = Keystore(resolve_home() / "keystore").names()
    except WalletError:
        return []
    return [n for n in names if n.startswith(incomplete)]


AccountArg = Annotated[
    str, typer.Argument(help="Account name.", autocompletion=complete_account, show_default=False)
]


# ------------------------ settings, accounts, chain (tests swap make_rpc, make_gateway, make_http)


def load(ctx: typer.Context) -> Settings:
    from wallet_cli.settings import load_settings

    state = state_of(ctx)
    return load_settings(state.home, state.flags)


def home_of(ctx: typer.Context) -> Path:

    return state_of(ctx).home


def manifest_of(settings: Settings) -> Path:
    if settings.manifest is None:
        raise ConfigError(
            "Where are the district contracts? Give the deployment manifest: --manifest PATH, "
            "env WALLET_MANIFEST or `wallet config set manifest PATH`."
        )
    return settings.manifest


def make_rpc(settings: Settings) -> Rpc:
    from wallet_cli.rpc import Rpc

    return Rpc(settings.rpc_url)


def make_gateway(settings: Settings) -> ChainGateway:
    from wallet_cli.gateway import DistrictGateway

    return DistrictGateway(settings.rpc_url, manifest_of(settings))


def open_keystore(ctx: typer.Context) -> Any:
    from wallet_cli.keystore import Keystore

    return Keystore(home_of(ctx) / "keystore")


def pick_account(ctx: typer.Context, name: str | None) -> tuple[str, str]:
    """(name, address) of one account of this wallet: `name`, else the configured account (env
    WALLET_ACCOUNT or config.toml), else the only one."""
    store = open_keystore(ctx)
    if name is None:
        name = load(ctx).account
    if name is None:
        names = store.names()
        if len(names) != 1:
            known = f" (accounts: {', '.join(names)})" if names else ""
            raise UsageError(f"Which account? Pass --account NAME, or set one for every command "
                             f"with `wallet config set account NAME`{known}.")
        name = names[0]
    return name, str(store.address_of(name))


def unlock(ctx: typer.Context, name: str, password_file: Path | None) -> bytes:
    from wallet_cli.keys import decrypt_keystore
    from wallet_cli.prompting import read_password

    store = open_keystore(ctx)
    password = read_password(password_file, prompt=f"Password of '{name}'")
    return decrypt_keystore(store.load(name), password).private_key


def connect(ctx: typer.Context, account: str | None) -> tuple[str, str, Settings, ChainGateway]:
    """The chosen account (name, address), the settings, and a gateway checked to be on their chain."""
    name, address = pick_account(ctx, account)
    settings = load(ctx)
    gateway = make_gateway(settings)
    check_chain(settings, gateway)
    return name, address, settings, gateway


def check_chain(settings: Settings, gateway: ChainGateway) -> None:
    node = gateway.node_chain_id()
    if gateway.chain_id != settings.chain_id or node != settings.chain_id:
        raise ConfigError(
            f"Chain mismatch: the wallet expects chain {settings.chain_id}, the manifest says "
            f"{gateway.chain_id} and the node at the RPC URL is chain {node}. Nothing was sent."
        )


def confirm(lines: list[str], yes: bool, question: str = "Sign and send?") -> None:
    from wallet_cli.prompting import is_interactive

    if yes:
        return
    for line in lines:
        typer.echo(line, err=True)
    if not is_interactive():
        raise UsageError(no_terminal_to_confirm())
    if not typer.confirm(question, default=False, err=True):
        raise WalletError("Cancelled: nothing was signed.")


def no_terminal_to_confirm() -> str:
    return ("There is no terminal to ask you to confirm the terms above, so nothing was signed: "
            "check them, then run the same command again with --yes to sign them as shown.")


def wait(gateway: ChainGateway, tx_hash: str, timeout: float, what: str) -> dict[str, Any]:
    from wallet_cli.waiting import wait_for_receipt

    return wait_for_receipt(gateway.receipt, tx_hash, timeout=timeout, what=what)


def money(micro: int) -> str:
    from wallet_cli.amounts import format_amount

    return format_amount(micro)


def receipt_json(receipt: dict[str, Any]) -> dict[str, Any]:
    return {"tx_hash": receipt.get("transactionHash"),
            "block": int(str(receipt["blockNumber"]), 16)}


def note(text: str) -> None:
    typer.echo(text, err=True)


def own_accounts(ctx: typer.Context) -> list[KnownName]:
    """This wallet's accounts as names a contact may not resemble."""
    from wallet_cli.contacts import KnownName

    return [KnownName("account", a.name, a.address) for a in open_keystore(ctx).accounts()]


def merchant_names(merchants: list[Merchant]) -> list[KnownName]:
    from wallet_cli.contacts import KnownName

    return [KnownName("merchant", m.name, f"#{m.id}, payout {m.payout}") for m in merchants]


def known_merchants(ctx: typer.Context) -> tuple[list[KnownName], str | None]:
    """The registry's merchants (raw JSON-RPC) when a manifest is configured and the node
    answers; else the merchants this wallet has paid, with a note saying the registry was not
    read."""
    from wallet_cli.contacts import KnownName, SeenPayouts

    seen = [KnownName("merchant", name, f"#{i}, payout {payout}")
            for i, name, payout in SeenPayouts(home_of(ctx)).names() if name]
    settings = load(ctx)
    if settings.manifest is None:
        return seen, ("The merchant registry was not read (no manifest configured): only the "
                      "merchants this wallet has paid were compared.")
    from wallet_cli.settings import service_payments_from_manifest

    try:
        payments = service_payments_from_manifest(settings.manifest)
        with make_rpc(settings) as rpc:
            return merchant_names(rpc.merchants(payments)), None
    except WalletError as exc:
        return seen, (f"The merchant registry could not be read ({exc.message}): only the "
                      "merchants this wallet has paid were compared.")


def recipient(
    ctx: typer.Context, text: str, merchants: list[Merchant] | None = None,
) -> tuple[str, str | None]:
    """An address, one of your accounts, or a contact (offline); ("", None) when not found.

    Your own accounts come first (`alice` is your account even if a contact has that name).
    A contact found by name is refused when it is, or looks like, one of your accounts, another
    contact or (when `merchants` are given) a merchant: it may predate the rule or the merchant.
    """
    from ledger.names import fold
    from wallet_cli.contacts import Contacts, KnownName, refuse_lookalike
    from wallet_cli.names import is_address, looks_like_address, to_checksum_address

    if is_address(text) or looks_like_address(text):
        address = to_checksum_address(text)
        if int(address, 16) == 0:
            raise UsageError(ZERO_ADDRESS)
        return address, None
    store = open_keystore(ctx)
    accounts = store.accounts()
    mine = [a for a in accounts if a.name == text] or [
        a for a in accounts if fold(a.name) == fold(text)]
    if len(mine) == 1:
        return str(store.address_of(mine[0].name)), f"your account '{mine[0].name}'"
    book = Contacts(home_of(ctx))
    found = book.find(text)
    if found is None:
        return "", None
    stored, address = found
    known = [KnownName("account", a.name, a.address) for a in accounts]
    known += [KnownName("contact", n, a) for n, a in book.all().items() if n != stored]
    if merchants is not None:
        known += merchant_names(merchants)
    try:
        refuse_lookalike(stored, known, what="paid or shown as a contact")
    except WalletError as exc:
        raise type(exc)(f"{exc.message} Remove it (`wallet contacts remove`) and save it again "
                        "under another name.") from None
    return to_checksum_address(address), f"contact '{stored}'"


HTTP_CONNECT_TIMEOUT = 3.0
"""Seconds to reach the API: a stopped or wrong host fails fast."""
HTTP_READ_TIMEOUT = 30.0
"""Seconds for an answer: the API may wait for its indexer (a loaded demo took 9 s)."""


def api_url_of(ctx: typer.Context) -> str:
    """The district API's URL by the one rule (flag > env > config.toml > default)."""
    from wallet_cli.session import normalize_api_url

    return str(normalize_api_url(load(ctx).api_url))


def make_http() -> Any:
    import httpx

    return httpx.Client(timeout=httpx.Timeout(HTTP_READ_TIMEOUT, connect=HTTP_CONNECT_TIMEOUT))


def spinner(text: str) -> Any:
    """A spinner on standard error while the API answers (drawn only on a terminal)."""
    from wallet_cli.waiting import Spinner

    return Spinner(text)


def account_address(ctx: typer.Context, account: str | None) -> str:
    """The address `--account` names (an account, a contact or an address), else the configured
    account (env WALLET_ACCOUNT or config.toml), else the wallet's only account."""
    if account is None:
        account = load(ctx).account
    if account is None:
        return pick_account(ctx, None)[1]
    address, _label = recipient(ctx, account)
    if not address:
        raise UsageError(f"'{account}' is not an account, a contact or an address.")
    return address


def session_for(ctx: typer.Context, address: str, api_url: str) -> Any:
    """The kept session of `address` on this API: None when there is none; an ended one
    raises NotSignedInError ("sign in first: wallet login")."""
    from wallet_cli.session import live_session, load_session

    home = home_of(ctx)
    if load_session(home, address, api_url) is None:
        return None
    return live_session(home, address, api_url)


def resolve_token(ctx: typer.Context, token: str | None) -> tuple[str, int]:
    """The token address (flag, settings or manifest) and the chain id of the settings."""
    from wallet_cli.names import to_checksum_address
    from wallet_cli.settings import load_settings, token_from_manifest

    state = state_of(ctx)
    settings = load_settings(state.home, state.flags)
    if token is None:
        token = settings.token
    if token is None and settings.manifest is not None:
        token = token_from_manifest(settings.manifest)
    if token is None:
        raise UsageError(
            "Which token? Give --token ADDRESS, or a deployment manifest (--manifest, env "
            "WALLET_MANIFEST or `wallet config set manifest PATH`)."
        )
    return to_checksum_address(token), settings.chain_id
