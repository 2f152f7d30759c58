"""One resolution rule for every command's settings (flag > env > config.toml > default), the
API's time limits and the spinner: `wallet energy`, `history` and `statement` ask the API that
`wallet config show` prints, and act for the account it names."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from wallet_cli import context, keys
from wallet_cli.main import app
from wallet_cli.waiting import Spinner

KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
KEY_2 = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
ADDRESS_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
ADDRESS_2 = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    wallet_home = tmp_path / "wallet-home"
    monkeypatch.setenv("WALLET_HOME", str(wallet_home))
    for var in ("WALLET_RPC_URL", "WALLET_API_URL", "WALLET_MANIFEST", "WALLET_TOKEN",
                "WALLET_ACCOUNT", "WALLET_CHAIN_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(keys, "SCRYPT_N", 2**10)
    (tmp_path / "pw").write_text("resident password\n")
    for name, key in (("first", KEY_1), ("second", KEY_2)):
        result = runner.invoke(app, ["import", name, "--private-key", "--password-file",
                                     str(tmp_path / "pw")], input=key)
        assert result.exit_code == 0, result.output
    return wallet_home


class Recorder:
    """An API that answers the energy and history routes and records what was asked."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.answer))

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        if request.url.path.endswith("/energy"):
            return httpx.Response(200, json={"days": []})
        if request.url.path.endswith("/history"):
            return httpx.Response(200, json={"indexed_block": 1, "items": [], "next_cursor": None})
        if request.url.path == "/v1/merchants":
            return httpx.Response(200, json={"indexed_block": 1, "merchants": []})
        return httpx.Response(404, json={"detail": "not found"})


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(context, "make_http", recorder.client)
    return recorder


def config_show() -> dict[str, Any]:
    import json

    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_energy_asks_the_api_url_of_the_config_file(home: Path, api: Recorder) -> None:
    assert runner.invoke(app, ["config", "set", "api_url", "http://api-from-file:8000"]).exit_code == 0
    result = runner.invoke(app, ["energy", "--account", "first"])
    assert result.exit_code == 0, result.output
    assert api.urls and all(u.startswith("http://api-from-file:8000/") for u in api.urls)


def test_energy_asks_the_api_config_show_prints_when_nothing_is_configured(
    home: Path, api: Recorder
) -> None:
    shown = config_show()["api_url"]
    result = runner.invoke(app, ["energy", "--account", "first"])
    assert result.exit_code == 0, result.output
    assert api.urls and all(u.startswith(shown.rstrip("/") + "/") for u in api.urls)


def test_history_reads_the_api_of_the_config_file(home: Path, api: Recorder) -> None:
    import json

    runner.invoke(app, ["config", "set", "api_url", "http://api-from-file:8000"])
    result = runner.invoke(app, ["history", "--account", "first", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["source"] == "api"
    assert any(u.startswith("http://api-from-file:8000/v1/accounts/") for u in api.urls)


def test_the_flag_beats_env_which_beats_the_file(
    home: Path, api: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner.invoke(app, ["config", "set", "api_url", "http://file:1"])
    monkeypatch.setenv("WALLET_API_URL", "http://env:2")
    assert runner.invoke(app, ["energy", "-a", "first"]).exit_code == 0
    assert api.urls[-1].startswith("http://env:2/")
    assert runner.invoke(app, ["--api-url", "http://flag:3", "energy", "-a", "first"]).exit_code == 0
    assert api.urls[-1].startswith("http://flag:3/")


def test_the_account_follows_the_same_rule(
    home: Path, api: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = runner.invoke(app, ["energy"])
    assert refused.exit_code == 2 and "wallet config set account" in refused.stderr
    runner.invoke(app, ["config", "set", "account", "second"])
    assert config_show()["account"] == "second"
    assert runner.invoke(app, ["energy"]).exit_code == 0
    assert f"/v1/accounts/{ADDRESS_2}/energy" in api.urls[-1]
    monkeypatch.setenv("WALLET_ACCOUNT", "first")
    assert runner.invoke(app, ["energy"]).exit_code == 0
    assert f"/v1/accounts/{ADDRESS_1}/energy" in api.urls[-1]
    assert runner.invoke(app, ["energy", "--account", "second"]).exit_code == 0
    assert f"/v1/accounts/{ADDRESS_2}/energy" in api.urls[-1]


def test_a_url_that_is_not_http_is_refused_with_its_origin(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WALLET_API_URL", "api.example:8000")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 1
    assert "env WALLET_API_URL" in result.stderr and "http://" in result.stderr


def test_the_api_has_a_short_connect_limit_and_a_longer_read_limit() -> None:
    with context.make_http() as http:
        limits = http.timeout
    assert limits.connect is not None and limits.read is not None
    assert limits.connect <= 5.0 < limits.read


def test_a_slow_api_gives_a_sentence_not_a_traceback(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    monkeypatch.setattr(context, "make_http", lambda: httpx.Client(transport=httpx.MockTransport(slow)))
    result = runner.invoke(app, ["energy", "-a", "first"])
    assert result.exit_code == 1
    assert "did not send your energy data within its time limit" in result.stderr
    assert "Traceback" not in result.output


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_spinner_draws_only_on_a_terminal() -> None:
    plain = io.StringIO()
    with Spinner("Asking", stream=plain, interval=0.001):
        pass
    assert plain.getvalue() == ""
    terminal = FakeTerminal()
    with Spinner("Asking", stream=terminal, interval=0.001):
        pass
    assert "Asking" in terminal.getvalue()
