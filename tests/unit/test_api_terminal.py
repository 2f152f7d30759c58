"""POST /v1/payments/signed: a merchant's terminal hands in a payment signed offline."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from api.fakes import FakeOperator
from api.ports import OperatorReceipt, SignedPaymentTerms
from ledger.errors import ContractRuleError
from tests.unit.test_api import build, seeded

PAYER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def wallet_file(**changes: Any) -> dict[str, Any]:
    """What `wallet sign payment` writes (extra fields included)."""
    document: dict[str, Any] = {
        "kind": "m3e-signed-payment", "version": 2, "chain_id": 69003,
        "token": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "token_name": "Monnaie du 3e",
        "service_payments": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", "payer": PAYER,
        "merchant_id": "3", "payout": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", "amount": "2400000",
        "ref": "0x" + b"CROISSANT".ljust(32, b"\0").hex(), "valid_after": "0",
        "valid_before": str(int(time.time()) + 600), "payer_nonce": "0x" + "11" * 32,
        "nonce": "0x" + "22" * 32, "signature": "0x" + "33" * 65, "digest": "0x" + "44" * 32,
    }
    document.update(changes)
    return document


def test_a_signed_payment_file_is_relayed_exactly_as_signed() -> None:
    operator = FakeOperator()
    signed = wallet_file()  # once: its validity is computed from the clock
    with TestClient(build(seeded(), operator)) as client:
        reply = client.post("/v1/payments/signed", json=signed)
    assert reply.status_code == 201, reply.text
    assert reply.json()["tx_hash"] == "0x" + "ef" * 32
    ((name, (terms,)),) = operator.sent
    assert name == "submit_signed_payment"
    assert terms == SignedPaymentTerms(
        payer=PAYER, merchant_id=3, amount=2_400_000, ref=b"CROISSANT".ljust(32, b"\0"), valid_after=0,
        valid_before=int(signed["valid_before"]), payer_nonce=bytes.fromhex("11" * 32),
        signature=bytes.fromhex("33" * 65))


def test_other_chains_expired_or_old_format_payments_are_refused_before_the_chain() -> None:
    operator = FakeOperator()
    with TestClient(build(seeded(), operator)) as client:
        other = client.post("/v1/payments/signed", json=wallet_file(chain_id=1))
        expired = client.post("/v1/payments/signed", json=wallet_file(valid_before=str(int(time.time()) - 1)))
        old = client.post("/v1/payments/signed", json=wallet_file(version=1))
        zero = client.post("/v1/payments/signed", json=wallet_file(amount="0"))
        short = client.post("/v1/payments/signed", json=wallet_file(signature="0x1234"))
    assert other.status_code == 409 and "signed for chain 1" in other.json()["error"]["message"]
    assert expired.status_code == 409 and "has expired" in expired.json()["error"]["message"]
    assert old.status_code == 422 and zero.status_code == 422 and short.status_code == 422
    assert operator.sent == []


class RefusingOperator(FakeOperator):
    def submit_signed_payment(self, payment: SignedPaymentTerms) -> OperatorReceipt:
        raise ContractRuleError("This signed authorization was already used or cancelled by its signer; "
                                "it can never move money again.", "DistrictTokenAuthorizationUsedOrCanceled")


def test_a_contract_refusal_comes_back_as_its_sentence() -> None:
    with TestClient(build(seeded(), RefusingOperator())) as client:
        reply = client.post("/v1/payments/signed", json=wallet_file())
    assert reply.status_code == 422
    assert reply.json()["error"]["message"].startswith("This signed authorization was already used")
