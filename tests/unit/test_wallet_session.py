"""Sign-In with Ethereum from the wallet: `wallet login`/`logout`, `wallet sign message`, and the
session used by `wallet history`, `wallet energy` and `wallet statement` (a fake API on
httpx.MockTransport, then the real API app in-process through Starlette's TestClient)."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from typer.testing import CliRunner

from wallet_cli import context, keys, session
from wallet_cli.errors import NotSignedInError, NotYourDataError
from wallet_cli.main import app

KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ME = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
OTHER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
BAKERY = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
API = "http://api.test"
TOKEN = "session-token-not-to-be-printed"

runner = CliRunner()


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(int(unix), UTC).isoformat().replace("+00:00", "Z")


def siwe_text(address: str, *, domain: str = "api.test", uri: str = "http://api.test/",
              chain_id: int = 69003, nonce: str = "abcdef0123456789",
              expires: float | None = None) -> str:
    now = session.now()
    expiry = now + 300 if expires is None else expires
    return "\n".join([
        f"{domain} wants you to sign in with your Ethereum account:", address, "",
        "Sign in to the district ledger of Lyon 3e to read your own data.", "",
        f"URI: {uri}", "Version: 1", f"Chain ID: {chain_id}", f"Nonce: {nonce}",
        f"Issued At: {_iso(now)}", f"Expiration Time: {_iso(expiry)}"])


class FakeApi:
    """The API's sign-in and private routes, checking the signature like the server does."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.message_args: dict[str, Any] = {}
        self.signed: list[tuple[str, str]] = []
        self.refuse_sign_in = False
        self.session_expires = int(session.now()) + 3600
        self.energy_days: list[dict[str, Any]] = [
            {"day": "2026-05-30", "produced_wh": 12_000,
             "allocated": [{"to": OTHER, "wh": 3_000, "amount": {"micro": "270000"}}],
             "allocated_wh": 3_000, "earned": {"micro": "270000", "display": "0.27 M3E"}}]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.answer)

    def authorized(self, request: httpx.Request) -> bool:
        return bool(request.headers.get("authorization") == f"Bearer {TOKEN}")

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        refused = httpx.Response(401, json={"error": {
            "code": "not_signed_in", "message": "Sign in with your wallet first."}})
        if path == "/v1/auth/nonce":
            address = request.url.params["address"]
            return httpx.Response(200, json={
                "nonce": "abcdef0123456789", "expires_at": int(session.now()) + 300,
                "domain": "api.test", "uri": "http://api.test/", "chain_id": 69003,
                "message": siwe_text(address, **self.message_args)})
        if path == "/v1/auth/siwe":
            body = json.loads(request.content)
            self.signed.append((body["message"], body["signature"]))
            signer = Account.recover_message(encode_defunct(text=body["message"]),
                                             signature=body["signature"])
            if self.refuse_sign_in or signer != ME:
                return httpx.Response(401, json={"error": {
                    "code": "siwe_bad_nonce", "message": "The nonce is unknown, expired or "
                    "already used: ask for a new one and sign again."}})
            return httpx.Response(200, json={"address": signer, "token": TOKEN,
                                             "expires_at": self.session_expires})
        if path == "/v1/auth/logout":
            return httpx.Response(204)
        if path == "/v1/merchants":
            return httpx.Response(200, json={"indexed_block": 9, "merchants": [
                {"id": 1, "name": "Boulangerie du Lac", "category": "food", "payout": BAKERY,
                 "active": True}]})
        if path == f"/v1/accounts/{ME}/history":
            item = {"block": 9, "log_index": 1, "tx_hash": "0x" + "aa" * 32, "time": 1_700_000_000,
                    "direction": "out", "kind": "transfer", "counterparty": BAKERY,
                    "amount": {"micro": "4200000", "display": "4.20 M3E"}}
            return httpx.Response(200, json={"indexed_block": 9, "account": ME, "items": [item],
                                             "next_cursor": None})
        if path.startswith(f"/v1/accounts/{OTHER}/"):
            if not self.authorized(request):
                return refused
            return httpx.Response(403, json={"error": {
                "code": "not_your_data", "message": "You can only read your own data."}})
        if path == f"/v1/accounts/{ME}/payments":
            if not self.authorized(request):
                return refused
            return httpx.Response(200, json={"indexed_block": 9, "account": ME.lower(),
                                             "next_cursor": None, "payments": [
                {"kind": "payment", "block": 9, "log_index": 2, "tx_hash": "0x" + "aa" * 32,
                 "merchant_id": 1, "merchant": "Boulangerie du Lac",
                 "amount": {"micro": "4200000", "display": "4.20 M3E"},
                 "ref": "BAGUETTE-0001", "day": "2026-05-30"}]})
        if path == f"/v1/accounts/{ME}/energy":
            if not self.authorized(request):
                return refused
            return httpx.Response(200, json={"account": ME, "day": "2026-05-30", "as_of": 0,
                                             "steps": [], "days": self.energy_days})
        if path == f"/v1/accounts/{ME}/statement.csv":
            if not self.authorized(request):
                return refused
            # the columns of the API's statement (api/services.py statement_csv)
            csv = ("day,kind,merchant_id,merchant,reference,amount_micro_m3e,amount_m3e,block,tx_hash\r\n"
                   "2026-05-30,payment,1,Boulangerie du Lac,BAGUETTE-0001,-4200000,-4.20,9,0xaa\r\n"
                   ",total,,,,-4200000,-4.20,9,\r\n")
            return httpx.Response(200, text=csv, headers={"X-Indexed-Block": "9",
                                                          "content-type": "text/csv"})
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "No."}})

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    wallet_home = tmp_path / "wallet-home"
    monkeypatch.setenv("WALLET_HOME", str(wallet_home))
    for var in ("WALLET_RPC_URL", "WALLET_MANIFEST", "WALLET_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WALLET_API_URL", API)
    monkeypatch.setattr(keys, "SCRYPT_N", 2**10)
    (tmp_path / "pw").write_text("resident password\n")
    (tmp_path / "pw").chmod(0o600)
    result = runner.invoke(app, ["import", "resident", "--private-key", "--password-file",
                                 str(tmp_path / "pw")], input=KEY_1)
    assert result.exit_code == 0, result.output
    return wallet_home


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    monkeypatch.setattr(context, "make_http",
                        lambda: httpx.Client(transport=fake.transport()))
    return fake


def login(tmp_path: Path, *extra: str) -> Any:
    return runner.invoke(app, ["login", "--password-file", str(tmp_path / "pw"), *extra])


def session_file(home: Path) -> Path:
    return session.session_path(home, ME, API)


# ---------------------------------------------------------------- login


def test_login_shows_what_is_signed_then_keeps_the_token_in_a_private_file(
    home: Path, api: FakeApi, tmp_path: Path
) -> None:
    result = login(tmp_path, "--json")
    assert result.exit_code == 0, result.output
    for shown in ("Sign in to:   api.test", "URI:          http://api.test/",
                  f"As:           {ME}", "Chain id:     69003", "Expires:      20"):
        assert shown in result.stderr
    message, signature = api.signed[0]
    assert message.startswith("api.test wants you to sign in")
    assert Account.recover_message(encode_defunct(text=message), signature=signature) == ME
    out = json.loads(result.stdout)
    assert out["ok"] and out["address"] == ME and out["expires_at"] == api.session_expires
    assert TOKEN not in result.stdout and TOKEN not in result.stderr
    file = session_file(home)
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700
    kept = json.loads(file.read_text())
    assert kept["token"] == TOKEN and kept["account"] == "resident"
    assert not list(file.parent.glob(".*.tmp"))  # atomic write left nothing behind


@pytest.mark.parametrize(("args", "fragment"), [
    ({"domain": "evil.example"}, "another site"),
    ({"uri": "http://evil.example/"}, "not for http://api.test"),
    ({"chain_id": 1}, "chain 1"),
    ({"expires": 1_000_000_000}, "expired"),
])
def test_login_refuses_a_message_for_another_site_chain_or_an_expired_one(
    home: Path, api: FakeApi, tmp_path: Path, args: dict[str, Any], fragment: str
) -> None:
    api.message_args = args
    result = login(tmp_path)
    assert result.exit_code == 2 and fragment in result.stderr
    assert api.signed == [] and not session_file(home).exists()


def test_a_sign_in_refused_by_the_api_says_why_and_keeps_nothing(
    home: Path, api: FakeApi, tmp_path: Path
) -> None:
    api.refuse_sign_in = True
    result = login(tmp_path)
    assert result.exit_code == 1 and "refused the sign-in: The nonce is unknown" in result.stderr
    assert not session_file(home).exists()


def test_login_without_a_terminal_or_password_file_refuses_before_asking_the_api(
    home: Path, api: FakeApi
) -> None:
    result = runner.invoke(app, ["login"])
    assert result.exit_code == 2 and "--password-file" in result.stderr
    assert api.requests == []


def test_logout_ends_the_session_at_the_api_and_removes_the_file(
    home: Path, api: FakeApi, tmp_path: Path
) -> None:
    assert login(tmp_path).exit_code == 0
    result = runner.invoke(app, ["logout", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["signed_out"] is True
    logout = next(r for r in api.requests if r.url.path == "/v1/auth/logout")
    assert logout.headers["authorization"] == f"Bearer {TOKEN}"
    assert not session_file(home).exists()
    again = runner.invoke(app, ["logout"])
    assert again.exit_code == 0 and "was not signed in" in again.stdout


# ---------------------------------------------------------------- using the session


def test_history_with_a_session_shows_the_references_of_payments(
    home: Path, api: FakeApi, tmp_path: Path
) -> None:
    assert login(tmp_path).exit_code == 0
    result = runner.invoke(app, ["history", "--json"])
    data = json.loads(result.stdout)
    assert data["signed_in"] is True
    entry = data["categories"][0]["entries"][0]
    assert (entry["category"], entry["kind"], entry["ref"]) == ("food", "payment", "BAGUETTE-0001")
    assert "ref BAGUETTE-0001" in runner.invoke(app, ["history"]).stdout


def test_history_without_a_session_is_public_and_says_how_to_see_references(
    home: Path, api: FakeApi
) -> None:
    data = json.loads(runner.invoke(app, ["history", "--json"]).stdout)
    assert data["signed_in"] is False and data["categories"][0]["entries"][0]["ref"] is None
    assert any("wallet login" in n for n in data["notes"])
    assert f"/v1/accounts/{ME}/payments" not in api.paths()


def test_energy_sends_the_session_and_draws_the_chart(
    home: Path, api: FakeApi, tmp_path: Path
) -> None:
    assert login(tmp_path).exit_code == 0
    result = runner.invoke(app, ["energy"])
    assert result.exit_code == 0, result.output
    assert f"to {OTHER}: 3.000 kWh" in result.stdout and "█" in result.stdout
    assert api.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"


def test_energy_refused_with_401_says_sign_in_first(home: Path, api: FakeApi) -> None:
    result = runner.invoke(app, ["energy", "--json"])
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["error"] == "NotSignedInError" and "sign in first: wallet login" in out["message"]


def test_an_ended_session_is_not_sent_and_says_sign_in_first(
    home: Path, api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert login(tmp_path).exit_code == 0
    monkeypatch.setattr(session, "now", lambda: api.session_expires + 1.0)
    sent = len(api.requests)
    for command in (["energy"], ["statement", "--month", "2026-05"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, command
        assert "ended at" in result.stderr and "sign in first: wallet login" in result.stderr
    assert len(api.requests) == sent
    data = json.loads(runner.invoke(app, ["history", "--json"]).stdout)
    assert data["signed_in"] is False and any("ended at" in n for n in data["notes"])


def test_statement_to_standard_output_and_to_a_private_file(
    home: Path, api: FakeApi, tmp_path: Path
) -> None:
    assert login(tmp_path).exit_code == 0
    result = runner.invoke(app, ["statement", "--month", "2026-05"])
    assert result.exit_code == 0 and "BAGUETTE-0001,,-4200000,-4.20" in result.stdout
    asked = {r.url.path: r.url.params for r in api.requests}
    assert asked[f"/v1/accounts/{ME}/statement.csv"]["month"] == "2026-05"
    assert asked[f"/v1/accounts/{ME}/energy"]["day"] == "2026-05-31"
    assert asked[f"/v1/accounts/{ME}/energy"]["days"] == "31"
    out = tmp_path / "may.csv"
    data = json.loads(runner.invoke(app, ["statement", "--month", "2026-05", "--output",
                                          str(out), "--json"]).stdout)
    # the payment and the energy sold on 2026-05-30
    assert data["lines"] == 2 and data["file"] == str(out) and data["indexed_block"] == "9"
    assert out.read_text().startswith("day,kind") and stat.S_IMODE(out.stat().st_mode) == 0o600


def test_the_statement_has_energy_sold_and_bought_with_units_and_one_decimal_count(
    home: Path, api: FakeApi, tmp_path: Path
) -> None:
    api.energy_days = [
        {"day": "2026-05-30", "produced_wh": 12_000, "allocated": [{"to": OTHER, "wh": 3_000}],
         "allocated_wh": 3_000, "earned": {"micro": "270000"}, "bought_wh": 0, "owed": {"micro": "0"}},
        {"day": "2026-05-31", "produced_wh": 0, "allocated": [], "allocated_wh": 0,
         "earned": {"micro": "0"}, "bought_wh": 1_500, "owed": {"micro": "123456"}},
    ]
    assert login(tmp_path).exit_code == 0
    result = runner.invoke(app, ["statement", "--month", "2026-05"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["day", "kind", "merchant_id", "merchant", "reference", "energy_wh",
                       "amount_micro_m3e", "amount_m3e", "block", "tx_hash"]
    by_kind = {r[1]: r for r in rows[1:]}
    assert by_kind["energy sold"][5:8] == ["3000", "270000", "0.270000"]
    assert by_kind["energy bought"][5:8] == ["1500", "-123456", "-0.123456"]
    assert by_kind["payment"][6:8] == ["-4200000", "-4.200000"]  # one decimal count per column
    assert by_kind["total"][6] == str(-4_200_000 + 270_000 - 123_456)
    assert "energy sold 3.000 kWh for 0.270000 M3E" in result.stderr
    data = json.loads(runner.invoke(app, ["statement", "--month", "2026-05", "--json"]).stdout)
    assert data["energy_earned"] == "270000" and data["energy_paid"] == "123456"
    assert data["total"] == str(-4_200_000 + 270_000 - 123_456)


def test_statement_needs_a_session_and_a_real_month(home: Path, api: FakeApi) -> None:
    result = runner.invoke(app, ["statement", "--month", "2026-05"])
    assert result.exit_code == 1 and "sign in first: wallet login" in result.stderr
    bad = runner.invoke(app, ["statement", "--month", "2026-13"])
    assert bad.exit_code == 2 and "YYYY-MM" in bad.stderr
    assert api.requests == []


def test_another_accounts_data_is_refused_with_a_sentence(api: FakeApi) -> None:
    kept = session.StoredSession("resident", ME, API, TOKEN, 2**40, "api.test", 69003)
    with httpx.Client(transport=api.transport()) as http:
        private = session.PrivateApi(http, API, kept)
        with pytest.raises(NotYourDataError, match="your own data"):
            private.get_json(f"/v1/accounts/{OTHER}/payments", "their payments")
        with pytest.raises(NotSignedInError, match="sign in first"):
            session.PrivateApi(http, API, None).get_json(f"/v1/accounts/{ME}/payments", "x")


# ---------------------------------------------------------------- sign message


def test_sign_message_from_a_file_prints_a_personal_sign_signature(
    home: Path, tmp_path: Path
) -> None:
    file = tmp_path / "message.txt"
    file.write_text("Hello district\r\n\n")
    result = runner.invoke(app, ["sign", "message", "--file", str(file), "--password-file",
                                 str(tmp_path / "pw")])
    assert result.exit_code == 0, result.output
    signature = result.stdout.strip()
    assert Account.recover_message(encode_defunct(text="Hello district"),
                                   signature=signature) == ME
    raw = runner.invoke(app, ["sign", "message", "--raw", "--file", str(file), "--password-file",
                              str(tmp_path / "pw"), "--json"])
    assert Account.recover_message(encode_defunct(text="Hello district\r\n\n"),
                                   signature=json.loads(raw.stdout)["signature"]) == ME


def test_sign_message_shows_a_sign_in_message_and_refuses_another_chain(
    home: Path, tmp_path: Path
) -> None:
    text = siwe_text(ME)
    result = runner.invoke(app, ["sign", "message", "--password-file", str(tmp_path / "pw"),
                                 "--json"], input=text + "\n")
    assert result.exit_code == 0, result.output
    assert "Sign in to:   api.test" in result.stderr and "Chain id:     69003" in result.stderr
    out = json.loads(result.stdout)
    assert out["sign_in"]["domain"] == "api.test"
    assert Account.recover_message(encode_defunct(text=text), signature=out["signature"]) == ME
    other = runner.invoke(app, ["sign", "message", "--password-file", str(tmp_path / "pw")],
                          input=siwe_text(ME, chain_id=1))
    assert other.exit_code == 2 and "chain 1" in other.stderr


def test_sign_message_on_standard_input_needs_the_password_file(home: Path) -> None:
    result = runner.invoke(app, ["sign", "message"], input="hello")
    assert result.exit_code == 2 and "--password-file" in result.stderr


# ---------------------------------------------------------------- against the real API app


ALICE_KEY = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"


def test_login_and_own_data_through_the_real_api_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from tests.unit.test_api import ALICE, BRUNO, build, seeded

    monkeypatch.setenv("WALLET_HOME", str(tmp_path / "alice-home"))
    monkeypatch.setenv("WALLET_API_URL", "http://testserver")
    monkeypatch.setattr(keys, "SCRYPT_N", 2**10)
    (tmp_path / "pw").write_text("alice password\n")
    assert runner.invoke(app, ["import", "alice", "--private-key", "--password-file",
                               str(tmp_path / "pw")], input=ALICE_KEY).exit_code == 0
    ledger = seeded()
    # on chain a payment and its Transfer share the transaction; the fake numbers them apart
    ledger.payment_list = [dataclasses.replace(p, tx_hash=f"0x{p.block_number:032x}{1:032x}")
                           for p in ledger.payment_list]
    api_app = build(ledger)

    @contextlib.contextmanager
    def client() -> Iterator[TestClient]:
        yield TestClient(api_app)

    monkeypatch.setattr(context, "make_http", client)
    result = runner.invoke(app, ["login", "--password-file", str(tmp_path / "pw"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["address"] == ALICE
    data = json.loads(runner.invoke(app, ["history", "--json"]).stdout)
    refs = {e["ref"] for g in data["categories"] for e in g["entries"] if e["ref"]}
    assert refs == {f"BREAD-{i}" for i in range(5)}
    statement = runner.invoke(app, ["statement", "--month", "2026-11"])
    assert statement.exit_code == 0 and "BREAD-4" in statement.stdout
    token = json.loads(session.session_path(tmp_path / "alice-home", ALICE,
                                            "http://testserver").read_text())["token"]
    theirs = TestClient(api_app).get(f"/v1/accounts/{BRUNO}/payments",
                                     headers={"Authorization": f"Bearer {token}"})
    assert theirs.status_code == 403
    assert runner.invoke(app, ["logout"]).exit_code == 0
    mine = TestClient(api_app).get(f"/v1/accounts/{ALICE}/payments",
                                   headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 401  # the session was ended at the API too
