"""Attacks on `ledger treasury references-retire` found by an outside review: run with a key other
than the API's (none in the operator's shell, so a fresh one; or the API reading its key beside
the settlement directory), it retired every keyed reference residents were given, and their
later top-ups were held instead of minted. Each test failed before the fix."""

from __future__ import annotations

import json
import os
import secrets
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ledger.db import make_engine, migrate
from ledger.domain.treasury import topup_reference
from ledger.treasury.camt import parse_statement
from ledger.treasury.errors import ReviewError
from ledger.treasury.models import TreasuryAccountRef, TreasuryEntry
from ledger.treasury.ports import FakeTreasuryChain
from ledger.treasury.service import mint_pending, register_reference, retire_references, store_statements
from tests.fixtures.camt import OPERATOR_IBAN, Entry, Stmt, Tx, camt053
from tests.unit.test_api_security import RESIDENT_A, RESIDENT_B, sign_in
from tests.unit.test_treasury import _unkeyed_reference
from tests.unit.test_treasury_topup import operator_shell

runner = CliRunner()


def _write_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key.hex() + "\n")
    return key


def _add_legacy(engine: Engine, account: str) -> str:
    legacy = _unkeyed_reference(account)
    with Session(engine) as s, s.begin():
        s.add(TreasuryAccountRef(reference=legacy, account=account.lower(), registered_by="resident",
                                 registered_at="2026-10-01T00:00:00+00:00"))
    return legacy


def _registry(engine: Engine) -> set[str]:
    with Session(engine) as s:
        return set(s.scalars(select(TreasuryAccountRef.reference)))


def _credit_with(engine: Engine, reference: str, bank_ref: str) -> str:
    """Import one 20 EUR credit bearing `reference`; its status afterwards."""
    chain = FakeTreasuryChain()
    statement = Stmt(f"STMT-{bank_ref}", date(2026, 12, 3), 0,
                     [Entry([Tx(20_00, rf=reference)], ref=bank_ref)])
    store_statements(engine, parse_statement(camt053(statement)), OPERATOR_IBAN)
    mint_pending(engine, chain)
    with Session(engine) as s:
        row = s.scalar(select(TreasuryEntry).where(TreasuryEntry.key == bank_ref))
        assert row is not None
        return row.status


def test_retiring_from_a_shell_without_the_apis_key_file_keeps_the_references_residents_were_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API reads its key from LEDGER_TREASURY_REFERENCE_KEY_FILE; the operator's shell does
    not set it (or runs `ledger` from another directory, `.state` being relative). The command then
    makes a fresh key in its state directory and retires every keyed reference of the shared
    database as "not under the current key": each resident's next top-up is held, not minted."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = make_engine(url)
    migrate(engine)
    api_key = _write_key(tmp_path / "api" / "treasury-reference.key")
    keyed = register_reference(engine, RESIDENT_A.address, "resident", api_key)  # the signed-in page
    legacy = _add_legacy(engine, RESIDENT_A.address)

    operator_shell(monkeypatch, tmp_path, tmp_path / "operator-shell-state")
    from ledger.cli import app as ledger_app

    result = runner.invoke(ledger_app, ["treasury", "references-retire", "--json"])
    # Whatever the command answers (a refusal is the right one), the keyed reference the API gave
    # the resident must survive, and a credit bearing it must mint.
    assert keyed in _registry(engine), (result.exit_code, result.output)
    assert _credit_with(engine, keyed, "BNK-KEYED-1") == "minted"
    assert legacy  # the unkeyed one may go


def test_the_api_and_the_command_key_references_in_the_same_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API is started with the same database and state directory as the operator's commands
    (LEDGER_API_STATE_DIR), but it read the reference key beside its settlement directory while
    `ledger treasury` reads the state directory: with the settlement directory elsewhere the two
    held different keys. Harmless while only the registry matched; with `references-retire` it
    deleted every reference the signed-in page registered."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from ledger.cli import app as ledger_app
    from tests.unit.test_api import make_settings

    state = tmp_path / "state"
    url = operator_shell(monkeypatch, tmp_path, state)
    # the operator registered one resident at the desk: the state directory's key exists
    added = runner.invoke(ledger_app, ["treasury", "account-add", RESIDENT_B.address, "--json"])
    assert added.exit_code == 0, added.output
    app = create_app(make_settings(database_url=url, state_dir=state,
                                   settlement_dir=tmp_path / "srv" / "settlement"))
    with TestClient(app) as client:
        sign_in(client, RESIDENT_A)
        reply = client.get("/v1/treasury/topup", params={"amount": "20"})
    assert reply.status_code == 200, reply.text
    from_page = reply.json()["reference"]
    engine = make_engine(url)
    assert from_page in _registry(engine)

    result = runner.invoke(ledger_app, ["treasury", "references-retire", "--json"])
    retired = json.loads(result.stdout)["retired"] if result.exit_code == 0 else []
    assert from_page not in {r["reference"] for r in retired}, result.output
    assert from_page in _registry(engine)
    assert _credit_with(engine, from_page, "BNK-PAGE-1") == "minted"


def test_a_key_under_which_no_registered_reference_is_keyed_retires_nothing(tmp_path: Path) -> None:
    """Service level: a key that keys none of the registry's references (a fresh or a wrong key
    file) is almost surely not the operator's key; retiring with it must not empty the registry
    of every reference residents were given (refusing with a sentence is fine)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(engine)
    api_key = secrets.token_bytes(32)
    keyed = {register_reference(engine, r.address, "resident", api_key) for r in (RESIDENT_A, RESIDENT_B)}
    wrong_key = secrets.token_bytes(32)
    assert all(topup_reference(r.address, wrong_key) not in keyed for r in (RESIDENT_A, RESIDENT_B))
    with pytest.raises(ReviewError, match="Nothing was removed"):
        retire_references(engine, wrong_key)
    assert keyed <= _registry(engine)
