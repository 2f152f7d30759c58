"""The live feed over Server-Sent Events."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from api.deps import Reader, Settings, Settlements, errors
from api.feed import FeedTracker

router = APIRouter(prefix="/v1", tags=["live"])


@router.get(
    "/feed",
    response_class=StreamingResponse,
    responses={**errors(), 200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def feed(
    request: Request,
    reader: Reader,
    settings: Settings,
    settlements: Settlements,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    """Events `block`, `payment`, `refund`, `settlement` (a day committed or a batch of its
    lines paid) and `reorg` as they are indexed; resumable with Last-Event-ID. On a new
    connection the last few payments and settlements are replayed first."""
    tracker = FeedTracker(reader, last_event_id, replay=settings.feed_replay, settlements=settlements)

    async def stream() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n"
        beat = time.monotonic()
        while True:
            events = await anyio.to_thread.run_sync(tracker.poll)
            for event in events:
                yield event.encode()
            if not events and time.monotonic() - beat > settings.feed_heartbeat_seconds:
                yield b": keep-alive\n\n"
                beat = time.monotonic()
            elif events:
                beat = time.monotonic()
            if await request.is_disconnected():
                return
            await anyio.sleep(settings.feed_poll_seconds)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
