"""A merchant's own view: the payments it received with their references, the bookings made with
it (deposits held, what closing charged), and payment requests whose reference only the merchant
(and the payer) can read. Signed in with the merchant's payout
key (Sign-In with Ethereum); nobody else reads them."""

from __future__ import annotations

import time
from typing import Annotated

import anyio
from fastapi import APIRouter, Path, Query, Response

from api import services
from api.deps import CurrentSession, DeploymentDep, Reader, Settings, State, errors
from api.errors import Forbidden
from api.money import parse_micro
from api.routers.public import CursorQ, MinBlock
from api.schemas import MerchantBookingsOut, MerchantPaymentsOut, MerchantRequestIn, MerchantRequestOut
from api.state import Session
from ledger.db.queries_api import MerchantItem

router = APIRouter(prefix="/v1/merchants/{merchant_id}", tags=["merchant"])

MerchantId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the merchant's id in the registry")]


async def _own_merchant(reader: Reader, merchant_id: int, session: Session) -> MerchantItem:
    merchant = await anyio.to_thread.run_sync(services.find_merchant, reader, merchant_id)
    if merchant.payout.lower() != session.address.lower():
        raise Forbidden(
            "Only the merchant's payout account reads its payments and makes its requests: sign in "
            "with that account.",
            code="not_your_merchant",
        )
    return merchant


@router.get("/payments", response_model=MerchantPaymentsOut, responses=errors(400, 401, 403, 404, 425))
async def merchant_payments(
    merchant_id: MerchantId,
    session: CurrentSession,
    reader: Reader,
    state: State,
    settings: Settings,
    response: Response,
    cursor: CursorQ = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    min_block: MinBlock = None,
) -> MerchantPaymentsOut:
    """The payments and refunds of your merchant, newest first, with who paid and the reference:
    its text when the payment answers a request you made here, else the chain's commitment."""
    await _own_merchant(reader, merchant_id, session)
    await services.wait_for_block(reader, min_block, settings)
    response.headers["Cache-Control"] = "private, no-store"
    return await anyio.to_thread.run_sync(
        services.merchant_payments, reader, state, settings.chain_id, merchant_id, cursor, limit
    )


@router.get("/bookings", response_model=MerchantBookingsOut, responses=errors(400, 401, 403, 404, 425))
async def merchant_bookings(
    merchant_id: MerchantId,
    session: CurrentSession,
    reader: Reader,
    settings: Settings,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    min_block: MinBlock = None,
) -> MerchantBookingsOut:
    """The bookings made with your merchant, newest first, with who booked: the deposits of the
    open ones are held in escrow until you close them; a closed one says what it charged (paid to
    your payout account) and what it returned."""
    await _own_merchant(reader, merchant_id, session)
    await services.wait_for_block(reader, min_block, settings)
    response.headers["Cache-Control"] = "private, no-store"
    return await anyio.to_thread.run_sync(services.merchant_bookings, reader, merchant_id, limit)


@router.post(
    "/payment-requests",
    response_model=MerchantRequestOut,
    status_code=201,
    responses=errors(400, 401, 403, 404),
)
async def create_request(
    merchant_id: MerchantId,
    body: MerchantRequestIn,
    session: CurrentSession,
    reader: Reader,
    state: State,
    settings: Settings,
    deployment: DeploymentDep,
    response: Response,
) -> MerchantRequestOut:
    """A payment request with a reference: the URI (and its QR code) carry the reference and a
    fresh salt to the payer; the payment records only their commitment. The API keeps
    (reference, salt, commitment) to show you the reference when the payment arrives."""
    merchant = await _own_merchant(reader, merchant_id, session)
    micro = parse_micro(body.amount)
    response.headers["Cache-Control"] = "no-store"
    return await anyio.to_thread.run_sync(
        lambda: services.merchant_request(
            settings, deployment, state, merchant, micro, body.reference, time.time()
        )
    )
