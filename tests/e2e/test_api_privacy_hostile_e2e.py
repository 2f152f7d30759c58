"""Attacks that need a real HTTP server (uvicorn on loopback, as `ledger serve` runs it), but no
chain: the app is built over the in-memory fakes of the unit tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from api.serving import proxy_options
from ledger.chain.devnode import free_port
from tests.unit.test_api import build, make_settings, seeded


@pytest.fixture
def served() -> Iterator[str]:
    """The API as `ledger serve` starts it: uvicorn with the proxy options cli_serve takes from
    the settings (api.serving.proxy_options; no trusted proxy configured, as by default)."""
    app = build(seeded(), rate_limit_enabled=True, nonce_per_minute=3, rate_burst=1000)
    port = free_port()
    options = proxy_options(make_settings())
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_client_naming_itself_in_x_forwarded_for_is_still_capped(served: str) -> None:
    """'per-client caps': the cap is keyed on the client address, which uvicorn (proxy_headers on
    by default, 127.0.0.1 trusted) takes from X-Forwarded-For. Any client on the host, or any
    client behind a local proxy that passes the header through, names a new address per request
    and is never capped."""
    with httpx.Client(base_url=served, timeout=5) as client:
        plain = [client.get("/v1/auth/nonce").status_code for _ in range(4)]
        assert plain[-1] == 429, plain  # the cap works for an honest client
        spoofed = [
            client.get("/v1/auth/nonce", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
            for n in range(1, 21)
        ]
    assert spoofed.count(200) <= 3, f"capped client got {spoofed.count(200)} more nonces by naming itself"
