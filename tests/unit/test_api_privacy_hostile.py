"""Attacks on the API's privacy promises (outside review of issue 11).

Each test states what the README / issue 11 promise and fails while the API breaks it. The
findings not fixed yet are marked `xfail(strict=True)` with the finding's number: each turns into
a failure the day its fix lands, so the mark must then be removed."""

from __future__ import annotations

from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from api.fakes import FakeEnergy, FakeReading, FakeSettlements
from api.ports import SettledDay
from ledger.db.queries_api import CursorInfo
from ledger.energy.settlement import Line, LineKind
from tests.unit.test_api import ALICE, BAKERY, build, seeded, signed_in
from tests.unit.test_api_energy import DAY, HOMES, NOON, chain_of, day_lines, step_at
from tests.unit.test_api_energy import A as PROSUMER
from tests.unit.test_api_energy import B as BUYER
from tests.unit.test_api_security import RESIDENT_A, sign, sign_in, siwe_text

# -- cache headers on private answers --------------------------------------------------------------


def _no_store(response: object) -> bool:
    value = response.headers.get("cache-control", "")  # type: ignore[attr-defined]
    return "no-store" in value.lower()


def test_a_private_balance_is_marked_no_store() -> None:
    """A resident's balance is private (only to that resident), yet its answer carries no
    Cache-Control: a shared cache or the browser's disk cache may keep and replay it, while the
    history, statement, energy and proofs routes all say `private, no-store`."""
    with TestClient(signed_in(build(seeded()), ALICE)) as client:
        response = client.get(f"/v1/accounts/{ALICE}/balance")
    assert response.status_code == 200
    assert _no_store(response), dict(response.headers)


def test_a_private_payments_list_is_marked_no_store() -> None:
    """The resident's payments (merchant, amount, reference or commitment) are private, yet the
    answer has no Cache-Control: no-store."""
    with TestClient(signed_in(build(seeded()), ALICE)) as client:
        response = client.get(f"/v1/accounts/{ALICE}/payments")
    assert response.status_code == 200
    assert _no_store(response), dict(response.headers)


def test_the_naming_choice_and_the_session_are_marked_no_store() -> None:
    """The resident's naming choice and the session answer (which address is signed in) are
    per-user answers without Cache-Control: no-store."""
    with TestClient(signed_in(build(seeded()), ALICE)) as client:
        naming = client.get(f"/v1/accounts/{ALICE}/naming")
        session = client.get("/v1/auth/session")
    assert naming.status_code == 200 and session.status_code == 200
    assert _no_store(naming), dict(naming.headers)
    assert _no_store(session), dict(session.headers)


# -- district aggregates ---------------------------------------------------------------------------


def _district(energy: FakeEnergy) -> dict[str, object]:
    with TestClient(build(seeded(), energy=energy)) as client:
        response = client.get("/v1/energy/district?day=2025-06-21")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_zero_value_homes_do_not_make_one_homes_production_public() -> None:
    """'district energy figures built from at least 5 homes' / 'no single home's figure': four
    homes that export nothing (a 0 export register, as every import-only meter reports) count
    as homes, so the district production of the step is exactly the one solar home's export."""
    solar_home = FakeReading(HOMES[0], NOON, 900, "electricity", "export", 1234)
    zero_homes = [FakeReading(HOMES[i], NOON, 900, "electricity", "export", 0) for i in range(1, 5)]
    step = step_at(_district(FakeEnergy([solar_home, *zero_homes])), NOON)
    assert step["production_wh"] != 1234, "one home's production is published as the district's"


def test_zero_value_homes_do_not_make_one_homes_gas_public() -> None:
    """The same with gas: one home's gas use of a step, alone, once four homes report 0."""
    heated = FakeReading(HOMES[5], NOON, 900, "gas", "import", 777)
    zero_homes = [FakeReading(HOMES[i], NOON, 900, "gas", "import", 0) for i in range(1, 5)]
    step = step_at(_district(FakeEnergy([heated, *zero_homes])), NOON)
    assert step["gas_wh"] != 777, "one home's gas use is published as the district's"


def test_a_step_where_five_homes_all_report_zero_is_published_as_zero() -> None:
    """At night every roof exports 0: a zero figure reveals nothing one home added, so five homes
    reporting 0 publish a production of 0 (not a hidden step), while four do not."""
    five = [FakeReading(HOMES[i], NOON, 900, "electricity", "export", 0) for i in range(5)]
    assert step_at(_district(FakeEnergy(five)), NOON)["production_wh"] == 0
    four = five[:4]
    assert step_at(_district(FakeEnergy(four)), NOON)["production_wh"] is None


def test_a_meter_without_a_home_is_not_published_alone_behind_zero_homes() -> None:
    """A meter with no home (not counted, so it never makes a group look larger) is still summed:
    behind five zero-value homes its figure is published alone."""
    lone = FakeReading(None, NOON, 900, "electricity", "import", 4321)
    zero_homes = [FakeReading(HOMES[i], NOON, 900, "electricity", "import", 0) for i in range(5)]
    step = step_at(_district(FakeEnergy([lone, *zero_homes])), NOON)
    assert step["consumption_wh"] != 4321


# -- pseudonyms ------------------------------------------------------------------------------------


def test_proof_leaves_and_sibling_hashes_do_not_invert_buyer_pseudonyms() -> None:
    """'Prosumers see buyers as pseudonyms ... unless a buyer opts in to be named.' The proofs
    route shows the pseudonym but also every other field of the line and its leaf hash: the leaf
    is keccak over (kind, index, time, payer, payee, wh, value), so the prosumer tries the
    district's addresses (all on chain) as payer until the leaf matches: the pseudonym falls."""
    lines = day_lines(1)
    settled = FakeSettlements(
        [SettledDay(1, DAY, 1, lines, chain_of(lines))], CursorInfo(50, "0x" + "cd" * 32)
    )
    with TestClient(build(seeded(), settlements=settled)) as client:
        sign_in(client, RESIDENT_A)
        response = client.get(f"/v1/accounts/{PROSUMER}/proofs?day=2025-06-21")
    assert response.status_code == 200, response.text
    candidates = [*HOMES, BUYER]  # e.g. every address seen in Transfer events
    unmasked: dict[str, str] = {}
    for proof_set in response.json()["settlements"]:
        # every hash handed out: leaves and the siblings in the proofs of the other lines
        handed = {h.lower() for line in proof_set["lines"] for h in [line["leaf"] or "", *line["proof"]] if h}
        for line in proof_set["lines"]:
            if not str(line["payer"]).startswith("neighbour-"):
                continue
            for candidate in candidates:
                guess = Line(
                    LineKind[line["kind"].upper()],
                    line["index"],
                    line["time"],
                    candidate,
                    line["payee"] if line["payee"].startswith("0x") else PROSUMER,
                    line["wh"],
                    int(line["value"]),
                )
                if "0x" + guess.leaf().hex() in handed:
                    unmasked[line["payer"]] = candidate
    assert unmasked == {}, f"pseudonyms inverted from the leaves: {unmasked}"


# -- sign-in ---------------------------------------------------------------------------------------


def test_a_nonce_is_spent_once_whatever_its_letter_case() -> None:
    """'single use': the nonce is hex checked by bytes.fromhex (case-blind) but recorded as spent
    by its exact text, so the same server nonce in upper case opens a second session (and every
    mix of cases another: 2^n sessions from one nonce)."""
    with TestClient(build(seeded())) as client:
        nonce = client.get("/v1/auth/nonce").json()["nonce"]
        sessions = 0
        for variant in (nonce.lower(), nonce.upper()):
            text = siwe_text(client, RESIDENT_A, nonce=variant)
            answer = client.post("/v1/auth/siwe", json={"message": text, "signature": sign(RESIDENT_A, text)})
            sessions += answer.status_code == 200
    assert sessions == 1, "one nonce opened two sessions"


# -- treasury top-up -------------------------------------------------------------------------------


def test_the_topup_instructions_are_marked_no_store() -> None:
    """The top-up answer is per resident (their RF reference, which names their address to the
    bank), yet only its QR code says no-store; the JSON has no Cache-Control."""
    from ledger.treasury.view import BankDetails, MemoryTreasuryView

    app = build(seeded())
    app.state.treasury = MemoryTreasuryView(BankDetails("FR7630006000011234567890189", "Association"))
    with TestClient(app) as client:
        sign_in(client, RESIDENT_A)
        reply = client.get("/v1/treasury/topup", params={"amount": "10.00"})
    assert reply.status_code == 200, reply.text
    assert _no_store(reply), dict(reply.headers)


def test_attack_topup_reference_names_the_address_to_anyone_who_sees_the_transfer() -> None:
    """The RF reference of a top-up was sha256 of the lower-case address, with no server secret:
    whoever sees the bank transfer (the payer's bank, an accountant, a shared bank statement)
    tried the district's addresses (all on chain) and joined the payer's name and IBAN to the
    address, hence to its whole on-chain history. Keyed with the operator's secret, the same
    trial over every address (and the old unkeyed formula) finds nobody."""
    import hashlib
    import secrets

    from ledger.domain.treasury import RF_BODY_PREFIX, rf_with_check, topup_reference

    operator_key = secrets.token_bytes(32)
    seen_on_bank_statement = topup_reference(RESIDENT_A.address, operator_key)
    on_chain = [*HOMES, BUYER, RESIDENT_A.address, ALICE]

    def unkeyed(address: str) -> str:
        digest, chars = int.from_bytes(hashlib.sha256(address.lower().encode()).digest(), "big"), []
        for _ in range(18):
            digest, rest = divmod(digest, 36)
            chars.append("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[rest])
        return rf_with_check(RF_BODY_PREFIX + "".join(chars))

    guesses = [(a, f(a)) for a in on_chain for f in (unkeyed, lambda a: topup_reference(a, bytes(32)))]
    recovered = [a for a, guess in guesses if guess == seen_on_bank_statement]
    assert recovered == [], f"the bank reference {seen_on_bank_statement} names {recovered}"


def test_attack_polling_the_district_as_readings_arrive_isolates_one_home() -> None:
    """Gateways send each home's readings when they can (late, retried): a neighbour who reads the
    public district figure before and after one more home's reading of the step arrives gets that
    home's figure alone, by subtraction. Both answers were 'built from at least 5 homes'."""
    energy = FakeEnergy(
        [FakeReading(HOMES[i], NOON, 900, "electricity", "import", 100 + i) for i in range(5)]
    )
    with TestClient(build(seeded(), energy=energy)) as client:
        before = step_at(client.get("/v1/energy/district?day=2025-06-21").json(), NOON)["consumption_wh"]
        energy.readings.append(FakeReading(HOMES[6], NOON, 900, "electricity", "import", 5555))
        after = step_at(client.get("/v1/energy/district?day=2025-06-21").json(), NOON)["consumption_wh"]
    assert isinstance(before, int) and isinstance(after, int)
    assert after - before != 5555, "the late home's consumption is the difference of two public answers"


# -- schema exactness ------------------------------------------------------------------------------


def _reference_schema() -> dict[str, object]:
    with TestClient(build(seeded())) as client:
        schema = client.get("/openapi.json").json()["components"]["schemas"]["MerchantRequestIn"]
    field: dict[str, object] = schema["properties"]["reference"]
    return field


REFERENCE_FIELD = _reference_schema()


def _schema_allows(reference: str) -> bool:
    import re

    pattern, longest = REFERENCE_FIELD["pattern"], REFERENCE_FIELD["maxLength"]
    shortest = REFERENCE_FIELD["minLength"]
    assert isinstance(pattern, str) and isinstance(longest, int) and isinstance(shortest, int)
    return shortest <= len(reference) <= longest and re.search(pattern, reference) is not None


def _references() -> st.SearchStrategy[str]:
    """What the schema allows (drawn from its own pattern), what it nearly allows (one more
    character, an empty text) and any text at all (every Unicode category, the old findings)."""
    pattern = REFERENCE_FIELD["pattern"]
    assert isinstance(pattern, str)
    allowed = st.from_regex(pattern, fullmatch=True)
    return st.one_of(
        allowed.filter(lambda r: len(r) <= 140),
        allowed.map(lambda r: (r * 141)[:141]),
        st.text(max_size=150),
        st.sampled_from(["é" * 140, "a\u2028b", "a\u0085b", "\u200b", "", "x" * 140, "x" * 141]),
    )


def test_every_reference_the_schema_allows_is_accepted_and_every_other_refused() -> None:
    """'what the OpenAPI allows, the API accepts', and what it refuses the API refuses: the
    schema of a merchant's payment request reference is exactly the API's rule (it once allowed
    140 characters where the API counted 140 bytes, and invisible separators the API refused)."""
    with TestClient(signed_in(build(seeded()), BAKERY)) as client:

        @settings(max_examples=200, deadline=None)
        @given(reference=_references())
        def one_reference(reference: str) -> None:
            answer = client.post(
                "/v1/merchants/1/payment-requests", json={"amount": "2400000", "reference": reference}
            )
            if _schema_allows(reference):
                assert answer.status_code == 201, (reference, answer.text)
            else:
                assert answer.status_code in (400, 422), (reference, answer.status_code)
                assert "reference" in answer.text, answer.text

        one_reference()
