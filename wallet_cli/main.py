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

Start-up matters (`wallet --help` <= 0.2 s): this module imports only typer and the standard
library at the top; web3, eth-account, eth-keyfile, segno and pydantic are imported inside the
commands that need them.
"""

from __future__ import annotations

import functools
import json
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ParamSpec

import typer

from wallet_cli import (
    chain_commands,
    data_commands,
    energy_commands,
    reference_commands,
    report_commands,
    session_commands,
    topup_commands,
)
from wallet_cli.errors import (
    EXIT_FAILED,
    ConfigError,
    KeystoreError,
    UsageError,
    WalletError,
)
from wallet_cli.home import resolve_home

EPILOG = (
    "\b\nExit codes:\n"
    "  0  done\n"
    "  1  failed (a sentence says why)\n"
    "  2  usage: called wrongly (bad amount, address, name, URI; no terminal for a secret)\n"
    "  3  submitted but not confirmed in time (it may still go through)\n"
    "\b\nSecrets are never taken from the command line: hidden prompt, standard input when\n"
    "it is not a terminal, or --password-file. Settings: flags, env WALLET_RPC_URL,\n"
    "WALLET_API_URL, WALLET_MANIFEST, WALLET_HOME, or <home>/config.toml."
)

P = ParamSpec("P")

app = typer.Typer(
    name="wallet",
    help="The Monnaie du 3e (M3E) wallet: keys, contacts, payments, bookings, history, and "
    "your private data on the district API (wallet login).",
    epilog=EPILOG,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
)
contacts_app = typer.Typer(
    help="Contacts: names for addresses (a name can never look like an address).",
    rich_markup_mode=None,
    no_args_is_help=True,
)
config_app = typer.Typer(
    help="Settings kept in <home>/config.toml.", rich_markup_mode=None, no_args_is_help=True
)
sign_app = typer.Typer(
    help="Sign offline: a payment for a merchant's terminal to submit, or a transfer "
    "(`wallet broadcast FILE` sends either); or a message (EIP-191, to sign in on the web page).",
    rich_markup_mode=None,
    no_args_is_help=True,
)
app.add_typer(contacts_app, name="contacts")
app.add_typer(config_app, name="config")
app.add_typer(sign_app, name="sign")


@dataclass
class State:
    home_override: str | None = None
    flags: dict[str, Any] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return resolve_home(self.home_override)


def _state(ctx: typer.Context) -> State:
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


# ---------------------------------------------------------------- common options

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON object on standard output.")
]
PasswordFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--password-file",
        help="Read the password from the first line of this file instead of a hidden prompt.",
        dir_okay=False,
    ),
]


def _complete_account(incomplete: str) -> list[str]:
    from wallet_cli.keystore import Keystore

    try:
        names = Keystore(resolve_home() / "keystore").names()
    except WalletError:
        return []
    return [n for n in names if n.startswith(incomplete)]


AccountArg = Annotated[
    str, typer.Argument(help="Account name.", autocompletion=_complete_account, show_default=False)
]


def _keystore(ctx: typer.Context) -> Any:
    from wallet_cli.keystore import Keystore

    return Keystore(_state(ctx).home / "keystore")


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


# ---------------------------------------------------------------- keys


def _backup_positions(word_count: int) -> list[int]:
    """Two distinct word positions (0-based) drawn from the OS random source."""
    return sorted(secrets.SystemRandom().sample(range(word_count), 2))


def _check_backup(mnemonic: str, attempts: int = 3) -> None:
    """Ask for two words picked at random: the mnemonic must have been written down."""
    from wallet_cli.keys import normalize_mnemonic
    from wallet_cli.prompting import visible_prompt

    words = normalize_mnemonic(mnemonic).split()
    positions = _backup_positions(len(words))
    info("To check that you wrote the words down, type two of them.")
    for position in positions:
        for attempt in range(attempts):
            answer = visible_prompt(f"Word #{position + 1}").strip().lower()
            if answer == words[position]:
                break
            left = attempts - attempt - 1
            if left:
                info(f"That is not word #{position + 1}. {left} attempt(s) left.")
        else:
            raise WalletError(
                "The words did not match, so nothing was saved: run `wallet new` again and "
                "write the words down carefully."
            )


@app.command("new")
@guarded
def new(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new account.", show_default=False)],
    words: Annotated[int, typer.Option("--words", help="12 or 24 words.")] = 12,
    password_file: PasswordFileOpt = None,
    no_backup_check: Annotated[
        bool,
        typer.Option(
            "--no-backup-check",
            help="Do not ask for two words of the mnemonic (for scripts without a terminal).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create an account: a BIP-39 mnemonic shown once, and an encrypted keystore.

    The mnemonic is the only backup: write it on paper. It is shown once and never stored;
    the keystore keeps the key of m/44'/60'/0'/0/0 encrypted with your password.
    """
    from wallet_cli.names import check_account_name
    from wallet_cli.prompting import is_interactive

    check_account_name(name)
    store = _keystore(ctx)
    if store.exists(name):
        raise KeystoreError(f"An account named '{name}' exists already: choose another name.")
    if words not in (12, 24):
        raise UsageError("A new mnemonic has 12 or 24 words.")
    interactive = is_interactive()
    if not no_backup_check and not interactive:
        raise UsageError(
            "There is no terminal to check that the mnemonic was written down: run this in a "
            "terminal, or pass --no-backup-check (scripts) and keep the mnemonic it prints."
        )
    if password_file is None and not interactive:
        raise UsageError(
            "There is no terminal to ask for the password: give it with --password-file PATH."
        )

    from wallet_cli.keys import encrypt_key, key_from_mnemonic, new_mnemonic
    from wallet_cli.prompting import read_password

    mnemonic = new_mnemonic(words)
    derived = key_from_mnemonic(mnemonic, 0)
    if not no_backup_check:
        info("")
        info("Your recovery words (the only backup of this account). Write them on paper,")
        info("in order, and keep them safe. They will not be shown again.")
        info("")
        for i, word in enumerate(mnemonic.split(), start=1):
            info(f"  {i:2d}. {word}")
        info("")
        _check_backup(mnemonic)
    password = read_password(password_file, prompt="New password", new=True)
    keystore = encrypt_key(derived.private_key, password, path=derived.path)
    file = store.save(name, keystore, password)
    data: dict[str, Any] = {
        "name": name,
        "address": derived.address,
        "path": derived.path,
        "keystore": str(file),
    }
    lines = [f"Created '{name}': {derived.address} ({derived.path})", f"Keystore: {file}"]
    if no_backup_check:
        data["mnemonic"] = mnemonic
        lines.insert(0, f"Recovery words (write them down, shown once): {mnemonic}")
    emit(as_json, data, "\n".join(lines))


@app.command("import")
@guarded
def import_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name for the imported account.", show_default=False)],
    mnemonic: Annotated[
        bool, typer.Option("--mnemonic", help="Import from BIP-39 words (prompt or stdin).")
    ] = False,
    index: Annotated[
        int, typer.Option("--index", help="With --mnemonic: account m/44'/60'/0'/0/INDEX.", min=0)
    ] = 0,
    keystore_file: Annotated[
        Path | None,
        typer.Option(
            "--keystore",
            help="Import a Web3 Secret Storage keystore file made by another tool (geth, "
            "ethers.js, cast...); it is re-encrypted here with the same password.",
            dir_okay=False,
        ),
    ] = None,
    private_key: Annotated[
        bool, typer.Option("--private-key", help="Import a raw private key (prompt or stdin).")
    ] = False,
    bip39_passphrase: Annotated[
        bool,
        typer.Option(
            "--bip39-passphrase",
            help="With --mnemonic: the words are protected by a BIP-39 passphrase (the '25th "
            "word'); it is asked on the terminal.",
        ),
    ] = False,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import an account from a mnemonic, a keystore file or a private key.

    The mnemonic or key is read from a hidden prompt, or from standard input when it is not a
    terminal (then the password must come from --password-file).
    """
    from wallet_cli.names import check_account_name
    from wallet_cli.prompting import is_interactive

    check_account_name(name)
    sources = [mnemonic, keystore_file is not None, private_key]
    if sum(sources) != 1:
        raise UsageError("Say what to import: exactly one of --mnemonic, --keystore FILE, "
                         "--private-key.")
    if (index or bip39_passphrase) and not mnemonic:
        raise UsageError("--index and --bip39-passphrase go with --mnemonic.")
    store = _keystore(ctx)
    if store.exists(name):
        raise KeystoreError(f"An account named '{name}' exists already: choose another name.")
    if password_file is None and not is_interactive():
        raise UsageError(
            "There is no terminal to ask for the password: give it with --password-file PATH."
        )

    from wallet_cli import keys
    from wallet_cli.prompting import read_password, read_secret

    if keystore_file is not None:
        try:
            source = json.loads(keystore_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(f"The keystore file {keystore_file} does not exist.") from None
        except (OSError, json.JSONDecodeError) as exc:
            message = f"The keystore file {keystore_file} cannot be read: {exc}."
            raise KeystoreError(message) from exc
        keys.check_keystore_shape(source)
        password = read_password(password_file, prompt="Password of the keystore file")
        derived = keys.decrypt_keystore(source, password)
        origin = f"keystore {keystore_file.name} ({keys.kdf_summary(source)})"
    elif mnemonic:
        words = read_secret("recovery words (mnemonic)")
        passphrase = ""
        if bip39_passphrase:
            from wallet_cli.prompting import hidden_prompt, require_terminal

            require_terminal("the BIP-39 passphrase", "run the import in a terminal")
            passphrase = hidden_prompt("BIP-39 passphrase (not shown)")
        derived = keys.key_from_mnemonic(words, index, passphrase)
        origin = "mnemonic"
        if password_file is None:
            info(f"Derived {derived.address} at {derived.path}")
        password = read_password(password_file, prompt="New password", new=True)
    else:
        raw_key = keys.parse_private_key(read_secret("private key"))
        derived = keys.DerivedKey(raw_key, keys.address_of(raw_key))
        origin = "private key"
        if password_file is None:
            info(f"Address {derived.address}")
        password = read_password(password_file, prompt="New password", new=True)
    existing = store.find_by_address(derived.address)
    if existing is not None:
        raise KeystoreError(f"This key is already in the wallet as '{existing}'.")
    keystore = keys.encrypt_key(derived.private_key, password, path=derived.path)
    file = store.save(name, keystore, password)
    data = {
        "name": name,
        "address": derived.address,
        "path": derived.path,
        "source": "keystore" if keystore_file is not None else origin.replace(" ", "-"),
        "keystore": str(file),
    }
    where = f" ({derived.path})" if derived.path else ""
    emit(
        as_json,
        data,
        f"Imported '{name}' from {origin}: {derived.address}{where}\nKeystore: {file}",
    )


@app.command("list")
@guarded
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the accounts of this wallet (no password needed)."""
    store = _keystore(ctx)
    accounts = store.accounts()

    def human() -> None:
        if not accounts:
            typer.echo(f"No accounts yet in {store.directory}. Create one with `wallet new NAME`.")
            return
        width = max(len(a.name) for a in accounts)
        for account in accounts:
            path = f"  {account.path}" if account.path else ""
            typer.echo(f"{account.name:<{width}}  {account.address}{path}")

    emit(
        as_json,
        {"keystore": str(store.directory), "accounts": [a.as_json() for a in accounts]},
        human,
    )


@app.command("address")
@guarded
def address(ctx: typer.Context, name: AccountArg, as_json: JsonOpt = False) -> None:
    """Print the address of one account."""
    info_ = _keystore(ctx).info(name)
    emit(as_json, {"name": name, "address": info_.address}, info_.address)


@app.command("export")
@guarded
def export(
    ctx: typer.Context,
    name: AccountArg,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the keystore to this file (0600) instead of stdout.",
                     dir_okay=False),
    ] = None,
    unsafe_show_private_key: Annotated[
        bool,
        typer.Option(
            "--unsafe-show-private-key",
            help="UNSAFE: print the raw private key (asks for the password and a typed "
            "confirmation). Anyone who sees it can take all the money.",
        ),
    ] = False,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export an account's encrypted keystore (Web3 Secret Storage JSON).

    The keystore stays encrypted with your password and can be imported by geth, ethers.js,
    cast or MetaMask. The raw key is shown only with --unsafe-show-private-key.
    """
    store = _keystore(ctx)
    keystore = store.load(name)
    account = store.info(name)
    if unsafe_show_private_key:
        from wallet_cli.keys import decrypt_keystore
        from wallet_cli.prompting import read_password, require_terminal, visible_prompt

        require_terminal("the confirmation", "showing a raw private key needs a person present")
        password = read_password(password_file, prompt=f"Password of '{name}'")
        derived = decrypt_keystore(keystore, password)
        info("Anyone who sees the private key can spend everything on this account.")
        answer = visible_prompt(f"Type the account name '{name}' to show its private key")
        if answer.strip() != name:
            raise WalletError("The confirmation did not match: nothing was shown.")
        key_hex = "0x" + derived.private_key.hex()
        emit(as_json, {"name": name, "address": derived.address, "private_key": key_hex}, key_hex)
        return
    text = json.dumps(keystore, indent=2) + "\n"
    if out is not None:
        from wallet_cli.home import atomic_write

        atomic_write(out, text.encode(), overwrite=False)
        emit(
            as_json,
            {"name": name, "address": account.address, "file": str(out)},
            f"Wrote the keystore of '{name}' ({account.address}) to {out}",
        )
        return
    if as_json:
        emit(True, {"name": name, "address": account.address, "keystore": keystore}, "")
    else:
        typer.echo(text, nl=False)


@app.command("passwd")
@guarded
def passwd(
    ctx: typer.Context,
    name: AccountArg,
    password_file: PasswordFileOpt = None,
    new_password_file: Annotated[
        Path | None,
        typer.Option("--new-password-file", help="Read the new password from this file.",
                     dir_okay=False),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change the password of an account's keystore (the key and address stay the same)."""
    from wallet_cli.keys import decrypt_keystore, encrypt_key
    from wallet_cli.prompting import read_password

    store = _keystore(ctx)
    keystore = store.load(name)
    old = read_password(password_file, prompt=f"Current password of '{name}'")
    derived = decrypt_keystore(keystore, old)
    new_password = read_password(new_password_file, prompt="New password", new=True)
    updated = encrypt_key(derived.private_key, new_password, path=derived.path)
    file = store.save(name, updated, new_password, overwrite=True)
    emit(
        as_json,
        {"name": name, "address": derived.address, "keystore": str(file)},
        f"Changed the password of '{name}' ({derived.address}).",
    )


# ---------------------------------------------------------------- contacts


@contacts_app.command("add")
@guarded
def contacts_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Contact name (never address-like).")],
    address_: Annotated[str, typer.Argument(metavar="ADDRESS", help="0x address.")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace an existing contact.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a contact: a name you can pay instead of an address.

    Refused when the name is, or looks like, one of your accounts, another contact or a
    merchant of the registry (case, accents and Unicode look-alikes are folded).
    """
    from wallet_cli.contacts import Contacts

    home = _state(ctx).home
    book = Contacts(home)
    merchants, registry_note = chain_commands.known_merchants(ctx)
    clean, checksummed = book.add(name, address_, replace=replace,
                                  accounts=chain_commands.own_accounts(ctx), merchants=merchants)
    others = [n for n in book.names_for(checksummed) if n != clean]
    if others and not as_json:
        info(f"Note: this address is also saved as {', '.join(others)}.")
    if registry_note and not as_json:
        info(f"Note: {registry_note}")
    emit(
        as_json,
        {"name": clean, "address": checksummed, "also_saved_as": others,
         "registry_note": registry_note},
        f"Saved contact '{clean}': {checksummed}",
    )


@contacts_app.command("list")
@guarded
def contacts_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List contacts."""
    from wallet_cli.contacts import Contacts

    entries = Contacts(_state(ctx).home).all()

    def human() -> None:
        if not entries:
            typer.echo("No contacts yet. Add one with `wallet contacts add NAME ADDRESS`.")
            return
        width = max(len(n) for n in entries)
        for contact_name, contact_address in entries.items():
            typer.echo(f"{contact_name:<{width}}  {contact_address}")

    emit(
        as_json,
        {"contacts": [{"name": n, "address": a} for n, a in entries.items()]},
        human,
    )


@contacts_app.command("remove")
@guarded
def contacts_remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Contact name.")],
    as_json: JsonOpt = False,
) -> None:
    """Remove a contact."""
    from wallet_cli.contacts import Contacts

    removed, removed_address = Contacts(_state(ctx).home).remove(name)
    emit(
        as_json,
        {"name": removed, "address": removed_address},
        f"Removed contact '{removed}' ({removed_address}).",
    )


# ---------------------------------------------------------------- payment requests


def _resolve_recipient(ctx: typer.Context, target: str | None) -> tuple[str, str | None]:
    """An address, or the name of an account of this wallet; with one account, that one."""
    from wallet_cli.names import is_address, looks_like_address, to_checksum_address

    store = _keystore(ctx)
    if target is None:
        names = store.names()
        if len(names) != 1:
            raise UsageError("Say who is paid: --to ADDRESS or --to ACCOUNT.")
        return str(store.address_of(names[0])), names[0]
    if is_address(target) or looks_like_address(target):
        return to_checksum_address(target), None
    return str(store.address_of(target)), target


def _resolve_token(ctx: typer.Context, token: str | None) -> tuple[str, int]:
    from wallet_cli.names import to_checksum_address
    from wallet_cli.settings import load_settings, token_from_manifest

    state = _state(ctx)
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


@app.command("request")
@guarded
def request(
    ctx: typer.Context,
    amount: Annotated[str, typer.Argument(help='Amount in M3E, for example "12.50".')],
    ref: Annotated[
        str | None,
        typer.Option("--ref", help="Payment reference (up to 140 bytes), e.g. an invoice number; "
                     "the URI carries it with a fresh salt, the chain only their commitment."),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Who is paid: an address or one of your account names.",
                     autocompletion=_complete_account),
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="Token address (default: from the manifest).")
    ] = None,
    no_qr: Annotated[bool, typer.Option("--no-qr", help="Do not draw the QR code.")] = False,
    qr_file: Annotated[
        Path | None,
        typer.Option("--qr-file", help="Also save the QR code (.png or .svg).", dir_okay=False),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask for a payment: prints an ERC-681 URI and its QR code for the payer's wallet.

    With --ref, the URI also carries a salt drawn for this request (`refsalt`): the payer's
    wallet sends only the commitment to the reference, and this wallet keeps the reference and
    salt (<home>/references.json) to show the reference in `wallet history`.
    """
    from wallet_cli.amounts import format_amount, parse_amount
    from wallet_cli.payment_uri import build_payment_uri, parse_payment_uri

    micro = parse_amount(amount)
    recipient, account = _resolve_recipient(ctx, to)
    token_address, chain_id = _resolve_token(ctx, token)
    salt = None
    if ref is not None:
        from wallet_cli.references import check_reference, commit

        salt = commit(check_reference(ref)).salt
    uri = build_payment_uri(token_address, recipient, micro, ref=ref, chain_id=chain_id,
                            ref_salt=salt)
    parsed = parse_payment_uri(uri, expected_token=token_address, expected_chain_id=chain_id)
    if ref is not None and salt is not None:
        from wallet_cli.references import ReferenceBook, commit

        ReferenceBook(_state(ctx).home).remember(commit(ref, salt), "requested",
                                                 amount=str(micro), to=recipient)
    if qr_file is not None:
        from wallet_cli.request_qr import save_qr

        save_qr(uri, qr_file)
    data = {"uri": uri, **parsed.as_json(), "account": account}
    if qr_file is not None:
        data["qr_file"] = str(qr_file)

    def human() -> None:
        who = f"{account} ({recipient})" if account else recipient
        typer.echo(f"Request: {format_amount(micro)} to {who}" + (f", ref {ref}" if ref else ""))
        if ref:
            typer.echo("The URI carries the reference and its salt: give it to the payer only "
                       "(the chain will show just their commitment).")
        typer.echo(uri)
        if not no_qr:
            import segno

            segno.make(uri, error="m").terminal(out=sys.stdout, compact=True)

    emit(as_json, data, human)


@app.command("check-uri")
@guarded
def check_uri(
    ctx: typer.Context,
    uri: Annotated[str, typer.Argument(help="An ethereum: payment request (ERC-681).")],
    token: Annotated[
        str | None, typer.Option("--token", help="Expected token (default: from the manifest).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Read a payment request and say what it asks for (nothing is paid)."""
    from wallet_cli.amounts import format_amount
    from wallet_cli.payment_uri import parse_payment_uri

    token_address, chain_id = _resolve_token(ctx, token)
    parsed = parse_payment_uri(uri, expected_token=token_address, expected_chain_id=chain_id)
    ref = f", ref {parsed.ref}" if parsed.ref else ""
    if parsed.ref and parsed.ref_salt:
        ref += " (with its salt: the chain gets only their commitment)"
    emit(
        as_json,
        parsed.as_json(),
        f"Pay {format_amount(parsed.amount)} to {parsed.to}{ref} (chain {parsed.chain_id})",
    )


# ---------------------------------------------------------------- offline signing


def _parse_deadline(text: str, now: int) -> int:
    """A unix time, or a duration from now: 90s, 30m, 2h, 1d."""
    value = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if value[-1:] in units and value[:-1].isascii() and value[:-1].isdigit():
        return now + int(value[:-1]) * units[value[-1]]
    if value.isascii() and value.isdigit() and int(value) > now:
        return int(value)
    raise UsageError(
        f"'{text}' is not a deadline: give a duration (30m, 2h, 1d) or a future unix time."
    )


def _resolve_contracts(
    ctx: typer.Context, token: str | None, service_payments: str | None
) -> tuple[str, str, int]:
    from wallet_cli.names import to_checksum_address
    from wallet_cli.settings import (
        load_settings,
        manifest_chain_id,
        service_payments_from_manifest,
        token_from_manifest,
    )

    state = _state(ctx)
    settings = load_settings(state.home, state.flags)
    token = token or settings.token
    manifest = settings.manifest
    if manifest is not None:
        recorded = manifest_chain_id(manifest)
        if recorded is not None and recorded != settings.chain_id:
            raise ConfigError(
                f"The manifest {manifest} is for chain {recorded}, not {settings.chain_id}."
            )
        token = token or token_from_manifest(manifest)
        service_payments = service_payments or service_payments_from_manifest(manifest)
    if token is None or service_payments is None:
        raise UsageError(
            "Which contracts? Give --token and --service-payments, or a deployment manifest "
            "(--manifest, env WALLET_MANIFEST or `wallet config set manifest PATH`)."
        )
    return to_checksum_address(token), to_checksum_address(service_payments), settings.chain_id


@sign_app.command("payment")
@guarded
def sign_payment_cmd(
    ctx: typer.Context,
    name: AccountArg,
    merchant_id: Annotated[
        int, typer.Option("--merchant-id", help="The merchant's id in the registry.", min=1)
    ],
    amount: Annotated[str, typer.Option("--amount", help='Amount in M3E, e.g. "12.50".')],
    out: Annotated[
        Path, typer.Option("--out", help="File to write (0600, never overwritten).",
                           dir_okay=False)
    ],
    payout: Annotated[
        str | None,
        typer.Option("--payout", help="The merchant's payout address, which the signature binds "
                     "(offline: you say it, e.g. from the merchant's payment request). Default: "
                     "read from the chain."),
    ] = None,
    ref: Annotated[
        str | None, typer.Option("--ref", help="Payment reference (up to 140 bytes; the file "
                                 "and the chain carry only a salted commitment to it).")
    ] = None,
    deadline: Annotated[
        str, typer.Option("--deadline", help="Until when it may be submitted: 30m, 2h, 1d or "
                          "a unix time.")
    ] = "1h",
    valid_after: Annotated[
        int, typer.Option("--valid-after", help="Not before this unix time (default: at once).",
                          min=0)
    ] = 0,
    token: Annotated[str | None, typer.Option("--token", help="Token address.")] = None,
    service_payments: Annotated[
        str | None, typer.Option("--service-payments", help="ServicePayments address.")
    ] = None,
    domain_name: Annotated[
        str, typer.Option("--token-name", help="The token's EIP-712 domain name.")
    ] = "Monnaie du 3e",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask to confirm.")] = False,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign a payment offline (an ERC-3009 authorization) into a file for a merchant's terminal.

    The signature binds the merchant, its payout address, the amount, the reference and the
    validity window, with a fresh random nonce: whoever holds the file can submit it once,
    exactly as signed. `wallet cancel FILE` withdraws it while it is unused.
    """
    import time

    from wallet_cli.amounts import format_amount, parse_amount
    from wallet_cli.names import is_address, to_checksum_address
    from wallet_cli.prompting import is_interactive
    from wallet_cli.references import check_reference, commit

    micro = parse_amount(amount)
    committed = commit(check_reference(ref)) if ref else None
    ref_bytes = committed.commitment if committed else bytes(32)
    expires = _parse_deadline(deadline, int(time.time()))
    if valid_after >= expires:
        raise UsageError("--valid-after must come before the deadline.")
    token_address, payments_address, chain_id = _resolve_contracts(ctx, token, service_payments)
    if out.exists():
        raise UsageError(f"{out} exists already: choose another file.")
    store = _keystore(ctx)
    payer = store.address_of(name)
    if payout is None:
        payout = _fetch_payout(ctx, payments_address, merchant_id)
    elif not is_address(payout):
        raise UsageError(f"'{payout}' is not an address: give the merchant's payout address (0x...).")
    payout = to_checksum_address(payout)
    if not yes:
        if not is_interactive():
            raise UsageError("There is no terminal to confirm: check the terms and pass --yes.")
        info(f"Pay {format_amount(micro)} to merchant #{merchant_id} (payout {payout})"
             + (f", ref {ref}" if ref else ""))
        info(f"From {name} ({payer}) on chain {chain_id}, valid until "
             f"{time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime(expires))}")
        if not typer.confirm("Sign?", default=False, err=True):
            raise WalletError("Not signed.")

    from ledger.chain.typed_data import random_nonce
    from wallet_cli.home import atomic_write
    from wallet_cli.keys import decrypt_keystore
    from wallet_cli.prompting import read_password
    from wallet_cli.signing import PaymentTerms, sign_payment

    terms = PaymentTerms(
        token=token_address, service_payments=payments_address, chain_id=chain_id,
        payer=payer, merchant_id=merchant_id, payout=payout, amount=micro, ref=ref_bytes,
        valid_after=valid_after, valid_before=expires, payer_nonce=random_nonce(),
        token_name=domain_name,
    )
    password = read_password(password_file, prompt=f"Password of '{name}'")
    derived = decrypt_keystore(store.load(name), password)
    signed = sign_payment(derived.private_key, terms)
    if committed is not None:
        from wallet_cli.references import ReferenceBook

        ReferenceBook(_state(ctx).home).remember(committed, "signed", merchant_id=merchant_id,
                                                 amount=str(micro), payer=payer)
    document = signed.to_json()
    atomic_write(out, (json.dumps(document, indent=2) + "\n").encode(), overwrite=False)
    emit(
        as_json,
        {"file": str(out), **document},
        f"Signed {format_amount(micro)} to merchant #{merchant_id} from {payer}: {out}",
    )


def _fetch_payout(ctx: typer.Context, payments: str, merchant_id: int) -> str:
    """The merchant's payout address from the chain (raw JSON-RPC); offline, say --payout."""
    from wallet_cli.errors import ChainError
    from wallet_cli.settings import load_settings

    state = _state(ctx)
    settings = load_settings(state.home, state.flags)
    try:
        with chain_commands.make_rpc(settings) as rpc:
            if not 1 <= merchant_id <= rpc.merchant_count(payments):
                raise UsageError(f"No merchant has the id {merchant_id}.")
            return rpc.merchant(payments, merchant_id).payout
    except ChainError as exc:
        raise UsageError(
            f"{exc.message} Offline, give the merchant's payout address with --payout 0x..."
        ) from exc


@sign_app.command("check")
@guarded
def sign_check(
    file: Annotated[Path, typer.Argument(help="A signed payment file.", dir_okay=False)],
    as_json: JsonOpt = False,
) -> None:
    """Check a signed payment file offline: the signature is the payer's, and its terms."""
    from wallet_cli.amounts import format_amount
    from wallet_cli.home import read_document
    from wallet_cli.payment_uri import bytes32_to_ref
    from wallet_cli.signing import load_signed_payment

    signed = load_signed_payment(read_document(file, "a signed payment file"))
    t = signed.terms
    emit(
        as_json,
        {"valid": True, **signed.to_json(), "args": signed.pay_with_authorization_args()},
        f"Valid: {t.payer} pays {format_amount(t.amount)} to merchant #{t.merchant_id} "
        f"(payout {t.payout}), ref {bytes32_to_ref(t.ref)}, valid {t.valid_after} to "
        f"{t.valid_before}, nonce 0x{t.nonce.hex()}, chain {t.chain_id}",
    )


# ---------------------------------------------------------------- settings


@config_app.command("show")
@guarded
def config_show(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show the settings in effect (flags > env WALLET_* > config.toml > defaults)."""
    from wallet_cli.settings import load_settings

    state = _state(ctx)
    settings = load_settings(state.home, state.flags)
    data = {"home": str(state.home), **settings.as_json()}
    emit(as_json, data, "\n".join(f"{k} = {v}" for k, v in data.items()))


@config_app.command("set")
@guarded
def config_set(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="rpc_url, api_url, manifest or token.")],
    value: Annotated[str, typer.Argument(help="The value.")],
    as_json: JsonOpt = False,
) -> None:
    """Set a setting in <home>/config.toml."""
    from wallet_cli.home import ensure_private_dir
    from wallet_cli.settings import CONFIG_KEYS, write_config_value

    if key not in CONFIG_KEYS:
        raise ConfigError(f"Unknown setting '{key}' (known: {', '.join(CONFIG_KEYS)}).")
    home = ensure_private_dir(_state(ctx).home)
    write_config_value(home, key, value)
    emit(as_json, {"key": key, "value": value}, f"{key} = {value}")


@config_app.command("unset")
@guarded
def config_unset(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="rpc_url, api_url, manifest or token.")],
    as_json: JsonOpt = False,
) -> None:
    """Remove a setting from <home>/config.toml (back to env or default)."""
    from wallet_cli.settings import write_config_value

    write_config_value(_state(ctx).home, key, None)
    emit(as_json, {"key": key}, f"{key} removed")


chain_commands.register(app, sign_app)
report_commands.register(app)
energy_commands.register(app)
session_commands.register(app, sign_app)
reference_commands.register(app)
topup_commands.register(app)
data_commands.register(app)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        typer.echo("\nInterrupted: nothing was changed.", err=True)
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":  # pragma: no cover
    main()
