"""Dependencies of the routes (swapped in tests with app.dependency_overrides, or by giving
`create_app` its ports).

They are `async def` on purpose: FastAPI runs a plain `def` dependency in the threadpool, and a
thread round trip per dependency cost more than the database read of a balance. A resident's own
data takes one flat dependency (`owner_session`, `owner_read`) rather than a chain of them:
FastAPI's solving of each nested dependency cost as much as the history query itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import Depends, Path, Request

from api.errors import Forbidden, NotSignedIn
from api.ports import EnergyReader, LedgerReader, OperatorChain, Role, SettlementSource
from api.schemas import ADDRESS_PATTERN, ErrorBody
from api.services import Deployment
from api.services_energy import GatewayIngest
from api.settings import ApiSettings
from api.siwe import SiweVerifier
from api.state import ApiState, NonceSigner, Pseudonyms, Session, SessionStore

SESSION_COOKIE = "ledger_session"


async def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


async def get_reader(request: Request) -> LedgerReader:
    reader: LedgerReader = request.app.state.reader
    return reader


async def get_operator(request: Request) -> OperatorChain:
    operator: OperatorChain = request.app.state.operator
    return operator


async def get_deployment(request: Request) -> Deployment:
    deployment: Deployment = request.app.state.deployment
    return deployment


async def get_sessions(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.sessions
    return sessions


async def get_nonces(request: Request) -> NonceSigner:
    nonces: NonceSigner = request.app.state.nonces
    return nonces


async def get_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.shared
    return state


async def get_pseudonyms(request: Request) -> Pseudonyms:
    pseudonyms: Pseudonyms = request.app.state.pseudonyms
    return pseudonyms


async def get_verifier(request: Request) -> SiweVerifier:
    verifier: SiweVerifier = request.app.state.verifier
    return verifier


Settings = Annotated[ApiSettings, Depends(get_settings)]
Reader = Annotated[LedgerReader, Depends(get_reader)]
Operator = Annotated[OperatorChain, Depends(get_operator)]
DeploymentDep = Annotated[Deployment, Depends(get_deployment)]
Sessions = Annotated[SessionStore, Depends(get_sessions)]
Nonces = Annotated[NonceSigner, Depends(get_nonces)]
State = Annotated[ApiState, Depends(get_state)]
PseudonymsDep = Annotated[Pseudonyms, Depends(get_pseudonyms)]
Verifier = Annotated[SiweVerifier, Depends(get_verifier)]
AccountPath = Annotated[str, Path(pattern=ADDRESS_PATTERN, description="an Ethereum address (0x + 40 hex)")]


def session_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.cookies.get(SESSION_COOKIE)


async def signed_in_session(request: Request) -> Session:
    """The request's live session, else NotSignedIn (a plain function, so flat dependencies share it)."""
    token = session_token(request)
    session = None
    if token:
        sessions: SessionStore = request.app.state.sessions
        session = (
            sessions.get(token)
            if sessions.state.inline
            else await anyio.to_thread.run_sync(sessions.get, token)
        )
    if session is None:
        raise NotSignedIn(
            "Sign in with your wallet first (Sign-In with Ethereum); your session may have expired."
        )
    return session


async def current_session(request: Request) -> Session:
    return await signed_in_session(request)


CurrentSession = Annotated[Session, Depends(current_session)]

_ADDRESS = re.compile(ADDRESS_PATTERN)


async def owner_session(request: Request) -> Session:
    """The session, when it belongs to the path's `account`: nobody reads another resident's data.

    The errors keep the order of the nested dependencies this replaces: not signed in (401) first,
    then a malformed address (422, left to the route's own `account` parameter), then someone
    else's address (403), then the route's other parameters (422)."""
    session = await signed_in_session(request)
    account = request.path_params.get("account", "")
    if _ADDRESS.fullmatch(account) is not None and session.address.lower() != account.lower():
        raise Forbidden("You can only read your own data.", code="not_your_data")
    return session


OwnerSession = Annotated[Session, Depends(owner_session)]


@dataclass(frozen=True, slots=True)
class OwnerRead:
    """What a route reading a resident's ledger data needs, resolved in one dependency."""

    session: Session
    reader: LedgerReader
    settings: ApiSettings


async def owner_read(request: Request) -> OwnerRead:
    session = await owner_session(request)
    state = request.app.state
    return OwnerRead(session, state.reader, state.settings)


OwnerReadDep = Annotated[OwnerRead, Depends(owner_read)]


def role_required(role: Role) -> Any:
    async def check(session: CurrentSession, operator: Operator) -> Session:
        if not await anyio.to_thread.run_sync(operator.has_role, role, session.address):
            raise Forbidden(
                f"This action needs the on-chain {role} role, which {session.address} does not hold.",
                code="missing_role",
            )
        return session

    return Depends(check)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the error answers a route can give."""
    text = {
        400: "bad request",
        401: "not signed in",
        403: "forbidden",
        404: "not found",
        413: "body too large",
        422: "invalid request",
        425: "the indexer has not reached min_block yet",
        429: "too many requests",
        502: "the chain refused",
        503: "unavailable",
    }
    return {
        s: {"model": ErrorBody, "description": text.get(s, "error")} for s in (*statuses, 413, 422, 429, 503)
    }


async def get_ingest(request: Request) -> GatewayIngest:
    ingest: GatewayIngest = request.app.state.ingest
    return ingest


async def get_energy(request: Request) -> EnergyReader:
    energy: EnergyReader = request.app.state.energy
    return energy


async def get_settlements(request: Request) -> SettlementSource:
    source: SettlementSource = request.app.state.settlements
    return source


Ingest = Annotated[GatewayIngest, Depends(get_ingest)]
Energy = Annotated[EnergyReader, Depends(get_energy)]
Settlements = Annotated[SettlementSource, Depends(get_settlements)]
