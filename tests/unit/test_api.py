"""The HTTP API over an in-memory ledger (fake ports given to create_app or swapped in with
dependency_overrides)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from api.app import create_app
from api.deps import get_operator
from api.fakes import FakeEnergy, FakeLedger, FakeOperator, FakeSettlements, MemoryApiState
from api.feed import FeedTracker, parse_event_id, ref_text
from api.money import display, parse_micro, ratio
from api.settings import ApiSettings
from ledger.db.queries_api import ZERO_ADDRESS, MerchantItem
from ledger.energy.ingest import IngestPipeline
from ledger.energy.memory_store import MemoryEnergyStore

TOKEN = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
ALICE = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"
BRUNO = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"
BAKERY = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
M3E = 1_000_000


def make_settings(**overrides: object) -> ApiSettings:
    base: dict[str, object] = {
        "database_url": "sqlite://",
        "siwe_domain": "testserver",
        "siwe_origin": "http://testserver",
        "rate_limit_enabled": False,
        "min_block_wait_seconds": 0.3,
        "token_address": TOKEN,
        "manifest": None,
        "server_key": "5e" * 32,
    }
    base.update(overrides)
    return ApiSettings(**base)  # type: ignore[arg-type]


def seeded() -> FakeLedger:
    ledger = FakeLedger()
    ledger.merchant_list = [
        MerchantItem(1, "Boulangerie du Lac", 4, BAKERY.lower(), True, 3),
        MerchantItem(2, "La Ruche Part-Dieu", 0, "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc", True, 3),
    ]
    now = int(time.time())
    ledger.advance(10, timestamp=now - 100)
    ledger.add_transfer(10, 0, ZERO_ADDRESS, ALICE, 200 * M3E)
    ledger.advance(11, timestamp=now - 90)
    ledger.add_transfer(11, 0, ZERO_ADDRESS, BRUNO, 100 * M3E)
    for i in range(5):
        ledger.advance(12 + i, timestamp=now - 80 + i)
        ledger.add_transfer(12 + i, 1, ALICE, BAKERY, (i + 1) * M3E)
        ledger.add_payment(12 + i, 2, 1, ALICE, (i + 1) * M3E, f"BREAD-{i}")
    ledger.advance(20, timestamp=now - 10)
    return ledger


def build(
    ledger: FakeLedger,
    operator: FakeOperator | None = None,
    *,
    energy: FakeEnergy | None = None,
    settlements: FakeSettlements | None = None,
    ingest: IngestPipeline | None = None,
    state: MemoryApiState | None = None,
    **overrides: object,
) -> FastAPI:
    app = create_app(
        make_settings(**overrides),
        reader=ledger,
        ingest=ingest or IngestPipeline(MemoryEnergyStore()),
        energy_reader=energy or FakeEnergy(),
        settlements=settlements or FakeSettlements(),
        state=state or MemoryApiState(),
    )
    app.dependency_overrides[get_operator] = lambda: operator or FakeOperator()
    return app


@pytest.fixture
def ledger() -> FakeLedger:
    return seeded()


class _SessionByDefault:
    """Sends `token` as the bearer of every request that carries no Authorization header, as a
    signed-in page would."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.header = (b"authorization", f"Bearer {token}".encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not any(k == b"authorization" for k, _v in scope["headers"]):
            scope = {**scope, "headers": [*scope["headers"], self.header]}
        await self.app(scope, receive, send)


def signed_in(app: FastAPI, address: str) -> FastAPI:
    """The app as if `address` had signed in: a live session in the app's own session store, its
    token sent with every request that brings none (the SIWE flow itself: test_api_security).
    Once per app: the session is the app's, checked by the same code as a real request's."""
    token, _session = app.state.sessions.create(address)
    app.add_middleware(_SessionByDefault, token=token)
    return app


@pytest.fixture
def client(ledger: FakeLedger) -> Iterator[TestClient]:
    with TestClient(build(ledger)) as c:
        yield c


@pytest.fixture
def alice(ledger: FakeLedger) -> Iterator[TestClient]:
    """A client signed in as Alice."""
    with TestClient(signed_in(build(ledger), ALICE)) as c:
        yield c


def test_amounts_are_exact_strings_with_two_decimals_at_least() -> None:
    assert display(12_500_000) == "12.50 M3E"
    assert display(1) == "0.000001 M3E"
    assert display(0) == "0.00 M3E"
    assert display(10**30) == "1000000000000000000000000.00 M3E"
    assert ratio(1, 3) == "0.333333"
    assert ratio(5, 0) is None
    assert parse_micro("42") == 42
    with pytest.raises(ValueError):
        parse_micro("1.5")


def test_health_states_the_indexed_block(client: TestClient) -> None:
    body = client.get("/v1/health").json()
    assert body == {"status": "ok", "chain_id": 69003, "indexed_block": 20}


def test_token_reports_supply_reserve_ratio_and_declaration_figure(client: TestClient) -> None:
    body = client.get("/v1/token").json()
    assert body["total_supply"] == {"micro": "300000000", "display": "300.00 M3E"}
    assert body["reserve"]["micro"] == "300000000"
    assert body["backing_ratio"] == "1.000000"
    assert body["fully_backed"] is True
    assert body["address"] == TOKEN
    declaration = body["declaration"]
    assert declaration["digital_payments"]["micro"] == str(15 * M3E)
    assert declaration["threshold"]["micro"] == str(1_000_000 * M3E)
    assert declaration["above_threshold"] is False
    assert body["indexed_block"] == 20


def test_balance_and_history_are_private_to_their_owner(client: TestClient, alice: TestClient) -> None:
    for path in ("balance", "history"):
        anonymous = client.get(f"/v1/accounts/{ALICE}/{path}")
        assert anonymous.status_code == 401, path
        assert anonymous.json()["error"]["code"] == "not_signed_in"
        other = alice.get(f"/v1/accounts/{BRUNO}/{path}")
        assert other.status_code == 403, path
        assert BAKERY.lower() not in other.text and "items" not in other.text


def test_balance_is_read_from_the_index_with_its_block(alice: TestClient) -> None:
    body = alice.get(f"/v1/accounts/{ALICE}/balance").json()
    assert body["balance"] == {"micro": str(185 * M3E), "display": "185.00 M3E"}
    assert body["indexed_block"] == 20
    assert body["account"] == ALICE.lower()


def test_a_malformed_address_is_refused_with_the_error_shape(alice: TestClient) -> None:
    response = alice.get("/v1/accounts/0x123/balance")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert "account" in response.json()["error"]["message"]


def test_history_pages_on_block_and_log_index_without_gaps_or_repeats(alice: TestClient) -> None:
    client = alice
    seen: list[tuple[int, int]] = []
    cursor = None
    for _ in range(10):
        url = f"/v1/accounts/{ALICE}/history?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url).json()
        seen += [(i["block"], i["log_index"]) for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) == 6
    first = client.get(f"/v1/accounts/{ALICE}/history?limit=6").json()["items"]
    assert first[-1]["kind"] == "mint" and first[-1]["direction"] == "in"
    assert first[0]["direction"] == "out" and first[0]["counterparty"] == BAKERY.lower()


def test_a_bad_cursor_is_refused(alice: TestClient) -> None:
    response = alice.get(f"/v1/accounts/{ALICE}/history?cursor=yesterday")
    assert response.status_code == 422
    assert set(response.json()) == {"error"}


def test_min_block_waits_for_the_indexer_then_answers(ledger: FakeLedger) -> None:
    with TestClient(signed_in(build(ledger, min_block_wait_seconds=3.0), ALICE)) as client:
        timer = threading.Timer(0.2, lambda: ledger.advance(21))
        timer.start()
        try:
            response = client.get(f"/v1/accounts/{ALICE}/balance?min_block=21")
        finally:
            timer.cancel()
        assert response.status_code == 200
        assert response.json()["indexed_block"] == 21


def test_min_block_out_of_reach_gives_425_with_a_sentence(alice: TestClient) -> None:
    started = time.monotonic()
    response = alice.get(f"/v1/accounts/{ALICE}/history?min_block=99")
    assert time.monotonic() - started < 2.0
    assert response.status_code == 425
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["message"].startswith(
        "The ledger is indexed up to block 20, not yet block 99"
    )


def test_merchant_directory_filters_by_category(client: TestClient) -> None:
    everyone = client.get("/v1/merchants").json()["merchants"]
    assert [m["name"] for m in everyone] == ["Boulangerie du Lac", "La Ruche Part-Dieu"]
    food = client.get("/v1/merchants?category=food").json()["merchants"]
    assert [m["category"] for m in food] == ["food"]
    assert client.get("/v1/merchants?category=weapons").status_code == 422


def test_recent_payments_are_public_without_payer_reference_or_transaction(client: TestClient) -> None:
    response = client.get("/v1/payments/recent?limit=2")
    payments = response.json()["payments"]
    assert [(p["merchant"], p["amount"]["micro"]) for p in payments] == [
        ("Boulangerie du Lac", str(5 * M3E)),
        ("Boulangerie du Lac", str(4 * M3E)),
    ]
    # The time is the block's (public with the block number already): the page shows it per line.
    public = {"kind", "block", "log_index", "merchant_id", "merchant", "amount", "day", "time"}
    assert set(payments[0]) == public
    ledger = client.app.state.reader  # type: ignore[attr-defined]
    assert payments[0]["time"] == ledger.block_time[payments[0]["block"]]
    assert "BREAD" not in response.text and ALICE.lower() not in response.text.lower()


def test_payment_request_is_an_erc681_uri_with_qr_codes(client: TestClient) -> None:
    body = client.get(f"/v1/payment-requests?to={BAKERY}&amount=12500000").json()
    assert body["uri"] == f"ethereum:{TOKEN}@69003/transfer?address={BAKERY}&uint256=12500000"
    assert body["amount"]["display"] == "12.50 M3E"
    svg = client.get(body["qr_svg"])
    assert svg.headers["content-type"] == "image/svg+xml"
    assert b"<svg" in svg.content
    png = client.get(body["qr_png"])
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    for bad in ("0", "000", "1.5", "-3", "0012", "1" * 78):
        refused = client.get(f"/v1/payment-requests?to={BAKERY}&amount={bad}")
        assert refused.status_code == 422, bad
        assert "micro-M3E" in refused.json()["error"]["message"], bad


def test_payment_request_without_a_known_token_says_so() -> None:
    with TestClient(build(seeded(), token_address=None)) as client:
        response = client.get(f"/v1/payment-requests?to={BAKERY}&amount=5")
    assert response.status_code == 503
    assert "token address" in response.json()["error"]["message"]


def test_unknown_paths_and_methods_use_the_error_shape(client: TestClient) -> None:
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "not_found", "message": "There is nothing at this address."}}
    wrong = client.delete("/v1/token")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


def test_an_unexpected_failure_gives_500_without_a_stack_trace(ledger: FakeLedger) -> None:
    def broken() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    ledger.cursor = broken  # type: ignore[assignment,method-assign]
    with TestClient(build(ledger), raise_server_exceptions=False) as client:
        response = client.get("/v1/health")
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "Something went wrong on our side; it has been logged.",
        }
    }
    assert "Traceback" not in response.text and "passwd" not in response.text


def test_the_page_and_its_chart_library_are_served_locally(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert '<script src="/vendor/chart.umd.js"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "cdn" not in page.text.lower()
    chart = client.get("/vendor/chart.umd.js")
    assert chart.status_code == 200
    assert "Chart" in chart.text[:5000]
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/openapi.json").json()["info"]["version"] == "1"


# -- the live feed -----------------------------------------------------------------------------


def test_feed_replays_recent_payments_then_announces_new_blocks_and_payments() -> None:
    ledger = seeded()
    tracker = FeedTracker(ledger, replay=2)
    first = tracker.poll()
    assert [e.kind for e in first] == ["payment", "payment", "block"]
    assert first[0].data["amount"]["micro"] == str(4 * M3E)  # BREAD-3
    assert all("ref" not in e.data and "tx_hash" not in e.data for e in first)
    assert tracker.poll() == []
    ledger.advance(21)
    ledger.add_payment(21, 0, 1, BRUNO, 3 * M3E, "CROISSANT")
    events = tracker.poll()
    assert [e.kind for e in events] == ["payment", "block"]
    assert events[0].data["amount"] == {"micro": "3000000", "display": "3.00 M3E"}
    assert events[1].data["number"] == 21


def test_feed_announces_a_reorg_when_an_announced_block_is_replaced() -> None:
    ledger = seeded()
    tracker = FeedTracker(ledger)
    tracker.poll()
    ledger.advance(21)
    ledger.add_payment(21, 0, 1, BRUNO, 3 * M3E, "OLD-FORK")
    tracker.poll()
    # The chain reorganises: block 21 is replaced, a different payment lands in block 22.
    ledger.rollback(20)
    ledger.advance(21, block_hash="0x" + "ee" * 32)
    ledger.advance(22, block_hash="0x" + "ef" * 32)
    ledger.add_payment(22, 0, 1, BRUNO, 4 * M3E, "NEW-FORK")
    events = tracker.poll()
    assert [e.kind for e in events] == ["reorg", "payment", "block"]
    assert events[0].data["from_block"] == 21 and events[0].data["to_block"] == 20
    assert events[1].data["amount"]["micro"] == str(4 * M3E)  # NEW-FORK


def test_feed_sees_a_cursor_rollback_as_a_reorg() -> None:
    ledger = seeded()
    tracker = FeedTracker(ledger)
    tracker.poll()
    ledger.rollback(18)
    events = tracker.poll()
    assert [e.kind for e in events] == ["reorg"]
    assert events[0].data["to_block"] == 18


def test_feed_announces_settlements_committed_and_paid_in_chain_order_and_resumes() -> None:
    ledger = seeded()
    settlements = FakeSettlements()
    tracker = FeedTracker(ledger, settlements=settlements)
    tracker.poll()
    ledger.advance(21)
    ledger.add_payment(21, 0, 1, BRUNO, 3 * M3E, "CROISSANT")
    settlements.add_committed(21, 1, 7, 20250615, root="0x" + "ab" * 32,
                              totals=(12_000, 9_000, 8_000, 4_000, 1_250_000, 8))
    ledger.advance(22)
    settlements.add_paid(22, 0, 7, 20250615, lines=(0, 8), paid=1_000_000, shortfall=250_000)
    ledger.add_payment(22, 1, 1, ALICE, 2 * M3E, "PAIN")
    events = tracker.poll()
    assert [(e.kind, e.data.get("event")) for e in events] == [
        ("payment", None), ("settlement", "committed"), ("settlement", "paid"), ("payment", None),
        ("block", None)]
    committed, paid = events[1], events[2]
    assert committed.id == f"21.1.{ledger.block_hashes[21][2:10]}"
    assert committed.data == {
        "event": "committed", "block": 21, "log_index": 1, "tx_hash": committed.data["tx_hash"],
        "operation_id": 7, "day": "2025-06-15", "day_number": 20250615, "version": 1,
        "root": "0x" + "ab" * 32,
        # The chain's event carried energy totals: the public feed leaves them out.
        "totals": {"amount": {"micro": "1250000", "display": "1.25 M3E"}, "transfers": 8},
    }
    assert paid.data["lines"] == {"from_index": 0, "to_index": 8}
    assert paid.data["paid"] == {"micro": "1000000", "display": "1.00 M3E"}
    assert paid.data["shortfall"] == {"micro": "250000", "display": "0.25 M3E"}
    # a client that saw the commitment resumes with the paid batch, then the rest
    resumed = FeedTracker(ledger, last_event_id=committed.id, settlements=settlements).poll()
    assert [(e.kind, e.data.get("event")) for e in resumed] == [
        ("settlement", "paid"), ("payment", None), ("block", None)]
    # a reorg across the paid batch: announced back to the last block the feed saw that still
    # holds (20), then what stands above it is announced again, the new fork's batch included
    ledger.rollback(21)
    settlements.rollback(21)
    ledger.advance(22, block_hash="0x" + "ee" * 32)
    settlements.add_paid(22, 3, 7, 20250615, lines=(0, 8), paid=1_250_000)
    events = tracker.poll()
    assert [(e.kind, e.data.get("event")) for e in events] == [
        ("reorg", None), ("payment", None), ("settlement", "committed"), ("settlement", "paid"),
        ("block", None)]
    assert events[0].data["to_block"] == 20
    assert events[3].id == "22.3.eeeeeeee" and events[3].data["paid"]["micro"] == "1250000"
    assert all(e.id != paid.id for e in events)


def test_feed_pages_many_payments_and_settlements_without_losing_or_reordering_any() -> None:
    ledger = seeded()
    settlements = FakeSettlements()
    tracker = FeedTracker(ledger, settlements=settlements)
    tracker.poll()
    for block in range(21, 121):
        ledger.advance(block)
        for i in range(3):
            ledger.add_payment(block, 2 * i, 1, BRUNO, M3E, f"P{block}-{i}")
        settlements.add_paid(block, 1, 7, 20250615, lines=(block, block + 1), paid=M3E)
        if block % 2:
            settlements.add_committed(block, 7, 8, 20250616)
    seen = []
    for _ in range(20):
        events = tracker.poll()
        seen += events
        if events and events[-1].kind == "block":
            break
    items = [e for e in seen if e.kind in ("payment", "settlement")]
    assert len(items) == 300 + 100 + 50
    positions = [(e.data["block"], e.data["log_index"]) for e in items]
    assert positions == sorted(set(positions))
    assert seen[-1].kind == "block" and seen[-1].data["number"] == 120


def test_feed_replay_includes_recent_settlements() -> None:
    ledger = seeded()
    settlements = FakeSettlements()
    settlements.add_committed(16, 5, 7, 20250615)
    events = FeedTracker(ledger, replay=2, settlements=settlements).poll()
    assert [(e.kind, e.data.get("amount")) for e in events] == [
        ("payment", {"micro": str(5 * M3E), "display": "5.00 M3E"}), ("settlement", None), ("block", None)]


def test_feed_resumes_after_last_event_id_and_flags_a_vanished_block() -> None:
    ledger = seeded()
    first = FeedTracker(ledger, replay=5).poll()
    resume_from = first[2].id
    resumed = FeedTracker(ledger, last_event_id=resume_from).poll()
    assert [e.data["amount"]["micro"] for e in resumed if e.kind == "payment"] == [str(4 * M3E), str(5 * M3E)]
    stale = f"{first[2].data['block']}.{first[2].data['log_index']}.deadbeef"
    assert FeedTracker(ledger, last_event_id=stale).poll()[0].kind == "reorg"
    assert parse_event_id("not an id") is None
    assert ref_text("0x" + b"BREAD".ljust(32, b"\0").hex()) == "BREAD"


def test_the_feed_events_are_typed_in_the_openapi_and_every_event_fits_its_schema() -> None:
    from api.schemas import FEED_EVENTS

    ledger = seeded()
    settlements = FakeSettlements()
    settlements.add_committed(16, 5, 7, 20250615, totals=(10, 9, 8, 2, 700, 3))
    settlements.add_paid(17, 0, 7, 20250615, paid=700)
    tracker = FeedTracker(ledger, replay=10, settlements=settlements)
    events = tracker.poll()
    ledger.rollback(18)
    ledger.advance(19, block_hash="0x" + "ee" * 32)
    events += tracker.poll()
    assert {e.kind for e in events} == {"payment", "settlement", "block", "reorg"}
    for event in events:
        FEED_EVENTS[event.kind].model_validate(event.data)  # raises when a field is not documented
    with TestClient(build(seeded())) as client:
        spec = client.get("/openapi.json").json()
    stream = spec["paths"]["/v1/feed"]["get"]["responses"]["200"]["content"]["text/event-stream"]
    names = {item["properties"]["event"]["const"] for item in stream["itemSchema"]["oneOf"]}
    assert names == {"block", "payment", "refund", "settlement", "reorg"}
    for item in stream["itemSchema"]["oneOf"]:
        assert item["properties"]["data"]["$ref"].split("/")[-1] in spec["components"]["schemas"]
