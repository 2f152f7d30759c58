"""A resident's own data: only the signed-in owner of the address reads it."""

from __future__ import annotations

import time
from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Response

from api import services, services_energy
from api.deps import (
    AccountPath,
    Energy,
    OwnerReadDep,
    OwnerSession,
    PseudonymsDep,
    Reader,
    Settlements,
    State,
    errors,
)
from api.routers.energy import DayQ
from api.routers.public import CursorQ, Limit, MinBlock
from api.schemas import (
    DAY_PATTERN,
    AccountEnergyOut,
    AccountPaymentsOut,
    BalanceOut,
    BookingsOut,
    HistoryOut,
    MandatesOut,
    NamingIn,
    NamingOut,
    ProofsOut,
)
from api.state import ApiState, Pseudonyms

router = APIRouter(prefix="/v1/accounts/{account}", tags=["private"])


@router.get("/balance", response_model=BalanceOut, responses=errors(401, 403, 425))
async def balance(account: AccountPath, owner: OwnerReadDep, min_block: MinBlock = None) -> BalanceOut:
    """Your balance."""
    await services.wait_for_block(owner.reader, min_block, owner.settings)
    return await services.quick_read(owner.reader, services.balance, owner.reader, account)


@router.get("/history", response_model=HistoryOut, responses=errors(400, 401, 403, 425))
async def history(
    account: AccountPath,
    owner: OwnerReadDep,
    cursor: CursorQ = None,
    limit: Limit = 50,
    min_block: MinBlock = None,
) -> Response:
    """Your transfers in and out, with counterparties, newest first, paged on (block, log index)."""
    await services.wait_for_block(owner.reader, min_block, owner.settings)
    body = await services.quick_read(owner.reader, services.history, owner.reader, account, cursor, limit)
    return Response(body, media_type="application/json", headers={"Cache-Control": "private, no-store"})


@router.get("/naming", response_model=NamingOut, responses=errors(401, 403))
async def get_naming(account: AccountPath, _session: OwnerSession, state: State) -> NamingOut:
    """Whether the prosumers you buy from see your address (else a pseudonym)."""
    named = await anyio.to_thread.run_sync(state.named, [account])
    return NamingOut(account=account.lower(), named=account.lower() in named)


@router.put("/naming", response_model=NamingOut, responses=errors(400, 401, 403))
async def set_naming(account: AccountPath, body: NamingIn, _session: OwnerSession, state: State) -> NamingOut:
    """Choose whether the prosumers you buy from see your address (default: a pseudonym)."""
    await anyio.to_thread.run_sync(state.set_named, account, body.named, int(time.time()))
    return NamingOut(account=account.lower(), named=body.named)


@router.get("/payments", response_model=AccountPaymentsOut, responses=errors(400, 401, 403, 425))
async def my_payments(
    account: AccountPath,
    owner: OwnerReadDep,
    cursor: CursorQ = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    min_block: MinBlock = None,
) -> AccountPaymentsOut:
    """Your payments and refunds to merchants, newest first."""
    await services.wait_for_block(owner.reader, min_block, owner.settings)
    return await anyio.to_thread.run_sync(services.account_payments, owner.reader, account, cursor, limit)


@router.get("/bookings", response_model=BookingsOut, responses=errors(401, 403))
async def my_bookings(
    account: AccountPath, _session: OwnerSession, reader: Reader, response: Response
) -> BookingsOut:
    """Your bookings, newest first; the deposits of open ones are held in escrow."""
    response.headers["Cache-Control"] = "private, no-store"
    return await anyio.to_thread.run_sync(services.bookings, reader, account)


@router.get("/mandates", response_model=MandatesOut, responses=errors(401, 403))
async def my_mandates(
    account: AccountPath, _session: OwnerSession, reader: Reader, response: Response
) -> MandatesOut:
    """Your energy mandates as the chain last recorded them: the caps per day and per month the
    settlement may pull from you, or revoked."""
    response.headers["Cache-Control"] = "private, no-store"
    return await anyio.to_thread.run_sync(services.mandates, reader, account)


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
    state: State,
    pseudonyms: PseudonymsDep,
    response: Response,
    day: DayQ = None,
    days: Annotated[int, Query(ge=1, le=366, description="how many days of earnings, ending at `day`")] = 1,
) -> AccountEnergyOut:
    """Your load curves of `day` (electricity import and export, gas, water per step) and, per day,
    your production, what was allocated to whom, and your earnings and purchases."""
    the_day = services_energy.parse_day(day)
    response.headers["Cache-Control"] = "private, no-store"
    return await anyio.to_thread.run_sync(
        services_energy.account_energy,
        energy,
        source,
        account,
        the_day,
        days,
        names(account, state, pseudonyms),
    )


@router.get("/proofs", response_model=ProofsOut, responses=errors(400, 401, 403))
async def my_proofs(
    account: AccountPath,
    _session: OwnerSession,
    source: Settlements,
    state: State,
    pseudonyms: PseudonymsDep,
    response: Response,
    day: Annotated[str, Query(pattern=DAY_PATTERN, description="YYYY-MM-DD")],
) -> ProofsOut:
    """Your settlement lines of `day` with their Merkle proofs, checked against the root on chain."""
    the_day = services_energy.parse_day(day)
    response.headers["Cache-Control"] = "private, no-store"
    return await anyio.to_thread.run_sync(
        services_energy.account_proofs, source, account, the_day, names(account, state, pseudonyms)
    )


def names(account: str, state: ApiState, pseudonyms: Pseudonyms) -> services_energy.Namer:
    """How `account` sees its counterparties: a pseudonym each, unless they chose to be named."""

    def name(others: list[str]) -> dict[str, tuple[str, bool]]:
        named = state.named(others)
        return {
            o.lower(): (o.lower(), True) if o.lower() in named else (pseudonyms.of(account, o), False)
            for o in others
        }

    return name
