"""Sign-In with Ethereum: a server nonce, the signed message, then a session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import anyio
from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Depends, Query, Request, Response

from api.deps import (
    SESSION_COOKIE,
    CurrentSession,
    Nonces,
    Sessions,
    Settings,
    Verifier,
    errors,
    session_token,
)
from api.errors import RateLimited
from api.schemas import ADDRESS_PATTERN, NonceOut, SessionOut, SiweIn
from api.siwe import SIGN_IN_STATEMENT, SiweMessage
from api.state import Session, SharedLimiter

router = APIRouter(prefix="/v1/auth", tags=["sign-in"])


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def per_client_cap(route: str) -> Any:
    """At most LEDGER_API_{NONCE,SIGNIN}_PER_MINUTE requests per client address on a sign-in
    route, counted in the shared store: a flood from a few addresses cannot crowd out the rest."""

    async def check(request: Request) -> None:
        settings = request.app.state.settings
        if not settings.rate_limit_enabled:
            return
        per_minute = settings.nonce_per_minute if route == "nonce" else settings.signin_per_minute
        limiter = SharedLimiter(request.app.state.shared, per_minute / 60, per_minute)
        key = f"{route}:{_client(request)}"
        wait = (
            limiter.take(key)
            if request.app.state.shared.inline
            else await anyio.to_thread.run_sync(limiter.take, key)
        )
        if wait > 0:
            retry = max(1, int(wait + 0.999))
            raise RateLimited(
                f"Too many sign-in requests from your address; wait {retry} s and try again.",
                retry_after=retry,
            )

    return Depends(check)


@router.get("/nonce", response_model=NonceOut, responses=errors(), dependencies=[per_client_cap("nonce")])
async def nonce(
    nonces: Nonces,
    settings: Settings,
    response: Response,
    address: Annotated[
        str | None, Query(pattern=ADDRESS_PATTERN, description="prepare the message for this address")
    ] = None,
) -> NonceOut:
    """A single-use nonce for an EIP-4361 message (valid a few minutes); with `address`, the
    whole message to sign is prepared too."""
    value, expires = nonces.issue()
    response.headers["Cache-Control"] = "no-store"
    message = None
    if address is not None:
        now = datetime.now(UTC).replace(microsecond=0)
        message = SiweMessage(
            domain=settings.domain,
            address=to_checksum_address(address),
            statement=SIGN_IN_STATEMENT,
            uri=settings.origin + "/",
            chain_id=settings.chain_id,
            nonce=value,
            issued_at=now,
            # The nonce must be used within minutes; the signed message (and so the session it
            # opens, which EIP-4361 bounds by its expiration) lasts a working day.
            expiration_time=now + timedelta(seconds=settings.session_ttl_seconds),
        ).to_text()
    return NonceOut(
        nonce=value,
        expires_at=int(expires),
        domain=settings.domain,
        uri=settings.origin + "/",
        chain_id=settings.chain_id,
        message=message,
    )


@router.post(
    "/siwe", response_model=SessionOut, responses=errors(400, 401), dependencies=[per_client_cap("siwe")]
)
async def sign_in(
    body: SiweIn, verifier: Verifier, sessions: Sessions, settings: Settings, response: Response
) -> SessionOut:
    """Check the signed EIP-4361 message; open a session (HttpOnly cookie and bearer token)."""

    def check_and_open() -> tuple[str, Session]:
        message = verifier.verify(body.message, body.signature)
        not_after = message.expiration_time.timestamp() if message.expiration_time else None
        return sessions.create(message.address, not_after)

    token, session = await anyio.to_thread.run_sync(check_and_open)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max(1, int(session.expires_at - verifier.clock())),
        httponly=True,
        secure=settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    response.headers["Cache-Control"] = "no-store"
    return SessionOut(address=session.address, expires_at=int(session.expires_at), token=token)


@router.get("/session", response_model=SessionOut, responses=errors(401))
async def whoami(session: CurrentSession) -> SessionOut:
    return SessionOut(address=session.address, expires_at=int(session.expires_at))


@router.post("/logout", status_code=204, responses=errors())
async def logout(request: Request, sessions: Sessions) -> Response:
    token = session_token(request)
    if token:
        await anyio.to_thread.run_sync(sessions.revoke, token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
