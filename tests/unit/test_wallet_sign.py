"""Offline signed payments: EIP-2612 permit + EIP-712 PaymentIntent, checked independently."""

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
    intent_typed_data,
    load_signed_payment,
    permit_typed_data,
    sign_payment,
)

KEY_1 = bytes.fromhex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
PAYER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
PAYMENTS = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
REPO = Path(__file__).resolve().parents[2]

PERMIT_TYPE = "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
INTENT_TYPE = (
    "PaymentIntent(address payer,uint256 merchantId,uint256 amount,bytes32 ref,uint256 nonce,"
    "uint256 deadline)"
)
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"

runner = CliRunner()


def terms(**changes: Any) -> PaymentTerms:
    values: dict[str, Any] = {
        "token": TOKEN,
        "service_payments": PAYMENTS,
        "chain_id": 69003,
        "payer": PAYER,
        "merchant_id": 3,
        "amount": 12_500_000,
        "ref": b"INV-42".ljust(32, b"\0"),
        "nonce": 5,
        "deadline": 1_900_000_000,
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


def test_the_type_strings_are_the_ones_the_contracts_hash() -> None:
    assert keccak(PERMIT_TYPE.encode()).hex() == (
        "6e71edae12b1b97f4d1f60370fef10105fa2faae0126114a169c64845d6126c9"
    )
    source = REPO / "contracts" / "ServicePayments.sol"
    if source.exists():
        assert INTENT_TYPE in source.read_text().replace('"\n        "', "")


def test_the_permit_digest_matches_an_independent_eip712_computation() -> None:
    t = terms()
    signed = sign_payment(KEY_1, t)
    separator = domain_separator("Monnaie du 3e", "1", 69003, TOKEN)
    struct = keccak(encode(
        ["bytes32", "address", "address", "uint256", "uint256", "uint256"],
        [keccak(PERMIT_TYPE.encode()), PAYER, PAYMENTS, t.amount, t.nonce, t.deadline],
    ))
    assert signed.permit_digest == digest(separator, struct)
    signature = eth_keys.Signature(vrs=(signed.permit_v - 27,
                                        int.from_bytes(signed.permit_r, "big"),
                                        int.from_bytes(signed.permit_s, "big")))
    assert signature.recover_public_key_from_msg_hash(signed.permit_digest) \
        .to_checksum_address() == PAYER


def test_the_intent_digest_matches_an_independent_eip712_computation() -> None:
    t = terms()
    signed = sign_payment(KEY_1, t)
    separator = domain_separator("District ServicePayments", "1", 69003, PAYMENTS)
    struct = keccak(encode(
        ["bytes32", "address", "uint256", "uint256", "bytes32", "uint256", "uint256"],
        [keccak(INTENT_TYPE.encode()), PAYER, 3, t.amount, t.ref, t.nonce, t.deadline],
    ))
    assert signed.intent_digest == digest(separator, struct)
    sig = signed.intent_signature
    assert len(sig) == 65 and sig[64] in (27, 28)
    recovered = eth_keys.Signature(sig[:64] + bytes([sig[64] - 27])) \
        .recover_public_key_from_msg_hash(signed.intent_digest).to_checksum_address()
    assert recovered == PAYER


def test_signing_is_deterministic_and_binds_every_term() -> None:
    base = sign_payment(KEY_1, terms())
    assert sign_payment(KEY_1, terms()) == base  # RFC 6979 nonces
    for change in ({"amount": 12_500_001}, {"merchant_id": 4}, {"nonce": 6},
                   {"deadline": 1_900_000_001}, {"chain_id": 1},
                   {"ref": b"INV-43".ljust(32, b"\0")}):
        other = sign_payment(KEY_1, terms(**change))
        assert other.intent_signature != base.intent_signature, change
    assert sign_payment(KEY_1, terms(merchant_id=4)).permit_digest == base.permit_digest


def test_the_pay_with_permit_arguments_are_in_contract_order() -> None:
    signed = sign_payment(KEY_1, terms())
    args = signed.pay_with_permit_args()
    assert args[:5] == [PAYER, 3, 12_500_000, "0x" + terms().ref.hex(), 1_900_000_000]
    assert args[5] in (27, 28) and len(args[6]) == len(args[7]) == 66 and len(args[8]) == 132


def test_the_file_form_reads_back_and_a_changed_file_is_caught() -> None:
    document = sign_payment(KEY_1, terms()).to_json()
    assert load_signed_payment(json.loads(json.dumps(document))) == sign_payment(KEY_1, terms())
    tampered = {**document, "amount": "99000000"}
    with pytest.raises(WalletError, match="changed after signing"):
        load_signed_payment(tampered)
    with pytest.raises(UsageError):
        load_signed_payment({"kind": "something else"})


def test_a_key_that_is_not_the_payers_is_refused() -> None:
    with pytest.raises(WalletError, match="does not belong"):
        sign_payment(bytes.fromhex("11" * 32), terms())


def test_typed_data_uses_the_agreed_domains() -> None:
    assert permit_typed_data(terms())["domain"] == {
        "name": "Monnaie du 3e", "version": "1", "chainId": 69003, "verifyingContract": TOKEN,
    }
    assert intent_typed_data(terms())["domain"]["name"] == "District ServicePayments"


@pytest.mark.parametrize("change", [{"amount": 0}, {"merchant_id": 0}, {"ref": b"short"},
                                    {"nonce": -1}])
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
        "INV-42", "--nonce", "5", "--deadline", "2h", "--out", str(out), "--yes",
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
    assert "pays 12.50 M3E to merchant #3, ref 0x" in human.stdout
    assert "INV-42" not in out.read_text() and b"INV-42".hex() not in out.read_text()
    again = runner.invoke(app, [
        "sign", "payment", "payer", "--merchant-id", "3", "--amount", "1", "--nonce", "5",
        "--out", str(out), "--yes", "--password-file", str(tmp_path / "pw")])
    assert again.exit_code == 2 and "exists already" in again.stderr


def test_sign_payment_asks_to_confirm_the_terms(home: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "payment.json"
    args = ["sign", "payment", "payer", "--merchant-id", "3", "--amount", "2", "--nonce", "0",
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
        "--amount", "1", "--nonce", "0", "--out", str(tmp_path / "x.json"), "--yes"])
    assert result.exit_code == 1 and "chain 1, not 69003" in result.stderr
