"""The web page (town-hall screen and residents' site) and its chart library from npm."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from api.errors import NotFound

STATIC = Path(__file__).resolve().parent.parent / "static"
router = APIRouter(include_in_schema=False)

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def find_chartjs(configured: Path | None) -> Path | None:
    """node_modules/chart.js/dist/chart.umd.js next to the working directory or the checkout."""
    candidates = [configured] if configured else []
    candidates += [
        Path.cwd() / "node_modules/chart.js/dist/chart.umd.js",
        Path(__file__).resolve().parents[2] / "node_modules/chart.js/dist/chart.umd.js",
    ]
    return next((c for c in candidates if c is not None and c.is_file()), None)


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(
        STATIC / "index.html",
        media_type="text/html",
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"},
    )


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    """The district's mark (SVG, which browsers take at this address too): no 404 in the logs."""
    return FileResponse(
        STATIC / "favicon.svg", media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
    )


@router.get("/vendor/chart.umd.js")
async def chartjs(request: Request) -> Response:
    path: Path | None = request.app.state.chartjs
    if path is None:
        raise NotFound("Chart.js is not installed: run `npm install` in the project directory.")
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=3600"})
