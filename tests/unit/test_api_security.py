"""Security of the API: Sign-In with Ethereum, own-data-only, operator roles, limits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from api.errors import BadRequest
from api.fakes import FakeLedger, FakeOperator, MemoryApiState
from api.siwe import SiweMessage, parse_message
from tests.unit.test_api import ALICE, build, seeded

RESIDENT_A: LocalAccount = Account.from_key("0x" + "11" * 32)
RESIDENT_B: LocalAccount = Account.from_key("0x" + "22" * 32)


def siwe_text(
    client: TestClient,
    account: LocalAccount,
    *,
    domain: str = "testserver",
    uri: str = "http://testserver/",
    chain_id: int = 69003,
    nonce: str | None = None,
    expires_in: timedelta | None = timedelta(minutes=5),
    not_before: datetime | None = None,
) -> str:
    if nonce is None:
        nonce = client.get("/v1/auth/nonce").json()["nonce"]
    now = datetime.now(UTC).replace(microsecond=0)
    return SiweMessage(
        domain=domain,
        address=account.address,
        uri=uri,
        chain_id=chain_id,
        nonce=nonce,
        issued_at=now,
        statement="Sign in to the district ledger.",
        expiration_time=now + expires_in if expires_in is not None else None,
        not_before=not_before,
    ).to_text()


def sign(account: LocalAccount, text: str) -> str:
    return "0x" + bytes(account.sign_message(encode_defunct(text=text)).signature).hex()


def sign_in(client: TestClient, account: LocalAccount, **kwargs: object) -> dict[str, object]:
    text = siwe_text(client, account, **kwargs)  # type: ignore[arg-type]
    response = client.post("/v1/auth/siwe", json={"message": text, "signature": sign(account, text)})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


@pytest.fixture
def ledger() -> FakeLedger:
    ledger = seeded()
    ledger.add_payment(20, 0, 1, RESIDENT_A.address, 2_000_000, "A-BREAD", day="2026-11-03")
    ledger.add_payment(20, 1, 1, RESIDENT_A.address, 500_000, "A-BREAD", day="2026-11-04", kind="refund")
    ledger.add_payment(20, 2, 1, RESIDENT_B.address, 9_000_000, "B-SECRET", day="2026-11-05")
    return ledger


@pytest.fixture
def operator() -> FakeOperator:
    return FakeOperator()


@pytest.fixture
def client(ledger: FakeLedger, operator: FakeOperator) -> Iterator[TestClient]:
    with TestClient(build(ledger, operator)) as c:
        yield c


# -- Sign-In with Ethereum ---------------------------------------------------------------------


def test_a_valid_signed_message_opens_a_session_with_an_httponly_cookie(client: TestClient) -> None:
    text = siwe_text(client, RESIDENT_A)
    response = client.post("/v1/auth/siwe", json={"message": text, "signature": sign(RESIDENT_A, text)})
    assert response.status_code == 200
    assert response.json()["address"] == RESIDENT_A.address
    cookie = response.headers["set-cookie"]
    assert "ledger_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.get("/v1/auth/session").json()["address"] == RESIDENT_A.address


def test_the_prepared_message_signs_in_as_is(client: TestClient) -> None:
    prepared = client.get(f"/v1/auth/nonce?address={RESIDENT_A.address.lower()}").json()["message"]
    assert parse_message(prepared).address == RESIDENT_A.address
    response = client.post(
        "/v1/auth/siwe", json={"message": prepared, "signature": sign(RESIDENT_A, prepared)}
    )
    assert response.status_code == 200


def test_a_replayed_nonce_is_refused(client: TestClient) -> None:
    text = siwe_text(client, RESIDENT_A)
    body = {"message": text, "signature": sign(RESIDENT_A, text)}
    assert client.post("/v1/auth/siwe", json=body).status_code == 200
    again = client.post("/v1/auth/siwe", json=body)
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "siwe_bad_nonce"


def test_a_nonce_the_server_never_issued_is_refused(client: TestClient) -> None:
    text = siwe_text(client, RESIDENT_A, nonce="madeup1234567890")
    response = client.post("/v1/auth/siwe", json={"message": text, "signature": sign(RESIDENT_A, text)})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "siwe_bad_nonce"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"domain": "evil.example"}, "siwe_wrong_domain"),
        ({"uri": "https://evil.example/"}, "siwe_wrong_uri"),
        ({"chain_id": 1}, "siwe_wrong_chain"),
        ({"expires_in": timedelta(seconds=-1)}, "siwe_expired"),
        ({"not_before": datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)}, "siwe_not_yet_valid"),
    ],
    ids=["wrong domain", "wrong uri", "wrong chain", "expired", "not yet valid"],
)
def test_a_message_for_another_place_time_or_chain_is_refused(
    client: TestClient, kwargs: dict[str, object], code: str
) -> None:
    text = siwe_text(client, RESIDENT_A, **kwargs)  # type: ignore[arg-type]
    response = client.post("/v1/auth/siwe", json={"message": text, "signature": sign(RESIDENT_A, text)})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"].endswith(".")


def test_a_tampered_signature_or_message_is_refused(client: TestClient) -> None:
    text = siwe_text(client, RESIDENT_A)
    signature = sign(RESIDENT_A, text)
    flipped = signature[:10] + ("0" if signature[10] != "0" else "1") + signature[11:]
    response = client.post("/v1/auth/siwe", json={"message": text, "signature": flipped})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "siwe_bad_signature"
    # Someone else's signature over A's message does not sign A in either.
    text = siwe_text(client, RESIDENT_A)
    response = client.post("/v1/auth/siwe", json={"message": text, "signature": sign(RESIDENT_B, text)})
    assert response.status_code == 401
    # Nor does A's signature once the message was edited (the nonce was spent: fresh one).
    text = siwe_text(client, RESIDENT_A)
    good = sign(RESIDENT_A, text)
    edited = text.replace("Sign in to the district ledger.", "Send all my money.")
    response = client.post("/v1/auth/siwe", json={"message": edited, "signature": good})
    assert response.status_code == 401
    assert client.get("/v1/auth/session").status_code == 401


def test_malformed_messages_are_refused_with_the_reason(client: TestClient) -> None:
    text = siwe_text(client, RESIDENT_A)
    lower = text.replace(RESIDENT_A.address, RESIDENT_A.address.lower())
    response = client.post("/v1/auth/siwe", json={"message": lower, "signature": sign(RESIDENT_A, lower)})
    # A malformed sign-in is a refused sign-in: 401, with the reason (schemathesis: the schema
    # cannot spell EIP-4361, so a schema-valid text such as "0" must not get a 400).
    assert response.status_code == 401
    assert "checksum" in response.json()["error"]["message"]
    for broken in [
        "0",
        "hello",
        text.replace("Version: 1", "Version: 2"),
        text + "\nextra",
        text.replace("\n", "\r\n"),
    ]:
        response = client.post("/v1/auth/siwe", json={"message": broken, "signature": "0x" + "00" * 65})
        assert response.status_code == 401, broken
        assert response.json()["error"]["code"] == "siwe_malformed"


@given(
    statement=st.none()
    | st.text(st.characters(codec="ascii", exclude_characters="\n\r"), min_size=1, max_size=40).filter(
        lambda s: s.strip() == s and s != ""
    ),
    chain_id=st.integers(min_value=1, max_value=10**9),
    nonce=st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=8, max_size=32),
    resources=st.lists(st.sampled_from(["https://a.example/x", "ipfs://bafy"]), max_size=2),
)
def test_messages_survive_printing_and_parsing(
    statement: str | None, chain_id: int, nonce: str, resources: list[str]
) -> None:
    message = SiweMessage(
        domain="district.example:8443",
        address=RESIDENT_A.address,
        uri="https://district.example:8443/",
        chain_id=chain_id,
        nonce=nonce,
        issued_at=datetime(2026, 11, 25, 17, 0, tzinfo=UTC),
        statement=statement,
        resources=tuple(resources),
        scheme="https",
        request_id="req-1",
    )
    assert parse_message(message.to_text()) == message


def test_the_eip4361_example_message_parses() -> None:
    text = (
        "service.invalid wants you to sign in with your Ethereum account:\n"
        "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n\n"
        "I accept the ServiceOrg Terms of Service: https://service.invalid/tos\n\n"
        "URI: https://service.invalid/login\nVersion: 1\nChain ID: 1\nNonce: 32891756\n"
        "Issued At: 2021-09-30T16:25:24Z\nResources:\n"
        "- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/\n"
        "- https://example.com/my-web2-claim.json"
    )
    message = parse_message(text)
    assert message.domain == "service.invalid" and message.chain_id == 1 and len(message.resources) == 2
    with pytest.raises(BadRequest):
        parse_message(text.replace("Nonce: 32891756", "Nonce: 123"))


# -- own data only -----------------------------------------------------------------------------


def test_a_resident_reads_their_own_payments_and_monthly_statement(client: TestClient) -> None:
    sign_in(client, RESIDENT_A)
    payments = client.get(f"/v1/accounts/{RESIDENT_A.address}/payments").json()["payments"]
    assert [p["ref"] for p in payments] == ["A-BREAD", "A-BREAD"]
    csv = client.get(f"/v1/accounts/{RESIDENT_A.address}/statement.csv?month=2026-11")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().split("\r\n")
    assert lines[0].startswith("day,kind,merchant_id")
    assert lines[1].startswith("2026-11-03,payment,1,Boulangerie du Lac,A-BREAD,-2000000,-2.00")
    assert lines[-1].startswith(",total,,,,-1500000,-1.50")
    assert "B-SECRET" not in csv.text


def test_resident_a_cannot_read_resident_b(client: TestClient) -> None:
    sign_in(client, RESIDENT_A)
    for path in ("payments", "statement.csv?month=2026-11"):
        response = client.get(f"/v1/accounts/{RESIDENT_B.address}/{path}")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "not_your_data"
        assert "B-SECRET" not in response.text


def test_private_data_needs_a_session(client: TestClient) -> None:
    response = client.get(f"/v1/accounts/{RESIDENT_A.address}/payments")
    assert response.status_code == 401
    assert (
        client.get(
            f"/v1/accounts/{RESIDENT_A.address}/payments", headers={"Authorization": "Bearer forged"}
        ).status_code
        == 401
    )


def test_a_bearer_token_works_and_logout_ends_the_session(ledger: FakeLedger) -> None:
    with TestClient(build(ledger)) as first:
        token = sign_in(first, RESIDENT_A)["token"]
    with TestClient(build(ledger)) as other:  # another app: sessions are per server
        assert (
            other.get(
                f"/v1/accounts/{RESIDENT_A.address}/payments", headers={"Authorization": f"Bearer {token}"}
            ).status_code
            == 401
        )
    with TestClient(build(ledger)) as client:
        token = sign_in(client, RESIDENT_A)["token"]
        client.cookies.clear()
        auth = {"Authorization": f"Bearer {token}"}
        assert client.get(f"/v1/accounts/{RESIDENT_A.address}/payments", headers=auth).status_code == 200
        assert client.post("/v1/auth/logout", headers=auth).status_code == 204
        assert client.get(f"/v1/accounts/{RESIDENT_A.address}/payments", headers=auth).status_code == 401


# -- operator actions --------------------------------------------------------------------------


def test_operator_actions_need_the_on_chain_role(client: TestClient, operator: FakeOperator) -> None:
    body = {"name": "Fromagerie", "category": "food", "payout": ALICE}
    assert client.post("/v1/operator/merchants", json=body).status_code == 401
    sign_in(client, RESIDENT_A)
    refused = client.post("/v1/operator/merchants", json=body)
    assert refused.status_code == 403
    assert "registrar" in refused.json()["error"]["message"]
    assert operator.sent == []
    operator.grant(RESIDENT_A.address, "registrar")
    done = client.post("/v1/operator/merchants", json=body)
    assert done.status_code == 201
    assert operator.sent == [("register_merchant", ("Fromagerie", 4, ALICE))]
    deposit = {"bank_ref": "VIR-2026-0001", "beneficiary": ALICE, "amount": "50000000"}
    assert client.post("/v1/operator/deposits", json=deposit).status_code == 403
    operator.grant(RESIDENT_A.address, "treasurer")
    assert client.post("/v1/operator/deposits", json=deposit).status_code == 201
    assert operator.sent[-1] == ("record_deposit", ("VIR-2026-0001", ALICE, 50_000_000))


@pytest.mark.parametrize(
    "bank_ref", ["VIR-2026-0002 ", " VIR-2026-0002", "VIR-2026\t0002", "VIR-2026-0002\n"]
)
def test_attack_a_bank_reference_with_blanks_or_control_characters_is_refused_naming_the_field(
    client: TestClient, operator: FakeOperator, bank_ref: str
) -> None:
    # a pasted trailing blank is another bankRef on chain: the same euros would mint twice
    sign_in(client, RESIDENT_A)
    operator.grant(RESIDENT_A.address, "treasurer")
    deposit = {"bank_ref": bank_ref, "beneficiary": ALICE, "amount": "50000000"}
    refused = client.post("/v1/operator/deposits", json=deposit)
    assert refused.status_code == 422, refused.text
    message = refused.json()["error"]["message"]
    assert "bank_ref" in message and "exactly as the bank statement" in message
    assert operator.sent == []


# -- bodies and rates --------------------------------------------------------------------------


def test_oversized_bodies_are_refused_with_413(client: TestClient) -> None:
    big = {"message": "x" * 70_000, "signature": "0x"}
    response = client.post("/v1/auth/siwe", json=big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(80):
            yield b"x" * 1024

    response = client.post("/v1/auth/siwe", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_malformed_bodies_are_refused_with_4xx(client: TestClient) -> None:
    for content, ctype in [
        (b"{not json", "application/json"),
        (b'{"message": 5}', "application/json"),
        (b'{"message": "a", "signature": "b", "extra": 1}', "application/json"),
        (b"message=a", "application/x-www-form-urlencoded"),
        (b"\xff\xfe\x00", "application/json"),
    ]:
        response = client.post("/v1/auth/siwe", content=content, headers={"content-type": ctype})
        assert 400 <= response.status_code < 500, content
        assert set(response.json()) == {"error"}
    response = client.post(
        "/v1/auth/siwe", content=b"1", headers={"content-type": "application/json", "content-length": "abc"}
    )
    assert response.status_code == 400


def test_rate_limits_hold_per_client_with_retry_after(ledger: FakeLedger) -> None:
    with TestClient(build(ledger, rate_limit_enabled=True, rate_per_second=0.5, rate_burst=3)) as client:
        answers = [client.get("/v1/health").status_code for _ in range(6)]
        assert answers[:3] == [200, 200, 200]
        assert set(answers[3:]) == {429}
        limited = client.get("/v1/health")
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"]["code"] == "rate_limited"


def test_gateways_are_limited_per_device(ledger: FakeLedger) -> None:
    settings = {
        "rate_limit_enabled": True,
        "gateway_rate_per_second": 0.1,
        "gateway_burst": 2,
        "rate_burst": 100,
    }
    with TestClient(build(ledger, **settings)) as client:
        first = [client.post("/v1/gateways/meter-1/readings", json={}).status_code for _ in range(3)]
        assert first[2] == 429 and 429 not in first[:2]
        assert client.post("/v1/gateways/meter-2/readings", json={}).status_code != 429


# -- sign-in that cannot be exhausted ----------------------------------------------------------


def test_nonces_are_stateless_a_flood_of_them_stores_nothing(ledger: FakeLedger) -> None:
    state = MemoryApiState()
    with TestClient(build(ledger, state=state)) as client:
        issued = {client.get("/v1/auth/nonce").json()["nonce"] for _ in range(300)}
        assert len(issued) == 300
        assert state.spent == {} and state.sessions == {}
        sign_in(client, RESIDENT_A)
        assert len(state.spent) == 1 and len(state.sessions) == 1


def test_a_refused_attempt_does_not_spend_the_nonce_but_a_valid_one_does(client: TestClient) -> None:
    text = siwe_text(client, RESIDENT_A)
    wrong = client.post("/v1/auth/siwe", json={"message": text, "signature": sign(RESIDENT_B, text)})
    assert wrong.status_code == 401  # someone else's signature: refused, nonce still good for A
    body = {"message": text, "signature": sign(RESIDENT_A, text)}
    assert client.post("/v1/auth/siwe", json=body).status_code == 200
    assert client.post("/v1/auth/siwe", json=body).json()["error"]["code"] == "siwe_bad_nonce"


def test_a_forged_or_expired_nonce_is_refused(ledger: FakeLedger) -> None:
    from api.state import NonceSigner, ServerKey

    with TestClient(build(ledger)) as client:
        real = client.get("/v1/auth/nonce").json()["nonce"]
        forged = real[:-1] + ("0" if real[-1] != "0" else "1")
        other_key = NonceSigner(ServerKey.from_text("77" * 32), 300).issue()[0]
        expired = NonceSigner(ServerKey.from_text("5e" * 32), -10).issue()[0]
        for nonce in (forged, other_key, expired):
            text = siwe_text(client, RESIDENT_A, nonce=nonce)
            body = {"message": text, "signature": sign(RESIDENT_A, text)}
            response = client.post("/v1/auth/siwe", json=body)
            assert response.status_code == 401, nonce
            assert response.json()["error"]["code"] == "siwe_bad_nonce"


def test_the_nonce_route_is_capped_per_client(ledger: FakeLedger) -> None:
    with TestClient(build(ledger, rate_limit_enabled=True, nonce_per_minute=5, rate_burst=1000)) as client:
        answers = [client.get("/v1/auth/nonce").status_code for _ in range(7)]
        assert answers == [200] * 5 + [429] * 2
        limited = client.get("/v1/auth/nonce")
        assert int(limited.headers["retry-after"]) >= 1 and "sign-in" in limited.json()["error"]["message"]


def test_the_rate_limit_holds_across_a_window_boundary() -> None:
    from api.state import SharedLimiter

    now = [99.9]
    limiter = SharedLimiter(MemoryApiState(), rate=1.0, burst=3, clock=lambda: now[0])
    assert [limiter.take("ip:x") for _ in range(3)] == [0.0, 0.0, 0.0]
    now[0] = 100.05  # a new window has just begun: the burst is still spent
    assert limiter.take("ip:x") > 0
    now[0] = 106.0  # two windows later it is all refilled
    assert limiter.take("ip:x") == 0.0


@pytest.mark.parametrize(
    "route", ["balance", "history", "payments", "bookings", "statement.csv?month=2026-11"]
)
def test_own_data_refusals_keep_their_order_not_signed_in_then_bad_address_then_not_yours(
    client: TestClient, route: str
) -> None:
    """401 before anything else, then a malformed address (422, field named), then someone else's
    address (403), then the route's other parameters (422): a stranger learns nothing from the
    order, and a resident is told the first thing to fix."""
    malformed = "0x" + "zz" * 20
    path = route.partition("?")[0]
    bad_query = "limit=0" if path in ("history", "payments") else ""
    cases: list[tuple[str, str | None, int, str]] = [
        (f"/v1/accounts/{malformed}/{route}", None, 401, "not_signed_in"),
        (f"/v1/accounts/{RESIDENT_B.address}/{route}", None, 401, "not_signed_in"),
    ]
    sign_in(client, RESIDENT_A)
    cases += [
        (f"/v1/accounts/{malformed}/{route}", "A", 422, "account"),
        (f"/v1/accounts/{RESIDENT_A.address}%0A/{route}", "A", 422, "account"),
        (f"/v1/accounts/{RESIDENT_B.address}/{route}", "A", 403, "not_your_data"),
    ]
    if bad_query:
        cases += [
            (f"/v1/accounts/{RESIDENT_B.address}/{path}?{bad_query}", "A", 403, "not_your_data"),
            (f"/v1/accounts/{malformed}/{path}?{bad_query}", "A", 422, "account"),
            (f"/v1/accounts/{RESIDENT_A.address}/{path}?{bad_query}", "A", 422, "limit"),
        ]
    cookies = dict(client.cookies)
    for url, who, status, said in cases:
        client.cookies.clear()
        if who is not None:
            client.cookies.update(cookies)
        answer = client.get(url)
        assert answer.status_code == status, (url, who, answer.text)
        error = answer.json()["error"]
        assert said == error["code"] or said in error["message"], (url, error)
