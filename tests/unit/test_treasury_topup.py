"""Top-ups: `wallet topup` and the signed-in page give IBAN, amount and the RF reference, as text
and as an EPC069-12 QR code that a third-party decoder (zbar) reads back exactly; the monthly
attestation as JSON and as a printable French page."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from stdnum import iso11649
from typer.testing import CliRunner

from ledger.domain.treasury import topup_reference
from ledger.treasury.view import BankDetails, MemoryTreasuryView
from tests.unit.test_api import build, seeded
from tests.unit.test_api_security import RESIDENT_A, RESIDENT_B, sign_in
from tests.unit.test_treasury import REFERENCE_KEY
from wallet_cli import context
from wallet_cli.main import app as wallet_app

IBAN = "FR7630006000011234567890189"
ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
runner = CliRunner()


def zbar(path: Path) -> str:
    """The text of the QR code in `path`, read by zbar (Debian's zbar-tools)."""
    if shutil.which("zbarimg") is None:
        pytest.fail("zbarimg is missing: `./run.sh test` installs zbar-tools (apt-get install zbar-tools)")
    done = subprocess.run(
        ["zbarimg", "--quiet", "--raw", "-Sbinary", str(path)], capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.decode("utf-8").rstrip("\n")


def epc_fields(text: str) -> list[str]:
    lines = text.split("\n")
    assert lines[:2] == ["BCD", "002"] and lines[2] in ("1", "2") and lines[3] == "SCT", lines
    return lines


def operator_shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, state: Path) -> str:
    """The operator's shell: `ledger` reads LEDGER_STATE_DIR and a SQLite database under
    `tmp_path`, with no reference key file named (the state directory's); returns the URL."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("LEDGER_STATE_DIR", str(state))
    monkeypatch.setenv("LEDGER_DATABASE_URL", url)
    monkeypatch.setenv("LEDGER_TREASURY_IBAN", IBAN)
    monkeypatch.delenv("LEDGER_TREASURY_REFERENCE_KEY_FILE", raising=False)
    return url


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    wallet_home = tmp_path / "wallet-home"
    monkeypatch.setenv("WALLET_HOME", str(wallet_home))
    for var in (
        "WALLET_RPC_URL",
        "WALLET_API_URL",
        "WALLET_MANIFEST",
        "WALLET_TOKEN",
        "WALLET_OPERATOR_IBAN",
    ):
        monkeypatch.delenv(var, raising=False)
    return wallet_home


API = "http://district.test"


@pytest.fixture
def district_api(home: Path, monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    """A signed-in session of ADDRESS on a district API that answers the bank details and the
    registered reference (keyed with the operator's secret, which the wallet never holds)."""
    from wallet_cli import context
    from wallet_cli.session import StoredSession, save_session

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/treasury/bank":
            return httpx.Response(200, json={"iban": IBAN, "name": "Association Monnaie du 3e", "bic": None})
        if request.url.path == "/v1/treasury/topup":
            assert request.headers["authorization"] == "Bearer secret-session-token"
            return httpx.Response(200, json={"reference": topup_reference(ADDRESS, REFERENCE_KEY)})
        return httpx.Response(404)

    monkeypatch.setattr(
        context, "make_http", lambda: httpx.Client(transport=httpx.MockTransport(handler))
    )
    monkeypatch.setenv("WALLET_API_URL", API)
    save_session(
        home,
        StoredSession(
            "alice", ADDRESS, API, "secret-session-token", int(time.time()) + 600, "district.test", 69003
        ),
    )
    return seen


def test_wallet_topup_shows_iban_amount_and_reference_and_its_qr_decodes_exactly(
    district_api: list[httpx.Request], tmp_path: Path
) -> None:
    qr = tmp_path / "topup.png"
    result = runner.invoke(
        wallet_app,
        [
            "topup",
            "25.10",
            "--account",
            ADDRESS,
            "--iban",
            "FR76 3000 6000 0112 3456 7890 189",
            "--name",
            "Association Monnaie du 3e",
            "--qr-file",
            str(qr),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    reference = topup_reference(ADDRESS, REFERENCE_KEY)
    assert (data["iban"], data["amount"], data["reference"]) == (IBAN, "25100000", reference)
    assert iso11649.is_valid(data["reference"])
    fields = epc_fields(zbar(qr))
    assert fields[5] == "Association Monnaie du 3e"
    assert fields[6] == IBAN
    assert fields[7] == "EUR25.1"  # segno writes the amount without trailing zeros, as EPC069-12 allows
    assert reference in fields[9:]


def test_wallet_topup_svg_qr_and_terminal_text(home: Path, district_api: list[httpx.Request]) -> None:
    result = runner.invoke(wallet_app, ["config", "set", "operator_iban", IBAN])
    assert result.exit_code == 0, result.output
    result = runner.invoke(wallet_app, ["topup", "12,50", "--account", ADDRESS])
    assert result.exit_code == 0, result.output
    assert "FR76 3000 6000 0112 3456 7890 189" in result.stdout
    grouped = " ".join(topup_reference(ADDRESS, REFERENCE_KEY)[i : i + 4] for i in range(0, 25, 4))
    assert grouped.strip() in result.stdout


def test_wallet_topup_without_the_district_api_or_a_session_says_how_to_get_a_reference(
    home: Path,
) -> None:
    """The reference is keyed with the operator's secret: no API, or no session, no reference
    (never an unkeyed one computed on the spot)."""
    result = runner.invoke(wallet_app, ["topup", "10", "--account", ADDRESS, "--iban", IBAN])
    assert result.exit_code == 1, result.output
    assert "district API" in result.output and "wallet login" in result.output
    result = runner.invoke(
        wallet_app, ["topup", "10", "--account", ADDRESS, "--iban", IBAN], env={"WALLET_API_URL": API}
    )
    assert result.exit_code == 1, result.output
    assert "wallet login" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("amount", "why"),
    [("12.345", "two decimals"), ("0", "more than zero"), ("-5", "not an amount"), ("1e3", "not an amount")],
)
def test_wallet_topup_refuses_amounts_a_transfer_cannot_carry(home: Path, amount: str, why: str) -> None:
    result = runner.invoke(wallet_app, ["topup", "--account", ADDRESS, "--iban", IBAN, "--", amount])
    assert result.exit_code == 2, result.output
    assert why in result.output


def test_wallet_topup_refuses_an_invalid_operator_iban(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    monkeypatch.setattr(context, "make_http", lambda: httpx.Client(transport=httpx.MockTransport(refuse)))
    result = runner.invoke(
        wallet_app, ["topup", "10", "--account", ADDRESS, "--iban", "FR7630006000011234567890188"]
    )
    assert result.exit_code == 1 and "not valid" in result.output
    result = runner.invoke(wallet_app, ["topup", "10", "--account", ADDRESS])
    assert result.exit_code == 1 and "operator_iban" in result.output


# --- the API -------------------------------------------------------------------------------------
def client_with(view: MemoryTreasuryView) -> TestClient:
    app = build(seeded())
    app.state.treasury = view
    return TestClient(app)


def test_the_signed_in_topup_registers_the_residents_reference_and_serves_its_qr(tmp_path: Path) -> None:
    view = MemoryTreasuryView(BankDetails(IBAN, "Association Monnaie du 3e"), key=REFERENCE_KEY)
    with client_with(view) as client:
        assert client.get("/v1/treasury/topup", params={"amount": "10"}).status_code == 401
        sign_in(client, RESIDENT_A)
        reply = client.get("/v1/treasury/topup", params={"amount": "10.00"})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["reference"] == topup_reference(RESIDENT_A.address, REFERENCE_KEY)
        assert view.registered == {body["reference"]: RESIDENT_A.address.lower()}
        assert topup_reference(RESIDENT_B.address, REFERENCE_KEY) not in view.registered
        svg = client.get("/v1/treasury/topup.svg", params={"amount": "10.00"})
        assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
        assert client.get("/v1/treasury/topup", params={"amount": "10.001"}).status_code == 422
        assert client.get("/v1/treasury/bank").json()["iban"] == IBAN
        page = client.get("/")
        assert 'src="/static/topup.js"' in page.text and "topup-form" in page.text
    png = tmp_path / "api.png"
    from ledger.treasury.view import epc_qr

    epc_qr(BankDetails(IBAN, "Association Monnaie du 3e"), 10_000_000, body["reference"]).save(
        str(png), scale=6
    )
    fields = epc_fields(zbar(png))
    assert (fields[6], fields[7], body["reference"] in fields[9:]) == (IBAN, "EUR10", True)


def test_without_a_bank_account_configured_the_api_says_so() -> None:
    with client_with(MemoryTreasuryView(None)) as client:
        reply = client.get("/v1/treasury/bank")
        assert reply.status_code == 503 and "LEDGER_TREASURY_IBAN" in reply.text


def test_the_attestation_is_served_as_json_and_as_a_printable_french_page() -> None:
    month = {
        "month": "2026-11",
        "as_of": "2026-11-30",
        "reserve": 1_234_560_000,
        "supply": 1_234_560_000,
        "coverage_bps": 10_000,
        "deposits_count": 3,
        "deposits": 1_500_000_000,
        "redemptions_count": 1,
        "redemptions": 265_440_000,
        "fees_to_commons": 8_210_000,
        "bank_closing": 1_300_000_000,
        "reconciled": False,
        "differences": [
            {"kind": "missing-statement", "amount": 0, "detail": "no statement covers 2026-11-07: import it"}
        ],
        "statements": ["STMT-1", "STMT-<2>"],
    }
    with client_with(MemoryTreasuryView(None, attestations={"2026-11": month})) as client:
        assert client.get("/v1/treasury/attestation", params={"month": "2026-11"}).json() == month
        assert client.get("/v1/treasury/attestation", params={"month": "2026-13"}).status_code == 422
        assert client.get("/v1/treasury/attestation", params={"month": "2026-10"}).status_code == 404
        page = client.get("/attestation/2026-11")
        assert page.status_code == 200
        assert "Attestation mensuelle de réserve" in page.text and "100,00 %" in page.text
        assert "1\u202f234,56 €" in page.text and "STMT-&lt;2&gt;" in page.text
        assert "écarts à traiter" in page.text


def test_wallet_topup_signed_in_registers_the_reference_with_the_api(
    district_api: list[httpx.Request],
) -> None:
    result = runner.invoke(wallet_app, ["topup", "40", "--account", ADDRESS, "--no-qr", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["iban"] == IBAN and data["note"] == "Your reference is registered with the district ledger."
    assert data["reference"] == topup_reference(ADDRESS, REFERENCE_KEY)
    assert [r.url.path for r in district_api] == ["/v1/treasury/bank", "/v1/treasury/topup"]
    assert "secret-session-token" not in result.output


def test_the_operator_command_and_the_api_give_the_same_keyed_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ledger treasury account-add` and the signed-in API read one key (the state directory's,
    made 0600 on first use), so a reference registered by either is the one the other gives."""
    import stat

    from ledger.cli import app as ledger_app
    from ledger.treasury.settings import DEFAULT_KEY_FILE, read_reference_key
    from tests.unit.test_api import make_settings

    state = tmp_path / "state"
    url = operator_shell(monkeypatch, tmp_path, state)
    added = runner.invoke(ledger_app, ["treasury", "account-add", RESIDENT_A.address, "--json"])
    assert added.exit_code == 0, added.output
    key_file = state / DEFAULT_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = read_reference_key(key_file)
    assert key.hex() not in added.output
    from_cli = json.loads(added.stdout)["reference"]
    assert from_cli == topup_reference(RESIDENT_A.address, key)
    from api.app import create_app

    app = create_app(make_settings(database_url=url, state_dir=state, settlement_dir=state / "settlement"))
    with TestClient(app) as client:
        sign_in(client, RESIDENT_A)
        reply = client.get("/v1/treasury/topup", params={"amount": "5"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["reference"] == from_cli


def test_the_operator_retires_the_references_issued_before_they_were_keyed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ledger treasury references-retire` removes the unkeyed reference (it names its address
    to whoever tries the district's addresses) and keeps the keyed one; a second run removes
    nothing; a malformed address is refused with a sentence (exit 2)."""
    from sqlalchemy.orm import Session

    from ledger.cli import app as ledger_app
    from ledger.db import make_engine
    from ledger.errors import InputError
    from ledger.treasury.models import TreasuryAccountRef
    from tests.unit.test_treasury import _unkeyed_reference

    url = operator_shell(monkeypatch, tmp_path, tmp_path / "state")
    added = runner.invoke(ledger_app, ["treasury", "account-add", RESIDENT_A.address, "--json"])
    assert added.exit_code == 0, added.output
    keyed = json.loads(added.stdout)["reference"]
    legacy = _unkeyed_reference(RESIDENT_A.address)
    engine = make_engine(url)
    with Session(engine) as s, s.begin():
        s.add(TreasuryAccountRef(reference=legacy, account=RESIDENT_A.address.lower(),
                                 registered_by="resident", registered_at="2026-10-01T00:00:00+00:00"))
    listed = runner.invoke(ledger_app, ["treasury", "references-retire", "--dry-run"])
    assert listed.exit_code == 0 and "1 reference(s) would be retired" in listed.output, listed.output
    retired = runner.invoke(ledger_app, ["treasury", "references-retire", "--json"])
    assert retired.exit_code == 0, retired.output
    assert json.loads(retired.stdout) == {
        "dry_run": False, "retired": [{"reference": legacy, "account": RESIDENT_A.address.lower()}]}
    with Session(engine) as s:
        assert [r.reference for r in s.query(TreasuryAccountRef)] == [keyed]
    again = runner.invoke(ledger_app, ["treasury", "references-retire"])
    assert again.exit_code == 0 and "0 reference(s) retired" in again.output
    bad = runner.invoke(ledger_app, ["treasury", "references-retire", "--account", "0x12"])
    assert isinstance(bad.exception, InputError), bad.output  # `ledger` prints it and exits 2
    assert "not an account address" in str(bad.exception)
    engine.dispose()


def test_retiring_references_never_makes_a_key_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run where the API's key is not (another state directory), the command would judge every
    keyed reference by a new key and remove them all: it reads an existing key only, and says
    where it looked."""
    from ledger.cli import app as ledger_app
    from ledger.db import make_engine, migrate
    from ledger.errors import ConfigError
    from ledger.treasury.settings import DEFAULT_KEY_FILE

    migrate(make_engine(operator_shell(monkeypatch, tmp_path, tmp_path / "elsewhere")))
    result = runner.invoke(ledger_app, ["treasury", "references-retire"])
    assert isinstance(result.exception, ConfigError), result.output
    assert "does not exist" in str(result.exception)
    assert not (tmp_path / "elsewhere" / DEFAULT_KEY_FILE).exists()
