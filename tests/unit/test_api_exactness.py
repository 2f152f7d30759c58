"""The schema says exactly what the API takes, and bad input gets a true sentence."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.unit.test_api import BAKERY, build, seeded


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(build(seeded())) as c:
        yield c


def test_deeply_nested_json_is_called_nested_not_undecodable(client: TestClient) -> None:
    depth = 5000
    body = b'{"payload":' + b"[" * depth + b"]" * depth + b', "signature": "x"}'
    response = client.post(
        "/v1/gateways/gw-1/readings", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "nest" in message and "UTF-8" not in message


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("0", "above zero"),
        ("000", "above zero"),
        ("2.40", "2400000"),
        ("1.0000001", "2400000"),
        ("1" * 78, "77 digits"),
        ("9" * 29 + ".5", "2400000"),
        ("-5", "digits"),
    ],
)
def test_amounts_are_refused_with_a_sentence_never_rounded(
    client: TestClient, amount: str, words: str
) -> None:
    for route in ("/v1/payment-requests", "/v1/payment-requests/qr.svg", "/v1/payment-requests/qr.png"):
        response = client.get(route, params={"to": BAKERY, "amount": amount})
        assert response.status_code == 422, (route, amount)
        message = response.json()["error"]["message"]
        assert words in message and message.endswith("."), message


def test_a_day_outside_the_calendar_is_refused_with_a_sentence(client: TestClient) -> None:
    for day in ("0725-07-25", "2026-02-30", "2100-02-29", "2026-13-01"):
        response = client.get("/v1/energy/district", params={"day": day})
        assert response.status_code == 422, day
        assert "YYYY-MM-DD" in response.json()["error"]["message"]
    assert client.get("/v1/energy/district", params={"day": "2028-02-29"}).status_code == 200
