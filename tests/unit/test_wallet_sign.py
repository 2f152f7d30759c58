"""Offline signed payments: one ERC-3009 ReceiveWithAuthorization whose nonce binds the merchant,
its payout address and the reference, checked against an independent EIP-712 computation."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode
from eth_hash.auto import keccak
from eth_keys import keys as eth_keys
from typer.testing import CliRunner

from wallet_cli import keys
from wallet_cli.errors import UsageError, WalletError
from wallet_cli.main import app
from wallet_cli.signing import (
    PaymentTerms,
    authorization_typed_data,
    load_signed_cancel,
    load_signed_payment,
    sign_cancel,
    sign_payment,
)

KEY_1 = bytes.fromhex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
PAYER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
PAYMENTS = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
PAYOUT = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
REPO = Path(__file__).resolve().parents[2]

RECEIVE_TYPE = ("ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,"
                "uint256 validBefore,bytes32 nonce)")
CANCEL_TYPE = "CancelAuthorization(address authorizer,bytes32 nonce)"
WITNESS_TYPE = "PaymentWitness(uint256 merchantId,address payout,bytes32 ref,bytes32 payerNonce)"
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"

runner = CliRunner()


def terms(**changes: Any) -> PaymentTerms:
    values: dict[str, Any] = {
        "token": TOKEN,
        "service_payments": PAYMENTS,
        "chain_id": 69003,
        "payer": PAYER,
        "merchant_id": 3,
        "payout": PAYOUT,
        "amount": 12_500_000,
        "ref": b"INV-42".ljust(32, b"\0"),
        "valid_after": 0,
        "valid_before": 1_900_000_000,
        "payer_nonce": bytes(range(32)),
    }
    values.update(changes)
    return PaymentTerms(**values)


def domain_separator(name: str, version: str, chain_id: int, contract: str) -> bytes:
    return keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [keccak(DOMAIN_TYPE.encode()), keccak(name.encode()), keccak(version.encode()),
             chain_id, contract],
        )
    )


def digest(separator: bytes, struct_hash: bytes) -> bytes:
    return keccak(b"\x19\x01" + separator + struct_hash)


def recover(sig: bytes, message_hash: bytes) -> str:
    assert len(sig) == 65 and sig[64] in (27, 28)
    return str(eth_keys.Signature(sig[:64] + bytes([sig[64] - 27]))
               .recover_public_key_from_msg_hash(message_hash).to_checksum_address())


def test_the_type_strings_are_the_ones_the_contracts_hash() -> None:
    token = (REPO / "contracts" / "DistrictToken.sol").read_text()
    payments = (REPO / "contracts" / "ServicePayments.sol").read_text()
    assert RECEIVE_TYPE in token and CANCEL_TYPE in token
    assert WITNESS_TYPE in payments


def test_the_authorization_digest_matches_an_independent_eip712_computation() -> None:
    t = terms()
    signed = sign_payment(KEY_1, t)
    witness = keccak(encode(["bytes32", "uint256", "address", "bytes32", "bytes32"],
                            [keccak(WITNESS_TYPE.encode()), 3, PAYOUT, t.ref, t.payer_nonce]))
    assert t.nonce == witness
    struct = keccak(encode(
        ["bytes32", "address", "address", "uint256", "uint256", "uint256", "bytes32"],
        [keccak(RECEIVE_TYPE.encode()), PAYER, PAYMENTS, t.amount, 0, t.valid_before, witness],
    ))
    assert signed.digest == digest(domain_separator("Monnaie du 3e", "1", 69003, TOKEN), struct)
    assert recover(signed.signature, signed.digest) == PAYER


def test_the_cancellation_digest_matches_an_independent_eip712_computation() -> None:
    t = terms()
    cancel = sign_cancel(KEY_1, t)
    struct = keccak(encode(["bytes32", "address", "bytes32"], [keccak(CANCEL_TYPE.encode()), PAYER, t.nonce]))
    expected = digest(domain_separator("Monnaie du 3e", "1", 69003, TOKEN), struct)
    assert recover(cancel.signature, expected) == PAYER
    assert load_signed_cancel(json.loads(json.dumps(cancel.to_json()))) == cancel
    with pytest.raises(WalletError, match="not signed by"):
        load_signed_cancel({**cancel.to_json(), "nonce": "0x" + "00" * 32})


def test_signing_binds_every_term() -> None:
    base = sign_payment(KEY_1, terms())
    assert sign_payment(KEY_1, terms()) == base  # RFC 6979 signatures
    for change in ({"amount": 12_500_001}, {"merchant_id": 4}, {"payout": PAYMENTS},
                   {"valid_before": 1_900_000_001}, {"valid_after": 1}, {"chain_id": 1},
                   {"ref": b"INV-43".ljust(32, b"\0")}, {"payer_nonce": bytes(32)}):
        other = sign_payment(KEY_1, terms(**change))
        assert other.signature != base.signature, change


def test_the_pay_with_authorization_arguments_are_in_contract_order() -> None:
    signed = sign_payment(KEY_1, terms())
    args = signed.pay_with_authorization_args()
    assert args[:6] == [PAYER, 3, 12_500_000, "0x" + terms().ref.hex(), 0, 1_900_000_000]
    assert args[6] == "0x" + bytes(range(32)).hex() and len(args[7]) == 132


def test_the_file_form_reads_back_and_a_changed_file_is_caught() -> None:
    document = sign_payment(KEY_1, terms()).to_json()
    assert load_signed_payment(json.loads(json.dumps(document))) == sign_payment(KEY_1, terms())
    for field, value in (("amount", "99000000"), ("payout", PAYMENTS), ("merchant_id", "4"),
                         ("valid_before", "1900000001"), ("payer_nonce", "0x" + "00" * 32)):
        with pytest.raises(WalletError, match="changed after signing"):
            load_signed_payment({**document, field: value})
    with pytest.raises(UsageError):
        load_signed_payment({"kind": "something else"})
    with pytest.raises(UsageError, match="old permit path"):
        load_signed_payment({**document, "version": 1})


def test_a_key_that_is_not_the_payers_is_refused() -> None:
    with pytest.raises(WalletError, match="does not belong"):
        sign_payment(bytes.fromhex("11" * 32), terms())
    with pytest.raises(WalletError, match="Only the payer"):
        sign_cancel(bytes.fromhex("11" * 32), terms())


def test_typed_data_uses_the_tokens_domain() -> None:
    assert authorization_typed_data(terms())["domain"] == {
        "name": "Monnaie du 3e", "version": "1", "chainId": 69003, "verifyingContract": TOKEN,
    }
    assert authorization_typed_data(terms())["message"]["to"] == PAYMENTS


@pytest.mark.parametrize("change", [{"amount": 0}, {"merchant_id": 0}, {"ref": b"short"},
                                    {"payer_nonce": b"short"}, {"valid_after": 5, "valid_before": 5}])
def test_impossible_terms_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        terms(**change)


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    wallet_home = tmp_path / "wallet-home"
    monkeypatch.setenv("WALLET_HOME", str(wallet_home))
    for var in ("WALLET_RPC_URL", "WALLET_API_URL", "WALLET_MANIFEST", "WALLET_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(keys, "SCRYPT_N", 2**10)
    password = tmp_path / "pw"
    password.write_text("payer password\n")
    result = runner.invoke(app, ["import", "payer", "--private-key", "--password-file",
                                 str(password)], input=KEY_1.hex())
    assert result.exit_code == 0, result.output
    manifest = tmp_path / "deployment.json"
    manifest.write_text(json.dumps({"chain_id": 69003, "contracts": {
        "DistrictToken": {"address": TOKEN}, "ServicePayments": {"address": PAYMENTS}}}))
    monkeypatch.setenv("WALLET_MANIFEST", str(manifest))
    return wallet_home


def test_sign_payment_writes_a_0600_file_that_sign_check_accepts(home: Path,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "payment.json"
    result = runner.invoke(app, [
        "sign", "payment", "payer", "--merchant-id", "3", "--amount", "12.50", "--ref",
        "INV-42", "--payout", PAYOUT, "--deadline", "2h", "--out", str(out), "--yes",
        "--password-file", str(tmp_path / "pw"), "--json"])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    document = json.loads(out.read_text())
    assert document["payer"] == PAYER and document["amount"] == "12500000"
    assert document["service_payments"] == PAYMENTS and document["token"] == TOKEN
    checked = runner.invoke(app, ["sign", "check", str(out), "--json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["valid"] is True
    human = runner.invoke(app, ["sign", "check", str(out)])
    # the file and the chain carry only the salted commitment; the payer's wallet keeps INV-42
    assert f"pays 12.50 M3E to merchant #3 (payout {PAYOUT}), ref 0x" in human.stdout
    assert "INV-42" not in out.read_text() and b"INV-42".hex() not in out.read_text()
    again = runner.invoke(app, [
        "sign", "payment", "payer", "--merchant-id", "3", "--amount", "1", "--payout", PAYOUT,
        "--out", str(out), "--yes", "--password-file", str(tmp_path / "pw")])
    assert again.exit_code == 2 and "exists already" in again.stderr


def test_sign_payment_asks_to_confirm_the_terms(home: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "payment.json"
    args = ["sign", "payment", "payer", "--merchant-id", "3", "--amount", "2", "--payout", PAYOUT,
            "--out", str(out), "--password-file", str(tmp_path / "pw")]
    no_terminal = runner.invoke(app, args)
    assert no_terminal.exit_code == 2 and "--yes" in no_terminal.stderr
    monkeypatch.setattr("wallet_cli.prompting.is_interactive", lambda: True)
    declined = runner.invoke(app, args, input="n\n")
    assert declined.exit_code == 1 and not out.exists()
    assert "Pay 2.00 M3E to merchant #3" in declined.stderr
    assert "on chain 69003" in declined.stderr
    accepted = runner.invoke(app, args, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert out.exists()


def test_a_manifest_for_another_chain_is_refused(home: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "other.json"
    manifest.write_text(json.dumps({"chain_id": 1, "contracts": {}}))
    result = runner.invoke(app, [
        "--manifest", str(manifest), "sign", "payment", "payer", "--merchant-id", "1",
        "--amount", "1", "--payout", PAYOUT, "--out", str(tmp_path / "x.json"), "--yes"])
    assert result.exit_code == 1 and "chain 1, not 69003" in result.stderr
