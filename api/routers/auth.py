"""Sign-In with Ethereum: a server nonce, the signed message, then a session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Query, Request, Response

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
from api.schemas import ADDRESS_PATTERN, NonceOut, SessionOut, SiweIn
from api.siwe import SiweMessage

router = APIRouter(prefix="/v1/auth", tags=["sign-in"])


@router.get("/nonce", response_model=NonceOut, responses=errors())
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
            statement="Sign in to the district ledger of Lyon 3e to read your own data.",
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


@router.post("/siwe", response_model=SessionOut, responses=errors(400, 401))
async def sign_in(
    body: SiweIn, verifier: Verifier, sessions: Sessions, settings: Settings, response: Response
) -> SessionOut:
    """Check the signed EIP-4361 message; open a session (HttpOnly cookie and bearer token)."""
    message = verifier.verify(body.message, body.signature)
    not_after = message.expiration_time.timestamp() if message.expiration_time else None
    token, session = sessions.create(message.address, not_after)
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
        sessions.revoke(token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
