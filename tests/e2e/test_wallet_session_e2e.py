"""The wallet signs in to the running stack (real chain with the demo district, indexer, SQLite,
the API over HTTP) with Sign-In with Ethereum, then reads its own payments with their
references and its monthly statement; another resident's data stays refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.demo import RESIDENTS, dev_account
from tests.e2e.api_stack import Stack, running_stack

pytestmark = pytest.mark.chain

WALLET = Path(sys.executable).parent / "wallet"
ALICE = dev_account(dict(RESIDENTS)["Alice"])
CHLOE = dev_account(dict(RESIDENTS)["Chloé"])


@pytest.fixture(scope="module")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wallet-session-stack")


@pytest.fixture(scope="module")
def stack(stack_dir: Path) -> Iterator[Stack]:
    with running_stack(stack_dir) as running:
        yield running


def alices_demo_references(stack_dir: Path) -> dict[str, dict[str, str]]:
    """What Alice's own wallet would hold after her demo payments: her references and salts
    (the chain and the API carry only the commitments)."""
    kept = json.loads((stack_dir / "demo-references.json").read_text())["references"]
    return {c: {**e, "role": "paid"} for c, e in kept.items()
            if e["ref"] in ("BAGUETTE-0001", "ROOM-ALICE-1")}


@pytest.fixture(scope="module")
def wallet(stack: Stack, stack_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("wallet-session")
    (tmp / "pw").write_text("correct horse battery\n")
    (tmp / "pw").chmod(0o600)
    env = {**os.environ, "WALLET_HOME": str(tmp / "home"), "WALLET_API_URL": stack.api_url,
           "WALLET_RPC_URL": stack.node.url}

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(WALLET), *args], env=env, input=input, capture_output=True,
                              text=True, timeout=120, check=False)

    imported = run("import", "alice", "--private-key", "--password-file", str(tmp / "pw"),
                   input="0x" + ALICE.key.hex().removeprefix("0x"))
    assert imported.returncode == 0, imported.stderr
    book = tmp / "home" / "references.json"
    book.write_text(json.dumps({"version": 1, "references": alices_demo_references(stack_dir)}))
    book.chmod(0o600)
    run.tmp = tmp  # type: ignore[attr-defined]
    run.stack_dir = stack_dir  # type: ignore[attr-defined]
    return run


def test_login_through_the_real_siwe_endpoint_then_read_own_payments_and_statement(
    stack: Stack, wallet: Any
) -> None:
    stack.wait_indexed(stack.head())
    login = wallet("login", "--password-file", str(wallet.tmp / "pw"), "--json")
    assert login.returncode == 0, login.stderr + login.stdout
    host = stack.api_url.removeprefix("http://")
    assert f"Sign in to:   {host}" in login.stderr and "Chain id:     69003" in login.stderr
    session = json.loads(login.stdout)
    assert session["address"] == ALICE.address and "token" not in session
    assert (Path(session["file"]).stat().st_mode & 0o777) == 0o600

    history = wallet("history", "--json")
    assert history.returncode == 0, history.stderr
    data = json.loads(history.stdout)
    assert data["source"] == "api" and data["signed_in"] is True
    food = next(g for g in data["categories"] if g["category"] == "food")
    bread = next(e for e in food["entries"] if e["ref"] == "BAGUETTE-0001")
    assert bread["merchant"] == "Boulangerie du Lac" and bread["amount"] == "-4200000"

    month = datetime.fromtimestamp(bread["time"], UTC).strftime("%Y-%m")
    out = wallet.tmp / "statement.csv"
    statement = wallet("statement", "--month", month, "--output", str(out))
    assert statement.returncode == 0, statement.stderr
    # the API's statement has what the chain has: the commitment, never the reference itself
    commitment = next(c for c, e in alices_demo_references(wallet.stack_dir).items()
                      if e["ref"] == "BAGUETTE-0001")
    assert commitment in out.read_text() and "BAGUETTE-0001" not in out.read_text()
    assert (out.stat().st_mode & 0o777) == 0o600


def test_another_residents_data_is_refused(stack: Stack, wallet: Any) -> None:
    login = wallet("login", "--password-file", str(wallet.tmp / "pw"), "--json")
    assert login.returncode == 0, login.stderr
    token = json.loads(Path(json.loads(login.stdout)["file"]).read_text())["token"]
    for path in ("payments", "statement.csv?month=2026-11", "energy"):
        theirs = httpx.get(f"{stack.api_url}/v1/accounts/{CHLOE.address}/{path}",
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert theirs.status_code == 403, path
        assert theirs.json()["error"]["code"] == "not_your_data"
    # the wallet never sends Alice's session for someone else: it asks to sign in as them
    refused = wallet("statement", "--month", "2026-11", "--account", CHLOE.address)
    assert refused.returncode == 1 and "sign in first: wallet login" in refused.stderr
    # and after logout the session is dead at the API too
    assert wallet("logout").returncode == 0
    mine = httpx.get(f"{stack.api_url}/v1/accounts/{ALICE.address}/payments",
                     headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert mine.status_code == 401
    energy = wallet("energy")
    assert energy.returncode == 1 and "sign in first: wallet login" in energy.stderr
