"""`ledger serve`: the HTTP API and the district's web page (uvicorn).

Settings: LEDGER_API_* (api.settings.ApiSettings), falling back to the shared LEDGER_* values
(database, node, manifest, operator key, LEDGER_API_HOST/PORT). Exit codes: 0 stopped,
2 bad settings.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from api.settings import ApiSettings


def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default 8000)")] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="indexer database (env LEDGER_DATABASE_URL)")
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="log one line per request (uvicorn)")
    ] = True,
    loop: Annotated[
        str,
        typer.Option(
            help="event loop: asyncio (default: steadier tail latency in bench/api.py; uvloop when "
            "--workers > 1), uvloop or auto"
        ),
    ] = "asyncio",
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=16,
            help="processes behind one port; sessions, spent nonces and rate limits are shared "
            "through the database (LEDGER_API_STATE_URL, default the ledger database)",
        ),
    ] = 1,
) -> None:
    """Serve the API (/v1, OpenAPI at /openapi.json) and the web page at /."""
    import os

    import uvicorn

    from api.app import create_app
    from api.serving import proxy_options
    from api.settings import ApiSettings

    if loop not in ("asyncio", "uvloop", "auto"):
        raise typer.BadParameter("use asyncio, uvloop or auto", param_hint="--loop")
    settings = ApiSettings.from_env()
    update: dict[str, object] = {}
    if host is not None:
        update["host"] = host
    if port is not None:
        update["port"] = port
    if database_url is not None:
        update["database_url"] = database_url
    if update:
        settings = settings.model_copy(update=update)
        settings.check()
    prepare_shared_state(settings)
    options: dict[str, object] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": log_level,
        "access_log": access_log,
        "loop": _pick("uvloop", "asyncio") if loop == "uvloop" else loop,
        # httptools (uvicorn[standard]) parses requests in C; h11 is the pure-Python fallback.
        "http": _pick("httptools", "h11"),
        **proxy_options(settings),
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
        return
    if loop == "asyncio":
        # With workers, uvicorn binds the socket itself (protocol 0), and asyncio then leaves
        # TCP_NODELAY off on the connections: Nagle plus delayed ACKs put every answer at ~44 ms
        # (bench/api.py). uvloop sets TCP_NODELAY on every TCP connection.
        options["loop"] = _pick("uvloop", "asyncio")
    # Each worker process builds its app from the environment: hand it the options given here.
    for key, value in update.items():
        os.environ[f"LEDGER_API_{key.upper()}"] = str(value)
    uvicorn.run("api.app:create_app_from_env", factory=True, workers=workers, **options)  # type: ignore[arg-type]


def prepare_shared_state(settings: ApiSettings) -> None:
    """Before any worker starts: the shared-state tables exist (Alembic upgrade of the state
    database, which is the ledger database by default) and the server key exists (generated 0600
    under the state dir unless LEDGER_API_SERVER_KEY is set), so N workers agree on both."""
    from api.app import server_key
    from ledger.db import migrate

    try:
        migrate(settings.shared_state_url)
    except Exception as exc:  # Alembic and the drivers raise their own types
        raise typer.BadParameter(
            f"the API's shared-state database could not be prepared ({type(exc).__name__}: {exc})",
            param_hint="LEDGER_API_STATE_URL / LEDGER_DATABASE_URL",
        ) from exc
    server_key(settings)


def _pick(fast: str, fallback: str) -> str:
    import importlib.util

    if importlib.util.find_spec(fast) is not None:
        return fast
    logging.getLogger("ledger.serve").warning("%s is not installed: serving with %s (slower)", fast, fallback)
    return fallback


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
