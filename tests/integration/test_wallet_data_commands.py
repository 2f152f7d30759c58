"""`wallet data export|consent|erase` against the real app on real SQLite (the app's TestClient
is the wallet's HTTP client): the archive saved 0600 is the API's, consents set from the wallet
are the API's, erasure asks for the address and prints what is kept."""

from __future__ import annotations

import json
import stat
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from tests.integration.test_data_ownership import ME, _seed
from tests.unit.test_api import make_settings
from tests.unit.test_api_security import RESIDENT_A, sign_in
from wallet_cli import context, keys
from wallet_cli.main import app as wallet_app
from wallet_cli.session import StoredSession, save_session

runner = CliRunner()
API = "http://testserver"


@pytest.fixture
def wallet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A wallet holding RESIDENT_A's key, signed in on the real app over a seeded SQLite."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    _seed(url).dispose()
    home = tmp_path / "wallet-home"
    monkeypatch.setenv("WALLET_HOME", str(home))
    monkeypatch.setenv("WALLET_API_URL", API)
    monkeypatch.setattr(keys, "SCRYPT_N", 2**4)  # the key's protection is tested elsewhere
    password = tmp_path / "pw.txt"
    password.write_text("a long enough password\n")
    imported = runner.invoke(
        wallet_app,
        ["import", "me", "--private-key", "--password-file", str(password)],
        input=RESIDENT_A.key.hex() + "\n",
    )
    assert imported.exit_code == 0, imported.output
    client = TestClient(create_app(make_settings(database_url=url)))
    client.__enter__()
    token = str(sign_in(client, RESIDENT_A)["token"])
    save_session(
        home, StoredSession("me", RESIDENT_A.address, API, token, int(time.time()) + 600, "testserver", 69003)
    )
    client.cookies.clear()  # the wallet proves itself with its bearer token only

    class Borrowed:  # the wallet closes its client after each call; the app's stays open
        def __enter__(self) -> TestClient:
            return client

        def __exit__(self, *_: object) -> None:
            return None

    monkeypatch.setattr(context, "make_http", Borrowed)
    yield client
    client.__exit__(None, None, None)


def test_wallet_data_export_saves_the_archive_readable_only_by_me(wallet: TestClient, tmp_path: Path) -> None:
    out = tmp_path / "mine.zip"
    result = runner.invoke(wallet_app, ["data", "export", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["rows"]["payments"] == 1 and data["rows"]["energy_readings"] == 2
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert json.loads(zipfile.ZipFile(out).read("manifest.json"))["account"] == ME


def test_wallet_data_consent_shows_and_sets_each_purpose(wallet: TestClient) -> None:
    shown = runner.invoke(wallet_app, ["data", "consent"])
    assert shown.exit_code == 0 and "yes  your readings count in the district figures" in shown.stdout
    off = runner.invoke(wallet_app, ["data", "consent", "aggregates", "off", "--json"])
    assert off.exit_code == 0, off.output
    assert json.loads(off.stdout)["consents"][0]["granted"] is False
    bad = runner.invoke(wallet_app, ["data", "consent", "share", "an-advertiser", "on"])
    assert bad.exit_code == 2 and "research-team" in bad.output and "Traceback" not in bad.output
    share = runner.invoke(wallet_app, ["data", "consent", "share", "research-team", "on", "--json"])
    assert [c["granted"] for c in json.loads(share.stdout)["consents"]] == [False, False, True]


def test_wallet_data_erase_asks_for_the_address_then_says_what_is_kept(wallet: TestClient) -> None:
    refused = runner.invoke(
        wallet_app, ["data", "erase"], input="0x0000000000000000000000000000000000000001\n"
    )
    assert refused.exit_code == 2 and "nothing was erased" in refused.output
    done = runner.invoke(wallet_app, ["data", "erase"], input=RESIDENT_A.address + "\n")
    assert done.exit_code == 0, done.output
    assert "Kept, as the law or your settlements require" in done.stdout and "10 years" in done.stdout
    again = runner.invoke(wallet_app, ["data", "export"])
    assert again.exit_code == 1 and "sign in again" in again.output  # the session was erased too
