"""CLI conventions: help with exit codes, --json everywhere, exit-code mapping, settings,
payment requests with a QR code, lazy imports."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from ledger.chain.reference import reference_commitment
from wallet_cli import keys
from wallet_cli.context import guarded
from wallet_cli.errors import (
    EXIT_NOT_CONFIRMED,
    ChainError,
    NotConfirmedError,
    UsageError,
    WalletError,
)
from wallet_cli.main import COMMANDS, app, full_command, registered_app
from wallet_cli.payment_uri import parse_payment_uri

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
MERCHANT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    wallet_home = tmp_path / "wallet-home"
    monkeypatch.setenv("WALLET_HOME", str(wallet_home))
    for var in ("WALLET_RPC_URL", "WALLET_API_URL", "WALLET_MANIFEST", "WALLET_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(keys, "SCRYPT_N", 2**10)
    return wallet_home


def run_json(*args: str, input: str | None = None) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"], input=input)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_help_documents_the_exit_codes_and_where_secrets_come_from() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for line in ("0  done", "1  failed", "2  usage", "3  submitted but not confirmed in time"):
        assert line in result.stdout
    assert "--password-file" in result.stdout
    assert "--install-completion" in result.stdout  # Typer's shell completion


def test_the_module_docstring_documents_the_exit_codes_too() -> None:
    import wallet_cli.main

    doc = wallet_cli.main.__doc__ or ""
    assert "3  submitted but not confirmed in time" in doc


def test_every_command_takes_json() -> None:
    root = full_command()

    def leaves(command: Any, prefix: str = "") -> list[tuple[str, Any]]:
        subs = getattr(command, "commands", None)
        if not subs:
            return [(prefix, command)]
        found: list[tuple[str, Any]] = []
        for name, sub in subs.items():
            found += leaves(sub, f"{prefix} {name}".strip())
        return found

    commands = leaves(root)
    assert len(commands) >= 12
    for name, command in commands:
        options = {opt for param in command.params for opt in param.opts}
        assert "--json" in options, name


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (WalletError("failed"), 1),
        (ChainError("the chain said no"), 1),
        (UsageError("called wrongly"), 2),
        (NotConfirmedError("not confirmed in time", "0xabc"), EXIT_NOT_CONFIRMED),
    ],
)
def test_errors_map_to_their_exit_code_with_a_sentence_or_a_json_object(
    error: WalletError, code: int
) -> None:
    probe = typer.Typer()

    @probe.command()
    @guarded
    def fail(as_json: bool = typer.Option(False, "--json")) -> None:
        raise error

    human = runner.invoke(probe, [])
    assert human.exit_code == code
    assert human.stderr.strip() == f"Error: {error.message}"
    assert human.stdout == ""
    machine = runner.invoke(probe, ["--json"])
    assert machine.exit_code == code
    data = json.loads(machine.stdout)
    assert data["ok"] is False and data["error"] == type(error).__name__
    assert data["message"] == error.message
    if isinstance(error, NotConfirmedError):
        assert data["tx_hash"] == "0xabc"


def test_click_usage_errors_exit_2() -> None:
    assert runner.invoke(app, ["contacts", "add"]).exit_code == 2
    assert runner.invoke(app, ["no-such-command"]).exit_code == 2


# ---------------------------------------------------------------- settings


def test_settings_come_from_flags_then_env_then_config_file_then_defaults(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defaults = run_json("config", "show")
    assert defaults["rpc_url"] == "http://127.0.0.1:8545"
    assert defaults["chain_id"] == 69003
    assert defaults["home"] == str(home)
    run_json("config", "set", "rpc_url", "http://from-file:8545")
    run_json("config", "set", "api_url", "http://api-from-file")
    assert run_json("config", "show")["rpc_url"] == "http://from-file:8545"
    monkeypatch.setenv("WALLET_RPC_URL", "http://from-env:8545")
    assert run_json("config", "show")["rpc_url"] == "http://from-env:8545"
    flagged = run_json("--rpc-url", "http://from-flag:8545", "config", "show")
    assert flagged["rpc_url"] == "http://from-flag:8545"
    assert flagged["api_url"] == "http://api-from-file"
    run_json("config", "unset", "api_url")
    assert run_json("config", "show")["api_url"] == "http://127.0.0.1:8000"
    assert (home / "config.toml").stat().st_mode & 0o077 == 0


def test_unknown_settings_are_refused(home: Path) -> None:
    assert runner.invoke(app, ["config", "set", "colour", "blue"]).exit_code == 1
    assert not home.exists()
    home.mkdir(mode=0o700)
    (home / "config.toml").write_text('colour = "blue"\n')
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 1 and "unknown keys: colour" in result.stderr


def test_the_home_flag_overrides_the_environment(home: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    data = run_json("--home", str(other), "config", "show")
    assert data["home"] == str(other)


# ---------------------------------------------------------------- payment requests


def test_request_prints_an_erc681_uri_with_the_reference_and_a_qr_code(home: Path) -> None:
    result = runner.invoke(app, ["request", "12.50", "--ref", "INV-42", "--to", MERCHANT,
                                 "--token", TOKEN])
    assert result.exit_code == 0, result.output
    uri = f"ethereum:{TOKEN}@69003/transfer?address={MERCHANT}&uint256=12500000&ref=INV-42"
    assert uri in result.stdout
    assert "12.50 M3E" in result.stdout
    assert "█" in result.stdout or "▀" in result.stdout  # the QR code, drawn in the terminal


def test_request_json_carries_the_uri_and_what_it_decodes_to(home: Path) -> None:
    data = run_json("request", "0.125", "--ref", "Café", "--to", MERCHANT, "--token", TOKEN)
    parsed = parse_payment_uri(data["uri"], expected_token=TOKEN)
    assert parsed.amount == 125_000 and parsed.ref == "Café"
    assert data["amount"] == "125000" and data["amount_display"] == "0.125000 M3E"
    assert parsed.ref_salt is not None and data["ref_salt"] == "0x" + parsed.ref_salt.hex()
    # what goes on chain: the salted commitment, never the text
    assert data["ref_bytes32"] == "0x" + reference_commitment("Café", parsed.ref_salt).hex()


def test_request_to_an_account_name_and_the_token_from_the_manifest(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = tmp_path / "pw"
    password.write_text("merchant password\n")
    run_json("import", "bakery", "--private-key", "--password-file", str(password),
             input=KEY_1)
    manifest = tmp_path / "deploy.json"
    manifest.write_text(json.dumps({"chainId": 69003,
                                    "contracts": {"DistrictToken": {"address": TOKEN}}}))
    monkeypatch.setenv("WALLET_MANIFEST", str(manifest))
    data = run_json("request", "3", "--ref", "R1")  # the only account is the recipient
    assert data["to"] == MERCHANT and data["account"] == "bakery" and data["token"] == TOKEN
    qr = tmp_path / "qr.png"
    run_json("request", "3", "--to", "bakery", "--qr-file", str(qr))
    assert qr.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["request", "12,50", "--to", MERCHANT, "--token", TOKEN], "use a dot"),
        (["request", "0", "--to", MERCHANT, "--token", TOKEN], "more than zero"),
        (["request", "1", "--to", "0x1234", "--token", TOKEN], "not an address"),
        (["request", "1", "--to", MERCHANT], "Which token?"),
        (["request", "1", "--to", MERCHANT, "--token", TOKEN, "--ref", "x" * 141], "140 bytes"),
    ],
)
def test_bad_requests_are_usage_errors(home: Path, args: list[str], fragment: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr


def test_check_uri_reads_a_request_and_refuses_another_chain(home: Path) -> None:
    uri = f"ethereum:{TOKEN}@69003/transfer?address={MERCHANT}&uint256=1.25e7&ref=A"
    data = run_json("check-uri", uri, "--token", TOKEN)
    assert data["amount_display"] == "12.50 M3E" and data["ref"] == "A"
    other = runner.invoke(app, ["check-uri", uri.replace("@69003", "@1"), "--token", TOKEN])
    assert other.exit_code == 2 and "not the district chain" in other.stderr


# ---------------------------------------------------------------- start-up


def test_the_cli_entry_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['wallet', '--help']\n"
        "from wallet_cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ['web3', 'eth_account', 'eth_keyfile', 'segno', 'pydantic', 'rich']\n"
        "print('HEAVY:' + ','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "HEAVY:"


def test_help_lists_every_command_without_importing_one() -> None:
    """`wallet --help` reads the table: no command module is imported, no parameter built."""
    code = (
        "import sys\n"
        "sys.argv = ['wallet', '--help']\n"
        "from wallet_cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('wallet_cli.commands.'))\n"
        "print('LOADED:' + ','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "LOADED:"
    listed = [line.split()[0] for line in lines if line.startswith("  ") and line.split()]
    assert [name for name in listed if name in COMMANDS] == list(COMMANDS)


def test_the_command_table_is_what_the_modules_register() -> None:
    """Each name of COMMANDS is registered by exactly its modules, with that help: a command
    added to a module without its line in the table (or a help changed in one place only) fails
    here with the line to write."""
    import wallet_cli.commands

    modules = sorted(info.name for info in pkgutil.iter_modules(wallet_cli.commands.__path__))
    assert len(modules) >= 8
    registered: dict[str, tuple[tuple[str, ...], str]] = {}
    for module in modules:
        group = typer.main.get_group(registered_app((module,)))
        for name, command in group.commands.items():
            help_text = command.help or ""
            end = help_text.find("\n\n")
            first = " ".join((help_text if end == -1 else help_text[:end]).split())
            owners, _ = registered.get(name, ((), first))
            registered[name] = ((*owners, module), first)
    expected = {name: (tuple(owners), text) for name, (owners, text) in registered.items()}
    for name, (owners, text) in expected.items():
        assert name in COMMANDS, f"add to COMMANDS in wallet_cli/main.py: {name!r}: ({owners!r}, {text!r})"
        assert set(COMMANDS[name][0]) == set(owners), name
        assert COMMANDS[name][1] == text, f"{name}: the help's first paragraph is now {text!r}"
    assert set(COMMANDS) == set(expected)


def test_lazy_help_is_the_help_of_the_loaded_commands() -> None:
    """The listing from the table reads exactly as click lists the loaded commands."""
    root = full_command()
    loaded = typer.core.TyperGroup(name="wallet", commands=dict(root.commands))
    ctx = root.make_context("wallet", ["--help"], resilient_parsing=True)
    from_table, from_commands = ctx.make_formatter(), ctx.make_formatter()
    root.format_commands(ctx, from_table)
    loaded.format_commands(ctx, from_commands)
    assert from_table.getvalue().count("\n") > len(COMMANDS)
    assert from_table.getvalue() == from_commands.getvalue()


def test_an_unknown_command_is_still_refused_with_a_suggestion() -> None:
    result = runner.invoke(app, ["balanse"])
    assert result.exit_code == 2 and "balance" in result.output


def test_shell_completion_offers_commands_and_account_names(home: Path) -> None:
    keystore = home / "keystore"
    keystore.mkdir(parents=True)
    (keystore / "alice.json").write_text("{}")
    (keystore / "albert.json").write_text("{}")
    env = {"WALLET_HOME": str(home), "_WALLET_COMPLETE": "complete_bash"}

    def complete(words: str, cword: int) -> list[str]:
        out = subprocess.run(
            [str(Path(sys.executable).parent / "wallet")],
            env={**os.environ, **env, "COMP_WORDS": words, "COMP_CWORD": str(cword)},
            capture_output=True, text=True, check=False,
        )
        return out.stdout.split()

    assert complete("wallet address al", 2) == ["albert", "alice"]
    assert "contacts" in complete("wallet c", 1)
