"""The signed-in resident's own data: the archive of everything the district keeps about them,
their consents per purpose, and erasure (see ledger.domain.data_ownership)."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Request, Response
from pydantic import Field, StrictBool
from sqlalchemy.engine import Engine

from api.deps import CurrentSession, Settings, State, errors
from api.errors import BadRequest, Conflict
from api.schemas import In
from ledger.domain.data_ownership import (
    AGGREGATES,
    KEPT_AFTER_ERASURE,
    SHARING,
    THIRD_PARTIES,
    DataOwnershipError,
    archive,
)

router = APIRouter(prefix="/v1/me", tags=["my data"])
NO_STORE = {"Cache-Control": "private, no-store"}


class AggregatesConsentIn(In):
    purpose: Literal["district_aggregates"] = Field(
        description=f"{AGGREGATES}: your readings count in the district figures"
    )
    granted: StrictBool


class SharingConsentIn(In):
    purpose: Literal["third_party_sharing"] = Field(
        description=f"{SHARING}: your readings are shared with the named party"
    )
    party: Literal[THIRD_PARTIES] = Field(description="the third party")  # type: ignore[valid-type]
    granted: StrictBool


ConsentIn = Annotated[AggregatesConsentIn | SharingConsentIn, Field(discriminator="purpose")]


class EraseIn(In):
    confirm: str = Field(
        pattern="^0x[0-9a-fA-F]{40}$", description="your own address, to confirm that you ask for erasure"
    )


async def resident_engine(request: Request, settings: Settings) -> Engine:
    engine: Engine | None = getattr(request.app.state, "resident_engine", None)
    if engine is None:
        from ledger.db.resident_data import open_engine

        engine = await anyio.to_thread.run_sync(open_engine, settings.database_url)
        request.app.state.resident_engine = engine
    return engine


def _consents(engine: Engine, account: str) -> list[dict[str, Any]]:
    from ledger.db.resident_data import consents

    return [
        {"purpose": c.purpose, "party": c.party or None, "granted": c.granted, "changed_ts": c.changed_ts}
        for c in consents(engine, account)
    ]


_ZIP_RESPONSES = {
    **errors(401),
    200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
}


@router.get("/export", response_class=Response, responses=_ZIP_RESPONSES)
async def export(request: Request, session: CurrentSession, settings: Settings) -> Response:
    """Everything the district keeps about you, as one zip of JSON and CSV files (the format is
    in the README: manifest.json, then each collection as <name>.json and <name>.csv)."""
    from ledger.db.resident_data import export as collect

    engine = await resident_engine(request, settings)
    now = int(time.time())
    data = await anyio.to_thread.run_sync(collect, engine, session.address)
    body = archive(session.address, now, data)
    name = f"m3e-data-{session.address.lower()}-{now}.zip"
    return Response(
        body,
        media_type="application/zip",
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/consents", responses=errors(401))
async def get_consents(
    request: Request, session: CurrentSession, settings: Settings, response: Response
) -> dict[str, Any]:
    """Your choices, per purpose (the default where you never chose)."""
    engine = await resident_engine(request, settings)
    response.headers.update(NO_STORE)
    rows = await anyio.to_thread.run_sync(_consents, engine, session.address)
    return {"account": session.address.lower(), "consents": rows}


@router.put("/consents", responses=errors(400, 401))
async def put_consent(
    body: ConsentIn, request: Request, session: CurrentSession, settings: Settings, response: Response
) -> dict[str, Any]:
    """Grant or revoke one purpose; it applies to every figure and export from now on."""
    from ledger.db.resident_data import set_consent

    engine = await resident_engine(request, settings)
    party = body.party if isinstance(body, SharingConsentIn) else None
    try:
        await anyio.to_thread.run_sync(
            lambda: set_consent(engine, session.address, body.purpose, party, body.granted, int(time.time()))
        )
    except DataOwnershipError as exc:
        raise BadRequest(str(exc), code="bad_consent") from None
    response.headers.update(NO_STORE)
    rows = await anyio.to_thread.run_sync(_consents, engine, session.address)
    return {"account": session.address.lower(), "consents": rows}


@router.post("/erase", responses=errors(400, 401, 409))
async def erase(
    body: EraseIn,
    request: Request,
    session: CurrentSession,
    settings: Settings,
    state: State,
    response: Response,
) -> dict[str, Any]:
    """Erase what the district keeps about you off chain, except what the law or your settlements
    require (listed with how long); every session of yours ends with it."""
    from ledger.db.resident_data import erase as do_erase

    if body.confirm.lower() != session.address.lower():
        raise Conflict(
            "To confirm the erasure, send your own address (the one signed in) as confirm.",
            code="not_confirmed",
        )
    engine = await resident_engine(request, settings)
    deleted = await anyio.to_thread.run_sync(do_erase, engine, session.address, int(time.time()))
    # The session store may be Redis or another database than the ledger's: end them there too.
    await anyio.to_thread.run_sync(state.revoke_sessions_of, session.address)
    response.headers.update(NO_STORE)
    return {
        "account": session.address.lower(),
        "deleted": deleted,
        "kept": [{"what": k.what, "why": k.why, "until": k.until} for k in KEPT_AFTER_ERASURE],
    }
