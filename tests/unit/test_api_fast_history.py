"""The history page's fast lane (api.fast_history): the same answer as the FastAPI route, byte for
byte, and every request it does not take (or may not answer) left to that route."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from api import deps
from api.deps import SESSION_COOKIE
from api.fast_history import PATH
from api.state import Session
from tests.unit.test_api import ALICE, BRUNO, build, seeded


@pytest.fixture
def app() -> FastAPI:
    return build(seeded())


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def route_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The path of every request the FastAPI route's session dependency saw (the fast lane reads
    sessions without it)."""
    calls: list[str] = []
    check = deps.signed_in_session

    async def spy(request: Request) -> Session:
        calls.append(request.url.path)
        return await check(request)

    monkeypatch.setattr(deps, "signed_in_session", spy)
    return calls


def bearer(app: FastAPI, address: str = ALICE) -> dict[str, str]:
    token, _session = app.state.sessions.create(address)
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("query", ["", "?limit=2", "?limit=2&cursor=13.1", "?cursor=15.1&limit=500"])
def test_the_fast_lane_answers_byte_for_byte_as_the_route(
    app: FastAPI, client: TestClient, route_calls: list[str], query: str
) -> None:
    auth = bearer(app)
    url = f"/v1/accounts/{ALICE}/history{query}"
    fast = client.get(url, headers=auth)
    assert route_calls == []  # answered by the fast lane
    routed = client.get(url + ("&" if query else "?") + "min_block=0", headers=auth)
    assert route_calls == [f"/v1/accounts/{ALICE}/history"]  # min_block is left to the route
    assert fast.status_code == routed.status_code == 200
    assert fast.content == routed.content and fast.json()["items"]
    assert fast.headers.items() == routed.headers.items()
    assert fast.headers["cache-control"] == "private, no-store"


def test_the_session_cookie_takes_the_fast_lane_too(
    app: FastAPI, client: TestClient, route_calls: list[str]
) -> None:
    token = bearer(app)["Authorization"].removeprefix("Bearer ")
    client.cookies.set(SESSION_COOKIE, token)
    answer = client.get(f"/v1/accounts/{ALICE}/history?limit=3")
    assert answer.status_code == 200 and len(answer.json()["items"]) == 3
    assert route_calls == []


def test_every_session_is_read_from_the_store_on_each_request(
    app: FastAPI, client: TestClient, route_calls: list[str]
) -> None:
    auth = bearer(app)
    url = f"/v1/accounts/{ALICE}/history"
    assert client.get(url, headers=auth).status_code == 200
    app.state.sessions.revoke(auth["Authorization"].removeprefix("Bearer "))
    refused = client.get(url, headers=auth)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "not_signed_in"
    assert route_calls == [url]  # the route gave the refusal, with its own sentence


@pytest.mark.parametrize(
    ("path_and_query", "who", "status", "code"),
    [
        (f"/v1/accounts/{ALICE}/history", None, 401, "not_signed_in"),
        (f"/v1/accounts/{BRUNO}/history", ALICE, 403, "not_your_data"),
        (f"/v1/accounts/{BRUNO.lower()}/history?limit=2", ALICE, 403, "not_your_data"),
        (f"/v1/accounts/{ALICE}/history?limit=0", ALICE, 422, "invalid_request"),
        (f"/v1/accounts/{ALICE}/history?limit=501", ALICE, 422, "invalid_request"),
        (f"/v1/accounts/{ALICE}/history?limit=2.5", ALICE, 422, "invalid_request"),
        (f"/v1/accounts/{ALICE}/history?cursor=yesterday", ALICE, 422, "invalid_request"),
        (f"/v1/accounts/{ALICE}/history?cursor=1234567890123456789.1", ALICE, 422, "invalid_request"),
        (f"/v1/accounts/{ALICE}/history?limit=1&limit=2", ALICE, 200, None),
        (f"/v1/accounts/{ALICE}/history?limit=002", ALICE, 200, None),
        (f"/v1/accounts/{ALICE}/history?limit=2&utm=x", ALICE, 200, None),
    ],
)
def test_what_the_fast_lane_does_not_take_is_answered_by_the_route(
    app: FastAPI,
    client: TestClient,
    route_calls: list[str],
    path_and_query: str,
    who: str | None,
    status: int,
    code: str | None,
) -> None:
    answer = client.get(path_and_query, headers=bearer(app, who) if who else {})
    assert route_calls == [path_and_query.partition("?")[0]]
    assert answer.status_code == status, answer.text
    if code is not None:
        assert answer.json()["error"]["code"] == code


def test_the_latency_histogram_labels_fast_answers_with_the_route(app: FastAPI, client: TestClient) -> None:
    assert client.get(f"/v1/accounts/{ALICE}/history", headers=bearer(app)).status_code == 200
    labels = {"route": PATH, "method": "GET", "status": "200"}
    assert app.state.ops.registry.get_sample_value("ledger_api_request_seconds_count", labels) == 1
