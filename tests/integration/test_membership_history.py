"""Membership over time on SQLite: a day is settled with the members of that day (a member who
left is out from the day it left, one who joins later is out before), the history is kept and
never rewritten, and a consent is recorded only when the member's own key signed it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from ledger.db import make_engine, migrate
from ledger.db.energy_store import SqlEnergyStore
from ledger.energy import registry
from ledger.energy.errors import RegistryError
from ledger.energy.ingest import IngestPipeline
from ledger.energy.membership import consent_message, join, leave, record_consent
from ledger.energy.settlement_source import day_inputs
from tests.integration.test_reviews_and_corrections import _rows
from tests.unit.test_settlement_source import CONSUMERS, DAY, NOW, OP, PRODUCERS, SALT, WALLETS

MEMBER = Account.from_key("0x" + "33" * 32)


def test_each_day_is_settled_with_the_members_of_that_day(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'members.db'}")
    migrate(engine)
    store = SqlEnergyStore(engine)
    try:
        registry.add_operation(store, OP, "history", "default", 900)
        for serial in (*PRODUCERS, *CONSUMERS):
            role = "producer" if serial in PRODUCERS else "consumer"
            registry.add_participant(store, OP, WALLETS[serial], role)  # the registry entry
            registry.add_meter(store, SALT, serial, "electricity", 12_000, operation_id=OP,
                               wallet=WALLETS[serial])
            join(store, OP, WALLETS[serial], role, DAY - timedelta(days=10))
        leave(store, OP, WALLETS["PRM-C3"], DAY)  # C3 is out from DAY on
        IngestPipeline(store, clock=lambda: NOW).ingest_distributor(_rows(), b"file")
        accounts = set(day_inputs(store, OP, DAY).accounts.values())
        assert WALLETS["PRM-C3"] not in accounts and WALLETS["PRM-C2"] in accounts
        with pytest.raises(RegistryError, match="never rewritten"):
            join(store, OP, WALLETS["PRM-C2"], "consumer", DAY - timedelta(days=10))
        join(store, OP, WALLETS["PRM-C2"], "both", DAY + timedelta(days=1))  # a new period
        periods = [m for m in store.memberships(OP) if m.wallet == WALLETS["PRM-C2"]]
        assert [(m.role.value, m.end) for m in periods] == [("consumer", DAY + timedelta(days=1)),
                                                             ("both", None)]
        before = store.participants_on(OP, DAY - timedelta(days=1)) or []
        assert WALLETS["PRM-C3"] in {p.wallet for p in before}

        document = b"Operation agreement of the Moncey rooftops, version 3"
        import hashlib

        registry.add_participant(store, OP, MEMBER.address, "consumer")
        member = registry.check_wallet(MEMBER.address)  # the form the registry keeps
        text = consent_message(OP, member, "agreement", hashlib.sha256(document).hexdigest())
        signature = "0x" + bytes(MEMBER.sign_message(encode_defunct(text=text)).signature).hex()
        with pytest.raises(RegistryError, match="not by this wallet"):
            record_consent(store, OP, WALLETS["PRM-C1"], "agreement", document, signature)
        with pytest.raises(RegistryError, match="not by this wallet"):
            record_consent(store, OP, MEMBER.address, "agreement", document + b".", signature)
        record_consent(store, OP, MEMBER.address, "agreement", document, signature)
        (kept,) = store.consents(OP)
        assert kept.wallet == member and kept.message == text
    finally:
        engine.dispose()
