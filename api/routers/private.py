"""A resident's own data: only the signed-in owner of the address reads it."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Response

from api import services, services_energy
from api.deps import AccountPath, Energy, OwnerSession, Reader, Settings, Settlements, errors
from api.routers.energy import DayQ
from api.routers.public import CursorQ, MinBlock
from api.schemas import DAY_PATTERN, AccountEnergyOut, AccountPaymentsOut, ProofsOut

router = APIRouter(prefix="/v1/accounts/{account}", tags=["private"])


@router.get("/payments", response_model=AccountPaymentsOut, responses=errors(400, 401, 403, 425))
async def my_payments(
    account: AccountPath,
    _session: OwnerSession,
    reader: Reader,
    settings: Settings,
    cursor: CursorQ = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    min_block: MinBlock = None,
) -> AccountPaymentsOut:
    """Your payments and refunds to merchants, newest first."""
    await services.wait_for_block(reader, min_block, settings)
    return await anyio.to_thread.run_sync(services.account_payments, reader, account, cursor, limit)


@router.get(
    "/statement.csv",
    response_class=Response,
    responses={**errors(400, 401, 403), 200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def statement(
    account: AccountPath,
    _session: OwnerSession,
    reader: Reader,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")],
) -> Response:
    """Your monthly statement as CSV (payments negative, refunds positive, micro-M3E and M3E)."""
    body, block = await anyio.to_thread.run_sync(services.statement_csv, reader, account, month)
    return Response(
        body,
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="statement-{account.lower()}-{month}.csv"',
            "X-Indexed-Block": str(block),
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/energy", response_model=AccountEnergyOut, responses=errors(400, 401, 403))
async def my_energy(
    account: AccountPath,
    _session: OwnerSession,
    energy: Energy,
    source: Settlements,
    response: Response,
    day: DayQ = None,
    days: Annotated[int, Query(ge=1, le=366, description="how many days of earnings, ending at `day`")] = 1,
) -> AccountEnergyOut:
    """Your load curves of `day` (electricity import and export, gas, water per step) and, per day,
    your production, what was allocated to whom, and your earnings and purchases."""
    the_day = services_energy.parse_day(day)
    response.headers["Cache-Control"] = "private, no-store"
    return await anyio.to_thread.run_sync(
        services_energy.account_energy, energy, source, account, the_day, days
    )


@router.get("/proofs", response_model=ProofsOut, responses=errors(400, 401, 403))
async def my_proofs(
    account: AccountPath,
    _session: OwnerSession,
    source: Settlements,
    response: Response,
    day: Annotated[str, Query(pattern=DAY_PATTERN, description="YYYY-MM-DD")],
) -> ProofsOut:
    """Your settlement lines of `day` with their Merkle proofs, checked against the root on chain."""
    the_day = services_energy.parse_day(day)
    response.headers["Cache-Control"] = "private, no-store"
    return await anyio.to_thread.run_sync(services_energy.account_proofs, source, account, the_day)
