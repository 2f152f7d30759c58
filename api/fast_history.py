"""The history page's fast lane: `GET /v1/accounts/{account}/history` answered without FastAPI's
routing, parameter validation and dependency solving, which cost more than the page itself.

It takes only the common, well-formed request: no root path, an address, at most `limit` and
`cursor` written canonically, a bearer token or the session cookie. It makes the route's own
checks on every request: the session is read from the shared store (so a sign-out on any worker
ends it here at once) and must belong to the path's address. Anything else (no or a dead session,
someone else's address, an unusual or invalid parameter, `min_block`, an error while reading)
goes on to the FastAPI route, which answers it as it always has; that route stays the one in the
OpenAPI schema, and the fast lane's answer is byte for byte the route's
(tests/unit/test_api_fast_history.py).
"""

from __future__ import annotations

import re
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from api import services
from api.deps import SESSION_COOKIE, owner_read
from api.ports import LedgerReader
from api.routers import private
from api.state import SessionStore
from ledger.errors import LedgerError

PATH = "/v1/accounts/{account}/history"
_PREFIX = "/v1/accounts/"
_SUFFIX = "/history"
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
# The canonical forms of the route's `limit` (1-500, no sign, no leading zero) and `cursor`
# (its pattern): any other spelling is left to FastAPI's own parsing.
_LIMIT = re.compile(rb"[1-9][0-9]{0,2}")
_CURSOR = re.compile(rb"[0-9]{1,18}\.[0-9]{1,9}")
_HEADERS = [(b"cache-control", b"private, no-store")]  # as the route's Response sets them


def _query(raw: bytes) -> tuple[int, str | None] | None:
    """(limit, cursor) when the query string is empty or holds only canonical `limit` and
    `cursor`, each at most once; None for anything else."""
    limit, cursor = 50, None
    if not raw:
        return limit, cursor
    seen: set[bytes] = set()
    for part in raw.split(b"&"):
        name, sep, value = part.partition(b"=")
        if not sep or name in seen:
            return None
        seen.add(name)
        if name == b"limit" and _LIMIT.fullmatch(value) is not None:
            limit = int(value)
            if limit > 500:
                return None
        elif name == b"cursor" and _CURSOR.fullmatch(value) is not None:
            cursor = value.decode("ascii")
        else:
            return None
    return limit, cursor


def _token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The session token as api.deps.session_token reads it: the first Authorization header when
    it is a bearer, else the `ledger_session` cookie of the first Cookie header."""
    authorization = cookie = None
    for name, value in headers:
        if name == b"authorization" and authorization is None:
            authorization = value
        elif name == b"cookie" and cookie is None:
            cookie = value
    if authorization is not None and authorization[:7].lower() == b"bearer ":
        return authorization[7:].decode("latin-1").strip() or None
    if cookie is None:
        return None
    return cookie_parser(cookie.decode("latin-1")).get(SESSION_COOKIE)


class HistoryFastLane:
    """Pure ASGI, innermost of the app's middlewares (the latency, body, rate and header
    middlewares wrap it as they wrap the route)."""

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner
        # The route this lane stands in for (the latency histogram labels answers with it).
        self.route = next(
            r
            for r in private.router.routes
            if isinstance(r, APIRoute) and r.path == PATH and r.methods == {"GET"}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not path.endswith(_SUFFIX)
            or scope["method"] != "GET"
            or not (body := await self._answer(scope, path))
        ):
            await self.app(scope, receive, send)
            return
        headers = [
            *_HEADERS,
            (b"content-length", str(len(body)).encode("ascii")),
            (b"content-type", b"application/json"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope, path: str) -> bytes | None:
        """The page's JSON, or None when the request is for the FastAPI route to answer."""
        account = path[len(_PREFIX) : -len(_SUFFIX)]
        if (
            not path.startswith(_PREFIX)
            or _ADDRESS.fullmatch(account) is None
            or scope.get("root_path")
            or owner_read in self.owner.dependency_overrides
        ):
            return None
        # The route this path goes to, whoever answers: an unexpected error while reading below
        # is then counted under the route's label, as the route's own would be.
        scope["route"] = self.route
        query = _query(scope.get("query_string", b""))
        token = _token(scope.get("headers", []))
        if query is None or token is None:
            return None
        limit, cursor = query
        state: Any = self.owner.state
        sessions: SessionStore = state.sessions
        reader: LedgerReader = state.reader
        try:
            session = (
                sessions.get(token)
                if sessions.state.inline
                else await anyio.to_thread.run_sync(sessions.get, token)
            )
            if session is None or session.address.lower() != account.lower():
                return None
            return await services.quick_read(reader, services.history, reader, account, cursor, limit)
        except LedgerError:  # the route reads again and answers with the API's error
            return None
