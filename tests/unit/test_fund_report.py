"""The commons fund's report: months as the contract counts them, budgets left, flows by month,
and GET /v1/fund over an in-memory ledger."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from api.fakes import FakeLedger
from api.services import Deployment
from ledger.db.queries_api import ZERO_ADDRESS
from ledger.domain.fund import FundEvent, fund_report, month_label, utc_month
from tests.unit.test_api import build

FUND = "0x" + "f0" * 20
SPENDER = "0x" + "5e" * 20
MERCHANT = "0x" + "3c" * 20
JUNE = 2025 * 12 + 5
M3E = 1_000_000


def opened(block: int, programme: int, budget: int, name: str = "Free basics") -> FundEvent:
    return FundEvent(block, 0, "opened", programme, None, None, SPENDER, None, budget, True, name)


def changed(block: int, programme: int, budget: int, active: bool) -> FundEvent:
    return FundEvent(block, 0, "changed", programme, None, None, SPENDER, None, budget, active, None)


def inflow(block: int, month: int, amount: int, source: str = "REDEMPTION_FEES") -> FundEvent:
    return FundEvent(block, 0, "inflow", None, month, source, ZERO_ADDRESS, amount, None, None, None)


def outflow(block: int, programme: int, month: int, amount: int) -> FundEvent:
    return FundEvent(block, 0, "outflow", programme, month, None, MERCHANT, amount, None, None, None)


def test_month_labels_and_the_utc_month_edge() -> None:
    assert month_label(JUNE) == "2025-06"
    assert month_label(2025 * 12 + 11) == "2025-12"
    assert utc_month(1_751_328_000 - 1) == JUNE  # 2025-06-30T23:59:59Z
    assert utc_month(1_751_328_000) == JUNE + 1  # 2025-07-01T00:00:00Z, already 02:00 in Paris


def test_the_budget_left_is_this_months_budget_minus_this_months_payments() -> None:
    report = fund_report(
        [opened(1, 1, 50 * M3E), inflow(2, JUNE - 1, 300 * M3E), outflow(3, 1, JUNE - 1, 50 * M3E),
         outflow(4, 1, JUNE, 20 * M3E), outflow(5, 1, JUNE, 5 * M3E)],
        JUNE,
    )
    (p,) = report.programmes
    assert (p.name, p.monthly_budget, p.spent_this_month, p.left_this_month) == (
        "Free basics", 50 * M3E, 25 * M3E, 25 * M3E)
    assert (report.total_in, report.total_out) == (300 * M3E, 75 * M3E)
    assert [(f.month, f.key, f.amount, f.count) for f in report.outflows] == [
        (JUNE - 1, "1", 50 * M3E, 1), (JUNE, "1", 25 * M3E, 2)]


def test_a_lowered_or_closed_programme_has_nothing_left_and_its_name_is_kept() -> None:
    events = [opened(1, 1, 50 * M3E), outflow(2, 1, JUNE, 30 * M3E), changed(3, 1, 20 * M3E, True)]
    (p,) = fund_report(events, JUNE).programmes
    assert (p.name, p.monthly_budget, p.left_this_month) == ("Free basics", 20 * M3E, 0)
    (p,) = fund_report([*events[:2], changed(3, 1, 50 * M3E, False)], JUNE).programmes
    assert (p.active, p.left_this_month) == (False, 0)


def test_events_are_folded_in_chain_order_whatever_order_they_come_in() -> None:
    events = [changed(5, 1, 10 * M3E, True), opened(1, 1, 50 * M3E)]
    (p,) = fund_report(events, JUNE).programmes
    assert p.monthly_budget == 10 * M3E


def test_inflows_are_grouped_by_month_and_source() -> None:
    report = fund_report(
        [inflow(1, JUNE, 3, "REDEMPTION_FEES"), inflow(2, JUNE, 4, "REDEMPTION_FEES"),
         inflow(3, JUNE, 2**255, "SOLIDARITY_SURCHARGE")],
        JUNE,
    )
    assert [(f.key, f.amount, f.count) for f in report.inflows] == [
        ("REDEMPTION_FEES", 7, 2), ("SOLIDARITY_SURCHARGE", 2**255, 1)]
    assert report.total_in == 7 + 2**255


def _client(ledger: FakeLedger, fund: str | None) -> TestClient:
    app = build(ledger)
    app.state.deployment = Deployment(token=None, contracts=(), fund=fund)
    return TestClient(app)


def test_get_fund_shows_balance_flows_and_budgets_left_as_indexed() -> None:
    ledger = FakeLedger()
    now = int(time.time())
    month = utc_month(now)
    ledger.advance(10, timestamp=now - 10)
    ledger.add_transfer(10, 0, ZERO_ADDRESS, FUND, 12 * M3E)  # 2 M3E arrived after the last record
    ledger.fund_events = [opened(3, 1, 5 * M3E), inflow(4, month, 13 * M3E),
                          outflow(5, 1, month, 3 * M3E)]
    with _client(ledger, FUND) as client:
        body = client.get("/v1/fund").json()
    assert body["indexed_block"] == 10
    assert body["month"] == month_label(month)
    assert body["balance"] == {"micro": str(12 * M3E), "display": "12.00 M3E"}
    assert (body["recorded_in"]["micro"], body["recorded_out"]["micro"]) == (str(13 * M3E), str(3 * M3E))
    assert body["not_yet_recorded"]["micro"] == str(2 * M3E)
    (p,) = body["programmes"]
    assert (p["name"], p["left_this_month"]["micro"], p["budget_spent"]) == (
        "Free basics", str(2 * M3E), False)
    assert body["inflows"] == [{"month": month_label(month), "source": "REDEMPTION_FEES",
                                "amount": {"micro": str(13 * M3E), "display": "13.00 M3E"}, "count": 1}]
    assert body["outflows"][0]["programme_id"] == 1


def test_get_fund_says_when_a_programmes_budget_is_spent() -> None:
    ledger = FakeLedger()
    month = utc_month(int(time.time()))
    ledger.fund_events = [opened(3, 1, 5 * M3E), outflow(5, 1, month, 5 * M3E)]
    with _client(ledger, FUND) as client:
        (p,) = client.get("/v1/fund").json()["programmes"]
    assert (p["left_this_month"]["micro"], p["budget_spent"]) == ("0", True)


def test_get_fund_without_a_fund_contract_is_a_404_sentence() -> None:
    with _client(FakeLedger(), None) as client:
        response = client.get("/v1/fund")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "no_fund" and "ledger deploy" in error["message"]


def test_get_fund_shows_by_month_what_the_settlement_moved_through_the_fund() -> None:
    from datetime import date

    from api.fakes import FakeSettlements
    from api.ports import SettledDay
    from ledger.domain.energy.allocation import StepReadings
    from ledger.domain.energy.steps import StepLength, day_step_starts
    from ledger.energy.settlement import ChainTariff, LineKind, tariff_book
    from tests.unit.test_settlement_lines import compute
    from tests.unit.test_tariff_solidarity import FUND as FUND_ACCOUNT
    from tests.unit.test_tariff_solidarity import fund_only

    book = tariff_book([ChainTariff(date(2025, 6, 1), 80_000, 100_000, 60_000, 20_000, 15_000)])
    first = compute(book=book, social=fund_only())
    corrected = compute(book=book, social=fund_only(), version=2)  # the latest version counts, once
    steps = day_step_starts(date(2025, 7, 1), StepLength.MIN15)
    readings = {s: StepReadings({"prod": 1000}, {"conso-b": 400, "conso-c": 800}) for s in steps}
    july = compute(book=book, social=fund_only(), day=date(2025, 7, 1), readings=readings)
    settlements = FakeSettlements(
        days=[SettledDay(1, d.day, d.version, d, None) for d in (first, corrected, july)]
    )

    def total(kind: LineKind, lines: object) -> str:
        return str(sum(ln.value for ln in lines.lines if ln.kind is kind))  # type: ignore[attr-defined]

    app = build(FakeLedger(), settlements=settlements)
    app.state.deployment = Deployment(token=None, contracts=(), fund=FUND_ACCOUNT.lower())
    with TestClient(app) as client:
        body = client.get("/v1/fund").json()
    assert [m["month"] for m in body["solidarity"]] == ["2025-07", "2025-06"]
    june = body["solidarity"][1]
    assert june["surcharges_received"]["micro"] == total(LineKind.SURCHARGE, corrected) != "0"
    assert june["discounts_paid"]["micro"] == total(LineKind.DISCOUNT, corrected) != "0"
    assert june["social_paid"]["micro"] == "0"
