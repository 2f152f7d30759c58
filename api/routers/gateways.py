"""Signed meter readings from home gateways, into the reading pipeline (body ≤ 64 KiB, per-gateway
rate limit in api.limits). The pipeline's status and reasons are passed through."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from api.deps import Ingest
from api.errors import PayloadTooLarge
from api.schemas import DEVICE_PATTERN, GatewayErrorOut, IngestOut
from api.services_energy import ingest_out
from ledger.energy.envelope import (
    CLOCK_STATUSES,
    COMMODITIES,
    DIRECTIONS,
    MAX_READINGS,
    STEPS_S,
    VERSIONS,
)

router = APIRouter(prefix="/v1/gateways", tags=["gateways"])

DevicePath = Annotated[str, Path(pattern=DEVICE_PATTERN, description="the gateway's registered device id")]

_BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
_READING: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["start", "step_s", "commodity", "direction", "value", "version"],
    "properties": {
        "start": {"type": "string", "description": "ISO 8601 in UTC at a step boundary"},
        "step_s": {"type": "integer", "enum": list(STEPS_S)},
        "commodity": {"type": "string", "enum": list(COMMODITIES)},
        "direction": {"type": "string", "enum": list(DIRECTIONS)},
        "value": {"type": "integer", "minimum": 0},
        "version": {"type": "string", "enum": list(VERSIONS)},
    },
}
# Exactly what ledger.energy.envelope reads (its refusals are documented below).
_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "description": "A signed envelope (see ledger.energy.envelope): the canonical JSON payload and "
    "its base64 signature by the gateway's registered Ed25519 or ECDSA P-256 key.",
    "additionalProperties": False,
    "required": ["payload", "signature"],
    "properties": {
        "payload": {
            "type": "object",
            "additionalProperties": False,
            "required": ["device_id", "counter", "meter_serial", "clock_status", "readings"],
            "properties": {
                "device_id": {"type": "string", "minLength": 1, "maxLength": 128},
                "counter": {"type": "integer", "minimum": 0},
                "meter_serial": {"type": "string", "minLength": 1, "maxLength": 128},
                "clock_status": {"type": "string", "enum": list(CLOCK_STATUSES)},
                "readings": {"type": "array", "minItems": 1, "maxItems": MAX_READINGS, "items": _READING},
            },
        },
        "signature": {"type": "string", "pattern": _BASE64, "description": "base64 (padded)"},
    },
}
_REFUSALS = {
    400: "the body cannot be read",
    401: "unsigned or the signature does not verify",
    403: "unknown gateway, or a meter this gateway does not read",
    409: "a replayed or decreasing counter",
    413: "body above 64 KiB or too many readings",
    422: "malformed, or readings out of range (the code says which)",
    429: "this gateway sends too fast",
    503: "the reading store is unavailable",
}


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it passes `limit` bytes (the body-limit middleware already
    refuses a declared Content-Length above the server's limit before anything is read)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit // 1024} KiB; send less.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit // 1024} KiB; send less.")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/{device_id}/readings",
    response_model=IngestOut,
    response_model_exclude_none=True,
    responses={s: {"model": GatewayErrorOut, "description": d} for s, d in _REFUSALS.items()},
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ENVELOPE}}}
    },
)
async def post_readings(device_id: DevicePath, request: Request, ingest: Ingest) -> JSONResponse:
    """One signed envelope of meter readings from gateway `device_id` (it must be the envelope's
    device). Stored, duplicate (200), or refused with the pipeline's code and a reason."""
    body = await _read_body(request, ingest.max_bytes)
    result = await anyio.to_thread.run_sync(ingest.submit, body, device_id)
    out = ingest_out(result).model_dump(exclude_none=True)
    if result.ok:
        return JSONResponse(out, status_code=200)
    error = {
        "code": result.code or "rejected",
        "message": result.message or "The readings were refused.",
    }
    return JSONResponse({"error": error, "ingest": out}, status_code=result.http_status)
