"""The reserve against the bank, for one day, and the monthly attestation.

For day D (UTC), from SQL and the chain at the end of D:
- bank closing balance: the closing balance of the end-of-day statement ending on D;
- pending: EUR credits booked by D that were to mint and had not minted by D;
- held: EUR credits booked by D, not minted by D, not returned by D, that were not to mint;
- unpaid redemptions: euros owed for redemptions by D, less our payout debits booked by D, plus
  our payouts the bank returned by D;
- reserve: DistrictToken.reserve() at the last block of D.
Then `ledger.domain.treasury.check_reserve` names every difference.
"""

from __future__ import annotations

import calendar
from dataclasses import asdict
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ledger.domain.treasury import ReserveCheck, StatementSpan, check_reserve
from ledger.treasury.models import TreasuryEntry, TreasuryPayout, TreasuryStatement
from ledger.treasury.ports import TreasuryChain


def spans(session: Session, up_to: date | None = None) -> list[StatementSpan]:
    rows = session.scalars(
        select(TreasuryStatement).where(
            TreasuryStatement.message.like("camt.053%"), TreasuryStatement.first_day.is_not(None)
        )
    )
    return [
        StatementSpan(r.statement_id, r.first_day, r.last_day, r.opening, r.closing)  # type: ignore[arg-type]
        for r in rows
        if up_to is None or (r.first_day is not None and r.first_day <= up_to)
    ]


def reconcile_day(engine: Engine, chain: TreasuryChain, day: date) -> ReserveCheck:
    with Session(engine) as session:
        entries = list(
            session.scalars(
                select(TreasuryEntry).where(TreasuryEntry.booking_date <= day, TreasuryEntry.booked.is_(True))
            )
        )
        payouts = list(session.scalars(select(TreasuryPayout).where(TreasuryPayout.block_day <= day)))
        statement_spans = spans(session, day)
    pending = held = 0
    unmatched: list[tuple[str, int]] = []
    paid: dict[int, int] = {}
    for e in entries:
        if e.credit:
            if e.kind == "payout-returned" and e.status == "payout-returned" and e.redemption_id is not None:
                paid[e.redemption_id] = paid.get(e.redemption_id, 0) - e.amount
                continue
            if e.currency != "EUR" or e.status == "dismissed":
                continue  # a foreign-currency credit is not in a EUR balance; a dismissed duplicate never was
            if e.minted_on is not None and e.minted_on <= day:
                continue
            if e.returned_on is not None and e.returned_on <= day:
                continue
            if e.kind == "mint":
                pending += e.amount
            else:
                held += e.amount
        else:
            if e.status == "payout-paid" and e.redemption_id is not None:
                paid[e.redemption_id] = paid.get(e.redemption_id, 0) + e.amount
            elif e.status == "return-sent":
                continue
            else:
                unmatched.append((e.key, e.amount))
    unpaid = sum(p.amount - paid.get(p.redemption_id, 0) for p in payouts)
    return check_reserve(
        day=day,
        spans=statement_spans,
        reserve=chain.reserve(day),
        unpaid_redemptions=unpaid,
        pending_mints=pending,
        held_credits=held,
        unmatched_debits=unmatched,
    )


def check_as_dict(check: ReserveCheck) -> dict[str, Any]:
    return {
        "day": check.day.isoformat(),
        "ok": check.ok,
        "bank_closing": check.bank_closing,
        "reserve": check.reserve,
        "unpaid_redemptions": check.unpaid_redemptions,
        "pending_mints": check.pending_mints,
        "held_credits": check.held_credits,
        "gap": check.gap,
        "differences": [asdict(d) for d in check.differences],
    }


def month_bounds(month: str) -> tuple[date, date]:
    try:
        year, mon = (int(x) for x in month.split("-"))
        first = date(year, mon, 1)
    except ValueError as exc:
        raise ValueError(f"the month {month!r} is not YYYY-MM (for example 2026-11)") from exc
    return first, date(year, mon, calendar.monthrange(year, mon)[1])


def attestation(engine: Engine, chain: TreasuryChain, month: str) -> dict[str, Any]:
    """The monthly attestation: reserve, supply, coverage, deposits, redemptions, fees, and the
    statements it rests on, with the reconciliation of the month's last day."""
    first, last = month_bounds(month)
    check = reconcile_day(engine, chain, last)
    with Session(engine) as session:
        minted = list(
            session.scalars(
                select(TreasuryEntry).where(TreasuryEntry.minted_on >= first, TreasuryEntry.minted_on <= last)
            )
        )
        redeemed = list(
            session.scalars(
                select(TreasuryPayout).where(
                    TreasuryPayout.block_day >= first, TreasuryPayout.block_day <= last
                )
            )
        )
        statements = sorted(
            s.statement_id
            for s in session.scalars(
                select(TreasuryStatement).where(
                    TreasuryStatement.last_day >= first, TreasuryStatement.last_day <= last
                )
            )
        )
    supply = chain.total_supply(last)
    reserve = check.reserve
    return {
        "month": month,
        "as_of": last.isoformat(),
        "reserve": reserve,
        "supply": supply,
        "coverage_bps": (reserve * 10_000 // supply) if supply else None,
        "deposits_count": len(minted),
        "deposits": sum(e.amount for e in minted),
        "redemptions_count": len(redeemed),
        "redemptions": sum(p.amount for p in redeemed),
        "fees_to_commons": sum(p.fee for p in redeemed),
        "bank_closing": check.bank_closing,
        "reconciled": check.ok,
        "differences": [asdict(d) for d in check.differences],
        "statements": statements,
    }
