"""What an anonymous client, a resident and a merchant can read, against a running district:
real chain (payments with salted reference commitments), indexer, SQLite, API and live feed."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ledger.chain.reference import reference_commitment
from ledger.demo import MERCHANTS, RESIDENTS, dev_account
from ledger.energy import simulator
from ledger.energy.envelope import parse_utc
from tests.e2e.api_stack import ENERGY_SEED, FeedListener, Stack, running_stack, sign_in

pytestmark = pytest.mark.chain
# The references the demo district pays with (ledger.demo.seed_district), then this test's own.
DEMO_REFERENCES = (
    "BAGUETTE-0001",
    "DESK-2026-11-CHLOE",
    "TRIP-0042",
    "CROISSANTS-0007",
    "DESK-2026-11-DRISS",
    "BOOK-ELISE-1",
    "ROOM-ALICE-1",
    "TERMINAL-0001",
)
REFERENCE = "DESK-2026-12-PRIVATE-E2E"
PUBLIC_ROUTES = (
    "/v1/health",
    "/v1/token",
    "/v1/token/supply-history",
    "/v1/merchants",
    "/v1/payments/recent?limit=100",
    "/v1/settlements",
    "/v1/energy/district",
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("privacy-stack"), energy_homes=15) as running:
        yield running


def homes_values(stack: Stack) -> dict[tuple[int, str], set[int]]:
    """Each simulated home's own figures per step, as the district chart names them."""
    out: dict[tuple[int, str], set[int]] = {}
    for home in stack.energy_homes:
        for start in stack.energy_steps:
            v = simulator.step_values(home, start, ENERGY_SEED)
            figures = {"consumption_wh": v.electricity_import, "gas_wh": v.gas, "water_l": v.water}
            if v.electricity_export is not None:
                figures["production_wh"] = v.electricity_export
            for name, value in figures.items():
                out.setdefault((start, name), set()).add(value)
    return out


def test_the_public_sees_no_reference_no_payer_no_home_figure_and_the_chain_only_commitments(
    stack: Stack,
) -> None:
    bakery_key = dev_account(MERCHANTS[0][2])
    alice_key = dev_account(RESIDENTS[0][1])
    with FeedListener(f"{stack.api_url}/v1/feed") as feed:
        feed.wait_for(lambda e: e[0] == "block")
        # The bakery asks for a payment through the API; Alice pays it with the commitment only.
        merchant = sign_in(stack.api_url, bakery_key)
        created = httpx.post(
            f"{stack.api_url}/v1/merchants/1/payment-requests",
            json={"amount": "4200000", "reference": REFERENCE},
            headers=merchant,
            timeout=20,
        )
        assert created.status_code == 201, created.text
        request = created.json()
        salt = bytes.fromhex(request["salt"][2:])
        commitment = reference_commitment(REFERENCE, salt)
        assert request["commitment"] == "0x" + commitment.hex()
        alice = stack.operator.as_(alice_key)
        alice.ensure_allowance(4_200_000)
        sent = alice.client.transact(alice.payments.functions.pay(1, 4_200_000, commitment))
        feed.wait_for(lambda e: e[0] == "payment" and e[2]["block"] == sent.block_number)
        stack.wait_indexed(stack.head())
        public = {path: httpx.get(f"{stack.api_url}{path}", timeout=20).text for path in PUBLIC_ROUTES}
        public["feed"] = repr(feed.events)

    # No reference in clear, no resident address, no transaction of a payment, anywhere public.
    residents = [dev_account(i).address.lower() for _, i in RESIDENTS]
    residents += [home.wallet.lower() for home in stack.energy_homes]
    payments = stack.w3.eth.get_logs(
        {"address": stack.manifest.contract("ServicePayments").address, "fromBlock": 0, "toBlock": "latest"}
    )
    tx_hashes = {log["transactionHash"].to_0x_hex().lower() for log in payments}
    for where, text in public.items():
        lowered = text.lower()
        for reference in (*DEMO_REFERENCES, REFERENCE):
            assert reference.lower() not in lowered, (where, reference)
        for address in residents:
            assert address not in lowered and address[2:] not in lowered, (where, address)
        for tx in tx_hashes:
            assert tx not in lowered, (where, tx)
    # No published district figure is one home's own figure (a step built from < 5 homes is null).
    assert stack.energy_day is not None
    district = httpx.get(
        f"{stack.api_url}/v1/energy/district", params={"day": stack.energy_day.isoformat()}, timeout=20
    ).json()
    own = homes_values(stack)
    published = 0
    for step in district["steps"]:
        start = parse_utc(step["start"], "start")
        for name in ("production_wh", "consumption_wh", "gas_wh", "water_l"):
            value = step[name]
            if value is None or value == 0:
                continue
            published += 1
            assert value not in own.get((start, name), set()), (step["start"], name, value)
    assert published > 0  # the district figures are there, only never a single home's
    # On chain (anyone with RPC access): the payment carries the commitment, never the text.
    mine = [log for log in payments if log["transactionHash"].to_0x_hex() == sent.tx_hash]
    assert mine and bytes(mine[0]["topics"][3]) == commitment
    every_log = stack.w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest"})
    needle = REFERENCE.encode()
    for log in every_log:
        raw = b"".join(bytes(t) for t in log["topics"]) + bytes(log["data"])
        assert needle not in raw

    # The merchant reads its payment with the reference; nobody else's.
    mine_seen = httpx.get(f"{stack.api_url}/v1/merchants/1/payments", headers=merchant, timeout=20).json()
    matched = [p for p in mine_seen["payments"] if p["tx_hash"] == sent.tx_hash]
    assert [(p["ref"], p["ref_source"], p["payer"]) for p in matched] == [
        (REFERENCE, "request", alice_key.address.lower())
    ]
    for other in range(2, len(MERCHANTS) + 1):
        refused = httpx.get(f"{stack.api_url}/v1/merchants/{other}/payments", headers=merchant, timeout=20)
        assert refused.status_code == 403


def test_resident_a_reads_nothing_of_resident_b(stack: Stack) -> None:
    a = sign_in(stack.api_url, dev_account(RESIDENTS[0][1]))
    b = dev_account(RESIDENTS[1][1]).address
    spec = httpx.get(f"{stack.api_url}/openapi.json", timeout=20).json()["paths"]
    queries = {"statement.csv": "?month=2026-11", "proofs": "?day=2026-11-25"}
    private = [p for p in spec if p.startswith("/v1/accounts/{account}/")]
    assert len(private) >= 7
    for path in private:
        url = stack.api_url + path.replace("{account}", b) + queries.get(path.rsplit("/", 1)[-1], "")
        for method in spec[path]:
            kwargs = {"json": {"named": True}} if method == "put" else {}
            response = httpx.request(method.upper(), url, headers=a, timeout=20, **kwargs)  # type: ignore[arg-type]
            assert response.status_code == 403, (method, path, response.text)
            assert b.lower()[2:] not in response.text.lower()
        assert httpx.get(url, timeout=20).status_code == 401  # and nothing at all without a session
