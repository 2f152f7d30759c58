"""A real browser (Debian's Chromium, headless, driven by Playwright) loads the district's page
from the running stack: the charts draw the district's data over dates and times (money,
payments and the solar energy of 15 simulated homes), the live feed shows payments with their
time, every figure is in French format, the commons fund and euro payouts are shown, a paused
token raises a banner, a resident signs in with a browser wallet (EIP-1193) or by copy-paste and
finds their space, the commons fund contract's programmes, monthly flows and budgets left are
shown, the town-hall screen shows the district's figures live, and axe-core finds
no serious or critical accessibility violation. Screenshots at 1280 and 390 px go to each test's
temporary directory (their paths are printed)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account.messages import encode_defunct
from web3 import Web3

from api.siwe import SIGN_IN_STATEMENT
from ledger.demo import RESIDENTS, dev_account
from ledger.domain.energy.steps import PARIS
from ledger.energy.envelope import format_utc
from ledger.energy.settlement import operation_number
from ledger.energy.settlement_sim import DEMO_MANDATE, sign_mandate
from ledger.energy.simulator import OPERATION_ID
from ledger.names import printable
from tests.e2e.api_stack import Stack, running_stack, sign_in

pytestmark = pytest.mark.chain
CHROMIUM = os.environ.get("LEDGER_TEST_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
AXE = ROOT / "node_modules/axe-core/axe.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# One home in three has a solar roof: 15 homes give 5 producers, the fewest the district's
# production figure may be built from (fewer are withheld).
ENERGY_HOMES = 15
ALICE = dev_account(RESIDENTS[0][1])  # home 0 (a solar roof) is Alice's: she has energy curves
STREETS = {
    1: "12 rue Moncey, 69003 Lyon",
    2: "3 place Guichard, 69003 Lyon",
    3: "40 cours Gambetta, 69003 Lyon",
}
GROUP = "\u202f"  # the thousands separator of fr-FR
NBSP = "\u00a0"
LIVE = "() => document.getElementById('live-dot').classList.contains('live')"


def fr(micro: int, unit: str) -> str:
    """What the page must print for an exact amount: fr-FR grouping, a comma, two decimals cut
    (never rounded up), a no-break space before the unit."""
    sign = "−" if micro < 0 else ""
    whole, fraction = divmod(abs(micro), 1_000_000)
    return f"{sign}{whole:,}".replace(",", GROUP) + f",{fraction // 10_000:02d}{NBSP}{unit}"


def fr_kwh(wh: int) -> str:
    tenths = (Decimal(wh) / 1000).quantize(Decimal("0.1"), ROUND_HALF_UP)
    whole, tenth = divmod(int(tenths * 10), 10)
    return f"{whole:,}".replace(",", GROUP) + f",{tenth}{NBSP}kWh"


def test_the_french_amount_format_cuts_and_groups() -> None:
    assert fr(247_998_010, "M3E") == f"247,99{NBSP}M3E"
    assert fr(2_475_750_000, "€") == f"2{GROUP}475,75{NBSP}€"
    assert fr_kwh(12_345_650) == f"12{GROUP}345,7{NBSP}kWh" and fr_kwh(0) == f"0,0{NBSP}kWh"


def _need_browser() -> None:
    missing = []
    if shutil.which(CHROMIUM) is None:
        missing.append(f"Chromium at {CHROMIUM} (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("Playwright for Python (pip install -e '.[dev]')")
    if not AXE.is_file():
        missing.append("axe-core (npm install)")
    if missing:
        if os.environ.get("CI"):
            pytest.fail("the browser test needs " + " and ".join(missing))
        pytest.skip("the browser test needs " + " and ".join(missing))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _need_browser()
    with running_stack(
        tmp_path_factory.mktemp("api-browser"),
        energy_homes=ENERGY_HOMES,
        energy_wallet_for=lambda n: ALICE.address if n == 0 else "0x" + f"{0xE0 + n:040x}",
    ) as running:
        settlement = running.manifest.contract("EnergySettlement").address
        sign_mandate(running.operator.as_(ALICE), settlement, operation_number(OPERATION_ID), *DEMO_MANDATE)
        # The registrar (the deployer here) gives each merchant its street address.
        registrar = sign_in(running.api_url, dev_account(0))
        for merchant_id, street in STREETS.items():
            answer = httpx.put(
                f"{running.api_url}/v1/operator/merchants/{merchant_id}/address",
                json={"street_address": street},
                headers=registrar,
                timeout=20,
            )
            assert answer.status_code == 200, answer.text
        _fund_programmes(running)
        running.wait_indexed(running.head())
        yield running


FUND_GIFT = 30 * 1_000_000
SOLAR_BUDGET, SOLAR_PAID = 40 * 1_000_000, 12_500_000
FREE_BUDGET = 5 * 1_000_000
MONTHS_FR = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
             "octobre", "novembre", "décembre")


def _fund_programmes(stack: Stack) -> None:
    """The council (the deployer on a dev chain) funds the CommonsFund contract and opens two
    programmes it spends itself: one pays part of its budget, the other all of it."""
    council = stack.operator
    fund_info = stack.manifest.contract("CommonsFund")
    fund = council.client.contract(fund_info.address, fund_info.abi)
    council.record_deposit("VIR-FUND-GIFT", council.address, FUND_GIFT)
    council.client.transact(council.token.functions.approve(fund_info.address, FUND_GIFT))
    council.client.transact(fund.functions.contribute(FUND_GIFT, b"SOLIDARITY_SURCHARGE".ljust(32, b"\0")))
    council.client.transact(fund.functions.openProgramme("Énergie solidaire", council.address, SOLAR_BUDGET))
    council.client.transact(fund.functions.openProgramme("Heures gratuites", council.address, FREE_BUDGET))
    household = dev_account(RESIDENTS[1][1]).address
    council.client.transact(fund.functions.disburse(1, household, SOLAR_PAID, b"\x01" * 32))
    council.client.transact(fund.functions.disburse(2, household, FREE_BUDGET, b"\x02" * 32))


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def shots(page: Any, folder: Path, name: str) -> list[Path]:
    """The page at 1280 and 390 px wide (full height); no horizontal scrolling on either."""
    paths = []
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        # The charts follow the new width once their resize observers ran: wait for it.
        try:
            page.wait_for_function(
                "() => document.documentElement.scrollWidth <= window.innerWidth + 1", timeout=5_000
            )
        except Exception:  # the assertion below says what sticks out
            pass
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        # What sticks out: the deepest elements whose content is wider than their box.
        wide = page.evaluate(
            "() => [...document.querySelectorAll('body *')].filter(e => e.scrollWidth > e.clientWidth + 1)"
            ".slice(-4).map(e => `${e.tagName}#${e.id}.${e.className}: ${e.scrollWidth} > ${e.clientWidth}`)"
        )
        assert overflow <= 1, f"{name} scrolls sideways by {overflow} px at {width} px: {wide}"
        path = folder / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    print("screenshots:", *paths)
    return paths


def axe_violations(page: Any) -> list[str]:
    """axe-core run in the page: the serious and critical violations, one line each."""
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) on {[n['target'] for n in v['nodes']][:3]}"
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


def wait_text(page: Any, element_id: str, needle: str, timeout: int = 20_000) -> str:
    page.wait_for_function(
        "([id, n]) => (document.getElementById(id).textContent || '').includes(n)",
        arg=[element_id, needle],
        timeout=timeout,
    )
    text: str = page.locator(f"#{element_id}").inner_text()
    return text


def test_the_page_draws_the_district_and_shows_payments_live(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 1800})
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("request", lambda r: failed.append(r.url) if not r.url.startswith(stack.api_url) else None)
    # Every answer succeeds (the favicon included), but the "am I signed in?" probe: 401 when not.
    page.on(
        "response",
        lambda r: failed.append(f"{r.status} {r.url}")
        if r.status >= 400 and not r.url.endswith("/v1/auth/session")
        else None,
    )
    page.goto(stack.api_url + "/", wait_until="domcontentloaded")
    # Figures from the index, in French.
    token = httpx.get(f"{stack.api_url}/v1/token", timeout=10).json()
    wait_text(page, "supply", fr(int(token["total_supply"]["micro"]), "M3E"))
    assert page.locator("#reserve").inner_text() == fr(int(token["reserve"]["micro"]), "€")
    # Both charts exist and hold the district's data.
    page.wait_for_function(
        "() => { const c = window.districtCharts; return c && c.supply && c.merchants"
        " && c.supply.data.datasets[0].data.length > 0 && c.merchants.data.labels.length > 0; }",
        timeout=20_000,
    )
    drawn = page.evaluate(
        "() => ['chart-supply', 'chart-merchants'].map(id => {"
        " const c = document.getElementById(id); const ctx = c.getContext('2d');"
        " const d = ctx.getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })"
    )
    assert all(pixels > 500 for pixels in drawn), drawn
    _check_supply_axis_is_dates(page, stack)
    _check_energy_chart(page, stack)
    # The live feed is connected and shows the seeded payments, each with its time...
    page.wait_for_function("() => document.querySelectorAll('#feed li.payment').length >= 3", timeout=20_000)
    page.wait_for_function(LIVE, timeout=20_000)
    times = page.locator("#feed li.payment time").all_inner_texts()
    assert times and all(re.fullmatch(r"\d{2}:\d{2}:\d{2}|\d{2}/\d{2} \d{2}:\d{2}", t) for t in times), times
    # ...and a new payment arrives through it without reloading, at its block's time.
    elise = stack.operator.as_(dev_account(RESIDENTS[4][1]))
    sent = elise.pay(1, 6_669_999, "E2E-BROWSER")  # shown cut to 6,66: never a cent not there
    block_time = int(stack.w3.eth.get_block(sent.block_number)["timestamp"])
    expected = datetime.fromtimestamp(block_time, PARIS).strftime("%H:%M:%S")
    page.wait_for_function(
        "(t) => [...document.querySelectorAll('#feed li.payment')].some(li => li.textContent.includes(t))",
        arg=f"{expected}",
        timeout=30_000,
    )
    line = page.locator("#feed li.payment", has_text=expected).first.inner_text()
    assert f"6,66{NBSP}M3E" in line, line
    # A refund arriving live is shown as one (the feed names the kind in the event, not the data).
    bakery = stack.operator.as_(dev_account(1))
    bakery.refund(1, elise.address, 1_119_999, "E2E-BROWSER-REFUND")
    page.wait_for_function(
        "(t) => [...document.querySelectorAll('#feed li.payment')].some(li => li.textContent.includes(t))",
        arg=f"−1,11{NBSP}M3E",
        timeout=30_000,
    )
    assert "remboursement" in page.locator("#feed li.payment", has_text=f"−1,11{NBSP}M3E").first.inner_text()
    # The directory: name, category and street address of each merchant.
    directory = page.locator("#merchants li").all_inner_texts()
    assert len(directory) == 3, directory
    assert "Boulangerie du Lac" in directory[0] and "alimentation" in directory[0], directory
    assert all(STREETS[n] in entry for n, entry in zip((1, 2, 3), directory, strict=True)), directory
    page.screenshot(path=str(ARTIFACTS / "api-page.png"), full_page=True)
    shots(page, tmp_path, "page")
    assert not failed, f"requests that failed or left the server: {failed}"


def _check_supply_axis_is_dates(page: Any, stack: Stack) -> None:
    """The supply chart's axis reads the blocks' dates and times in Paris, not block numbers."""
    series = httpx.get(f"{stack.api_url}/v1/token/supply-history?limit=200", timeout=10).json()["points"]
    labels = page.evaluate("() => window.districtCharts.supply.data.labels")
    expected = [datetime.fromtimestamp(p["time"], PARIS).strftime("%d/%m %H:%M") for p in series]
    assert labels == expected, (labels[:3], expected[:3])
    assert not any("bloc" in label for label in labels)


def _check_energy_chart(page: Any, stack: Stack) -> None:
    """The latest day with data (yesterday's morning, sent by the stack) by default, its curves
    and self-consumption headline; a day without data picked in the day picker empties the chart."""
    assert stack.energy_day is not None and stack.energy_steps
    day_iso = stack.energy_day.isoformat()
    shown = httpx.get(f"{stack.api_url}/v1/energy/district", params={"day": day_iso}, timeout=10).json()
    produced = shown["totals"]["production_wh"] > 0
    page.wait_for_function(
        "() => { const c = window.districtCharts.energy; if (!c) return false;"
        " const [p, q] = c.data.datasets; const some = (d) => d.data.some(v => v !== null);"
        " return c.data.labels.length > 0 && some(p) && some(q); }",
        timeout=20_000,
    )
    assert page.locator("#energy").is_visible()
    assert page.locator("#energy-day").input_value() == day_iso
    chart = page.evaluate(
        "() => { const c = window.districtCharts.energy; return {"
        " labels: c.data.labels,"
        " datasets: c.data.datasets.map(d => ({label: d.label,"
        "   values: d.data.filter(v => v !== null).length,"
        "   sum: d.data.reduce((a, v) => a + (v || 0), 0)})) }; }"
    )
    production, consumption, rate = chart["datasets"]
    assert len(chart["labels"]) >= 92, chart  # the whole local day on the axis
    assert chart["labels"][0] == "00:00" and chart["labels"][4] == "01:00", chart["labels"][:5]
    # One published value per ended step (the later steps are still to come: gaps), but a figure
    # fewer than 5 homes make, which the API withholds: around sunrise only some roofs produce.
    ended = {format_utc(start) for start in stack.energy_steps}
    for name, drawn in (("consumption", consumption), ("production", production)):
        published = [s for s in shown["steps"] if s[f"{name}_wh"] is not None]
        assert {s["start"] for s in published} <= ended, name
        for step in shown["steps"]:
            if step["start"] in ended and step[f"{name}_wh"] is None:
                assert {"figure": name, "reason": "fewer_than_5_homes"} in step["withheld"], step
        assert drawn["values"] == len(published), chart
    assert consumption["values"] == len(stack.energy_steps), chart
    assert consumption["sum"] == shown["totals"]["consumption_wh"] > 0, chart
    assert production["sum"] == shown["totals"]["production_wh"], chart
    pixels = page.evaluate(
        "() => { const c = document.getElementById('chart-energy'); const ctx = c.getContext('2d');"
        " const d = ctx.getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"
    )
    assert pixels > 2_000, pixels
    headline = page.locator("#energy-rate").inner_text()
    if produced:
        assert rate["values"] > 0, chart
        assert re.search(rf"Autoconsommation : \d{{1,3}},\d{NBSP}%", headline), headline
        assert "—" not in headline, headline
    else:  # a morning without sun: nothing produced, so no rate to state
        assert "Autoconsommation : —" in headline, headline
    assert "kWh" in headline and "gaz" in headline and "eau" in headline, headline
    # The day picker: the day before has no readings, so its curves are empty...
    day_before = (stack.energy_day - timedelta(days=1)).isoformat()
    page.fill("#energy-day", day_before)
    page.dispatch_event("#energy-day", "change")
    page.wait_for_function(
        "() => window.districtCharts.energy.data.datasets[1].data.every(v => v === null)", timeout=20_000
    )
    assert "Autoconsommation : —" in page.locator("#energy-rate").inner_text()
    # ...and the day with readings draws them again.
    page.fill("#energy-day", day_iso)
    page.dispatch_event("#energy-day", "change")
    page.wait_for_function(
        "() => window.districtCharts.energy.data.datasets[1].data.some(v => v !== null)", timeout=20_000
    )


def test_the_commons_fund_and_euro_payouts_are_shown_and_a_pause_raises_a_banner(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    commons = httpx.get(f"{stack.api_url}/v1/commons", timeout=10).json()
    assert commons["redemptions"] >= 1 and int(commons["fund"]["fee_inflows"]["micro"]) > 0, commons
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(stack.api_url + "/", wait_until="domcontentloaded")
    wait_text(page, "fund-balance", fr(int(commons["fund"]["balance"]["micro"]), "M3E"))
    inflows = int(commons["fund"]["fee_inflows"]["micro"])
    assert page.locator("#fund-inflows").inner_text() == fr(inflows, "M3E")
    assert page.locator("#euros-paid").inner_text() == fr(int(commons["euros_paid"]["micro"]), "€")
    assert page.locator("#fund-address").inner_text() == commons["fund"]["address"]
    first = commons["recent_redemptions"][0]
    row = page.locator("#redemptions tr").first.inner_text()
    assert "La Ruche Part-Dieu" in row and fr(int(first["euros"]["micro"]), "€") in row, row
    assert datetime.fromtimestamp(first["time"], PARIS).strftime("%d/%m/%Y %H:%M") in row, row
    assert page.locator("#paused-banner").is_hidden()
    # The token is paused on chain: the banner says so, live, without a reload.
    token = stack.operator.token
    stack.operator.client.transact(token.functions.pause())
    try:
        page.locator("#paused-banner").wait_for(state="visible", timeout=30_000)
        assert "La monnaie est en pause" in page.locator("#paused-banner").inner_text()
        shots(page, tmp_path, "paused")
    finally:
        stack.operator.client.transact(token.functions.unpause())
    page.locator("#paused-banner").wait_for(state="hidden", timeout=30_000)
    assert not axe_violations(page)


def test_the_fund_shows_its_programmes_flows_by_month_and_budgets_left(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    report = httpx.get(f"{stack.api_url}/v1/fund", timeout=10).json()
    assert [p["name"] for p in report["programmes"]] == ["Énergie solidaire", "Heures gratuites"], report
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(stack.api_url + "/", wait_until="domcontentloaded")
    solar = wait_text(page, "fund-programmes", "Énergie solidaire")
    rows = page.locator("#fund-programmes tr").all_inner_texts()
    assert len(rows) == 2, rows
    assert fr(SOLAR_BUDGET, "M3E") in rows[0] and fr(SOLAR_PAID, "M3E") in rows[0], solar
    assert fr(SOLAR_BUDGET - SOLAR_PAID, "M3E") in rows[0] and "ouvert" in rows[0], rows[0]
    assert fr(0, "M3E") in rows[1] and "épuisé : le prix normal s'applique" in rows[1], rows[1]
    year, month = (int(x) for x in report["month"].split("-"))
    label = f"{MONTHS_FR[month - 1]} {year}"
    flows = page.locator("#fund-flows tr").all_inner_texts()

    def shown(what: str, signed_amount: str) -> bool:
        return any(label in f and what in f and signed_amount in f for f in flows)

    assert shown("surcoût solidaire", "+" + fr(FUND_GIFT, "M3E")), flows
    assert shown("Énergie solidaire", "−" + fr(SOLAR_PAID, "M3E")), flows
    assert shown("Heures gratuites", "−" + fr(FREE_BUDGET, "M3E")), flows
    summary = page.locator("#fund-summary").inner_text()
    assert fr(int(report["balance"]["micro"]), "M3E") in summary, summary
    shots(page, tmp_path, "fund")
    assert not axe_violations(page)


INJECTED_WALLET = """
window.ethereum = {
  isTestWallet: true,
  async request({ method, params }) {
    if (method === "eth_requestAccounts") return [await window.testWalletAddress()];
    if (method === "personal_sign") return await window.testWalletSign(params[0], params[1]);
    throw Object.assign(new Error("unsupported " + method), { code: 4200 });
  },
};
"""


def test_a_resident_signs_in_with_a_browser_wallet_and_finds_their_space(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    signed: list[str] = []

    def sign(message: str, address: str) -> str:
        assert address.lower() == ALICE.address.lower()
        signed.append(message)
        return "0x" + bytes(ALICE.sign_message(encode_defunct(text=message)).signature).hex()

    context.expose_function("testWalletAddress", lambda: ALICE.address)
    context.expose_function("testWalletSign", sign)
    context.add_init_script(INJECTED_WALLET)
    page = context.new_page()
    # A message whose statement was changed on the way is not offered for signature.
    def tamper(route: Any) -> None:
        answer = route.fetch()
        body = answer.json()
        body["message"] = body["message"].replace(SIGN_IN_STATEMENT, "Transfer all my M3E.")
        route.fulfill(response=answer, json=body)

    page.route("**/v1/auth/nonce*", tamper)
    page.goto(stack.api_url + "/", wait_until="domcontentloaded")
    page.locator("#browser-wallet").click()
    wait_text(page, "signin-error", "ne le signez pas")
    assert signed == [] and page.locator("#me").is_hidden()
    page.unroute("**/v1/auth/nonce*")
    page.locator("#browser-wallet").click()
    page.locator("#me").wait_for(state="visible", timeout=20_000)
    assert len(signed) == 1 and signed[0].split("\n")[3] == SIGN_IN_STATEMENT
    assert page.locator("#me-who").inner_text().lower() == ALICE.address.lower()
    _check_my_space(page, stack)
    # The private routes the space reads are signed-in only and never cached.
    me = f"/v1/accounts/{ALICE.address}"
    for route in ("balance", "payments", "bookings", "history", "mandates", "energy"):
        own = context.request.get(stack.api_url + f"{me}/{route}")
        assert own.status == 200 and "no-store" in own.headers["cache-control"], (route, own.headers)
        anonymous = httpx.get(stack.api_url + f"{me}/{route}", timeout=10)
        assert anonymous.status_code == 401, (route, anonymous.text)
    # The monthly statement downloads as CSV.
    with page.expect_download() as download:
        page.locator("#me-statement").click()
    statement = Path(download.value.path()).read_text(encoding="utf-8")
    month = datetime.now(PARIS).strftime("%Y-%m")
    assert download.value.suggested_filename == f"statement-{ALICE.address.lower()}-{month}.csv"
    lines = statement.splitlines()
    assert lines[0].startswith("day,kind,merchant_id,") and lines[-1].split(",")[1] == "total", statement
    assert any("Boulangerie du Lac" in line for line in lines), statement
    shots(page, tmp_path, "my-space")
    assert not axe_violations(page)
    context.close()


def _check_my_space(page: Any, stack: Stack) -> None:
    balance = stack.operator.balance_of(ALICE.address)
    wait_text(page, "me-balance", fr(balance, "M3E"))
    # Alice's open co-working booking (15 M3E, seeded) is held in escrow.
    wait_text(page, "me-held", fr(15_000_000, "M3E"))
    booking = page.locator("#me-bookings tr.booking.open").first.inner_text()
    assert "La Ruche Part-Dieu" in booking and "en dépôt" in booking and fr(15_000_000, "M3E") in booking
    page.wait_for_function("() => document.querySelectorAll('#me-payments tr').length >= 1")
    assert "Boulangerie du Lac" in page.locator("#me-payments").inner_text()
    page.wait_for_function("() => document.querySelectorAll('#me-transfers tr').length >= 2")
    assert "achat de M3E" in page.locator("#me-transfers").inner_text()
    mandate = wait_text(page, "me-mandates", "par jour")
    assert fr(DEMO_MANDATE[0], "M3E") in mandate and fr(DEMO_MANDATE[1], "M3E") in mandate, mandate
    # Her own curves: her meter's import and export of the day the stack sent.
    page.wait_for_function(
        "() => { const c = window.districtCharts.me;"
        " return c && c.data.datasets[0].data.some(v => v !== null); }",
        timeout=20_000,
    )
    assert "Sur 31 jours" in page.locator("#me-energy-summary").inner_text()


def test_without_a_browser_wallet_the_message_is_copied_and_the_signature_pasted(
    stack: Stack, browser: Any
) -> None:
    page = browser.new_page()
    page.goto(stack.api_url + "/", wait_until="domcontentloaded")
    assert page.locator("#browser-wallet").is_hidden()
    page.fill("#me-address", ALICE.address)
    page.locator("#signin-start button[type=submit]").click()
    page.wait_for_function("() => document.getElementById('siwe-message').value.includes('Nonce:')")
    message = page.locator("#siwe-message").input_value()
    assert message.split("\n")[3] == SIGN_IN_STATEMENT
    signature = "0x" + bytes(ALICE.sign_message(encode_defunct(text=message)).signature).hex()
    page.fill("#siwe-signature", signature)
    page.locator("#signin-finish button[type=submit]").click()
    page.locator("#me").wait_for(state="visible", timeout=20_000)
    wait_text(page, "me-balance", "M3E")


def test_the_favicon_is_served(stack: Stack) -> None:
    response = httpx.get(f"{stack.api_url}/favicon.ico", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")


def test_the_town_hall_screen_shows_the_district_live_in_large_type_and_nothing_private(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    private: list[str] = []
    page.on("request", lambda r: private.append(r.url) if re.search(r"/v1/(accounts|auth)/", r.url) else None)
    page.goto(stack.api_url + "/?display=mairie", wait_until="domcontentloaded")
    token = httpx.get(f"{stack.api_url}/v1/token", timeout=10).json()
    fund = httpx.get(f"{stack.api_url}/v1/fund", timeout=10).json()
    # Large figures put an ordinary space before their (smaller) unit, to wrap there if need be.
    wait_text(page, "mairie-supply", fr(int(token["total_supply"]["micro"]), "M3E").replace(NBSP, " "))
    # The fund's balance is the fund contract's, from GET /v1/fund like the page's programmes.
    wait_text(page, "mairie-fund", fr(int(fund["balance"]["micro"]), "M3E").replace(NBSP, " "))
    assert fr(int(fund["recorded_out"]["micro"]), "M3E") in page.locator("#mairie-fund-inflows").inner_text()
    assert fr(int(token["reserve"]["micro"]), "€") in page.locator("#mairie-backing").inner_text()
    # The solar figures of the latest day with data (the stack sent yesterday's), dated.
    assert stack.energy_day is not None
    day = stack.energy_day
    shown = httpx.get(
        f"{stack.api_url}/v1/energy/district", params={"day": day.isoformat()}, timeout=10
    ).json()
    produced = shown["totals"]["production_wh"]
    dated = f"le {day.day} {MONTHS_FR[day.month - 1]} {day.year}"
    wait_text(page, "mairie-solar-detail", f"{dated} · {fr_kwh(produced)} produits")
    solar = page.locator("#mairie-solar").inner_text()
    assert re.fullmatch(rf"\d{{1,3}},\d{NBSP}%", solar) if produced else solar == "—", solar
    page.wait_for_function(LIVE, timeout=20_000)
    # Large type: the figures are readable across a room.
    size = page.evaluate(
        "() => parseFloat(getComputedStyle(document.getElementById('mairie-supply')).fontSize)"
    )
    assert size >= 64, size
    spill = page.evaluate(
        "() => [...document.querySelectorAll('.mairie-grid article')]"
        ".filter(a => a.scrollWidth > a.clientWidth + 1).map(a => a.textContent)"
    )
    assert spill == [], f"figures wider than their card: {spill}"
    # One line each: a box under 1.6 times its font size (two lines would take 2.2).
    heights = page.evaluate(
        "() => [...document.querySelectorAll('.huge')].map(e =>"
        " e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).fontSize))"
    )
    assert all(h < 1.6 for h in heights), f"a figure wraps at 1920 px: {heights}"
    # Only the district's figures: the sign-in, the forms and the resident's space are not there.
    for hidden in ("space", "request-form", "merchants", "feed"):
        assert not page.locator(f"#{hidden}").is_visible(), hidden
    # Live: a payment made now is counted and listed without a reload.
    before = int(page.locator("#mairie-services").inner_text().replace(GROUP, "") or 0)
    chloe = stack.operator.as_(dev_account(RESIDENTS[2][1]))
    chloe.pay(1, 3_300_000, "E2E-MAIRIE")
    page.wait_for_function(
        "(n) => Number(document.getElementById('mairie-services').textContent.replace(/\\s/g, '')) > n",
        arg=before,
        timeout=30_000,
    )
    assert f"3,30{NBSP}M3E" in page.locator("#mairie-feed").inner_text()
    shots(page, tmp_path, "mairie")
    assert not axe_violations(page)
    assert private == [], private


def test_a_name_written_straight_to_the_chain_shows_its_invisible_characters_as_code_points(
    stack: Stack, browser: Any
) -> None:
    """The registrar's Python path refuses a name holding a bidi override or an invisible mark,
    but the contract takes any text from the registrar's key: such names are shown with their
    code points (`<U+202E>`) in the merchants list and the live feed, as the wallet prints them,
    never as an override that turns the text after it around, an invisible mark, or a space the
    page collapses; each merchant's number tells two names apart, and the chart keeps them apart.
    A contribution to the fund cannot take the label of the fee income. Runs last: it adds
    merchants and a fund inflow."""
    registrar = stack.operator
    payments = registrar.payments
    names = {
        "Boulangerie \u202eeirecipE": "Boulangerie <U+202E>eirecipE",  # reads "Epicerie" overridden
        "Boulangerie\u034f du Lac ": "Boulangerie<U+034F> du Lac<U+0020>",
        "Boulangerie  du Cours": "Boulangerie <U+0020>du Cours",
    }
    ids = []
    for n, name in enumerate(names):
        payout = Web3.to_checksum_address("0x" + f"{0xB1 + n:02x}" * 20)
        registrar.client.transact(payments.functions.registerMerchant(name, 4, payout))
        ids.append(int(registrar.client.call(payments.functions.merchantCount())))
    council = stack.operator
    fund_info = stack.manifest.contract("CommonsFund")
    fund = council.client.contract(fund_info.address, fund_info.abi)
    council.record_deposit("VIR-FUND-FORGE", council.address, 2_000_000)
    council.client.transact(council.token.functions.approve(fund_info.address, 2_000_000))
    forged = b"commissions de conversion".ljust(32, b"\0")  # the page's label of the fee income
    council.client.transact(fund.functions.contribute(2_000_000, forged))
    stack.wait_indexed(stack.head())
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(stack.api_url + "/", wait_until="domcontentloaded")
    listed = wait_text(page, "merchants", "Boulangerie <U+202E>")
    for merchant_id, shown in zip(ids, names.values(), strict=True):
        assert shown in listed and f"n°{merchant_id}" in listed
    chloe = stack.operator.as_(dev_account(RESIDENTS[2][1]))
    chloe.pay(ids[0], 1_100_000, "E2E-BIDI")
    assert names["Boulangerie \u202eeirecipE"] in wait_text(page, "feed", "Boulangerie <U+202E>",
                                                                timeout=30_000)
    raw = page.evaluate("() => document.body.textContent")
    assert "\u202e" not in raw and "\u034f" not in raw
    flows = wait_text(page, "fund-flows", "commissions de conversion » (source nommée")
    assert "reçu : « commissions de conversion » (source nommée par le contributeur)" in flows
    # The page's escaping is the wallet's, character class for character class.
    samples = ["Café Dupont", "a\u202eb\u202c", "x\u200by\u2060", "\u3164\u2800", "a\u00a0b\u2009c",
               "tab\tnew\nline\u2028", "\U000f0001 privé", "croissant 🥐 ß Ⅻ", "\u17b4\u180e\ufeff",
               "Lac\u034f\u180b\ufe0f\U000e0100", " a  b ", "  ", "☕\ufe0f"]
    assert page.evaluate("(xs) => xs.map(shown)", samples) == [printable(x) for x in samples]
