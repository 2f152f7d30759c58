"""`ledger serve`: the HTTP API and the district's web page (uvicorn).

Settings: LEDGER_API_* (api.settings.ApiSettings), falling back to the shared LEDGER_* values
(database, node, manifest, operator key, LEDGER_API_HOST/PORT). Exit codes: 0 stopped,
2 bad settings.
"""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default 8000)")] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="indexer database (env LEDGER_DATABASE_URL)")
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve the API (/v1, OpenAPI at /openapi.json) and the web page at /."""
    import uvicorn

    from api.app import create_app
    from api.settings import ApiSettings

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
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
