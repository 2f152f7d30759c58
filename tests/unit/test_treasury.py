"""The treasury against SQLite and an in-memory chain: statements in, deposits minted once, held
credits reviewed, payouts in one file ever, the reserve reconciled to the cent."""

from __future__ import annotations

import hashlib
import shutil
import stat
from datetime import date
from pathlib import Path

import pytest
import xmlschema
from eth_account import Account
from eth_account.messages import encode_defunct
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from stdnum import iso11649

from ledger.db import make_engine, migrate
from ledger.domain.treasury import (
    TreasuryRuleError,
    bank_ref_bytes,
    normalise_rf,
    parse_eur_micro,
    rf_with_check,
    topup_reference,
)
from ledger.treasury.camt import parse_statement
from ledger.treasury.errors import ReviewError, StatementError
from ledger.treasury.models import TreasuryAccountRef, TreasuryEntry, TreasuryPayout
from ledger.treasury.payouts import build_payout_file, payee_message, set_payee, validate_pain
from ledger.treasury.ports import FakeTreasuryChain
from ledger.treasury.reconcile import attestation, reconcile_day
from ledger.treasury.service import (
    assign,
    dismiss_duplicate,
    held_entries,
    mint_pending,
    register_reference,
    request_return,
    retire_references,
    store_statements,
    sync_redemptions,
)
from tests.fixtures.camt import OPERATOR_IBAN, Entry, Stmt, Tx, camt053, camt054

REFERENCE_KEY = bytes(range(32))  # the operator's secret in these tests

ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
BOB = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
STRANGER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
MERCHANT = Account.from_key("0x" + "11" * 32)
D1, D2, D3, D4 = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4), date(2026, 11, 5)


def rf(address: str) -> str:
    return topup_reference(address, REFERENCE_KEY)


def day1() -> Stmt:
    return Stmt(
        "STMT-20261102",
        D1,
        100_00,
        [
            Entry([Tx(50_00, rf=rf(ALICE))], ref="BNK-1102-001"),
            Entry(
                [  # a batch booking: three transfers in one entry
                    Tx(
                        20_00,
                        acct_svcr_ref="BNK-1102-002-A",
                        ustrd=f"Recharge M3E {rf(BOB)[:4]} {rf(BOB)[4:]}",
                        name="Bob Durand",
                    ),
                    Tx(5_50, acct_svcr_ref="BNK-1102-002-B", rf=rf(ALICE)),
                    Tx(7_00, acct_svcr_ref="BNK-1102-002-C", rf=rf(STRANGER), name="Inconnu"),
                ],
                ref="BNK-1102-002",
            ),
            Entry([Tx(12_00, ustrd="cadeau")], ref="BNK-1102-003"),
            Entry([Tx(30_00, rf=rf(ALICE))], ref="BNK-1102-004", currency="USD"),
        ],
    )


def day2() -> Stmt:
    return Stmt(
        "STMT-20261103",
        D2,
        day1().closing_cents,
        [
            Entry([Tx(10_00, rf=rf(BOB), name="Bob Durand")], ref="BNK-1103-001", day=D2),
            Entry(
                [Tx(40_00, e2e="THEIR-E2E-9", return_reason="AC04")],
                ref="BNK-1103-002",
                family=("ICDT", "RRTN"),
                day=D2,
            ),
        ],
    )


def day2_with_reversal() -> Stmt:
    s = day2()
    s.entries.append(Entry([Tx(12_00)], ref="BNK-1103-003", credit=False, reversal=True, day=D2))
    return s


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    e = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(e)
    register_reference(e, ALICE, "test", REFERENCE_KEY)
    register_reference(e, BOB, "test", REFERENCE_KEY)
    return e


def do_import(engine: Engine, chain: FakeTreasuryChain, data: bytes) -> None:
    store_statements(engine, parse_statement(data), OPERATOR_IBAN)
    mint_pending(engine, chain)


def entries(engine: Engine) -> dict[str, TreasuryEntry]:
    with Session(engine) as s:
        return {e.key: e for e in s.scalars(select(TreasuryEntry))}


# --- the pure rules ------------------------------------------------------------------------------
def test_a_topup_reference_is_a_valid_iso_11649_reference_for_a_third_party_checker() -> None:
    for address in (ALICE, BOB, STRANGER, ALICE.lower()):
        ref = topup_reference(address, REFERENCE_KEY)
        assert iso11649.is_valid(ref), ref
        assert len(ref) <= 25 and ref.startswith("RF") and ref[4:7] == "M3E"
    assert topup_reference(ALICE, REFERENCE_KEY) == topup_reference(ALICE.lower(), REFERENCE_KEY)
    assert topup_reference(ALICE, REFERENCE_KEY) != topup_reference(ALICE, bytes(32))  # keyed
    assert topup_reference(ALICE, REFERENCE_KEY) != topup_reference(BOB, REFERENCE_KEY)
    alice = topup_reference(ALICE, REFERENCE_KEY)
    assert normalise_rf(iso11649.format(alice)) == alice
    bad = alice[:-1] + ("0" if alice[-1] != "0" else "1")
    assert normalise_rf(bad) is None


def _unkeyed_reference(address: str) -> str:
    """The reference as it was issued before it was keyed: SHA-256 of the address."""
    digest, chars = int.from_bytes(hashlib.sha256(address.lower().encode()).digest(), "big"), []
    for _ in range(18):
        digest, rest = divmod(digest, 36)
        chars.append("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[rest])
    return rf_with_check("M3E" + "".join(chars))


def test_a_reference_registered_before_it_was_keyed_keeps_minting_beside_the_keyed_one(
    engine: Engine,
) -> None:
    """Transfers already under way with an issued (unkeyed) reference are not lost: its row stays
    in the registry and matches, while the top-up instructions now give the keyed one."""
    legacy = _unkeyed_reference(ALICE)
    with Session(engine) as s, s.begin():
        s.add(
            TreasuryAccountRef(
                reference=legacy, account=ALICE.lower(), registered_by="resident",
                registered_at="2026-10-01T00:00:00+00:00",
            )
        )
    assert register_reference(engine, ALICE, "resident", REFERENCE_KEY) == rf(ALICE) != legacy
    chain = FakeTreasuryChain()
    statement = Stmt(
        "STMT-LEGACY",
        D1,
        0,
        [
            Entry([Tx(15_00, rf=legacy)], ref="BNK-OLD-REF"),
            Entry([Tx(25_00, rf=rf(ALICE))], ref="BNK-NEW-REF"),
        ],
    )
    do_import(engine, chain, camt053(statement))
    assert chain.balances == {ALICE.lower(): 40_000_000}
    statuses = {k: e.status for k, e in entries(engine).items()}
    assert statuses == {"BNK-OLD-REF": "minted", "BNK-NEW-REF": "minted"}


def _register_unkeyed(engine: Engine, *accounts: str) -> dict[str, str]:
    legacy = {a: _unkeyed_reference(a) for a in accounts}
    with Session(engine) as s, s.begin():
        for account, reference in legacy.items():
            s.add(TreasuryAccountRef(reference=reference, account=account.lower(), registered_by="resident",
                                     registered_at="2026-10-01T00:00:00+00:00"))
    return legacy


def test_retiring_the_unkeyed_references_holds_their_credits_and_keeps_the_keyed_ones(
    engine: Engine,
) -> None:
    """An unkeyed reference names its address to whoever sees the transfer and tries the
    district's addresses: once retired, a credit bearing it is held for review (never minted),
    while the keyed references keep minting; a second run retires nothing."""
    legacy = _register_unkeyed(engine, ALICE, BOB)
    register_reference(engine, ALICE, "resident", REFERENCE_KEY)
    retired = retire_references(engine, REFERENCE_KEY)
    assert sorted(retired) == sorted((legacy[a], a.lower()) for a in (ALICE, BOB))
    assert retire_references(engine, REFERENCE_KEY) == []
    chain = FakeTreasuryChain()
    statement = Stmt("STMT-RETIRED", D1, 0, [Entry([Tx(15_00, rf=legacy[ALICE])], ref="BNK-OLD-REF"),
                                             Entry([Tx(25_00, rf=rf(ALICE))], ref="BNK-NEW-REF")])
    do_import(engine, chain, camt053(statement))
    assert chain.balances == {ALICE.lower(): 25_000_000}
    statuses = {k: e.status for k, e in entries(engine).items()}
    assert statuses == {"BNK-OLD-REF": "held", "BNK-NEW-REF": "minted"}


def test_retiring_for_one_account_leaves_the_others_and_refuses_a_malformed_address(
    engine: Engine,
) -> None:
    legacy = _register_unkeyed(engine, ALICE, BOB)
    assert retire_references(engine, REFERENCE_KEY, account=ALICE.lower()) == [(legacy[ALICE], ALICE.lower())]
    with Session(engine) as s:
        left = {r.reference for r in s.scalars(select(TreasuryAccountRef))}
    assert left == {legacy[BOB], rf(ALICE), rf(BOB)}  # the keyed ones stay
    with pytest.raises(TreasuryRuleError, match="address"):
        retire_references(engine, REFERENCE_KEY, account="0x123")


def test_retiring_under_a_key_that_keys_no_registered_reference_is_refused_unless_all(
    engine: Engine,
) -> None:
    """The wrong key (not the API's) keys none of the registry: every reference would go, so the
    command refuses and removes nothing; a dry run lists and removes nothing; `every` is for a
    registry of old references only."""
    from ledger.treasury.errors import ReviewError as Refused

    other = bytes(range(1, 33))
    with pytest.raises(Refused, match="none of the 2 registered references is keyed"):
        retire_references(engine, other)
    assert len(retire_references(engine, other, every=True, dry_run=True)) == 2
    with Session(engine) as s:
        assert {r.reference for r in s.scalars(select(TreasuryAccountRef))} == {rf(ALICE), rf(BOB)}
    assert sorted(retire_references(engine, other, every=True)) == sorted(
        [(rf(ALICE), ALICE.lower()), (rf(BOB), BOB.lower())])


def test_the_reference_key_is_made_once_0600_and_an_unsafe_or_malformed_key_file_is_refused(
    tmp_path: Path,
) -> None:
    from ledger.errors import ConfigError
    from ledger.treasury.settings import DEFAULT_KEY_FILE, TreasurySettings

    settings = TreasurySettings(reference_key_file=None)
    first = settings.reference_key(tmp_path / "state")
    made = tmp_path / "state" / DEFAULT_KEY_FILE
    assert stat.S_IMODE(made.stat().st_mode) == 0o600 and len(first) == 32
    assert settings.reference_key(tmp_path / "state") == first  # the same key on every start
    assert [p.name for p in (tmp_path / "state").iterdir()] == [DEFAULT_KEY_FILE]  # no draft left
    made.chmod(0o640)
    with pytest.raises(ConfigError, match="chmod 600"):
        settings.reference_key(tmp_path / "state")
    bad = tmp_path / "bad.key"
    bad.write_text("not hex\n")
    bad.chmod(0o600)
    with pytest.raises(ConfigError, match="64 hex digits"):
        TreasurySettings(reference_key_file=bad).reference_key(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        TreasurySettings(reference_key_file=tmp_path / "missing.key").reference_key(tmp_path)
    assert not (tmp_path / "missing.key").exists()  # a configured key is never made up


def test_bank_amounts_are_read_exactly_and_refused_when_not_euros() -> None:
    assert parse_eur_micro("0.01") == 10_000
    assert parse_eur_micro("123456789.12") == 123_456_789_120_000
    for bad in ("1e3", "-5.00", "1.1234567", "", "12,50", "NaN"):
        with pytest.raises(TreasuryRuleError):
            parse_eur_micro(bad)


def test_a_bank_key_that_fits_is_readable_on_chain_and_a_long_one_is_hashed() -> None:
    assert bank_ref_bytes("BNK-1102-001").rstrip(b"\0") == b"BNK-1102-001"
    long_key = "X" * 40
    assert len(bank_ref_bytes(long_key)) == 32 and bank_ref_bytes(long_key) != bank_ref_bytes("X" * 41)


# --- statements ----------------------------------------------------------------------------------
def test_a_statement_is_validated_against_the_iso_schema_before_anything_is_read(engine: Engine) -> None:
    data = camt053(day1())
    broken = data.replace(b"<CdtDbtInd>CRDT</CdtDbtInd>", b"<CdtDbtInd>CREDIT</CdtDbtInd>", 1)
    with pytest.raises(StatementError, match=r"does not follow the ISO 20022 schema camt\.053\.001\.02"):
        parse_statement(broken)
    with pytest.raises(StatementError, match=r"not a camt\.053 or camt\.054"):
        parse_statement(b'<Document xmlns="urn:example"/>')
    with pytest.raises(StatementError, match="not well-formed"):
        parse_statement(data[:200])
    assert entries(engine) == {}


def test_an_external_entity_is_never_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    data = camt053(day1()).replace(b"cadeau", b"&xxe;")
    data = data.replace(
        b"?>\n", f'?>\n<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'.encode(), 1
    )
    with pytest.raises(StatementError, match="declares a DOCTYPE"):
        parse_statement(data)


def test_a_batch_whose_transactions_do_not_add_up_is_refused_whole() -> None:
    data = camt053(day1()).replace(b'<TxAmt><Amt Ccy="EUR">20.00</Amt>', b'<TxAmt><Amt Ccy="EUR">21.00</Amt>')
    with pytest.raises(StatementError, match="do not add up"):
        parse_statement(data)


def test_a_statement_of_another_account_is_refused(engine: Engine) -> None:
    other = day1()
    other.iban = "FR7630004000031234567890143"
    with pytest.raises(StatementError, match="not the operator's"):
        store_statements(engine, parse_statement(camt053(other)), OPERATOR_IBAN)
    assert entries(engine) == {}


def test_known_eur_credits_mint_once_and_the_rest_is_held_with_a_reason(engine: Engine) -> None:
    chain = FakeTreasuryChain()
    do_import(engine, chain, camt053(day1()))
    assert chain.balances == {ALICE.lower(): 55_500_000, BOB.lower(): 20_000_000}
    rows = entries(engine)
    assert rows["BNK-1102-001"].status == "minted"
    assert rows["BNK-1102-002-A"].rf_reference == rf(BOB)  # found in the unstructured text
    assert rows["BNK-1102-002-C"].held_reason == "unknown-reference"
    assert rows["BNK-1102-003"].held_reason == "no-reference"
    assert rows["BNK-1102-004"].held_reason == "not-eur"
    held = {h["id"]: h for h in held_entries(engine)}
    assert {h["reason"] for h in held.values()} == {"unknown-reference", "no-reference", "not-eur"}
    assert all("ledger treasury" in h["why"] or "return" in h["why"] for h in held.values())


def test_reimporting_a_statement_or_an_overlapping_one_never_mints_twice(engine: Engine) -> None:
    chain = FakeTreasuryChain()
    do_import(engine, chain, camt053(day1()))
    do_import(engine, chain, camt053(day1()))  # the same statement again
    overlap = Stmt("STMT-20261102-03", D1, 100_00, day1().entries + day2().entries, last_day=D2)
    do_import(engine, chain, camt053(overlap))  # one statement over both days
    do_import(engine, chain, camt053(day2()))
    assert chain.sent == 4
    assert chain.balances == {ALICE.lower(): 55_500_000, BOB.lower(): 30_000_000}


def test_the_same_statement_id_with_other_content_is_refused_and_nothing_is_stored(engine: Engine) -> None:
    chain = FakeTreasuryChain()
    do_import(engine, chain, camt053(day1()))
    changed = day1()
    changed.entries[0].txs[0].cents = 5_000_00
    with pytest.raises(StatementError, match="imported before with different content"):
        do_import(engine, chain, camt053(changed))
    assert chain.supply == 75_500_000


def test_a_notification_then_the_statement_mint_once(engine: Engine) -> None:
    chain = FakeTreasuryChain()
    credit = Entry([Tx(8_00, rf=rf(ALICE))], ref="BNK-1102-777")
    pending = Entry([Tx(8_00, rf=rf(ALICE))], ref="BNK-1102-777", status="PDNG")
    do_import(engine, chain, camt054("NTF-1", D1, [pending]))
    assert chain.sent == 0 and entries(engine)["BNK-1102-777"].held_reason == "not-booked"
    do_import(engine, chain, camt054("NTF-2", D1, [credit]))
    do_import(engine, chain, camt053(Stmt("STMT-A", D1, 0, [credit])))
    assert chain.sent == 1 and chain.balances == {ALICE.lower(): 8_000_000}


def test_a_reversal_and_a_foreign_return_are_held_never_guessed(engine: Engine) -> None:
    chain = FakeTreasuryChain()
    do_import(engine, chain, camt053(day1()))
    do_import(engine, chain, camt053(day2_with_reversal()))
    rows = entries(engine)
    assert rows["BNK-1103-003"].held_reason == "reversal"
    assert rows["BNK-1103-002"].held_reason == "return" and rows["BNK-1103-002"].return_reason == "AC04"
    assert chain.sent == 4


def test_a_crash_after_the_mint_before_sql_heard_of_it_is_found_on_chain(engine: Engine) -> None:
    chain = FakeTreasuryChain(crash_after_send=True)
    with pytest.raises(KeyboardInterrupt):
        do_import(engine, chain, camt053(day1()))
    chain.crash_after_send = False
    do_import(engine, chain, camt053(day1()))
    assert chain.sent == 3 and chain.supply == 75_500_000
    assert entries(engine)["BNK-1102-001"].status == "minted"


def test_an_exhausted_allowance_holds_the_credit_with_a_sentence_then_assign_mints_it(engine: Engine) -> None:
    chain = FakeTreasuryChain(allowance=60_000_000)
    do_import(engine, chain, camt053(day1()))
    rows = entries(engine)
    held = [r for r in rows.values() if r.held_reason == "allowance"]
    assert len(held) == 1 and "allowance" in (held[0].note or "")
    assert "raise the allowance" in {h["id"]: h for h in held_entries(engine)}[held[0].id]["why"]
    chain.allowance = 100_000_000
    assign(engine, held[0].id, held[0].account or "")
    mint_pending(engine, chain)
    assert chain.supply == 75_500_000


def test_assign_mints_a_held_credit_once_and_refuses_what_cannot_be_minted(engine: Engine) -> None:
    chain = FakeTreasuryChain()
    do_import(engine, chain, camt053(day1()))
    rows = entries(engine)
    assign(engine, rows["BNK-1102-003"].id, STRANGER)
    mint_pending(engine, chain)
    mint_pending(engine, chain)
    assert chain.balances[STRANGER] == 12_000_000
    with pytest.raises(ReviewError, match="not a held credit"):
        assign(engine, rows["BNK-1102-003"].id, STRANGER)
    with pytest.raises(ReviewError, match="cannot be minted"):
        assign(engine, rows["BNK-1102-004"].id, ALICE)
    with pytest.raises(ReviewError, match="no bank entry"):
        assign(engine, 9999, ALICE)


# --- property: any order and repetition ----------------------------------------------------------
FILES = {
    "day1": camt053(day1()),
    "day2": camt053(day2()),
    "overlap": camt053(Stmt("STMT-20261102-03", D1, 100_00, day1().entries + day2().entries, last_day=D2)),
    "notify": camt054("NTF-9", D2, [Entry([Tx(10_00, rf=rf(BOB), name="Bob Durand")], ref="BNK-1103-001")]),
}


_TEMPLATE: list[Path] = []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    order=st.lists(st.sampled_from(sorted(FILES)), min_size=1, max_size=8),
    crashes=st.lists(st.booleans(), min_size=8, max_size=8),
)
def test_any_order_and_repetition_of_imports_with_crashes_mints_each_credit_exactly_once(
    tmp_path_factory: pytest.TempPathFactory, order: list[str], crashes: list[bool]
) -> None:
    if not _TEMPLATE:  # migrate once, copy the file for each example (Alembic is the slow part)
        template = tmp_path_factory.mktemp("template") / "ledger.db"
        t = make_engine(f"sqlite:///{template}")
        migrate(t)
        register_reference(t, ALICE, "test", REFERENCE_KEY)
        register_reference(t, BOB, "test", REFERENCE_KEY)
        t.dispose()
        _TEMPLATE.append(template)
    path = tmp_path_factory.mktemp("p") / "ledger.db"
    shutil.copyfile(_TEMPLATE[0], path)
    e = make_engine(f"sqlite:///{path}")
    chain = FakeTreasuryChain()
    for name, crash in zip(order, crashes, strict=False):
        chain.crash_after_send = crash
        try:
            do_import(e, chain, FILES[name])
        except KeyboardInterrupt:
            pass
    chain.crash_after_send = False
    mint_pending(e, chain)  # the re-run after the last crash
    expected: dict[str, int] = {}
    if {"day1", "overlap"} & set(order):
        expected[ALICE.lower()] = 55_500_000
        expected[BOB.lower()] = 20_000_000
    if {"day2", "overlap", "notify"} & set(order):
        expected[BOB.lower()] = expected.get(BOB.lower(), 0) + 10_000_000
    assert chain.balances == expected
    assert len(chain.minted) == sum(1 for _ in chain.minted)  # each bankRef at most once by construction
    assert chain.supply == sum(expected.values())
    e.dispose()


# --- payouts -------------------------------------------------------------------------------------
def redeem(engine: Engine, chain: FakeTreasuryChain, merchant: str, amount: int, fee: int) -> int:
    r = chain.redeem(merchant, amount, fee)
    sync_redemptions(engine, chain.redemptions())
    return r.redemption_id


def test_a_payee_iban_is_validated_and_a_merchant_signature_must_be_its_own(engine: Engine) -> None:
    with pytest.raises(ReviewError, match="not a valid IBAN"):
        set_payee(
            engine,
            merchant=MERCHANT.address,
            iban="FR7630006000011234567890188",
            holder="Boulangerie",
            consent_date=D1,
        )
    message = payee_message(MERCHANT.address, "FR7630006000011234567890189", "Boulangerie du Lac", D1)
    good = MERCHANT.sign_message(encode_defunct(text=message)).signature.hex()
    done = set_payee(
        engine,
        merchant=MERCHANT.address,
        iban="FR76 3000 6000 0112 3456 7890 189",
        holder="Boulangerie du Lac",
        consent_date=D1,
        signature=good,
    )
    assert done["entered_by"] == "merchant"
    forged = Account.from_key("0x" + "22" * 32).sign_message(encode_defunct(text=message)).signature.hex()
    with pytest.raises(ReviewError, match="not by the merchant"):
        set_payee(
            engine,
            merchant=MERCHANT.address,
            iban="FR7630006000011234567890189",
            holder="Boulangerie du Lac",
            consent_date=D1,
            signature=forged,
        )


def make_file(engine: Engine) -> object:
    return build_payout_file(
        engine,
        debtor_iban=OPERATOR_IBAN,
        debtor_name="Association Monnaie du 3e",
        debtor_bic=None,
        execution=D3,
    )


def test_a_redemption_is_in_exactly_one_pain_001_file_which_validates_against_its_schema(
    engine: Engine,
) -> None:
    chain = FakeTreasuryChain(supply=100_000_000, reserve_now=100_000_000)
    set_payee(
        engine,
        merchant=MERCHANT.address,
        iban="FR7630006000011234567890189",
        holder="Boulangerie du Lac",
        consent_date=D1,
    )
    rid = redeem(engine, chain, MERCHANT.address, 20_000_000, 600_000)
    made = make_file(engine)
    assert made is not None
    xml = made.xml  # type: ignore[attr-defined]
    validate_pain(xml)
    xmlschema.XMLSchema(
        str(Path(__import__("sepaxml").__file__).parent / "schemas" / "pain.001.001.03.xsd")
    ).validate(xml.decode())
    assert f"<EndToEndId>M3E-R{rid}</EndToEndId>".encode() in xml and b'<InstdAmt Ccy="EUR">19.40' in xml
    assert make_file(engine) is None  # nothing left: never a second file for it


def test_the_debit_marks_a_payout_paid_and_a_return_reopens_it_for_the_next_file(engine: Engine) -> None:
    chain = FakeTreasuryChain(supply=100_000_000, reserve_now=100_000_000)
    set_payee(
        engine,
        merchant=MERCHANT.address,
        iban="FR7630006000011234567890189",
        holder="Boulangerie du Lac",
        consent_date=D1,
    )
    rid = redeem(engine, chain, MERCHANT.address, 20_000_000, 600_000)
    assert make_file(engine) is not None
    paid = Stmt(
        "STMT-PAID",
        D3,
        100_00,
        [Entry([Tx(19_40, e2e=f"M3E-R{rid}")], ref="BNK-PAY-1", credit=False, family=("ICDT", "ESCT"))],
    )
    do_import(engine, chain, camt053(paid))
    with Session(engine) as s:
        assert s.get(TreasuryPayout, rid).status == "paid"  # type: ignore[union-attr]
    back = Stmt(
        "STMT-BACK",
        D4,
        paid.closing_cents,
        [
            Entry(
                [Tx(19_40, e2e=f"M3E-R{rid}", return_reason="AC04")], ref="BNK-RET-1", family=("ICDT", "RRTN")
            )
        ],
    )
    do_import(engine, chain, camt053(back))
    with Session(engine) as s:
        assert s.get(TreasuryPayout, rid).status == "open"  # type: ignore[union-attr]
    again = make_file(engine)
    assert again is not None and f"M3E-R{rid}".encode() in again.xml  # type: ignore[attr-defined]


def test_return_sends_a_held_credit_back_in_the_payout_file_and_its_debit_closes_it(engine: Engine) -> None:
    chain = FakeTreasuryChain()
    do_import(engine, chain, camt053(day1()))
    rows = entries(engine)
    with pytest.raises(ReviewError, match="SEPA file returns euros only"):
        request_return(engine, rows["BNK-1102-004"].id)
    entry_id = rows["BNK-1102-002-C"].id
    request_return(engine, entry_id)
    made = make_file(engine)
    assert made is not None and f"M3E-RET-{entry_id}".encode() in made.xml  # type: ignore[attr-defined]
    out = Stmt(
        "STMT-OUT",
        D2,
        day1().closing_cents,
        [
            Entry(
                [Tx(7_00, e2e=f"M3E-RET-{entry_id}")], ref="BNK-OUT-1", credit=False, family=("ICDT", "ESCT")
            )
        ],
    )
    do_import(engine, chain, camt053(out))
    assert entries(engine)["BNK-1102-002-C"].status == "returned"


# --- reconciliation ------------------------------------------------------------------------------
def clean_month(engine: Engine, chain: FakeTreasuryChain, adjust: int = 0, skip_day2: bool = False) -> None:
    chain.day = D1
    s1 = Stmt("STMT-1", D1, 0, [Entry([Tx(50_00, rf=rf(ALICE))], ref="R-1"), Entry([Tx(12_00)], ref="R-2")])
    s2 = Stmt("STMT-2", D2, s1.closing_cents, [Entry([Tx(10_00, rf=rf(BOB))], ref="R-3")])
    s3 = Stmt("STMT-3", D3, s2.closing_cents, [], closing_adjust=adjust)
    for s in (s1, s3) if skip_day2 else (s1, s2, s3):
        do_import(engine, chain, camt053(s))


def test_the_reserve_reconciles_to_the_cent_with_held_credits_and_unpaid_redemptions(engine: Engine) -> None:
    chain = FakeTreasuryChain()
    clean_month(engine, chain)
    redeem(engine, chain, MERCHANT.address, 20_000_000, 600_000)  # 19.40 EUR owed, not yet paid
    check = reconcile_day(engine, chain, D3)
    assert check.ok, check.differences
    assert (check.bank_closing, check.held_credits, check.unpaid_redemptions) == (
        72_000_000,
        12_000_000,
        19_400_000,
    )
    assert check.reserve == 60_000_000 - 19_400_000


def test_reconcile_finds_a_planted_one_cent_difference(engine: Engine) -> None:
    chain = FakeTreasuryChain()
    clean_month(engine, chain, adjust=1)
    check = reconcile_day(engine, chain, D3)
    assert not check.ok
    gaps = [d for d in check.differences if d.kind == "reserve-gap"]
    assert [g.amount for g in gaps] == [10_000] and "0.01 EUR more" in gaps[0].detail


def test_reconcile_finds_a_missing_statement_day(engine: Engine) -> None:
    chain = FakeTreasuryChain()
    clean_month(engine, chain, skip_day2=True)
    check = reconcile_day(engine, chain, D3)
    missing = [d for d in check.differences if d.kind == "missing-statement"]
    assert [d.detail for d in missing] == ["no statement covers 2026-11-03: import it"]
    assert any(d.kind == "balance-chain" for d in check.differences)


def test_a_debit_nobody_ordered_is_listed(engine: Engine) -> None:
    chain = FakeTreasuryChain()
    clean_month(engine, chain)
    fee = Stmt(
        "STMT-4",
        D4,
        72_00,
        [Entry([Tx(3_00, name="Banque")], ref="FEE-1", credit=False, family=("ACMT", "CHRG"))],
    )
    do_import(engine, chain, camt053(fee))
    kinds = [d.kind for d in reconcile_day(engine, chain, D4).differences]
    assert "unmatched-debit" in kinds and "reserve-gap" in kinds


def test_the_monthly_attestation_states_reserve_supply_coverage_and_its_statements(engine: Engine) -> None:
    chain = FakeTreasuryChain()
    clean_month(engine, chain)
    redeem(engine, chain, MERCHANT.address, 20_000_000, 600_000)
    chain.day = D3
    data = attestation(engine, chain, "2026-11")
    assert data["statements"] == ["STMT-1", "STMT-2", "STMT-3"]
    assert data["redemptions"] == 19_400_000 and data["fees_to_commons"] == 600_000
    assert data["coverage_bps"] == 10_000


CAMT_053_08 = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
<GrpHdr><MsgId>V08-1</MsgId><CreDtTm>2026-11-02T23:00:00+01:00</CreDtTm></GrpHdr>
<Stmt><Id>V08-STMT-1</Id><CreDtTm>2026-11-02T23:00:00+01:00</CreDtTm>
<Acct><Id><IBAN>{iban}</IBAN></Id></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<Dt><Dt>2026-11-02</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">42.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<Dt><Dt>2026-11-02</Dt></Dt></Bal>
<Ntry><Amt Ccy="EUR">42.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
<BookgDt><Dt>2026-11-02</Dt></BookgDt><AcctSvcrRef>V08-E1</AcctSvcrRef>
<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
<NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs><Amt Ccy="EUR">42.00</Amt>
<RltdPties><Dbtr><Pty><Nm>Chloe Martin</Nm></Pty></Dbtr><DbtrAcct><Id><IBAN>FR1420041010050500013M02606</IBAN>
</Id></DbtrAcct></RltdPties>
<RmtInf><Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp><Ref>{rf}</Ref></CdtrRefInf></Strd></RmtInf>
</TxDtls></NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>"""


def test_a_camt_053_001_08_statement_is_read_too(engine: Engine) -> None:
    chain = FakeTreasuryChain()
    data = CAMT_053_08.format(iban=OPERATOR_IBAN, rf=rf(ALICE)).encode()
    parsed = parse_statement(data)
    (statement,) = parsed.statements
    assert parsed.message == "camt.053.001.08" and statement.span is not None
    assert (statement.span.opening, statement.span.closing) == (0, 42_000_000)
    (entry,) = statement.entries
    assert (entry.key, entry.counterparty_name, entry.booked) == ("V08-E1", "Chloe Martin", True)
    do_import(engine, chain, data)
    assert chain.balances == {ALICE.lower(): 42_000_000}


def test_an_amount_beyond_what_sql_holds_exactly_is_refused_not_overflowed() -> None:
    with pytest.raises(TreasuryRuleError, match="too large"):
        parse_eur_micro("1000000000000.00")
    assert parse_eur_micro("999999999999.99") == 999_999_999_999_990_000


def test_a_credit_the_contract_refuses_is_held_and_does_not_block_the_others(engine: Engine) -> None:
    chain = FakeTreasuryChain()
    register_reference(engine, "0x" + "00" * 20, "test", REFERENCE_KEY)
    stmt = Stmt(
        "STMT-Z",
        D1,
        0,
        [
            Entry([Tx(0, rf=rf(ALICE))], ref="Z-ZERO"),  # a zero credit: the contract refuses to mint 0
            Entry([Tx(5_00, rf=rf("0x" + "00" * 20))], ref="Z-ADDR"),  # to the zero address: refused too
            Entry([Tx(7_00, rf=rf(BOB))], ref="Z-OK"),
        ],
    )
    do_import(engine, chain, camt053(stmt))
    rows = entries(engine)
    assert rows["Z-ZERO"].status == "held" and rows["Z-ADDR"].status == "held"
    assert "zero" in (rows["Z-ADDR"].note or "").lower()
    assert chain.balances == {BOB.lower(): 7_000_000}


def test_an_entry_without_bank_reference_seen_again_in_another_statement_is_held_not_minted_twice(
    engine: Engine,
) -> None:
    chain = FakeTreasuryChain()
    credit = Entry([Tx(9_00, rf=rf(ALICE))], ntry_ref="N-1")  # no AcctSvcrRef anywhere
    do_import(engine, chain, camt053(Stmt("STMT-X", D1, 0, [credit])))
    do_import(engine, chain, camt053(Stmt("STMT-Y", D1, 0, [credit], last_day=D2)))  # overlapping
    assert chain.balances == {ALICE.lower(): 9_000_000}
    (again,) = [r for r in entries(engine).values() if r.statement_id == "STMT-Y"]
    assert again.held_reason == "possible-duplicate"
    assert reconcile_day(engine, chain, D1).held_credits == 9_000_000
    dismiss_duplicate(engine, again.id)
    assert reconcile_day(engine, chain, D1).held_credits == 0
    with pytest.raises(ReviewError, match="not a held credit"):
        dismiss_duplicate(engine, again.id)


def test_attack_a_credit_minted_under_the_old_raw_encoding_is_not_minted_again_by_the_import(
    engine: Engine,
) -> None:
    # before the fix, the API minted a bank reference as its raw UTF-8 text zero padded; with an
    # accent that differs from bank_ref_bytes, so the statement import minted the same euros again
    key = "BNK-ÉLISE-0001"
    chain = FakeTreasuryChain()
    chain.minted[key.encode("utf-8").ljust(32, b"\0")] = (ALICE.lower(), 8_000_000)
    assert bank_ref_bytes(key) != key.encode("utf-8").ljust(32, b"\0")
    credit = Entry([Tx(8_00, rf=rf(ALICE))], ref=key)
    do_import(engine, chain, camt053(Stmt("STMT-OLD-ENC", D1, 0, [credit])))
    assert chain.sent == 0, "the import minted again a bank transfer the API had minted"
    assert entries(engine)[key].status == "minted"
