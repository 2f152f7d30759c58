"""A real browser (Debian's Chromium, headless, driven by Playwright) loads the district's page
from the running stack: the charts draw the district's data (money, payments and today's solar
energy of 15 simulated homes) and the live feed shows payments."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.demo import RESIDENTS, dev_account
from tests.e2e.api_stack import Stack, running_stack

pytestmark = pytest.mark.chain
CHROMIUM = os.environ.get("LEDGER_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
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


def _need_browser() -> None:
    missing = []
    if shutil.which(CHROMIUM) is None:
        missing.append(f"Chromium at {CHROMIUM} (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("Playwright for Python (pip install -e '.[dev]')")
    if missing:
        if os.environ.get("CI"):
            pytest.fail("the browser test needs " + " and ".join(missing))
        pytest.skip("the browser test needs " + " and ".join(missing))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _need_browser()
    with running_stack(tmp_path_factory.mktemp("api-browser"), energy_homes=ENERGY_HOMES) as running:
        yield running


def test_the_page_draws_the_district_and_shows_payments_live(stack: Stack) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1800})
            failed: list[str] = []
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.on(
                "request", lambda r: failed.append(r.url) if not r.url.startswith(stack.api_url) else None
            )
            page.goto(stack.api_url + "/", wait_until="domcontentloaded")
            # Figures from the index.
            page.wait_for_function(
                "() => document.getElementById('supply').textContent.includes('M3E')", timeout=20_000
            )
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
            _check_energy_chart(page, stack)
            # The live feed is connected and shows the seeded payments...
            page.wait_for_function(
                "() => document.querySelectorAll('#feed li.payment').length >= 3", timeout=20_000
            )
            page.wait_for_function(
                "() => document.getElementById('live-dot').classList.contains('live')", timeout=20_000
            )
            # ...and a new payment arrives through it without reloading.
            elise = stack.operator.as_(dev_account(RESIDENTS[4][1]))
            elise.pay(1, 6_660_000, "E2E-BROWSER")
            page.wait_for_function(
                "() => [...document.querySelectorAll('#feed li.payment')]"
                ".some(li => li.textContent.includes('6.66 M3E'))",
                timeout=30_000,
            )
            merchants = page.locator("#merchants li").count()
            assert merchants == 3
            page.screenshot(path=str(ARTIFACTS / "api-page.png"), full_page=True)
            # A phone-sized screen keeps the page readable (no horizontal scrolling).
            phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
            phone.goto(stack.api_url + "/", wait_until="domcontentloaded")
            phone.wait_for_function(
                "() => document.getElementById('supply').textContent.includes('M3E')", timeout=20_000
            )
            assert phone.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
            phone.screenshot(path=str(ARTIFACTS / "api-page-phone.png"), full_page=True)
            assert not failed, f"requests that failed or left the server: {failed}"
        finally:
            browser.close()
    assert (ARTIFACTS / "api-page.png").stat().st_size > 10_000


def _check_energy_chart(page: Any, stack: Stack) -> None:
    """Today's production and consumption curves and the self-consumption headline."""
    assert stack.energy_steps, "no step of today has ended yet (just after midnight): nothing to draw"
    today = httpx.get(f"{stack.api_url}/v1/energy/district", timeout=10).json()
    produced = today["totals"]["production_wh"] > 0
    page.wait_for_function(
        "() => { const c = window.districtCharts.energy; if (!c) return false;"
        " const [p, q] = c.data.datasets; const some = (d) => d.data.some(v => v !== null);"
        " return c.data.labels.length > 0 && some(p) && some(q); }",
        timeout=20_000,
    )
    assert page.locator("#energy").is_visible()
    chart = page.evaluate(
        "() => { const c = window.districtCharts.energy; return {"
        " labels: c.data.labels.length,"
        " datasets: c.data.datasets.map(d => ({label: d.label,"
        "   values: d.data.filter(v => v !== null).length,"
        "   sum: d.data.reduce((a, v) => a + (v || 0), 0)})) }; }"
    )
    production, consumption, rate = chart["datasets"]
    assert chart["labels"] >= 92, chart  # the whole local day on the axis
    # One published value per ended step (the later steps are still to come: gaps).
    assert consumption["values"] == len(stack.energy_steps), chart
    assert production["values"] == len(stack.energy_steps), chart
    assert consumption["sum"] == today["totals"]["consumption_wh"] > 0, chart
    assert production["sum"] == today["totals"]["production_wh"], chart
    pixels = page.evaluate(
        "() => { const c = document.getElementById('chart-energy'); const ctx = c.getContext('2d');"
        " const d = ctx.getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"
    )
    assert pixels > 2_000, pixels
    headline = page.locator("#energy-rate").inner_text()
    if produced:
        assert rate["values"] > 0, chart
        assert re.search(r"Autoconsommation : \d{1,3}\.\d %", headline), headline
        assert "—" not in headline, headline
    else:  # before sunrise: nothing produced yet, so no rate to state
        assert "Autoconsommation : —" in headline, headline
    assert "kWh" in headline and "gaz" in headline and "eau" in headline, headline
