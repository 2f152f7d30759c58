"""Operations: `/healthz` (the process answers), `/readyz` (node, genesis, indexer lag, database)
and `/metrics` (Prometheus text format).

`install(app)` adds the router and the latency middleware; the registry, the database engine and
the node probe are made per app on first use, never at import time. The indexer's rate is
`rate(ledger_indexed_events_total[5m])` in Prometheus: the counter is read from the database, so
it stays right whichever process indexes.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

router = APIRouter(tags=["operations"])


class _Ops:
    """Per-app state of the operations endpoints."""

    def __init__(self, app: FastAPI) -> None:
        from ledger.chain.manifest import Manifest
        from ledger.db import make_engine
        from ledger.errors import ManifestError

        settings = app.state.settings
        self.settings = settings
        self.make_engine = make_engine
        self.genesis = ""
        if settings.manifest is not None:
            try:
                self.genesis = Manifest.load(settings.manifest).genesis_hash
            except ManifestError:  # no manifest yet: the index's recorded genesis is used
                self.genesis = ""
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "ledger_api_request_seconds", "API latency by route, method and status",
            ["route", "method", "status"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.up = Gauge("ledger_ready", "1 when /readyz passes", registry=self.registry)
        self.registry.register(_FromDatabase(self))
        self.last: Any = None

    def check(self) -> Any:
        from ledger.indexer.health import node_probe, readiness

        engine = self.make_engine(self.settings.database_url)  # per probe: nothing left open
        try:
            with node_probe(self.settings.rpc_url) as rpc:
                result = readiness(rpc, engine, self.settings.chain_id, self.genesis,
                                   self.settings.ready_max_lag_blocks)
        finally:
            engine.dispose()
        self.up.set(1 if result.ok else 0)
        self.last = result
        return result


class _FromDatabase:
    """Collected at each scrape from the last readiness check (made by the scrape itself)."""

    def __init__(self, ops: _Ops) -> None:
        self.ops = ops

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        result = self.ops.last
        if result is None:
            return
        if result.head is not None:
            yield GaugeMetricFamily("ledger_chain_head_block", "the node's head", value=result.head)
        if result.lag is not None:
            yield GaugeMetricFamily("ledger_indexer_lag_blocks",
                                    "blocks between the node's head and the index", value=result.lag)
        figures = result.figures
        if figures is None:
            return
        if figures.cursor is not None:
            yield GaugeMetricFamily("ledger_indexer_block", "the last indexed block",
                                    value=figures.cursor)
        yield CounterMetricFamily("ledger_indexed_events", "contract events indexed",
                                  value=figures.events)
        readings = CounterMetricFamily("ledger_readings", "readings by ingest outcome",
                                       labels=["outcome"])
        for outcome, count in sorted(figures.readings.items()):
            readings.add_metric([outcome], count)
        yield readings
        yield GaugeMetricFamily("ledger_settlement_days_committed",
                                "settlement (day, version) commitments on chain",
                                value=figures.settled_days)
        if figures.last_settled_day is not None:
            yield GaugeMetricFamily("ledger_settlement_last_day", "the last day committed",
                                    value=figures.last_settled_day)


def _ops(request: Request) -> _Ops:
    ops: _Ops | None = getattr(request.app.state, "ops", None)
    if ops is None:
        ops = request.app.state.ops = _Ops(request.app)
    return ops


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """The process answers (liveness): no dependency is checked."""
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    """200 when node, genesis, indexer lag and database are all right, else 503 with each check."""
    result = await anyio.to_thread.run_sync(_ops(request).check)
    body = {
        "ready": result.ok,
        "head": result.head,
        "lag": result.lag,
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in result.checks],
    }
    return JSONResponse(body, status_code=200 if result.ok else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    ops = _ops(request)
    await anyio.to_thread.run_sync(ops.check)
    return Response(generate_latest(ops.registry), media_type=CONTENT_TYPE_LATEST)


class _LatencyMiddleware:
    """Pure ASGI (exceptions of inner layers, such as the body limit's, pass through untouched):
    observes each HTTP request's duration by route template, method and status."""

    def __init__(self, app: Any, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            ops: _Ops | None = getattr(self.owner.state, "ops", None)
            if ops is None:
                ops = self.owner.state.ops = _Ops(self.owner)
            ops.latency.labels(route, scope.get("method", ""), str(status["code"])).observe(
                time.perf_counter() - started)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.add_middleware(_LatencyMiddleware, owner=app)
