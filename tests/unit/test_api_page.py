"""The routes the page reads beyond the token figures: the commons fund and the pause (public),
a resident's bookings and energy mandates (signed-in owner only, never cached), the favicon and
the French sign-in statement."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.fakes import FakeLedger, FakeOperator
from api.siwe import SIGN_IN_STATEMENT
from ledger.db.queries_api import BookingItem, CommonsFigures, MandateItem, RedemptionItem
from tests.unit.test_api import ALICE, BRUNO, M3E, build, seeded, signed_in

FUND = "0x" + "cf" * 20
RUCHE = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"


def with_commons(paused: bool) -> TestClient:
    ledger = seeded()
    ledger.commons_figures = CommonsFigures(
        ledger.cursor_info, FUND, 3, 1_500_000, 600_000, 2, 39_400_000, paused, 18 if paused else None,
        [RedemptionItem(17, 0, 1_764_000_000, 2, RUCHE, "La Ruche Part-Dieu", 20 * M3E, 400_000, 19_600_000)],
    )
    return TestClient(build(ledger))


def test_the_commons_fund_and_euro_payouts_are_public_with_exact_amounts() -> None:
    with with_commons(paused=False) as client:
        body = client.get("/v1/commons").json()
    assert body["paused"] is False and body["paused_block"] is None
    assert body["fund"] == {
        "address": FUND,
        "since_block": 3,
        "balance": {"micro": "1500000", "display": "1.50 M3E"},
        "fee_inflows": {"micro": "600000", "display": "0.60 M3E"},
    }
    assert body["redemptions"] == 2 and body["euros_paid"] == {"micro": "39400000", "display": "39.40 €"}
    [redemption] = body["recent_redemptions"]
    assert redemption["merchant"] == "La Ruche Part-Dieu" and redemption["time"] == 1_764_000_000
    assert redemption["fee"]["micro"] == "400000" and redemption["euros"]["display"] == "19.60 €"


def test_a_paused_token_is_said_with_the_block_it_was_paused_at() -> None:
    with with_commons(paused=True) as client:
        body = client.get("/v1/commons").json()
    assert body["paused"] is True and body["paused_block"] == 18


def owner_data_ledger() -> FakeLedger:
    ledger = seeded()
    ruche = "Ruche"
    ledger.booking_list = [
        (ALICE.lower(), BookingItem(2, 2, ruche, 15 * M3E, 1_900_000_000, "open", None, None, 16, 5,
                                    ALICE.lower())),
        (ALICE.lower(), BookingItem(1, 2, ruche, 50 * M3E, 1_800_000_000, "closed",
                                    18 * M3E, 32 * M3E, 14, 4, ALICE.lower())),
        (BRUNO.lower(), BookingItem(3, 2, ruche, 7 * M3E, 1_900_000_000, "open", None, None, 17, 6,
                                    BRUNO.lower())),
    ]
    ledger.mandate_list = [(ALICE.lower(), MandateItem(42, 20 * M3E, 200 * M3E, True, 15, 7))]
    return ledger


@pytest.mark.parametrize("route", ["bookings", "mandates"])
def test_bookings_and_mandates_are_the_owners_only_and_never_cached(route: str) -> None:
    ledger = owner_data_ledger()
    with TestClient(build(ledger)) as anonymous:
        refused = anonymous.get(f"/v1/accounts/{ALICE}/{route}")
    assert refused.status_code == 401 and ALICE.lower() not in refused.text.lower()
    with TestClient(signed_in(build(ledger), BRUNO)) as bruno:
        other = bruno.get(f"/v1/accounts/{ALICE}/{route}")
    assert other.status_code == 403
    with TestClient(signed_in(build(ledger), ALICE)) as alice:
        own = alice.get(f"/v1/accounts/{ALICE}/{route}")
    assert own.status_code == 200 and own.headers["cache-control"] == "private, no-store"


def test_only_open_bookings_count_as_held_in_escrow() -> None:
    with TestClient(signed_in(build(owner_data_ledger()), ALICE)) as alice:
        body = alice.get(f"/v1/accounts/{ALICE}/bookings").json()
    assert [b["booking_id"] for b in body["bookings"]] == [2, 1]  # Bruno's booking is not there
    assert body["held"] == {"micro": str(15 * M3E), "display": "15.00 M3E"}
    assert body["bookings"][1]["charged"]["micro"] == str(18 * M3E)


def test_the_mandate_shows_its_caps_per_day_and_month() -> None:
    with TestClient(signed_in(build(owner_data_ledger()), ALICE)) as alice:
        [mandate] = alice.get(f"/v1/accounts/{ALICE}/mandates").json()["mandates"]
    assert mandate["operation_id"] == "42" and mandate["active"] is True
    assert mandate["per_day"]["display"] == "20.00 M3E" and mandate["per_month"]["micro"] == str(200 * M3E)


def test_the_favicon_is_served() -> None:
    with TestClient(build(seeded())) as client:
        response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")
    assert response.content.startswith(b"<svg")


def test_the_sign_in_message_states_its_purpose_in_french() -> None:
    with TestClient(build(seeded())) as client:
        message = client.get("/v1/auth/nonce", params={"address": ALICE}).json()["message"]
    assert message.split("\n")[3] == SIGN_IN_STATEMENT
    assert "Connexion" in SIGN_IN_STATEMENT and SIGN_IN_STATEMENT.isascii()  # EIP-4361: no accents


def test_the_page_expects_the_statement_the_server_sends() -> None:
    """The page refuses to ask for a signature over any other statement: both must say the same."""
    page_script = (Path(__file__).resolve().parents[2] / "api/static/app.js").read_text(encoding="utf-8")
    assert f'"{SIGN_IN_STATEMENT}"' in page_script.replace('"\n  + "', "")


def registrar_app(ledger: FakeLedger, who: str) -> TestClient:
    operator = FakeOperator()
    operator.grant(ALICE, "registrar")
    return TestClient(signed_in(build(ledger, operator), who))


def test_a_registrar_sets_a_merchants_street_address_and_the_directory_shows_it() -> None:
    ledger = seeded()
    with registrar_app(ledger, ALICE) as registrar:
        spaced = {"street_address": " 12  rue Moncey, 69003 Lyon "}
        answer = registrar.put("/v1/operator/merchants/1/address", json=spaced)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"merchant_id": 1, "street_address": "12 rue Moncey, 69003 Lyon"}
        directory = registrar.get("/v1/merchants").json()["merchants"]
    assert [m["street_address"] for m in directory] == ["12 rue Moncey, 69003 Lyon", None]


def test_only_a_registrar_sets_an_address_of_a_registered_merchant_in_one_printable_line() -> None:
    ledger = seeded()
    body = {"street_address": "12 rue Moncey, 69003 Lyon"}
    with registrar_app(ledger, BRUNO) as bruno:
        refused = bruno.put("/v1/operator/merchants/1/address", json=body)
    assert refused.status_code == 403 and "registrar" in refused.json()["error"]["message"]
    with TestClient(build(ledger)) as anonymous:
        assert anonymous.put("/v1/operator/merchants/1/address", json=body).status_code == 401
    with registrar_app(ledger, ALICE) as registrar:
        unknown = registrar.put("/v1/operator/merchants/99/address", json=body)
        assert unknown.status_code == 404 and "99" in unknown.json()["error"]["message"]
        for bad in ("   ", "12 rue\nMoncey", "x" * 201, ""):
            answer = registrar.put("/v1/operator/merchants/1/address", json={"street_address": bad})
            assert answer.status_code in (400, 422), (bad, answer.text)
            assert re.search("street.address", answer.text), (bad, answer.text)  # the field is named
        assert all(m["street_address"] is None for m in registrar.get("/v1/merchants").json()["merchants"])
