"""Attacks on the history fast lane (api.fast_history): an unexpected error while it reads the
session store must be labelled in the latency histogram as the route labels it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.fast_history import PATH
from tests.unit.test_api import ALICE, build, seeded


@pytest.mark.parametrize("fast", [True, False])
def test_attack_a_session_store_crash_keeps_the_routes_metrics_label(
    monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    """A store answer the code does not expect (a corrupt session record: ValueError) fails the
    request with 500 either way; the route's failure is counted under its path, the fast lane's
    under 'unmatched', so the route's error rate on the dashboard misses it."""
    app = build(seeded())
    token, _session = app.state.sessions.create(ALICE)

    def corrupt(_token_hash: str, _now: int) -> tuple[str, int] | None:
        raise ValueError("invalid literal for int() with base 10: ''")

    monkeypatch.setattr(app.state.shared, "session", corrupt)
    query = "" if fast else "?min_block=0"  # min_block is left to the route
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get(
            f"/v1/accounts/{ALICE}/history{query}", headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 500
    labels = {"route": PATH, "method": "GET", "status": "500"}
    assert app.state.ops.registry.get_sample_value("ledger_api_request_seconds_count", labels) == 1
