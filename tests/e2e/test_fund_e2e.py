"""The commons fund at work, end to end on a real chain, database, API and browser: an eligible
household's day settles at the social price with the fund paying the producer the difference, a
free co-working hour is paid to the merchant by the fund; both are the fund's outflows in
GET /v1/fund and on the page (Chromium, French formats), the household sees what it paid and what
the fund paid (the API and its space on the page), and the merchant's takings are the full price."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from eth_account.messages import encode_defunct
from web3.types import RPCEndpoint

from api.app import create_app
from api.settings import ApiSettings
from ledger.chain.client import connect
from ledger.chain.deploy import deploy_district
from ledger.chain.devnode import DevNode, free_port
from ledger.chain.district import Category
from ledger.db.models import MerchantTakingsDaily
from ledger.db.settlement_store import settle_store
from ledger.demo import dev_account
from ledger.domain.energy.allocation import DefaultKey
from ledger.domain.energy.steps import StepLength
from ledger.energy.settlement import LineKind, Settler, day_compute, tariff_book
from ledger.energy.settlement_chain import SocialService
from ledger.energy.settlement_sim import build_world, synthetic_day, world_account
from tests.e2e.api_stack import sign_in
from tests.e2e.test_api_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    INJECTED_WALLET,
    _need_browser,
    fr,
    wait_text,
)
from tests.integration.indexer.helpers import index_once, store_for

pytestmark = pytest.mark.chain

DAY = date(2025, 6, 15)
OP = 302
PRODUCERS = ("PRM-P1",)
CONSUMERS = ("PRM-C1", "PRM-C2")
M3E = 1_000_000
DISCOUNT_BPS = 4_000  # the fund pays 40 % of the eligible household's solar
FREE_HOUR = 4 * M3E
DESK_PRICE = 6 * M3E


@pytest.fixture
def node(tmp_path: Path) -> Iterator[DevNode]:
    # Before the tariff starts (tariffs are never retroactive); the chain then moves past the day.
    node = DevNode(free_port(), log_path=tmp_path / "node.log", initial_date="2025-05-20T00:00:00Z").start()
    try:
        yield node
    finally:
        node.stop()


@contextlib.contextmanager
def _serve(tmp_path: Path, node: DevNode, manifest_path: Path, database_url: str) -> Iterator[str]:
    port = free_port()
    settings = ApiSettings(
        host="127.0.0.1", port=port, database_url=database_url, rpc_url=node.url,
        manifest=manifest_path, feed_poll_seconds=0.1, rate_limit_enabled=False,
        min_block_wait_seconds=10.0, state_dir=tmp_path,
    )
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def test_the_social_price_and_a_free_hour_are_paid_by_the_fund_and_shown(
    node: DevNode, tmp_path: Path
) -> None:
    _need_browser()
    w3 = connect(node.url)
    council = dev_account(0)  # the dev deployment's admin: the council, the social service, the registrar
    manifest = deploy_district(w3, council)
    manifest_path = tmp_path / "deployment.json"
    manifest.save(manifest_path)
    world = build_world(
        w3, manifest, OP, PRODUCERS, CONSUMERS, operator=council, tariff_from=date(2025, 6, 1)
    )
    district = world.operator
    deployed = manifest.contract("CommonsFund")
    fund = district.client.contract(deployed.address, deployed.abi)
    send: Any = district.client.transact
    call: Any = district.client.call
    payments = district.payments

    district.record_deposit("FUND-GIFT-E2E", council.address, 100 * M3E)
    send(district.token.functions.approve(fund.address, 100 * M3E))
    send(fund.functions.contribute(100 * M3E, b"GIFT".ljust(32, b"\0")))
    send(fund.functions.openProgramme("Prix social de l'énergie", world.chain.address, 50 * M3E))
    send(fund.functions.grantSettlement(1, world.chain.address, OP))
    send(fund.functions.openProgramme("Heures gratuites", payments.address, 10 * M3E))
    send(payments.functions.setFreeBasicsFund(fund.address, 2))
    merchant = dev_account(7)
    merchant_id, _ = district.register_merchant("La Ruche Part-Dieu", Category.CO_WORKING, merchant.address)
    send(payments.functions.setFreeTier(merchant_id, FREE_HOUR, 1))
    household = world_account(OP, "PRM-C1")
    eligible_until = int(datetime(2025, 12, 31, tzinfo=UTC).timestamp())
    send(fund.functions.setEligibility(household.address, eligible_until))
    after_the_day = int(datetime(2025, 6, 17, tzinfo=UTC).timestamp())
    w3.provider.make_request(RPCEndpoint("evm_setNextBlockTimestamp"), [after_the_day])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])

    # The day, settled into the ledger database the API reads, at the social price for PRM-C1.
    database_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    social = world.chain.social_price(world.accounts.values(), DISCOUNT_BPS, DAY)
    assert social is not None and social.eligible == {world.accounts["PRM-C1"]}
    compute = day_compute(
        operation_id=OP, day=DAY, step=StepLength.MIN15, readings=synthetic_day(DAY, PRODUCERS, CONSUMERS),
        key=DefaultKey(), book=tariff_book(world.chain.tariffs(OP)), accounts=world.accounts,
        batch_size=2, social=social,
    )
    store = settle_store(database_url)
    # the social service's key approves the fund's part of the committed day (a second key)
    world.chain.social_service = SocialService(world.chain.client, DISCOUNT_BPS)
    Settler(world.chain, store, batch_size=2).run(OP, DAY, compute)
    lines = store.load(OP, DAY)[1]
    (solidarity,) = [ln for ln in lines.lines if ln.kind is LineKind.SOLIDARITY]
    bought = next(ln for ln in lines.lines if ln.kind is LineKind.BOUGHT and ln.payer == solidarity.payee)
    assert solidarity.value == bought.value * DISCOUNT_BPS // 10_000 > 0

    # The household pays an hour and a half of co-working: the fund pays the free hour.
    before = call(district.token.functions.balanceOf(merchant.address))
    district.as_(household).pay(merchant_id, DESK_PRICE, "DESK-E2E")
    assert call(district.token.functions.balanceOf(merchant.address)) - before == DESK_PRICE
    send(fund.functions.recordReceived())  # the settlement's pull, recorded as programme 1's outflow

    index_once(node.url, manifest_path, database_url, confirmations=0)
    indexed = store_for(database_url)
    try:
        t = MerchantTakingsDaily
        with indexed.engine.connect() as conn:
            (takings,) = conn.execute(
                t.__table__.select().where(t.merchant_id == merchant_id)).all()
        assert (int(takings.paid), takings.payments) == (DESK_PRICE, 1), "takings = the price"
    finally:
        indexed.engine.dispose()

    with _serve(tmp_path, node, manifest_path, database_url) as api_url:
        report = httpx.get(f"{api_url}/v1/fund", timeout=10).json()
        outflows = {(f["month"], f["programme_id"]): int(f["amount"]["micro"]) for f in report["outflows"]}
        assert outflows == {("2025-06", 1): solidarity.value, ("2025-06", 2): FREE_HOUR}, report
        # What the settlement's lines moved through the fund that month: the social price only.
        (month,) = report["solidarity"]
        assert (month["month"], int(month["social_paid"]["micro"])) == ("2025-06", solidarity.value)
        assert month["surcharges_received"]["micro"] == month["discounts_paid"]["micro"] == "0"
        headers = sign_in(api_url, household)
        day = httpx.get(f"{api_url}/v1/accounts/{household.address}/energy?day={DAY}", headers=headers,
                        timeout=10).json()["days"][0]
        assert int(day["fund_paid"]["micro"]) == solidarity.value
        assert int(day["paid"]["micro"]) == int(day["owed"]["micro"]) - solidarity.value

        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(api_url + "/", wait_until="domcontentloaded")
                wait_text(page, "fund-programmes", "Heures gratuites")
                flows = page.locator("#fund-flows tr").all_inner_texts()
                assert any("juin 2025" in f and "Prix social de l'énergie" in f
                           and "−" + fr(solidarity.value, "M3E") in f for f in flows), flows
                assert any("juin 2025" in f and "Heures gratuites" in f
                           and "−" + fr(FREE_HOUR, "M3E") in f for f in flows), flows
                (row,) = page.locator("#fund-solidarity tr").all_inner_texts()
                assert "juin 2025" in row and "−" + fr(solidarity.value, "M3E") in row, row
                # The household signs in (its wallet in the page) and reads both parts of its day.
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.expose_function("testWalletAddress", lambda: household.address)
                context.expose_function("testWalletSign", lambda message, _address: "0x" + bytes(
                    household.sign_message(encode_defunct(text=message)).signature).hex())
                context.add_init_script(INJECTED_WALLET)
                space = context.new_page()
                space.goto(api_url + "/", wait_until="domcontentloaded")
                space.evaluate(
                    "(day) => { const picker = document.getElementById('energy-day');"
                    " picker.value = day; picker.dispatchEvent(new Event('change')); }",
                    DAY.isoformat(),
                )
                space.locator("#browser-wallet").click()
                space.locator("#me").wait_for(state="visible", timeout=20_000)
                owed = int(day["owed"]["micro"])
                summary = wait_text(space, "me-energy-summary", "prix social")
                assert f"vous avez payé {fr(owed - solidarity.value, 'M3E')}" in summary, summary
                assert f"le fonds commun {fr(solidarity.value, 'M3E')}" in summary, summary
                context.close()
            finally:
                browser.close()
