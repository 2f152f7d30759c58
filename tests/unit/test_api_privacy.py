"""What the API shows, and to whom: the public, a resident, a merchant (attacks written as tests)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.fakes import FakeLedger, MemoryApiState
from ledger.chain.reference import reference_commitment
from ledger.db.queries_api import BookingItem, PaymentItem
from tests.unit.test_api import ALICE, BAKERY, BRUNO, M3E, build, seeded, signed_in

RUCHE = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"  # merchant 2's payout in test_api.seeded()


def pay(ledger: FakeLedger, block: int, merchant_id: int, payer: str, amount: int, commitment: bytes) -> None:
    ledger.advance(block)
    ledger.payment_list.append(
        PaymentItem(
            "payment",
            block,
            0,
            f"0x{block:064x}",
            merchant_id,
            None,
            payer.lower(),
            "0x" + commitment.hex(),
            amount,
            "2026-11-26",
        )
    )


@pytest.fixture
def ledger() -> FakeLedger:
    return seeded()


@pytest.fixture
def state() -> MemoryApiState:
    return MemoryApiState()


def app_as(ledger: FakeLedger, state: MemoryApiState, who: str | None) -> FastAPI:
    app = build(ledger, state=state)
    return signed_in(app, who) if who is not None else app


@pytest.fixture
def bakery(ledger: FakeLedger, state: MemoryApiState) -> Iterator[TestClient]:
    with TestClient(app_as(ledger, state, BAKERY)) as client:
        yield client


def request(client: TestClient, merchant_id: int, reference: str, amount: int) -> dict[str, str]:
    response = client.post(
        f"/v1/merchants/{merchant_id}/payment-requests", json={"amount": str(amount), "reference": reference}
    )
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


def test_a_merchant_request_carries_reference_and_salt_and_the_chain_gets_only_the_commitment(
    bakery: TestClient,
) -> None:
    body = request(bakery, 1, "DESK-2026-11-CHLOE", 25 * M3E)
    query = parse_qs(urlsplit(body["uri"]).query)
    assert query["ref"] == ["DESK-2026-11-CHLOE"] and query["refsalt"] == [body["salt"]]
    assert query["address"] == [BAKERY.lower()] and query["uint256"] == [str(25 * M3E)]
    salt = bytes.fromhex(body["salt"][2:])
    assert body["commitment"] == "0x" + reference_commitment("DESK-2026-11-CHLOE", salt).hex()
    again = request(bakery, 1, "DESK-2026-11-CHLOE", 25 * M3E)
    assert again["salt"] != body["salt"] and again["commitment"] != body["commitment"]


def test_the_merchant_sees_its_payments_with_references_and_nobody_else_does(
    ledger: FakeLedger, state: MemoryApiState, bakery: TestClient
) -> None:
    body = request(bakery, 1, "DESK-2026-11-CHLOE", 25 * M3E)
    pay(ledger, 30, 1, ALICE, 25 * M3E, bytes.fromhex(body["commitment"][2:]))
    mine = bakery.get("/v1/merchants/1/payments?limit=1").json()["payments"][0]
    assert (mine["ref"], mine["ref_source"]) == ("DESK-2026-11-CHLOE", "request")
    assert mine["payer"] == ALICE.lower()
    # Old plain-text payments show their text; the merchant of another id reads nothing.
    assert {p["ref"] for p in bakery.get("/v1/merchants/1/payments").json()["payments"]} >= {"BREAD-0"}
    assert bakery.get("/v1/merchants/2/payments").status_code == 403
    with TestClient(app_as(ledger, state, RUCHE)) as ruche:
        refused = ruche.get("/v1/merchants/1/payments")
        assert refused.status_code == 403 and "DESK" not in refused.text
        assert refused.json()["error"]["code"] == "not_your_merchant"
        assert ruche.post(
            "/v1/merchants/1/payment-requests", json={"amount": "1", "reference": "X"}
        ).status_code == 403
    with TestClient(app_as(ledger, state, None)) as anonymous:
        assert anonymous.get("/v1/merchants/1/payments").status_code == 401
    with TestClient(app_as(ledger, state, ALICE)) as alice:
        assert alice.get("/v1/merchants/1/payments").status_code == 403
        assert alice.get("/v1/merchants/99/payments").status_code == 404


def test_the_merchant_sees_the_bookings_made_with_it_and_nobody_else_does(
    ledger: FakeLedger, state: MemoryApiState, bakery: TestClient
) -> None:
    """A co-working's takings include what closing its bookings charged: the merchant reads its
    bookings (who booked, the deposits it holds, what it charged); another merchant, a resident
    and an anonymous client read none of them."""
    ledger.booking_list = [
        (ALICE.lower(), BookingItem(1, 1, "Bakery", 50 * M3E, 1_800_000_000, "closed", 18 * M3E, 32 * M3E,
                                    14, 4, ALICE.lower())),
        (BRUNO.lower(), BookingItem(2, 1, "Bakery", 15 * M3E, 1_900_000_000, "open", None, None, 16, 5,
                                    BRUNO.lower())),
        (ALICE.lower(), BookingItem(3, 2, "Ruche", 7 * M3E, 1_900_000_000, "open", None, None, 17, 6,
                                    ALICE.lower())),
    ]
    response = bakery.get("/v1/merchants/1/bookings")
    assert response.status_code == 200 and response.headers["cache-control"] == "private, no-store"
    body = response.json()
    assert [(b["booking_id"], b["payer"], b["state"]) for b in body["bookings"]] == [
        (1, ALICE.lower(), "closed"),
        (2, BRUNO.lower(), "open"),
    ]
    assert (body["held"]["micro"], body["charged"]["micro"]) == (str(15 * M3E), str(18 * M3E))
    assert bakery.get("/v1/merchants/2/bookings").status_code == 403
    with TestClient(app_as(ledger, state, RUCHE)) as ruche:
        refused = ruche.get("/v1/merchants/1/bookings")
        assert refused.status_code == 403 and BRUNO.lower() not in refused.text.lower()
        assert [b["booking_id"] for b in ruche.get("/v1/merchants/2/bookings").json()["bookings"]] == [3]
    with TestClient(app_as(ledger, state, ALICE)) as alice:
        assert alice.get("/v1/merchants/1/bookings").status_code == 403
    with TestClient(app_as(ledger, state, None)) as anonymous:
        assert anonymous.get("/v1/merchants/1/bookings").status_code == 401


def test_paying_with_a_copied_commitment_does_not_reveal_its_reference(
    ledger: FakeLedger, state: MemoryApiState, bakery: TestClient
) -> None:
    body = request(bakery, 1, "DESK-2026-11-CHLOE", 25 * M3E)
    commitment = bytes.fromhex(body["commitment"][2:])
    pay(ledger, 30, 1, ALICE, 25 * M3E, commitment)
    # Bruno reads Alice's commitment in the chain's logs and pays the bakery with it.
    pay(ledger, 31, 1, BRUNO, 1, commitment)
    with TestClient(app_as(ledger, state, BRUNO)) as bruno:
        response = bruno.get(f"/v1/accounts/{BRUNO}/payments")
        assert "DESK" not in response.text
        (mine,) = response.json()["payments"]
        assert (mine["ref"], mine["ref_source"]) == (body["commitment"], "commitment")
        statement = bruno.get(f"/v1/accounts/{BRUNO}/statement.csv?month=2026-11")
        assert "DESK" not in statement.text
    # A commitment made by the co-working space, paid to the bakery: the bakery does not learn it.
    with TestClient(app_as(ledger, state, RUCHE)) as ruche:
        other = request(ruche, 2, "ROOM-SECRET", 5 * M3E)
    pay(ledger, 32, 1, BRUNO, 5 * M3E, bytes.fromhex(other["commitment"][2:]))
    seen = bakery.get("/v1/merchants/1/payments").text
    assert "ROOM-SECRET" not in seen and other["commitment"] in seen


def test_resident_a_reads_nothing_of_resident_b_on_any_private_route(
    ledger: FakeLedger, state: MemoryApiState
) -> None:
    with TestClient(app_as(ledger, state, ALICE)) as alice:
        paths = alice.get("/openapi.json").json()["paths"]
        private = {p: ops for p, ops in paths.items() if p.startswith("/v1/accounts/{account}")}
        assert len(private) >= 7  # balance, history, payments, statement, energy, proofs, naming
        queries = {"statement.csv": "?month=2026-11", "proofs": "?day=2026-11-25", "energy": ""}
        for path, operations in private.items():
            url = path.replace("{account}", BRUNO) + queries.get(path.rsplit("/", 1)[-1], "")
            for method in operations:
                kwargs = {"json": {"named": True}} if method == "put" else {}
                response = alice.request(method.upper(), url, **kwargs)  # type: ignore[arg-type]
                assert response.status_code == 403, (method, path, response.text)
                assert response.json()["error"]["code"] == "not_your_data"
                assert BRUNO.lower() not in response.text.lower()
    assert state.naming == {}


def test_the_public_routes_show_no_payer_reference_or_transaction(ledger: FakeLedger) -> None:
    with TestClient(build(ledger)) as anonymous:
        for url in ("/v1/payments/recent?limit=100", "/v1/token", "/v1/merchants", "/v1/settlements"):
            text = anonymous.get(url).text
            assert "BREAD" not in text, url
            assert ALICE.lower() not in text.lower() and BRUNO.lower() not in text.lower(), url
            assert all(p.tx_hash not in text for p in ledger.payment_list), url
