"""The treasurer's operations over SQL and the chain.

Import is two steps, each safe to interrupt anywhere:
1. one SQL transaction stores the statement and each new entry (keyed by the bank's reference)
   with what it means: `to-mint` with its account, `held` with its reason, a payout paid or
   returned, a return sent, a debit nobody ordered. A crash rolls it back whole; a statement
   or an entry already stored is skipped (identical) or refused (different).
2. each `to-mint` entry is reconciled with the chain: `depositRecorded(bankRef)` true means it
   minted (a crash after the transaction, before SQL heard of it); else `recordDeposit` is sent.
   The contract mints a bankRef once, ever, so even two importers at once cannot mint twice.
   A refusal for the treasurer's allowance holds the credit with a sentence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ledger.domain.treasury import (
    HELD_SENTENCES,
    BankEntry,
    Decision,
    HeldReason,
    Kind,
    bank_ref_bytes,
    bank_ref_encodings,
    check_address,
    classify,
    topup_reference,
)
from ledger.errors import ContractRuleError
from ledger.treasury.camt import Statement, StatementFile
from ledger.treasury.errors import ReviewError, StatementError
from ledger.treasury.models import (
    TreasuryAccountRef,
    TreasuryEntry,
    TreasuryPayout,
    TreasuryStatement,
)
from ledger.treasury.ports import TreasuryChain


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def statement_digest(statement: Statement) -> str:
    """What the ledger read from a statement, hashed: equal digests mean the same statement."""
    h = hashlib.sha256()
    span = statement.span
    h.update(repr((statement.statement_id, statement.account_iban, span)).encode())
    for e in statement.entries:
        h.update(repr(e).encode())
    return h.hexdigest()


@dataclass
class ImportReport:
    statements_new: list[str] = field(default_factory=list)
    statements_skipped: list[str] = field(default_factory=list)
    entries_new: int = 0
    entries_known: int = 0
    held: list[int] = field(default_factory=list)
    minted: list[int] = field(default_factory=list)
    already_minted: list[int] = field(default_factory=list)
    held_at_mint: list[tuple[int, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "statements_new": self.statements_new,
            "statements_skipped": self.statements_skipped,
            "entries_new": self.entries_new,
            "entries_known": self.entries_known,
            "held": self.held,
            "minted": self.minted,
            "already_minted": self.already_minted,
            "held_at_mint": [{"id": i, "why": w} for i, w in self.held_at_mint],
        }


def accounts_by_reference(session: Session) -> dict[str, str]:
    return {r.reference: r.account for r in session.scalars(select(TreasuryAccountRef))}


def register_reference(engine: Engine, account: str, by: str, key: bytes) -> str:
    """Register the top-up reference of `account` under the operator's `key`; idempotent.
    Returns the reference. An account's unkeyed reference registered before stays registered
    beside it: transfers already sent with it keep minting."""
    reference = topup_reference(account, key)
    with Session(engine) as session, session.begin():
        row = session.get(TreasuryAccountRef, reference)
        if row is None:
            session.add(
                TreasuryAccountRef(
                    reference=reference, account=account.lower(), registered_by=by, registered_at=_now()
                )
            )
        elif row.account != account.lower():  # pragma: no cover - a 93-bit collision
            raise ReviewError(f"the reference {reference} is already registered to another account")
    return reference


def retire_references(
    engine: Engine, key: bytes, account: str | None = None, *, every: bool = False, dry_run: bool = False
) -> list[tuple[str, str]]:
    """Remove from the registry every reference that is not its account's reference under `key`
    (issued before references were keyed, or under an earlier key), for every account or only
    `account`; returns the (reference, account) pairs removed (or that would be, `dry_run`). A
    credit bearing one of them is then held for review like any unknown reference (credits
    already stored keep their account). The keyed references stay, so a second run removes
    nothing. When no registered reference at all is keyed under `key`, it is more likely the
    wrong key than a registry of old references only: refused unless `every`."""
    only = check_address(account) if account is not None else None
    retired: list[tuple[str, str]] = []
    with Session(engine) as session, session.begin():
        rows = list(session.scalars(select(TreasuryAccountRef)))
        keyed = [r for r in rows if r.reference == topup_reference(r.account, key)]
        if rows and not keyed and not every:
            raise ReviewError(
                f"none of the {len(rows)} registered references is keyed under this key: if it is "
                "the key the API uses (LEDGER_TREASURY_REFERENCE_KEY_FILE, else the state "
                "directory's treasury-reference.key), run again with --all; otherwise point the "
                "command at that key. Nothing was removed"
            )
        for row in rows:
            if only is not None and row.account.lower() != only:
                continue
            if row.reference != topup_reference(row.account, key):
                retired.append((row.reference, row.account))
                if not dry_run:
                    session.delete(row)
    return retired


def store_statements(engine: Engine, parsed: StatementFile, operator_iban: str | None) -> ImportReport:
    """Step 1: one SQL transaction for the whole file."""
    report = ImportReport()
    for statement in parsed.statements:
        if operator_iban and statement.account_iban.replace(" ", "") != operator_iban:
            raise StatementError(
                f"statement {statement.statement_id} is for account {statement.account_iban}, not the "
                f"operator's ({operator_iban}): nothing was imported"
            )
    with Session(engine) as session, session.begin():
        refs = accounts_by_reference(session)
        for statement in parsed.statements:
            digest = statement_digest(statement)
            known = session.scalar(
                select(TreasuryStatement).where(TreasuryStatement.statement_id == statement.statement_id)
            )
            if known is not None:
                if known.digest != digest:
                    raise StatementError(
                        f"statement {statement.statement_id} was imported before with different content: "
                        "ask the bank which one is right; nothing was imported"
                    )
                report.statements_skipped.append(statement.statement_id)
                continue
            span = statement.span
            session.add(
                TreasuryStatement(
                    statement_id=statement.statement_id,
                    message=statement.message,
                    account_iban=statement.account_iban,
                    digest=digest,
                    file_sha256=parsed.sha256,
                    first_day=span.first_day if span else None,
                    last_day=span.last_day if span else None,
                    opening=span.opening if span else None,
                    closing=span.closing if span else None,
                    imported_at=_now(),
                )
            )
            report.statements_new.append(statement.statement_id)
            for entry in statement.entries:
                _store_entry(session, entry, refs, report)
            session.flush()
    return report


def _same(row: TreasuryEntry, entry: BankEntry) -> bool:
    return (row.amount, row.currency, row.credit, row.reversal, row.booking_date) == (
        entry.amount,
        entry.currency,
        entry.credit,
        entry.reversal,
        entry.booking_date,
    )


def _store_entry(session: Session, entry: BankEntry, refs: dict[str, str], report: ImportReport) -> None:
    row = session.scalar(select(TreasuryEntry).where(TreasuryEntry.key == entry.key))
    if row is not None:
        if row.booked or not entry.booked:
            if not _same(row, entry):
                raise StatementError(
                    f"the bank entry {entry.key} was imported before with another amount, date or "
                    "direction: ask the bank; nothing was imported"
                )
            report.entries_known += 1
            return
        # a pending entry (camt.054) is now booked: decide again
        session.delete(row)
        session.flush()
    decision = classify(entry, refs)
    if decision.kind is Kind.MINT and not entry.bank_keyed and _seen_elsewhere(session, entry):
        decision = Decision(Kind.HELD, reason=HeldReason.POSSIBLE_DUPLICATE)
    status = {
        Kind.MINT: "to-mint",
        Kind.HELD: "held",
        Kind.PAYOUT_PAID: "payout-paid",
        Kind.PAYOUT_RETURNED: "payout-returned",
        Kind.RETURN_SENT: "return-sent",
        Kind.OTHER_DEBIT: "other-debit",
    }[decision.kind]
    note = None
    if decision.kind is Kind.PAYOUT_PAID:
        payout = session.get(TreasuryPayout, decision.redemption_id)
        if payout is None or payout.amount != entry.amount:
            status, note = "other-debit", "an M3E payout reference whose redemption or amount does not match"
        else:
            payout.status = "paid"
    elif decision.kind is Kind.PAYOUT_RETURNED:
        payout = session.get(TreasuryPayout, decision.redemption_id)
        if payout is None or payout.amount != entry.amount:
            status, note = "held", "a returned M3E payout whose redemption or amount does not match"
        else:
            payout.status, payout.file_id = "open", None
            why = entry.return_reason or 'no reason'
            note = f"payout of redemption {payout.redemption_id} came back ({why})"
    elif decision.kind is Kind.RETURN_SENT:
        returned = session.get(TreasuryEntry, decision.returned_entry)
        if returned is None or returned.amount != entry.amount or returned.status != "return-in-file":
            status, note = "other-debit", "a return reference that matches no credit we return"
        else:
            returned.status, returned.returned_on = "returned", entry.booking_date
    row = TreasuryEntry(
        key=entry.key,
        statement_id=entry.statement_id,
        booking_date=entry.booking_date,
        amount=entry.amount,
        currency=entry.currency,
        credit=entry.credit,
        reversal=entry.reversal,
        booked=entry.booked,
        is_return=entry.is_return,
        return_reason=entry.return_reason,
        rf_reference=entry.rf_reference,
        end_to_end_id=entry.end_to_end_id,
        remittance=entry.remittance,
        counterparty_name=entry.counterparty_name,
        counterparty_iban=entry.counterparty_iban,
        kind=decision.kind.value,
        status=status,
        held_reason=(decision.reason.value if decision.reason else None) if status == "held" else None,
        account=decision.account,
        bank_ref="0x" + bank_ref_bytes(entry.key).hex(),
        redemption_id=decision.redemption_id,
        returned_entry=decision.returned_entry,
        note=note,
    )
    session.add(row)
    session.flush()
    report.entries_new += 1
    if status == "held":
        report.held.append(row.id)


def _seen_elsewhere(session: Session, entry: BankEntry) -> bool:
    """A credit keyed without the bank's reference that another statement already holds."""
    same = select(TreasuryEntry.id).where(
        TreasuryEntry.booking_date == entry.booking_date,
        TreasuryEntry.amount == entry.amount,
        TreasuryEntry.currency == entry.currency,
        TreasuryEntry.credit.is_(entry.credit),
        TreasuryEntry.rf_reference == entry.rf_reference,
        TreasuryEntry.counterparty_iban == entry.counterparty_iban,
        TreasuryEntry.statement_id != entry.statement_id,
    )
    return session.scalar(same.limit(1)) is not None


def _is_allowance_refusal(exc: ContractRuleError) -> bool:
    """The contracts' branch names the refusal `DistrictTokenMintAboveAllowance` or similar:
    matched loosely on the word."""
    return "allowance" in exc.error_name.lower() and "erc20" not in exc.error_name.lower()


GLOBAL_REFUSALS = {"EnforcedPause", "AccessControlUnauthorizedAccount"}


def mint_pending(engine: Engine, chain: TreasuryChain, report: ImportReport | None = None) -> ImportReport:
    """Step 2: every `to-mint` entry, in order, reconciled with the chain and minted at most once."""
    report = report or ImportReport()
    with Session(engine) as session:
        pending = list(
            session.execute(
                select(
                    TreasuryEntry.id, TreasuryEntry.key, TreasuryEntry.bank_ref, TreasuryEntry.account,
                    TreasuryEntry.amount,
                )
                .where(TreasuryEntry.status == "to-mint")
                .order_by(TreasuryEntry.id)
            )
        )
    for entry_id, key, bank_ref_hex, account, amount in pending:
        bank_ref = bytes.fromhex(bank_ref_hex[2:])
        # the old raw encoding too: the API minted a reference with an accent that way
        if any(chain.deposit_recorded(r) for r in (bank_ref, *bank_ref_encodings(key)[1:])):
            _mark_minted(engine, entry_id, None, chain.today())
            report.already_minted.append(entry_id)
            continue
        try:
            tx = chain.record_deposit(bank_ref, account or "", amount)
        except ContractRuleError as exc:
            if exc.error_name == "DistrictTokenDepositAlreadyRecorded":
                _mark_minted(engine, entry_id, None, chain.today())
                report.already_minted.append(entry_id)
                continue
            if exc.error_name in GLOBAL_REFUSALS:
                raise  # paused, or this key is not the treasurer: nothing can mint; say so
            reason = HeldReason.ALLOWANCE if _is_allowance_refusal(exc) else HeldReason.REFUSED
            _hold(engine, entry_id, reason, f"{exc} [{exc.error_name}]")
            report.held_at_mint.append((entry_id, f"{HELD_SENTENCES[reason]} ({exc})"))
            continue
        _mark_minted(engine, entry_id, tx, chain.today())
        report.minted.append(entry_id)
    return report


def _mark_minted(engine: Engine, entry_id: int, tx: str | None, day: date) -> None:
    with Session(engine) as session, session.begin():
        session.execute(
            update(TreasuryEntry)
            .where(TreasuryEntry.id == entry_id, TreasuryEntry.status == "to-mint")
            .values(status="minted", mint_tx=tx, minted_on=day)
        )


def _hold(engine: Engine, entry_id: int, reason: HeldReason, note: str) -> None:
    with Session(engine) as session, session.begin():
        session.execute(
            update(TreasuryEntry)
            .where(TreasuryEntry.id == entry_id, TreasuryEntry.status == "to-mint")
            .values(status="held", held_reason=reason.value, note=note)
        )


# --- review --------------------------------------------------------------------------------------
ASSIGNABLE = {
    HeldReason.NO_REFERENCE.value,
    HeldReason.UNKNOWN_REFERENCE.value,
    HeldReason.ALLOWANCE.value,
    HeldReason.REFUSED.value,
    HeldReason.POSSIBLE_DUPLICATE.value,
}


def held_entries(engine: Engine) -> list[dict[str, Any]]:
    with Session(engine) as session:
        rows = session.scalars(
            select(TreasuryEntry)
            .where(TreasuryEntry.status.in_(("held", "to-return", "return-in-file", "other-debit")))
            .order_by(TreasuryEntry.id)
        )
        return [
            {
                "id": r.id,
                "key": r.key,
                "booking_date": r.booking_date.isoformat(),
                "amount": r.amount,
                "currency": r.currency,
                "credit": r.credit,
                "status": r.status,
                "reason": r.held_reason,
                "why": HELD_SENTENCES[HeldReason(r.held_reason)] if r.held_reason else (r.note or ""),
                "reference": r.rf_reference,
                "counterparty": r.counterparty_name,
                "counterparty_iban": r.counterparty_iban,
                "remittance": r.remittance,
            }
            for r in rows
        ]


def _held_credit(session: Session, entry_id: int) -> TreasuryEntry:
    row = session.get(TreasuryEntry, entry_id)
    if row is None:
        raise ReviewError(f"no bank entry has id {entry_id}: see `ledger treasury review`")
    if row.status != "held" or not row.credit:
        raise ReviewError(f"entry {entry_id} is {row.status}, not a held credit: nothing to decide")
    return row


def assign(engine: Engine, entry_id: int, account: str) -> None:
    """A held credit (no or unknown reference, allowance) is given its account and minted next."""
    with Session(engine) as session, session.begin():
        row = _held_credit(session, entry_id)
        if row.held_reason not in ASSIGNABLE:
            raise ReviewError(
                f"entry {entry_id} is held because {HELD_SENTENCES[HeldReason(row.held_reason or '')]}; "
                "it cannot be minted: return it instead"
            )
        row.account, row.status, row.held_reason = account, "to-mint", None
        row.note = f"assigned to {account} by the operator on {_now()}"


def request_return(engine: Engine, entry_id: int) -> None:
    """A held credit goes back to its payer in the next payout file (EndToEndId M3E-RET-<id>)."""
    with Session(engine) as session, session.begin():
        row = _held_credit(session, entry_id)
        if row.currency != "EUR":
            raise ReviewError(
                f"entry {entry_id} is in {row.currency}: a SEPA file returns euros only; return it "
                "through the bank's own return service"
            )
        if not row.counterparty_iban:
            raise ReviewError(f"entry {entry_id} names no payer IBAN: ask the bank to return it")
        row.status = "to-return"
        row.note = f"return requested on {_now()}"


def dismiss_duplicate(engine: Engine, entry_id: int) -> None:
    """A held possible duplicate that is the same transfer as the other statement's: forget it."""
    with Session(engine) as session, session.begin():
        row = _held_credit(session, entry_id)
        if row.held_reason != HeldReason.POSSIBLE_DUPLICATE.value:
            raise ReviewError(f"entry {entry_id} is not a possible duplicate: only those can be dismissed")
        row.status, row.note = "dismissed", f"dismissed as a duplicate on {_now()}"


def entries_to_mint(engine: Engine) -> int:
    with Session(engine) as session:
        return len(list(session.scalars(select(TreasuryEntry.id).where(TreasuryEntry.status == "to-mint"))))


def sync_redemptions(engine: Engine, redemptions: Iterable[Any]) -> int:
    """Store new redemptions (DistrictToken.Redeemed) as open payouts; returns how many were new."""
    new = 0
    with Session(engine) as session, session.begin():
        for r in redemptions:
            if session.get(TreasuryPayout, r.redemption_id) is not None:
                continue
            session.add(
                TreasuryPayout(
                    redemption_id=r.redemption_id,
                    merchant=r.merchant.lower(),
                    amount=r.euros,
                    fee=r.fee,
                    payout_ref=r.payout_ref,
                    block_number=r.block_number,
                    block_day=r.block_day,
                    tx_hash=r.tx_hash,
                    status="open",
                )
            )
            new += 1
    return new
