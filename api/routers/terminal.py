"""A merchant's terminal hands in a payment a resident signed offline; the service relays it.

Anyone may submit (gas is zero and the operator key only relays): the contract checks the
payer's signature, the merchant, its payout address, the reference, the validity window and that
the authorization was never used nor cancelled, and a refusal comes back as its sentence before
anything is sent.
"""

from __future__ import annotations

import time

import anyio
from fastapi import APIRouter

from api.deps import Operator, Settings, errors
from api.errors import BadRequest, Conflict
from api.ports import SignedPaymentTerms
from api.schemas import OperatorTxOut, SignedPaymentIn

router = APIRouter(prefix="/v1/payments", tags=["payments"])


@router.post("/signed", response_model=OperatorTxOut, status_code=201,
             responses=errors(400, 409, 422, 502))
async def submit_signed_payment(body: SignedPaymentIn, operator: Operator,
                                settings: Settings) -> OperatorTxOut:
    """Submit a payment signed offline with `wallet sign payment` (the file's JSON, as is)."""
    if body.chain_id != settings.chain_id:
        raise Conflict(f"This payment was signed for chain {body.chain_id}, not {settings.chain_id}.")
    amount = int(body.amount)
    if amount == 0 or amount >= 2**256:
        raise BadRequest("A signed payment needs an amount above zero that fits a uint256.",
                         code="bad_amount")
    if int(body.valid_before) <= time.time():
        raise Conflict("This signed payment has expired: ask the payer to sign a new one.")
    terms = SignedPaymentTerms(
        payer=body.payer, merchant_id=int(body.merchant_id), amount=amount,
        ref=bytes.fromhex(body.ref[2:]), valid_after=int(body.valid_after),
        valid_before=int(body.valid_before), payer_nonce=bytes.fromhex(body.payer_nonce[2:]),
        signature=bytes.fromhex(body.signature[2:]),
    )
    receipt = await anyio.to_thread.run_sync(operator.submit_signed_payment, terms)
    return OperatorTxOut(tx_hash=receipt.tx_hash, block=receipt.block_number)
