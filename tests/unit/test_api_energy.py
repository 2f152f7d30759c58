"""Energy over HTTP with fakes: gateway readings through the real pipeline (in-memory store),
district aggregates that never reveal fewer than 5 homes, settlement days, and a resident's own
curves, earnings and proofs (owner only)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient

from api.fakes import FakeEnergy, FakeLedger, FakeReading, FakeSettlements
from api.ports import SettledDay
from ledger.db.queries_api import CursorInfo
from ledger.db.queries_energy import OnChainSettlement
from ledger.domain.energy.steps import day_bounds
from ledger.energy import registry
from ledger.energy.envelope import Envelope, IntervalReading, seal
from ledger.energy.ingest import IngestPipeline
from ledger.energy.memory_store import MemoryEnergyStore
from ledger.energy.settlement import DayLines, Line, LineKind, Totals, verify_offline
from tests.unit.test_api import build, seeded
from tests.unit.test_api_security import RESIDENT_A, RESIDENT_B, sign_in

DAY = date(2025, 6, 21)
DAY_START = int(day_bounds(DAY)[0].timestamp())
NOON = int(datetime(2025, 6, 21, 10, 0, tzinfo=UTC).timestamp())  # 12:00 in Paris
NOW = NOON + 3 * 3600
SALT = b"unit-test-salt-0123456789"
A = RESIDENT_A.address
B = RESIDENT_B.address
HOMES = [f"0x{n:040x}" for n in range(1, 9)]


# -- gateway readings ------------------------------------------------------------------------------


class Gateway:
    def __init__(self) -> None:
        self.store = MemoryEnergyStore()
        self.key = ed25519.Ed25519PrivateKey.generate()
        self.pipeline = IngestPipeline(self.store, clock=lambda: NOW)
        pem = self.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        registry.add_gateway(self.store, "gw-1", pem)
        registry.add_meter(self.store, SALT, "M1", "electricity", 12_000, device_id="gw-1")
        self.counter = 0

    def body(self, value: int = 100, *, counter: int | None = None, key: object = None) -> bytes:
        if counter is None:
            self.counter += 1
            counter = self.counter
        reading = IntervalReading(NOON, 900, "electricity", "import", value, "raw")
        return seal(Envelope("gw-1", counter, "M1", "synced", (reading,)), key or self.key)  # type: ignore[arg-type]


@pytest.fixture
def gateway() -> Gateway:
    return Gateway()


@pytest.fixture
def gw_client(gateway: Gateway) -> Iterator[TestClient]:
    with TestClient(build(seeded(), ingest=gateway.pipeline)) as c:
        yield c


def post(client: TestClient, body: bytes, device: str = "gw-1") -> tuple[int, dict[str, object]]:
    response = client.post(
        f"/v1/gateways/{device}/readings", content=body, headers={"content-type": "application/json"}
    )
    return response.status_code, response.json()


def test_signed_readings_posted_by_a_gateway_are_stored(gw_client: TestClient, gateway: Gateway) -> None:
    body = gateway.body(412)
    status, answer = post(gw_client, body)
    assert status == 200
    assert answer == {
        "status": "accepted",
        "sha256": hashlib.sha256(body).hexdigest(),
        "device_id": "gw-1",
        "counter": 1,
        "stored": 1,
        "duplicates": 0,
        "held": 0,
        "superseded": 0,
    }
    assert [r.value for r in gateway.store.readings()] == [412]
    status, again = post(gw_client, body)  # the very same envelope again: a duplicate, not an error
    assert status == 200 and again["status"] == "duplicate"
    assert len(gateway.store.readings()) == 1


def test_refused_envelopes_carry_the_pipeline_status_code_and_reason(
    gw_client: TestClient, gateway: Gateway
) -> None:
    assert post(gw_client, gateway.body(1))[0] == 200
    stranger = ed25519.Ed25519PrivateKey.generate()
    doc = orjson.loads(gateway.body(5))
    unsigned = orjson.dumps({"payload": doc["payload"], "signature": ""})
    tampered = dict(doc, payload=dict(doc["payload"], counter=99))
    cases = [
        (gateway.body(2, key=stranger), 401, "bad_signature"),
        (unsigned, 401, "unsigned"),
        (orjson.dumps(tampered), 401, "bad_signature"),
        (gateway.body(3, counter=1), 409, "replayed_counter"),
        (gateway.body(10**9), 422, "above_physical_max"),
        (b"{not json", 422, "malformed"),
        (b'{"payload": 3, "signature": "x"}', 422, "malformed"),
        (b"", 422, "malformed"),
    ]
    for body, status, code in cases:
        got, answer = post(gw_client, body)
        assert got == status, (code, answer)
        error = answer["error"]
        assert isinstance(error, dict) and error["code"] == code and error["message"]
        ingest = answer["ingest"]
        assert isinstance(ingest, dict) and ingest["status"] == "rejected" and ingest["code"] == code
    assert [r.value for r in gateway.store.readings()] == [1]  # nothing else stored


def test_an_envelope_sent_on_another_gateways_route_is_refused(
    gw_client: TestClient, gateway: Gateway
) -> None:
    status, answer = post(gw_client, gateway.body(7), device="gw-2")
    assert status == 403
    assert answer["error"] == {"code": "device_mismatch", "message": answer["error"]["message"]}  # type: ignore[index]
    assert gateway.store.readings() == []


def test_an_unknown_gateway_is_refused(gw_client: TestClient) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    reading = IntervalReading(NOON, 900, "electricity", "import", 1, "raw")
    body = seal(Envelope("gw-9", 1, "M1", "synced", (reading,)), key)
    status, answer = post(gw_client, body, device="gw-9")
    assert status == 403 and answer["error"]["code"] == "unknown_device"  # type: ignore[index]


def test_gateway_bodies_above_64_kib_are_refused_before_the_pipeline(
    gw_client: TestClient, gateway: Gateway
) -> None:
    big = b"{" + b" " * (64 * 1024) + b"}"
    status, answer = post(gw_client, big)
    assert status == 413 and answer["error"]["code"] == "payload_too_large"  # type: ignore[index]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(70):
            yield b" " * 1024

    response = gw_client.post("/v1/gateways/gw-1/readings", content=chunks())
    assert response.status_code == 413
    assert gateway.store.raw_inputs() == []


def test_a_gateway_route_with_a_bad_device_id_is_refused(gw_client: TestClient, gateway: Gateway) -> None:
    response = gw_client.post("/v1/gateways/-bad!/readings", content=gateway.body())
    assert response.status_code in (404, 422)
    assert set(response.json()) == {"error"}


def test_the_gateway_rate_limit_still_applies_with_the_pipeline(gateway: Gateway) -> None:
    app = build(
        seeded(), ingest=gateway.pipeline, rate_limit_enabled=True, gateway_rate_per_second=0.1,
        gateway_burst=2, rate_burst=100,
    )
    with TestClient(app) as client:
        answers = [post(client, gateway.body(n))[0] for n in range(1, 4)]
    assert answers == [200, 200, 429]
    assert len(gateway.store.readings()) == 1  # the second one was a conflicting value, held


# -- district aggregates ---------------------------------------------------------------------------


def homes(n: int, start: int, value: int, **kw: object) -> list[FakeReading]:
    direction = str(kw.get("direction", "import"))
    commodity = str(kw.get("commodity", "electricity"))
    return [FakeReading(HOMES[i], start, 900, commodity, direction, value) for i in range(n)]


def district(energy: FakeEnergy, day: str = "2025-06-21") -> dict[str, object]:
    with TestClient(build(seeded(), energy=energy)) as client:
        response = client.get(f"/v1/energy/district?day={day}")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def step_at(body: dict[str, object], ts: int) -> dict[str, object]:
    iso = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    steps = body["steps"]
    assert isinstance(steps, list)
    found: dict[str, object] = next(s for s in steps if s["start"] == iso)
    return found


def test_five_homes_are_shown_four_are_withheld() -> None:
    energy = FakeEnergy(
        homes(5, NOON, 300, direction="export")
        + homes(5, NOON, 200)
        + homes(4, NOON + 900, 300, direction="export")
        + homes(6, NOON + 900, 200)
        + homes(4, NOON, 1000, commodity="gas")
        + homes(5, NOON, 30, commodity="water")
    )
    body = district(energy)
    assert body["step_minutes"] == 15 and body["min_homes"] == 5
    assert len(body["steps"]) == 96  # type: ignore[arg-type]
    first = step_at(body, NOON)
    assert first["production_wh"] == 1500 and first["consumption_wh"] == 1000
    assert first["self_consumed_wh"] == 1000
    assert first["self_consumption_rate"] == "0.666666"
    assert first["self_sufficiency_rate"] == "1.000000"
    assert first["gas_wh"] is None and first["water_l"] == 150
    assert first["withheld"] == [{"figure": "gas", "reason": "fewer_than_5_homes"}]
    second = step_at(body, NOON + 900)
    assert second["production_wh"] is None and second["consumption_wh"] == 1200
    assert second["self_consumption_rate"] is None
    assert {"figure": "production", "reason": "fewer_than_5_homes"} in second["withheld"]  # type: ignore[operator]
    empty = step_at(body, NOON + 1800)
    assert empty["production_wh"] is None
    assert len(empty["withheld"]) == 4  # type: ignore[arg-type]
    assert {w["reason"] for w in empty["withheld"]} == {"no_readings"}  # type: ignore[attr-defined]
    totals = body["totals"]
    assert totals == {
        "production_wh": 1500,  # the withheld step is not in the total: no subtracting to it
        "consumption_wh": 2200,
        "self_consumed_wh": 1000,
        "self_consumption_rate": "0.666666",
        "gas_wh": 0,
        "water_l": 150,
        "steps_withheld": 96,
    }
    assert body["self_consumption_rate"] == "0.666666"
    assert body["latest_step"] == "2025-06-21T10:15:00Z"


def test_several_meters_of_one_home_count_as_one_home() -> None:
    one_home_many_meters = [FakeReading(HOMES[0], NOON, 900, "electricity", "import", 10) for _ in range(6)]
    body = district(FakeEnergy(one_home_many_meters + homes(3, NOON, 10)[1:]))
    first = step_at(body, NOON)
    assert first["consumption_wh"] is None
    assert {"figure": "consumption", "reason": "fewer_than_5_homes"} in first["withheld"]  # type: ignore[operator]


def test_meters_without_a_home_never_make_a_group_look_larger() -> None:
    anonymous = [FakeReading(None, NOON, 900, "electricity", "import", 10) for _ in range(5)]
    body = district(FakeEnergy(anonymous + homes(4, NOON, 10)))
    assert step_at(body, NOON)["consumption_wh"] is None


def test_fifteen_minute_data_is_summed_into_thirty_when_anyone_has_thirty() -> None:
    readings = homes(5, NOON, 100) + homes(5, NOON + 900, 50)
    readings += [FakeReading(HOMES[7], NOON, 1800, "electricity", "import", 70)]
    body = district(FakeEnergy(readings))
    assert body["step_minutes"] == 30 and len(body["steps"]) == 48  # type: ignore[arg-type]
    assert step_at(body, NOON)["consumption_wh"] == 820


def test_the_district_day_must_be_a_real_date() -> None:
    with TestClient(build(seeded())) as client:
        for bad in ("2025-02-30", "21-06-2025"):
            refused = client.get(f"/v1/energy/district?day={bad}")
            assert refused.status_code == 422
            assert "YYYY-MM-DD" in refused.json()["error"]["message"]
        today = client.get("/v1/energy/district")
    assert today.status_code == 200 and today.json()["totals"]["production_wh"] == 0


# -- settlements -----------------------------------------------------------------------------------


def day_lines(version: int = 1) -> DayLines:
    lines = (
        Line(LineKind.DAY, 1, DAY_START, "0x" + "0" * 40, "0x" + "0" * 40, 900, 81_000),
        Line(LineKind.STEP, 40, NOON, B, A, 500, 45_000_000),
        Line(LineKind.STEP, 40, NOON, HOMES[2], A, 400, 36_000_000),
        Line(LineKind.PAIR, 0, DAY_START, B, A, 500, 45_000),
        Line(LineKind.PAIR, 0, DAY_START, HOMES[2], A, 400, 36_000),
        Line(LineKind.TRANSFER, 0, DAY_START, B, A, 0, 45_000),
        Line(LineKind.TRANSFER, 1, DAY_START, HOMES[2], A, 0, 36_000),
        Line(LineKind.BOUGHT, 0, DAY_START, B, "0x" + "0" * 40, 500, 45_000),
        Line(LineKind.BOUGHT, 0, DAY_START, HOMES[2], "0x" + "0" * 40, 400, 36_000),
        Line(LineKind.SOLD, 0, DAY_START, "0x" + "0" * 40, A, 900, 81_000),
    )
    return DayLines(1, DAY, version, 15, lines, Totals(1200, 900, 900, 300, 81_000, 2))


def chain_of(lines: DayLines) -> OnChainSettlement:
    return OnChainSettlement(
        1, 20250621, lines.version, "0x" + lines.root.hex(), lines.totals.as_tuple(), 42,
        "0x" + "ab" * 32, NOW, paid=81_000, shortfall=0, paid_up_to=2,
    )


@pytest.fixture
def settled() -> FakeSettlements:
    v1 = day_lines(1)
    return FakeSettlements(
        [
            SettledDay(1, DAY, 1, v1, chain_of(v1)),
            SettledDay(1, date(2025, 6, 22), 1, day_lines(1), None),  # computed, not yet committed
        ],
        CursorInfo(50, "0x" + "cd" * 32),
    )


@pytest.fixture
def energy_client(ledger_for_energy: FakeLedger, settled: FakeSettlements) -> Iterator[TestClient]:
    energy = FakeEnergy(
        [
            FakeReading(A, NOON, 900, "electricity", "export", 1200),
            FakeReading(A, NOON, 900, "electricity", "import", 0),
            FakeReading(A, NOON, 900, "gas", "import", 800),
            FakeReading(A, NOON + 900, 900, "water", "import", 12),
            FakeReading(B, NOON, 900, "electricity", "import", 500),
        ]
    )
    with TestClient(build(ledger_for_energy, energy=energy, settlements=settled)) as c:
        yield c


@pytest.fixture
def ledger_for_energy() -> FakeLedger:
    return seeded()


def test_settlement_days_list_roots_totals_versions_and_transactions(energy_client: TestClient) -> None:
    body = energy_client.get("/v1/settlements").json()
    assert body["indexed_block"] == 50
    days = body["settlements"]
    assert [(d["day"], d["committed"]) for d in days] == [("2025-06-22", False), ("2025-06-21", True)]
    committed = days[1]
    lines = day_lines(1)
    assert committed["root"] == committed["onchain_root"] == "0x" + lines.root.hex()
    assert committed["tx_hash"] == "0x" + "ab" * 32 and committed["block"] == 42
    # What the day moved; no energy figure (a day's energy may be that of a handful of homes).
    assert committed["totals"] == {"amount": {"micro": "81000", "display": "0.081 M3E"}, "transfers": 2}
    assert committed["paid"] == {"micro": "81000", "display": "0.081 M3E"}
    assert energy_client.get("/v1/settlements?limit=1").json()["settlements"][0]["day"] == "2025-06-22"
    one = energy_client.get("/v1/settlements/2025-06-21").json()
    assert one["day"] == "2025-06-21" and len(one["settlements"]) == 1
    missing = energy_client.get("/v1/settlements/2025-01-01")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "no_settlement"
    assert energy_client.get("/v1/settlements/2025-13-01").status_code == 422


def test_a_prosumer_reads_their_curves_allocations_and_earnings(energy_client: TestClient) -> None:
    sign_in(energy_client, RESIDENT_A)
    response = energy_client.get(f"/v1/accounts/{A}/energy?day=2025-06-21&days=2")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-store"
    body = response.json()
    # The buyers appear as pseudonyms (api.state.Pseudonyms): checked apart below.
    allocated = body["days"][0]["allocated"]
    assert all(a["to"].startswith("neighbour-") and a["named"] is False for a in allocated)
    assert HOMES[2] not in response.text and B.lower() not in response.text.lower()
    for a in allocated:
        a["to"] = {pseudonym(A, HOMES[2]): HOMES[2], pseudonym(A, B): B.lower()}[a["to"]]
        del a["named"]
    body["days"][0]["allocated"] = sorted(allocated, key=lambda a: a["wh"])
    assert body["steps"] == [
        {"start": "2025-06-21T10:00:00Z", "step_s": 900, "electricity_import_wh": 0,
         "electricity_export_wh": 1200, "gas_wh": 800, "water_l": None},
        {"start": "2025-06-21T10:15:00Z", "step_s": 900, "electricity_import_wh": None,
         "electricity_export_wh": None, "gas_wh": None, "water_l": 12},
    ]
    assert body["days"] == [
        {
            "day": "2025-06-21",
            "produced_wh": 1200,
            "allocated": [
                {"to": HOMES[2], "wh": 400, "amount": {"micro": "36000", "display": "0.036 M3E"}},
                {"to": B.lower(), "wh": 500, "amount": {"micro": "45000", "display": "0.045 M3E"}},
            ],
            "allocated_wh": 900,
            "earned": {"micro": "81000", "display": "0.081 M3E"},
            "bought_wh": 0,
            "owed": {"micro": "0", "display": "0.00 M3E"},
            "fund_paid": {"micro": "0", "display": "0.00 M3E"},
            "peak_surcharge": {"micro": "0", "display": "0.00 M3E"},
            "off_peak_discount": {"micro": "0", "display": "0.00 M3E"},
            "paid": {"micro": "0", "display": "0.00 M3E"},
            "version": 1,
            "committed": True,
        }
    ]


def pseudonym(viewer: str, other: str) -> str:
    from api.state import Pseudonyms, ServerKey

    return Pseudonyms(ServerKey.from_text("5e" * 32)).of(viewer, other)


def test_buyers_are_pseudonyms_stable_per_prosumer_unlinkable_across_prosumers() -> None:
    assert pseudonym(A, B) == pseudonym(A.lower(), B.upper().replace("0X", "0x"))
    assert pseudonym(A, B) != pseudonym(HOMES[0], B)
    assert pseudonym(A, B) != pseudonym(A, HOMES[2])


def test_a_buyer_who_opts_in_is_named_to_the_prosumers(energy_client: TestClient) -> None:
    sign_in(energy_client, RESIDENT_B)
    assert energy_client.get(f"/v1/accounts/{B}/naming").json()["named"] is False
    assert energy_client.put(f"/v1/accounts/{A}/naming", json={"named": True}).status_code == 403
    assert energy_client.put(f"/v1/accounts/{B}/naming", json={"named": True}).json()["named"] is True
    sign_in(energy_client, RESIDENT_A)
    allocated = energy_client.get(f"/v1/accounts/{A}/energy?day=2025-06-21").json()["days"][0]["allocated"]
    shown = {a["to"]: a["named"] for a in allocated}
    assert shown == {B.lower(): True, pseudonym(A, HOMES[2]): False}
    proofs = energy_client.get(f"/v1/accounts/{A}/proofs?day=2025-06-21").text
    assert HOMES[2] not in proofs and pseudonym(A, HOMES[2]) in proofs


def test_the_energy_answer_reads_in_the_wallet(energy_client: TestClient) -> None:
    from wallet_cli.commands.energy import summarize_energy

    sign_in(energy_client, RESIDENT_A)
    days = energy_client.get(f"/v1/accounts/{A}/energy?day=2025-06-21&days=2").json()["days"]
    summary = summarize_energy(days)
    assert summary["days"][0]["allocated_wh"] == 900 and summary["days"][0]["earned"] == "81000"


def test_a_consumer_sees_what_they_bought(energy_client: TestClient) -> None:
    sign_in(energy_client, RESIDENT_B)
    day = energy_client.get(f"/v1/accounts/{B}/energy?day=2025-06-21").json()["days"][0]
    assert day["bought_wh"] == 500 and day["owed"]["micro"] == "45000"
    assert day["allocated"] == [] and day["produced_wh"] is None


FUND = "0x" + "f0" * 20


def test_a_helped_household_sees_what_it_paid_and_what_the_fund_paid(ledger_for_energy: FakeLedger) -> None:
    # B is eligible for the social price: the fund pays 18,000 of its 45,000 µM3E (a SOLIDARITY line).
    base = day_lines(1)
    solidarity_line = Line(LineKind.SOLIDARITY, 0, DAY_START, FUND, B, 500, 18_000)
    helped = DayLines(1, DAY, 1, 15, (*base.lines, solidarity_line), base.totals)
    settled = FakeSettlements(
        [SettledDay(1, DAY, 1, helped, chain_of(helped))], CursorInfo(50, "0x" + "cd" * 32)
    )
    with TestClient(build(ledger_for_energy, energy=FakeEnergy([]), settlements=settled)) as client:
        sign_in(client, RESIDENT_B)
        day = client.get(f"/v1/accounts/{B}/energy?day=2025-06-21").json()["days"][0]
        figures = (day["owed"]["micro"], day["fund_paid"]["micro"], day["paid"]["micro"])
        assert figures == ("45000", "18000", "27000")
        proofs = client.get(f"/v1/accounts/{B}/proofs?day=2025-06-21")
        assert proofs.status_code == 200, proofs.text
        (lines,) = [s["lines"] for s in proofs.json()["settlements"]]
        solidarity = [p for p in lines if p["kind"] == "solidarity"]
        assert [(p["value"], p["verified"]) for p in solidarity] == [("18000", True)]
        sign_in(client, RESIDENT_A)
        # A is not helped: it pays what it owes, the fund nothing.
        seller = client.get(f"/v1/accounts/{A}/energy?day=2025-06-21").json()["days"][0]
        assert seller["fund_paid"]["micro"] == "0" and seller["paid"] == seller["owed"]


def test_a_household_sees_its_peak_surcharge_and_off_peak_discount_and_their_proofs(
    ledger_for_energy: FakeLedger,
) -> None:
    # B's 45,000 µM3E of solar: it pays the fund a 2,000 peak surcharge, the fund pays 1,500 off-peak.
    base = day_lines(1)
    surcharge = Line(LineKind.SURCHARGE, 0, DAY_START, B, FUND, 100, 2_000)
    discount = Line(LineKind.DISCOUNT, 0, DAY_START, FUND, B, 100, 1_500)
    split = DayLines(1, DAY, 1, 15, (*base.lines, surcharge, discount), base.totals)
    cursor = CursorInfo(50, "0x" + "cd" * 32)
    settled = FakeSettlements([SettledDay(1, DAY, 1, split, chain_of(split))], cursor)
    with TestClient(build(ledger_for_energy, energy=FakeEnergy([]), settlements=settled)) as client:
        sign_in(client, RESIDENT_B)
        day = client.get(f"/v1/accounts/{B}/energy?day=2025-06-21").json()["days"][0]
        figures = [day[k]["micro"] for k in ("owed", "peak_surcharge", "off_peak_discount", "paid")]
        assert figures == ["45000", "2000", "1500", "45500"]
        proofs = client.get(f"/v1/accounts/{B}/proofs?day=2025-06-21")
        assert proofs.status_code == 200, proofs.text
        (lines,) = [s["lines"] for s in proofs.json()["settlements"]]
        split_kinds = ("surcharge", "discount")
        shown = sorted((p["kind"], p["value"], p["verified"]) for p in lines if p["kind"] in split_kinds)
        assert shown == [("discount", "1500", True), ("surcharge", "2000", True)]


def test_proofs_verify_against_the_root_on_chain(energy_client: TestClient) -> None:
    sign_in(energy_client, RESIDENT_A)
    body = energy_client.get(f"/v1/accounts/{A}/proofs?day=2025-06-21").json()
    (proofs,) = body["settlements"]
    lines = day_lines(1)
    assert proofs["onchain_root"] == proofs["root"] == "0x" + lines.root.hex()
    assert proofs["committed"] is True
    kinds = [p["kind"] for p in proofs["lines"]]
    assert kinds == ["step", "step", "pair", "pair", "transfer", "transfer", "sold"]
    assert all(p["verified"] for p in proofs["lines"])
    for p in proofs["lines"]:
        assert verify_offline(lines, p["line"], lines.root)
        # A's buyers are pseudonyms: no leaf and no sibling hash that would let them be inverted;
        # `verified` is the server's check against the root on chain
        assert p["leaf"] is None and p["proof"] == []
    uncommitted = energy_client.get(f"/v1/accounts/{A}/proofs?day=2025-06-22").json()["settlements"][0]
    assert uncommitted["committed"] is False and not any(p["verified"] for p in uncommitted["lines"])


def test_a_resident_cannot_read_anothers_energy_or_proofs(energy_client: TestClient) -> None:
    for path in (f"/v1/accounts/{B}/energy?day=2025-06-21", f"/v1/accounts/{B}/proofs?day=2025-06-21"):
        assert energy_client.get(path).status_code == 401
    sign_in(energy_client, RESIDENT_A)
    for path in (f"/v1/accounts/{B}/energy?day=2025-06-21", f"/v1/accounts/{B}/proofs?day=2025-06-21"):
        refused = energy_client.get(path)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "not_your_data"
        assert "500" not in refused.text and B.lower() not in refused.text.lower()


def test_the_signature_of_the_fixture_lines_is_consistent() -> None:
    # the fixture's base64 seal round-trips (guards the helpers above)
    doc = orjson.loads(Gateway().body())
    assert base64.b64decode(doc["signature"])
