"""Public reads: what is public by design (token figures, the merchant directory, which merchant
was paid how much, payment request URIs). An account's balance and history are private."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Response

from api import services, services_energy
from api.deps import DeploymentDep, Reader, Settings, Settlements, State, errors
from api.errors import BadRequest
from api.money import parse_micro
from api.schemas import (
    ADDRESS_PATTERN,
    POSITIVE_MICRO_PATTERN,
    Category,
    CommonsOut,
    FundOut,
    Health,
    MerchantsOut,
    PaymentRequestOut,
    PublicPaymentsOut,
    SupplySeriesOut,
    TokenOut,
)

router = APIRouter(prefix="/v1", tags=["public"])

MinBlock = Annotated[
    int | None,
    Query(ge=0, le=2**62, description="wait (a few seconds at most) until the indexer reached this block"),
]
Limit = Annotated[int, Query(ge=1, le=500)]
CursorQ = Annotated[
    str | None,
    Query(max_length=40, pattern=r"^\d{1,18}\.\d{1,9}$", description="next_cursor of the previous page"),
]
ToQ = Annotated[str, Query(pattern=ADDRESS_PATTERN, description="who is paid")]
AmountQ = Annotated[
    str,
    Query(
        pattern=POSITIVE_MICRO_PATTERN,
        max_length=77,
        description="integer micro-M3E above zero, no leading zero (2.40 M3E is 2400000)",
    ),
]


@router.get("/health", response_model=Health, responses=errors())
async def health(reader: Reader, settings: Settings) -> Health:
    cursor = await services.quick_read(reader, reader.cursor)
    return Health(status="ok", chain_id=settings.chain_id, indexed_block=cursor.block_number)


@router.get("/token", response_model=TokenOut, responses=errors())
async def token(reader: Reader, settings: Settings, deployment: DeploymentDep) -> TokenOut:
    """Supply, euro reserve, backing ratio and digital payments over 12 rolling months."""
    return await anyio.to_thread.run_sync(services.token, reader, settings, deployment)


@router.get("/fund", response_model=FundOut, responses=errors(404))
async def fund(reader: Reader, deployment: DeploymentDep, source: Settlements) -> FundOut:
    """The commons fund: its balance, inflows by source and month, outflows by programme and
    month, what each programme may still pay this month (calendar months, UTC), and by month
    what the settlement moved through it: the social price, the peak surcharges it received and
    the off-peak discounts it paid."""

    def read() -> FundOut:
        return services.fund(reader, deployment, solidarity=services_energy.fund_solidarity(source))

    return await anyio.to_thread.run_sync(read)


@router.get("/token/supply-history", response_model=SupplySeriesOut, responses=errors())
async def supply_history(reader: Reader, limit: Limit = 200) -> SupplySeriesOut:
    return await anyio.to_thread.run_sync(services.supply_series, reader, limit)


@router.get("/commons", response_model=CommonsOut, responses=errors())
async def commons(reader: Reader, deployment: DeploymentDep) -> CommonsOut:
    """The commons fund (its account, balance and the redemption fees it received), the euro
    payouts of merchants' redemptions, and whether the token is paused."""
    return await anyio.to_thread.run_sync(services.commons, reader, deployment)


@router.get("/merchants", response_model=MerchantsOut, responses=errors(400))
async def merchants(
    reader: Reader, state: State, settings: Settings, category: Category | None = None
) -> MerchantsOut:
    """The merchant directory, optionally one category, with each one's street address."""
    addresses = await anyio.to_thread.run_sync(state.merchant_addresses, settings.chain_id)
    return await anyio.to_thread.run_sync(services.merchants, reader, category, addresses)


@router.get("/payments/recent", response_model=PublicPaymentsOut, responses=errors())
async def recent_payments(
    reader: Reader, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> PublicPaymentsOut:
    """The latest merchant payments and refunds (what the town-hall screen shows): merchant,
    amount and day only; who paid, the reference and the transaction stay private."""
    return await anyio.to_thread.run_sync(services.recent_payments, reader, limit)


def _amount(text: str) -> int:
    try:
        return parse_micro(text)
    except ValueError as exc:
        raise BadRequest(f"{exc}.", code="bad_amount") from None


@router.get("/payment-requests", response_model=PaymentRequestOut, responses=errors(400))
async def payment_request(
    to: ToQ, amount: AmountQ, settings: Settings, deployment: DeploymentDep
) -> PaymentRequestOut:
    """An ERC-681 payment URI for the token on this chain, with links to its QR code."""
    return services.payment_request(settings, deployment, to, _amount(amount))


_SVG_RESPONSES = {**errors(400), 200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}}}
_PNG_RESPONSES = {
    **errors(400),
    200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
}


@router.get("/payment-requests/qr.svg", response_class=Response, responses=_SVG_RESPONSES)
async def payment_request_svg(
    to: ToQ, amount: AmountQ, settings: Settings, deployment: DeploymentDep
) -> Response:
    request = services.payment_request(settings, deployment, to, _amount(amount))
    return Response(services.qr(request.uri, "svg"), media_type="image/svg+xml")


@router.get("/payment-requests/qr.png", response_class=Response, responses=_PNG_RESPONSES)
async def payment_request_png(
    to: ToQ, amount: AmountQ, settings: Settings, deployment: DeploymentDep
) -> Response:
    request = services.payment_request(settings, deployment, to, _amount(amount))
    return Response(services.qr(request.uri, "png"), media_type="image/png")
