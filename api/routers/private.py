"""A resident's own data: only the signed-in owner of the address reads it."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Response

from api import services
from api.deps import AccountPath, OwnerSession, Reader, Settings, errors
from api.routers.public import CursorQ, MinBlock
from api.schemas import AccountPaymentsOut

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
