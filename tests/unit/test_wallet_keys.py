"""Keys: new, import, list, address, export, passwd; secrets never from argv; files 0600."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wallet_cli import keys
from wallet_cli.commands import offline
from wallet_cli.errors import KeystoreError, UsageError, WrongPasswordError
from wallet_cli.main import app, full_command

TEST_MNEMONIC = "test test test test test test test test test test test junk"
ACCOUNT_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ACCOUNT_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
PASSWORD = "correct horse battery"
FAST_N = 2**10

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    wallet_home = tmp_path / "wallet-home"
    monkeypatch.setenv("WALLET_HOME", str(wallet_home))
    for var in ("WALLET_RPC_URL", "WALLET_API_URL", "WALLET_MANIFEST", "WALLET_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(keys, "SCRYPT_N", FAST_N)  # the real cost is checked once, below
    return wallet_home


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    file = tmp_path / "password.txt"
    file.write_text(PASSWORD + "\n")
    return file


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend a person sits at a terminal (CliRunner feeds the prompts)."""
    monkeypatch.setattr("wallet_cli.prompting.is_interactive", lambda: True)


def run(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, list(args), input=input)


def run_json(*args: str, input: str | None = None) -> dict[str, Any]:
    result = run(*args, "--json", input=input)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True
    return dict(data)


def import_key(name: str, password_file: Path, key: str = KEY_0) -> dict[str, Any]:
    return run_json("import", name, "--private-key", "--password-file", str(password_file),
                    input=key + "\n")


# ---------------------------------------------------------------- derivation vectors


def test_the_standard_test_mnemonic_derives_the_well_known_addresses() -> None:
    assert keys.key_from_mnemonic(TEST_MNEMONIC, 0).address == ACCOUNT_0
    assert keys.key_from_mnemonic(TEST_MNEMONIC, 1).address == ACCOUNT_1
    assert keys.key_from_mnemonic(TEST_MNEMONIC, 0).private_key.hex() == KEY_0[2:]
    assert keys.key_from_mnemonic(TEST_MNEMONIC, 1).path == "m/44'/60'/0'/0/1"


def test_the_official_bip39_trezor_vector_gives_the_published_seed() -> None:
    seed = keys.seed_from_mnemonic(" ".join(["abandon"] * 11 + ["about"]), "TREZOR")
    assert seed.hex() == (
        "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f"
        "09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04"
    )


def test_mnemonics_are_read_case_and_space_insensitively() -> None:
    messy = "  TEST test\ttest test test test test test test test test   JUNK \n"
    assert keys.key_from_mnemonic(messy).address == ACCOUNT_0


def test_a_misspelt_mnemonic_is_refused_with_a_plain_sentence() -> None:
    with pytest.raises(UsageError, match="not a valid BIP-39 mnemonic"):
        keys.key_from_mnemonic(TEST_MNEMONIC.replace("junk", "test"))


@pytest.mark.parametrize("bad", ["0x1234", "zz" * 32, "0x" + "00" * 32, "0x" + "ff" * 32])
def test_bad_private_keys_are_refused(bad: str) -> None:
    with pytest.raises(UsageError):
        keys.parse_private_key(bad)


def test_new_mnemonics_are_fresh_and_valid() -> None:
    first, second = keys.new_mnemonic(12), keys.new_mnemonic(24)
    assert len(first.split()) == 12 and len(second.split()) == 24
    assert keys.seed_from_mnemonic(first) != keys.seed_from_mnemonic(keys.new_mnemonic(12))


# ---------------------------------------------------------------- keystore format


def test_keystores_use_scrypt_at_geths_standard_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password_file: Path
) -> None:
    monkeypatch.setenv("WALLET_HOME", str(tmp_path / "real-cost"))
    data = import_key("alice", password_file)
    stored = json.loads(Path(data["keystore"]).read_text())
    assert stored["version"] == 3
    assert stored["crypto"]["kdf"] == "scrypt"
    assert stored["crypto"]["cipher"] == "aes-128-ctr"
    params = stored["crypto"]["kdfparams"]
    assert (params["n"], params["r"], params["p"], params["dklen"]) == (262144, 8, 1, 32)
    assert stored["address"] == ACCOUNT_0[2:].lower()


def test_a_wrong_password_is_its_own_error() -> None:
    keystore = keys.encrypt_key(bytes.fromhex(KEY_0[2:]), PASSWORD)
    with pytest.raises(WrongPasswordError):
        keys.decrypt_keystore(keystore, "not the password")


def test_a_keystore_whose_address_does_not_match_its_key_is_refused() -> None:
    keystore = keys.encrypt_key(bytes.fromhex(KEY_0[2:]), PASSWORD)
    keystore["address"] = ACCOUNT_1[2:].lower()
    with pytest.raises(KeystoreError, match="tampered"):
        keys.decrypt_keystore(keystore, PASSWORD)


def test_a_keystore_made_by_eth_keyfile_with_pbkdf2_imports_with_the_right_address(
    home: Path, tmp_path: Path, password_file: Path
) -> None:
    from eth_keyfile import create_keyfile_json

    source = create_keyfile_json(
        bytes.fromhex(KEY_0[2:]), PASSWORD.encode(), kdf="pbkdf2", iterations=1000
    )
    file = tmp_path / "from-eth-keyfile.json"
    file.write_text(json.dumps(source))
    data = run_json("import", "alice", "--keystore", str(file), "--password-file",
                    str(password_file))
    assert data["address"] == ACCOUNT_0
    stored = json.loads(Path(data["keystore"]).read_text())
    assert stored["crypto"]["kdf"] == "scrypt"  # re-encrypted at the wallet's own cost
    assert keys.decrypt_keystore(stored, PASSWORD).address == ACCOUNT_0


def test_importing_a_keystore_with_the_wrong_password_fails_and_keeps_nothing(
    home: Path, tmp_path: Path
) -> None:
    file = tmp_path / "k.json"
    file.write_text(json.dumps(keys.encrypt_key(bytes.fromhex(KEY_0[2:]), PASSWORD)))
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("wrong password\n")
    result = run("import", "alice", "--keystore", str(file), "--password-file", str(wrong))
    assert result.exit_code == 1
    assert "Wrong password" in result.stderr
    assert not (home / "keystore" / "alice.json").exists()


def test_a_file_that_is_not_a_keystore_is_refused(home: Path, tmp_path: Path,
                                                  password_file: Path) -> None:
    file = tmp_path / "not.json"
    file.write_text(json.dumps({"hello": "world"}))
    result = run("import", "x", "--keystore", str(file), "--password-file", str(password_file))
    assert result.exit_code == 1
    assert "Web3 Secret Storage" in result.stderr


# ---------------------------------------------------------------- wallet new


def test_new_shows_the_mnemonic_once_checks_two_words_and_saves_a_0600_keystore(
    home: Path, terminal: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys, "new_mnemonic", lambda words=12: TEST_MNEMONIC)
    monkeypatch.setattr(offline, "_backup_positions", lambda count: [2, 11])
    result = run("new", "alice", input=f"test\njunk\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "12. junk" in result.stderr  # shown on the terminal, not in the output
    assert "Word #3" in result.stderr and "Word #12" in result.stderr
    assert ACCOUNT_0 in result.stdout
    assert TEST_MNEMONIC not in result.stdout
    keystore = home / "keystore" / "alice.json"
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "keystore").stat().st_mode) == 0o700
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert TEST_MNEMONIC.split()[0] not in keystore.read_text()
    assert PASSWORD not in keystore.read_text()


def test_new_saves_nothing_when_the_words_do_not_match(
    home: Path, terminal: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys, "new_mnemonic", lambda words=12: TEST_MNEMONIC)
    monkeypatch.setattr(offline, "_backup_positions", lambda count: [0, 11])
    result = run("new", "alice", input="test\nnope\nnope\nnope\n")
    assert result.exit_code == 1
    assert "nothing was saved" in result.stderr
    assert "2 attempt(s) left" in result.stderr
    assert not (home / "keystore" / "alice.json").exists()


def test_new_asks_the_password_twice_and_refuses_a_mismatch(
    home: Path, terminal: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offline, "_backup_positions", lambda count: [0, 1])
    monkeypatch.setattr(keys, "new_mnemonic", lambda words=12: TEST_MNEMONIC)
    result = run("new", "alice",
                 input=f"test\ntest\n{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "do not match" in result.stderr


def test_new_refuses_a_short_password(home: Path, terminal: None,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offline, "_backup_positions", lambda count: [0, 1])
    monkeypatch.setattr(keys, "new_mnemonic", lambda words=12: TEST_MNEMONIC)
    result = run("new", "alice", input="test\ntest\nshort\nshort\n")
    assert result.exit_code == 2
    assert "at least 8 characters" in result.stderr


def test_new_without_a_terminal_refuses_to_prompt_and_says_what_to_do(home: Path) -> None:
    result = run("new", "alice")
    assert result.exit_code == 2
    assert "no terminal" in result.stderr and "--no-backup-check" in result.stderr
    result = run("new", "alice", "--no-backup-check")
    assert result.exit_code == 2
    assert "--password-file" in result.stderr
    assert not (home / "keystore").exists()


def test_new_for_scripts_prints_the_mnemonic_in_its_json(home: Path, password_file: Path) -> None:
    data = run_json("new", "bot", "--no-backup-check", "--password-file", str(password_file))
    derived = keys.key_from_mnemonic(data["mnemonic"], 0)
    assert derived.address == data["address"]
    assert data["path"] == "m/44'/60'/0'/0/0"


def test_an_account_name_cannot_be_reused_or_look_like_an_address(
    home: Path, password_file: Path
) -> None:
    import_key("alice", password_file)
    again = run("new", "alice", "--no-backup-check", "--password-file", str(password_file))
    assert again.exit_code == 1 and "exists already" in again.stderr
    for bad in (ACCOUNT_1, "alice.eth", "../etc", "0xabc"):
        result = run("new", bad, "--no-backup-check", "--password-file", str(password_file))
        assert result.exit_code == 2, bad


# ---------------------------------------------------------------- wallet import


def test_import_from_a_mnemonic_on_stdin_with_an_index_shows_address_and_path(
    home: Path, password_file: Path
) -> None:
    data = run_json("import", "bob", "--mnemonic", "--index", "1", "--password-file",
                    str(password_file), input=TEST_MNEMONIC + "\n")
    assert data["address"] == ACCOUNT_1
    assert data["path"] == "m/44'/60'/0'/0/1"
    human = run("import", "carol", "--mnemonic", "--index", "2", "--password-file",
                str(password_file), input=TEST_MNEMONIC)
    assert "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC" in human.stdout
    assert "m/44'/60'/0'/0/2" in human.stdout


def test_import_from_a_hidden_prompt_shows_the_derived_address_before_the_password(
    home: Path, terminal: None
) -> None:
    result = run("import", "alice", "--mnemonic",
                 input=f"{TEST_MNEMONIC}\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert f"Derived {ACCOUNT_0} at m/44'/60'/0'/0/0" in result.stderr
    assert TEST_MNEMONIC not in result.output


def test_import_of_a_raw_private_key(home: Path, password_file: Path) -> None:
    data = import_key("alice", password_file)
    assert data["address"] == ACCOUNT_0 and data["path"] is None
    assert data["source"] == "private-key"


def test_the_same_key_is_not_imported_twice(home: Path, password_file: Path) -> None:
    import_key("alice", password_file)
    result = run("import", "again", "--private-key", "--password-file", str(password_file),
                 input=KEY_0)
    assert result.exit_code == 1
    assert "already in the wallet as 'alice'" in result.stderr


def test_import_needs_exactly_one_source_and_a_password_source_without_terminal(
    home: Path, password_file: Path
) -> None:
    assert run("import", "x").exit_code == 2
    assert run("import", "x", "--mnemonic", "--private-key").exit_code == 2
    assert run("import", "x", "--private-key", "--index", "3").exit_code == 2
    no_password = run("import", "x", "--private-key", input=KEY_0)
    assert no_password.exit_code == 2 and "--password-file" in no_password.stderr
    empty = run("import", "x", "--private-key", "--password-file", str(password_file), input="")
    assert empty.exit_code == 2 and "standard input" in empty.stderr


# ---------------------------------------------------------------- list, address, export, passwd


def test_list_and_address_need_no_password(home: Path, password_file: Path) -> None:
    empty = run("list")
    assert empty.exit_code == 0 and "No accounts yet" in empty.stdout
    import_key("alice", password_file)
    run_json("import", "bob", "--mnemonic", "--index", "1", "--password-file",
             str(password_file), input=TEST_MNEMONIC)
    listing = run_json("list")
    assert [(a["name"], a["address"]) for a in listing["accounts"]] == [
        ("alice", ACCOUNT_0),
        ("bob", ACCOUNT_1),
    ]
    assert run_json("address", "bob")["address"] == ACCOUNT_1
    assert run("address", "bob").stdout.strip() == ACCOUNT_1
    unknown = run("address", "bobby", "--json")
    assert unknown.exit_code == 1
    error = json.loads(unknown.stdout)
    assert error == {"ok": False, "error": "KeystoreError",
                     "message": "There is no account named 'bobby'. Accounts: alice, bob."}


def test_export_prints_the_encrypted_keystore_only(home: Path, password_file: Path,
                                                   tmp_path: Path) -> None:
    import_key("alice", password_file)
    result = run("export", "alice")
    exported = json.loads(result.stdout)
    assert keys.decrypt_keystore(exported, PASSWORD).address == ACCOUNT_0
    assert KEY_0[2:] not in result.stdout
    out = tmp_path / "backup.json"
    run_json("export", "alice", "--out", str(out))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert json.loads(out.read_text()) == exported
    assert run("export", "alice", "--out", str(out)).exit_code == 1  # never overwrites


def test_the_raw_key_needs_the_unsafe_flag_a_terminal_the_password_and_typed_name(
    home: Path, password_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_key("alice", password_file)
    no_terminal = run("export", "alice", "--unsafe-show-private-key")
    assert no_terminal.exit_code == 2 and KEY_0 not in no_terminal.output
    monkeypatch.setattr("wallet_cli.prompting.is_interactive", lambda: True)
    refused = run("export", "alice", "--unsafe-show-private-key", input=f"{PASSWORD}\nyes\n")
    assert refused.exit_code == 1 and KEY_0 not in refused.output
    wrong = run("export", "alice", "--unsafe-show-private-key", input="bad password\n")
    assert wrong.exit_code == 1 and "Wrong password" in wrong.stderr
    shown = run("export", "alice", "--unsafe-show-private-key", "--json",
                input=f"{PASSWORD}\nalice\n")
    assert shown.exit_code == 0
    # CliRunner echoes typed (visible) input on stdout; a real terminal echoes it on the tty
    assert json.loads(shown.stdout.strip().splitlines()[-1])["private_key"] == KEY_0


def test_passwd_changes_the_password_and_keeps_the_key(home: Path, password_file: Path,
                                                        tmp_path: Path) -> None:
    import_key("alice", password_file)
    new_file = tmp_path / "new.txt"
    new_file.write_text("a much longer passphrase\n")
    data = run_json("passwd", "alice", "--password-file", str(password_file),
                    "--new-password-file", str(new_file))
    assert data["address"] == ACCOUNT_0
    stored = json.loads((home / "keystore" / "alice.json").read_text())
    assert keys.decrypt_keystore(stored, "a much longer passphrase").address == ACCOUNT_0
    with pytest.raises(WrongPasswordError):
        keys.decrypt_keystore(stored, PASSWORD)
    again = run("passwd", "alice", "--password-file", str(password_file),
                "--new-password-file", str(new_file))
    assert again.exit_code == 1 and "Wrong password" in again.stderr


def test_a_keystore_that_does_not_decrypt_back_is_never_kept(
    home: Path, password_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_key("alice", password_file)
    before = (home / "keystore" / "alice.json").read_bytes()
    real_encrypt = keys.encrypt_key

    def corrupt(private_key: bytes, password: str, *, path: str | None = None) -> dict[str, Any]:
        keystore = real_encrypt(private_key, password, path=path)
        keystore["crypto"]["ciphertext"] = "00" * 32
        return keystore

    monkeypatch.setattr(keys, "encrypt_key", corrupt)
    new_file = home.parent / "new.txt"
    new_file.write_text("another good password\n")
    result = run("passwd", "alice", "--password-file", str(password_file),
                 "--new-password-file", str(new_file))
    assert result.exit_code == 1
    assert (home / "keystore" / "alice.json").read_bytes() == before
    assert [p.name for p in (home / "keystore").iterdir()] == ["alice.json"]  # no temp left


def test_a_password_file_that_is_missing_or_empty_is_a_usage_error(home: Path,
                                                                     tmp_path: Path) -> None:
    missing = run("import", "a", "--private-key", "--password-file", str(tmp_path / "nope"),
                  input=KEY_0)
    assert missing.exit_code == 2
    empty = tmp_path / "empty"
    empty.write_text("\n")
    result = run("import", "a", "--private-key", "--password-file", str(empty), input=KEY_0)
    assert result.exit_code == 2 and "empty" in result.stderr


def test_no_option_takes_a_secret_value_on_the_command_line() -> None:
    """Passwords, mnemonics and keys are never argv: such options are flags or file paths."""
    root = full_command()

    def walk(command: Any) -> list[Any]:  # typer vendors its own click classes
        params = list(command.params)
        for sub in getattr(command, "commands", {}).values():
            params += walk(sub)
        return params

    secret_words = ("password", "mnemonic", "private", "secret", "passphrase", "seed")
    checked = 0
    for param in walk(root):
        names = " ".join(param.opts)
        if any(word in names for word in secret_words):
            checked += 1
            is_flag = bool(getattr(param, "is_flag", False))
            assert is_flag or names.endswith("-file"), names
    assert checked >= 5


def test_a_bip39_passphrase_gives_another_account_and_is_asked_hidden(
    home: Path, terminal: None
) -> None:
    result = run("import", "vault", "--mnemonic", "--bip39-passphrase",
                 input=f"{TEST_MNEMONIC}\nTREZOR\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    expected = keys.key_from_mnemonic(TEST_MNEMONIC, 0, "TREZOR").address
    assert expected != ACCOUNT_0 and expected in result.stdout
    assert "TREZOR" not in result.output


def test_a_password_file_readable_by_others_is_pointed_out(home: Path, tmp_path: Path) -> None:
    loose = tmp_path / "loose.txt"
    loose.write_text(PASSWORD + "\n")
    loose.chmod(0o644)
    result = run("import", "alice", "--private-key", "--password-file", str(loose), input=KEY_0)
    assert result.exit_code == 0
    assert "can be read by other users" in result.stderr


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_attack_a_keystore_others_can_read_is_refused_with_the_chmod_to_run(
    home: Path, password_file: Path, mode: int
) -> None:
    # anyone who can read the file can try passwords offline, at the speed of their own machine
    import_key("alice", password_file)
    keystore = home / "keystore" / "alice.json"
    keystore.chmod(mode)
    refused = run("export", "alice", "--json")
    assert refused.exit_code == 1, refused.output
    message = json.loads(refused.stdout)["message"]
    assert f"chmod 600 {keystore}" in message and "Traceback" not in refused.output
    keystore.chmod(0o600)
    assert keys.decrypt_keystore(json.loads(run("export", "alice").stdout), PASSWORD).address == ACCOUNT_0
