"""The app factory: `create_app(settings)` wires the ports, routers, protections and errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.chain_ops import ChainOperator
from api.errors import ApiError
from api.fast_history import HistoryFastLane
from api.limits import BodyLimitMiddleware, RateLimitMiddleware, SecurityHeadersMiddleware
from api.ports import (
    EnergyReader,
    LedgerReader,
    OperatorChain,
    ReadingIngest,
    ReviewDesk,
    SettlementSource,
)
from api.routers import (
    auth,
    energy,
    feed,
    gateways,
    me,
    merchant,
    operator,
    ops,
    private,
    public,
    terminal,
    treasury,
    web,
)
from api.routers import reviews as reviews_router
from api.services import Deployment
from api.services_energy import GatewayIngest
from api.settings import ApiSettings
from api.siwe import SiweVerifier
from api.state import ApiState, NonceSigner, Pseudonyms, ServerKey, SessionStore, SharedLimiter
from api.validation import explain
from ledger.db.errors import DatabaseError
from ledger.errors import (
    ChainError,
    ChainUnavailable,
    ConfigError,
    ContractRuleError,
    InputError,
    LedgerError,
    ManifestError,
)

log = logging.getLogger("api")

_HTTP_CODES = {
    400: "bad_request",
    401: "not_signed_in",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def load_deployment(settings: ApiSettings) -> Deployment:
    """The contract addresses, from the manifest when there is one (read without web3)."""
    token = settings.token_address.lower() if settings.token_address else None
    contracts: tuple[str, ...] = ()
    fund: str | None = None
    if settings.manifest is not None and Path(settings.manifest).is_file():
        from ledger.chain.manifest import Manifest

        try:
            manifest = Manifest.load(settings.manifest)
        except ManifestError as exc:
            log.warning("deployment manifest unreadable: %s", exc)
        else:
            contracts = tuple(c.address.lower() for c in manifest.contracts.values())
            if token is None and "DistrictToken" in manifest.contracts:
                token = manifest.contracts["DistrictToken"].address.lower()
            if "CommonsFund" in manifest.contracts:
                fund = manifest.contracts["CommonsFund"].address.lower()
    return Deployment(token=token, contracts=tuple(a for a in contracts if a != token), fund=fund)


def _ledger_error(exc: LedgerError) -> tuple[int, str, str]:
    message = str(exc) or "The ledger refused."
    if isinstance(exc, ApiError):
        return exc.status, exc.code, exc.message
    if isinstance(exc, InputError):
        return 400, "bad_request", message
    if isinstance(exc, ContractRuleError):
        return 422, "contract_refused", message
    if isinstance(exc, ChainUnavailable):
        return 503, "chain_unavailable", "The district's chain node does not answer; try again later."
    if isinstance(exc, ChainError):
        return 502, "chain_refused", message
    if isinstance(exc, DatabaseError):
        return 503, "database_unavailable", "The ledger database cannot be read right now; try again later."
    if isinstance(exc, ManifestError | ConfigError):
        log.warning("not configured: %s", exc)
        return 503, "not_configured", "This part of the ledger is not set up on this server."
    return 500, "ledger_error", message


def create_app(
    settings: ApiSettings,
    *,
    reader: LedgerReader | None = None,
    operator_chain: OperatorChain | None = None,
    ingest: ReadingIngest | None = None,
    energy_reader: EnergyReader | None = None,
    settlements: SettlementSource | None = None,
    reviews: ReviewDesk | None = None,
    state: ApiState | None = None,
) -> FastAPI:
    """The API; the ports default to the real adapters built from `settings`."""
    key = server_key(settings)
    if state is None:
        from ledger.db.api_state import SqlApiState

        state = SqlApiState.from_url(settings.shared_state_url)
        if settings.redis_url is not None:
            from api.redis_state import RedisApiState

            state = RedisApiState(settings.redis_url.get_secret_value(), state)
    shared: ApiState = state
    if reader is None:
        from ledger.db.queries_api import ApiQueries

        reader = ApiQueries.from_url(settings.database_url, settings.chain_id)
    ledger_reader: LedgerReader = reader
    if energy_reader is None or settlements is None:
        from api.energy_sources import SettlementRecords
        from ledger.db.queries_energy import EnergyQueries

        queries = EnergyQueries.from_url(settings.database_url, settings.chain_id)
        energy_reader = energy_reader or queries
        settlements = settlements or SettlementRecords.from_url(settings.database_url, queries)
    if ingest is None:
        from ledger.db.energy_store import SqlEnergyStore
        from ledger.db.engine import make_engine
        from ledger.energy.ingest import IngestPipeline

        ingest = IngestPipeline(SqlEnergyStore(make_engine(settings.database_url)))
    if reviews is None:
        from api.review_desk import LazyReviewDesk

        reviews = LazyReviewDesk(settings.database_url)
    closing: tuple[EnergyReader | SettlementSource | ApiState, ...] = (energy_reader, settlements, shared)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            ledger_reader.close()
            for port in closing:
                port.close()
            resident_engine = getattr(_app.state, "resident_engine", None)  # api.routers.me's
            if resident_engine is not None:
                resident_engine.dispose()
                _app.state.resident_engine = None  # made again, migrated, if the app starts again

    app = FastAPI(
        title="District ledger of Lyon 3e",
        version="1",
        summary="Monnaie du 3e (M3E): public figures, residents' own data, operator actions.",
        description=(
            "Amounts are strings of integer micro-M3E (1 M3E = 1,000,000) with a display text. "
            "Every answer states `indexed_block`, the last block the indexer wrote. Errors are "
            '`{"error": {"code", "message"}}`.'
        ),
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    nonces = NonceSigner(key, settings.nonce_ttl_seconds)
    app.state.settings = settings
    app.state.reader = ledger_reader
    app.state.operator = operator_chain if operator_chain is not None else ChainOperator(settings)
    app.state.deployment = load_deployment(settings)
    app.state.ingest = GatewayIngest(ingest)
    app.state.energy = energy_reader
    app.state.settlements = settlements
    app.state.reviews = reviews
    app.state.nonces = nonces
    app.state.shared = shared
    app.state.pseudonyms = Pseudonyms(key)
    app.state.sessions = SessionStore(shared, settings.session_ttl_seconds)
    app.state.verifier = SiweVerifier(
        domain=settings.domain,
        origin=settings.origin,
        chain_id=settings.chain_id,
        nonces=nonces,
        state=shared,
        skew_seconds=settings.clock_skew_seconds,
    )
    app.state.chartjs = web.find_chartjs(settings.chartjs_path)

    for module in (
        public, energy, auth, private, merchant, operator, terminal, reviews_router, gateways, feed, treasury,
        me, web,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=web.STATIC), name="static")
    app.add_middleware(HistoryFastLane, owner=app)  # innermost: see api.fast_history
    ops.install(app)  # /healthz, /readyz, /metrics and the latency histogram

    app.openapi = lambda: openapi_with_feed(app)  # type: ignore[method-assign]

    @app.exception_handler(LedgerError)
    async def _on_ledger_error(_request: Request, exc: LedgerError) -> JSONResponse:
        status, code, message = _ledger_error(exc)
        headers = (
            {"Retry-After": str(exc.retry_after)} if isinstance(exc, ApiError) and exc.retry_after else None
        )
        return error_response(status, code, message, headers)

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", explain(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = (
            exc.detail
            if isinstance(exc.detail, str) and exc.status_code == 413
            else {
                404: "There is nothing at this address.",
                405: "This method is not allowed here.",
            }.get(exc.status_code, str(exc.detail))
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(app, request.url.path)
        return error_response(
            exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), message, headers or None
        )

    @app.exception_handler(Exception)
    async def _on_crash(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")

    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    if settings.rate_limit_enabled:
        app.add_middleware(
            RateLimitMiddleware,
            clients=SharedLimiter(shared, settings.rate_per_second, settings.rate_burst),
            gateways=SharedLimiter(shared, settings.gateway_rate_per_second, settings.gateway_burst),
            inline=shared.inline,
        )
    return app


def openapi_with_feed(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with the live feed's events typed: each `data` has its schema in
    the components and the event stream lists them (OpenAPI 3.2 `itemSchema`, one object per
    event: `event`, `id`, `data`)."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi
    from pydantic.json_schema import models_json_schema

    from api.schemas import FEED_EVENTS

    document = get_openapi(
        title=app.title, version=app.version, summary=app.summary, description=app.description,
        routes=app.routes,
    )
    models = sorted(set(FEED_EVENTS.values()), key=lambda m: m.__name__)
    _, extra = models_json_schema(
        [(m, "serialization") for m in models], ref_template="#/components/schemas/{model}"
    )
    document.setdefault("components", {}).setdefault("schemas", {}).update(extra.get("$defs", {}))
    events = [
        {
            "type": "object",
            "required": ["event", "id", "data"],
            "properties": {
                "event": {"const": name},
                "id": {"type": "string", "description": "<block>.<log index>.<8 hex of the block hash>"},
                "data": {"$ref": f"#/components/schemas/{model.__name__}"},
            },
        }
        for name, model in FEED_EVENTS.items()
    ]
    stream = document["paths"]["/v1/feed"]["get"]["responses"]["200"]["content"]["text/event-stream"]
    stream["itemSchema"] = {"oneOf": events}
    stream["schema"]["description"] = "Server-Sent Events; each event as in itemSchema"
    app.openapi_schema = document
    return document


def allowed_methods(app: FastAPI, path: str) -> str:
    """Every method some route serves at `path` (a path may be served by several routes: one per
    method), for the Allow header of a 405."""
    methods: set[str] = set()
    for route in app.router.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= set(getattr(route, "methods", None) or ())
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def server_key(settings: ApiSettings) -> ServerKey:
    """LEDGER_API_SERVER_KEY, else the key file under the state dir (created 0600)."""
    if settings.server_key is not None:
        return ServerKey.from_text(settings.server_key.get_secret_value())
    return ServerKey.load_or_create(settings.state_dir)


def create_app_from_env() -> FastAPI:
    """The app with the real adapters and `ApiSettings.from_env()` (uvicorn's factory for
    `ledger serve --workers N`, where each worker process builds its own)."""
    return create_app(ApiSettings.from_env())
