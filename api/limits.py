"""Protections in front of every route: a body size limit and per-client rate limits.

Both are plain ASGI middlewares, so they refuse before a route reads anything, with the API's
error shape.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import anyio
import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message}})


async def send_error(
    send: Send, status: int, code: str, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = error_body(code, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class TooLarge(HTTPException):
    """Raised from `receive` so that FastAPI passes it through as a 413 answer."""


class BodyLimitMiddleware:
    """413 when the declared or the received body exceeds `limit` bytes."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"The request body is larger than {self.limit // 1024} KiB; send less."
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await send_error(send, 400, "bad_request", "The Content-Length header is not a number.")
                    return
                if declared > self.limit:
                    await send_error(send, 413, "payload_too_large", message)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > self.limit:
                    raise TooLarge(413, message)
            return msg

        await self.app(scope, limited_receive, send)


class Limiter(Protocol):
    def take(self, key: str) -> float: ...


class RateLimitMiddleware:
    """429 with Retry-After when a client (by address) or a gateway (by device id) is too fast.

    The limiters count in the shared store (api.state.SharedLimiter), so every worker holds the
    same limit; `inline` runs them on the event loop (SQLite, memory), else in a worker thread."""

    def __init__(self, app: ASGIApp, clients: Limiter, gateways: Limiter, inline: bool = True) -> None:
        self.app = app
        self.clients = clients
        self.gateways = gateways
        self.inline = inline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        parts = path.split("/")
        if len(parts) > 3 and parts[1] == "v1" and parts[2] == "gateways":
            buckets, key, who = self.gateways, f"gw:{parts[3]}", "This gateway sends"
        else:
            client: Any = scope.get("client")
            buckets, key, who = self.clients, f"ip:{client[0] if client else 'unknown'}", "You send"
        wait = buckets.take(key) if self.inline else await anyio.to_thread.run_sync(buckets.take, key)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            await send_error(
                send,
                429,
                "rate_limited",
                f"{who} requests too quickly; wait {retry} s and try again.",
                [(b"retry-after", str(retry).encode())],
            )
            return
        await self.app(scope, receive, send)


def _carries_session(scope: Scope) -> bool:
    """Whether the request names a session (an `Authorization: Bearer` header or a cookie)."""
    for name, value in scope.get("headers", []):
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return True
        if name == b"cookie":
            return True
    return False


class SecurityHeadersMiddleware:
    """nosniff and no-referrer on every answer (plain ASGI: streaming answers stay streaming), and
    `Cache-Control` on every answer whose route did not set its own: `private, no-store` when the
    request carries a session (cookie or bearer), `no-store` otherwise, so no private answer
    (balance, payments, naming, session, top-up) is kept by a shared or a disk cache."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if b"referrer-policy" not in names:
                    headers.append((b"referrer-policy", b"no-referrer"))
                if b"cache-control" not in names:
                    private = _carries_session(scope)
                    headers.append((b"cache-control", b"private, no-store" if private else b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
