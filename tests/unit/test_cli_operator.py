"""The operator commands against a fake operator: role checked before anything is sent, bad
input answered with a sentence and exit 2, refusals exit 1; and the keystore password sources."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import ledger.cli.operator as cli_operator
from ledger.chain import client
from ledger.chain.client import SentTx
from ledger.chain.operator import RoleMissing
from ledger.cli import app, main
from ledger.errors import ConfigError

ADDRESS = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"


class FakeOperator:
    """Holds the roles it is given; records what it would send."""

    address = "0x0000000000000000000000000000000000000001"

    def __init__(self, roles: set[tuple[str, str]]) -> None:
        self.roles = roles
        self.sent: list[tuple[Any, ...]] = []
        self.paused: dict[str, bool] = {"DistrictToken": False, "ServicePayments": False}

    def pausable(self) -> list[str]:
        return list(self.paused)

    def contract(self, alias: str) -> str:
        return {"token": "DistrictToken", "payments": "ServicePayments"}.get(alias, alias)

    def require_role(self, contract: str, role: str) -> None:
        if (contract, role) not in self.roles:
            raise RoleMissing(f"{self.address} does not hold {role.upper()}_ROLE on {contract}")

    def set_paused(self, name: str, paused: bool) -> SentTx | None:
        self.require_role(name, "pauser")
        if self.paused[name] == paused:
            return None
        self.paused[name] = paused
        self.sent.append(("pause" if paused else "unpause", name))
        return sent("0xabc")

    def record_deposit(self, bank_ref: str, beneficiary: str, amount: int) -> SentTx:
        self.require_role("DistrictToken", "treasurer")
        self.sent.append(("deposit", bank_ref, beneficiary, amount))
        return sent("0xdef")

    def minter(self, account: str) -> tuple[int, int, int]:
        return 500_000_000, 0, 0

    def register_merchant(self, name: str, category: int, payout: str) -> tuple[int, SentTx]:
        self.require_role("ServicePayments", "registrar")
        self.sent.append(("register", name, category, payout))
        return 4, sent("0x123")


def sent(tx_hash: str) -> SentTx:
    return SentTx(tx_hash=tx_hash, block_number=1, gas_used=21_000, receipt={})  # type: ignore[typeddict-item]


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fake: FakeOperator,
        *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(cli_operator, "_operator", lambda *a, **k: fake)
    monkeypatch.setattr("sys.argv", ["ledger", *args])
    with pytest.raises(SystemExit) as stopped:
        main()
    out = capsys.readouterr()
    return int(stopped.value.code or 0), out.out, out.err


def test_pause_without_the_role_on_one_contract_sends_nothing_at_all(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeOperator({("DistrictToken", "pauser")})  # not on ServicePayments
    code, _, err = run(monkeypatch, capsys, fake, "pause")
    assert code == 1
    assert "does not hold PAUSER_ROLE on ServicePayments" in err
    assert fake.sent == []  # the token was not paused alone


def test_pause_with_the_role_pauses_each_contract_and_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeOperator({("DistrictToken", "pauser"), ("ServicePayments", "pauser")})
    code, out, _ = run(monkeypatch, capsys, fake, "pause")
    assert code == 0
    assert fake.sent == [("pause", "DistrictToken"), ("pause", "ServicePayments")]
    assert "DistrictToken is now paused (tx 0xabc)." in out
    code, out, _ = run(monkeypatch, capsys, fake, "pause", "--contract", "token")
    assert code == 0 and "DistrictToken was already paused: nothing sent." in out
    code, _, err = run(monkeypatch, capsys, fake, "unpause", "--contract", "bank")
    assert code == 2 and "'bank' cannot be paused" in err


def test_deposit_amounts_are_exact_micro_m3e_and_bad_ones_are_refused_before_signing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeOperator({("DistrictToken", "treasurer")})
    code, out, _ = run(monkeypatch, capsys, fake, "deposit", ADDRESS, "0.10", "--bank-ref", "B-1", "--json")
    assert code == 0
    assert fake.sent == [("deposit", "B-1", ADDRESS, 100_000)]
    assert json.loads(out)["amount"] == 100_000
    for bad in ("-1", "abc", "1.0000001", "0"):
        code, _, err = run(monkeypatch, capsys, fake, "deposit", ADDRESS, bad, "--bank-ref", "B-2")
        assert code == 2, bad
        assert err.startswith("error: amount:"), err
    assert len(fake.sent) == 1


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("abc",), "amount"),
        (("1.0000001",), "amount"),
        (("100", "--daily-limit", "ten"), "--daily-limit"),
        (("100", "--daily-limit", "0.0000001"), "--daily-limit"),
    ],
)
def test_a_bad_minter_allowance_is_refused_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], field: str
) -> None:
    fake = FakeOperator({("DistrictToken", "admin")})
    code, _, err = run(monkeypatch, capsys, fake, "minter", "set-allowance", ADDRESS, *args)
    assert code == 2, err
    assert err.startswith(f"error: {field}:"), err
    assert "Traceback" not in err and fake.sent == []


def test_deposit_without_the_treasurer_role_exits_1_with_the_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeOperator(set())
    code, _, err = run(monkeypatch, capsys, fake, "deposit", ADDRESS, "10", "--bank-ref", "B-3")
    assert code == 1 and "does not hold TREASURER_ROLE" in err and fake.sent == []


def test_merchant_add_names_the_categories_when_one_is_unknown(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeOperator({("ServicePayments", "registrar")})
    code, _, err = run(monkeypatch, capsys, fake, "merchant", "add", "Cordonnerie", "--category", "shoes",
                       "--payout", ADDRESS)
    assert code == 2 and "food" in err and "co-working" in err and fake.sent == []
    code, out, _ = run(monkeypatch, capsys, fake, "merchant", "add", "Cordonnerie", "--category", "retail",
                       "--payout", ADDRESS)
    assert code == 0 and "Merchant #4 Cordonnerie (retail) registered" in out
    assert fake.sent == [("register", "Cordonnerie", 5, ADDRESS)]


def test_a_usage_error_is_a_sentence_with_exit_2_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(monkeypatch, capsys, FakeOperator(set()), "merchant", "suspend")
    assert code == 2 and "Missing argument" in err and "Traceback" not in err


def test_no_operator_command_takes_a_password_or_key_on_the_command_line() -> None:
    for command in (["pause"], ["unpause"], ["deposit"], ["merchant", "add"], ["role", "grant"]):
        text = CliRunner().invoke(app, [*command, "--help"]).output.lower()
        assert "--password" not in text and "--key" not in text and "--private" not in text


def test_a_password_file_others_can_read_is_refused_with_the_chmod_to_run(tmp_path: Path) -> None:
    loose = tmp_path / "pw"
    loose.write_text("secret\n")
    loose.chmod(0o640)
    with pytest.raises(ConfigError, match="chmod 600"):
        client._read_password_file(loose)
    loose.chmod(0o600)
    assert client._read_password_file(loose) == "secret"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_attack_a_keystore_others_can_read_is_refused_with_the_chmod_to_run(
    tmp_path: Path, mode: int
) -> None:
    from eth_account import Account

    store = tmp_path / "key.json"
    store.write_text(json.dumps(Account.encrypt(bytes.fromhex("11" * 32), "pw", kdf="pbkdf2", iterations=10)))
    password = tmp_path / "pw"
    password.write_text("pw\n")
    password.chmod(0o600)
    store.chmod(mode)
    with pytest.raises(ConfigError, match=f"run `chmod 600 {store}`"):
        client._decrypt_keystore(store, password, None)
    store.chmod(0o600)
    assert client._decrypt_keystore(store, password, None) == "0x" + "11" * 32


def test_the_password_dash_reads_one_line_of_standard_input(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from eth_account import Account

    key = "0x" + "11" * 32
    secret = bytes.fromhex("11" * 32)
    store = tmp_path / "key.json"
    store.write_text(json.dumps(Account.encrypt(secret, "pw on stdin", kdf="pbkdf2", iterations=10)))
    store.chmod(0o600)
    monkeypatch.setattr("sys.stdin", io.StringIO("pw on stdin\nnot read\n"))
    assert client._decrypt_keystore(store, Path("-"), None) == key
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(ConfigError, match="standard input held no password"):
        client._decrypt_keystore(store, Path("-"), None)
