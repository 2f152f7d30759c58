"""Operator actions: the signed-in address must hold the on-chain role; the operator key signs."""

from __future__ import annotations

import time
from typing import Annotated

import anyio
from fastapi import APIRouter, Path

from api import services
from api.deps import Operator, Reader, Settings, State, errors, role_required
from api.errors import BadRequest
from api.money import parse_micro
from api.schemas import (
    CATEGORIES,
    DepositIn,
    MerchantAddressIn,
    MerchantAddressOut,
    MerchantIn,
    OperatorTxOut,
)

router = APIRouter(prefix="/v1/operator", tags=["operator"])


@router.post(
    "/merchants",
    response_model=OperatorTxOut,
    status_code=201,
    dependencies=[role_required("registrar")],
    responses=errors(400, 401, 403, 502),
)
async def register_merchant(body: MerchantIn, operator: Operator) -> OperatorTxOut:
    """Register a merchant (needs REGISTRAR_ROLE on ServicePayments)."""
    receipt = await anyio.to_thread.run_sync(
        operator.register_merchant, body.name, CATEGORIES.index(body.category), body.payout
    )
    return OperatorTxOut(tx_hash=receipt.tx_hash, block=receipt.block_number, merchant_id=receipt.merchant_id)


@router.put(
    "/merchants/{merchant_id}/address",
    response_model=MerchantAddressOut,
    dependencies=[role_required("registrar")],
    responses=errors(400, 401, 403, 404),
)
async def set_merchant_address(
    merchant_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    body: MerchantAddressIn,
    reader: Reader,
    state: State,
    settings: Settings,
) -> MerchantAddressOut:
    """Set the street address the directory shows for a registered merchant (needs
    REGISTRAR_ROLE on ServicePayments); kept off chain, so a move needs no transaction."""
    street_address = " ".join(body.street_address.split())
    if len(street_address) < 3:
        raise BadRequest(
            "Write the street address, for example 12 rue Moncey, 69003 Lyon.", code="bad_address"
        )
    await anyio.to_thread.run_sync(services.find_merchant, reader, merchant_id)
    await anyio.to_thread.run_sync(
        state.set_merchant_address, settings.chain_id, merchant_id, street_address, int(time.time())
    )
    return MerchantAddressOut(merchant_id=merchant_id, street_address=street_address)


@router.post(
    "/deposits",
    response_model=OperatorTxOut,
    status_code=201,
    dependencies=[role_required("treasurer")],
    responses=errors(400, 401, 403, 502),
)
async def record_deposit(body: DepositIn, operator: Operator) -> OperatorTxOut:
    """Record euros received and mint the same amount of M3E (needs TREASURER_ROLE on the token)."""
    if len(body.bank_ref.encode()) > 32:
        raise BadRequest("The bank reference must fit in 32 bytes.")
    amount = parse_micro(body.amount)
    if amount == 0:
        raise BadRequest("A deposit needs an amount above zero.", code="bad_amount")
    receipt = await anyio.to_thread.run_sync(operator.record_deposit, body.bank_ref, body.beneficiary, amount)
    return OperatorTxOut(tx_hash=receipt.tx_hash, block=receipt.block_number)
