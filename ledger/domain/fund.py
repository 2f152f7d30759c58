"""The commons fund's report, from its events: pure rules, integers in micro-M3E.

Months follow the CommonsFund contract: calendar months in UTC, indexed year * 12 + month - 1.
A programme's budget left this month is its monthly budget minus what it paid this month, never
below zero, and zero while the programme is closed (the contract's `leftThisMonth`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class FundEvent:
    """One decoded CommonsFund event (see ledger.db.records.FundEventRow)."""

    block_number: int
    log_index: int
    kind: str  # inflow | outflow | opened | changed
    programme_id: int | None
    month: int | None
    source: str | None
    account: str | None
    amount: int | None
    monthly_budget: int | None
    active: bool | None
    name: str | None


@dataclass(frozen=True)
class ProgrammeFigures:
    programme_id: int
    name: str
    spender: str
    monthly_budget: int
    active: bool
    spent_this_month: int
    left_this_month: int


@dataclass(frozen=True)
class MonthFlow:
    """What entered under one source, or left under one programme, in one month."""

    month: int
    key: str  # the inflow's source, or the programme's id as text
    amount: int
    count: int


@dataclass(frozen=True)
class FundReport:
    month: int
    total_in: int
    total_out: int
    programmes: list[ProgrammeFigures]
    inflows: list[MonthFlow]
    outflows: list[MonthFlow]


def utc_month(timestamp: int) -> int:
    """The month index of a Unix time read in UTC: year * 12 + month - 1."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.year * 12 + moment.month - 1


def month_label(month: int) -> str:
    """24305 -> "2025-06"."""
    year, index = divmod(month, 12)
    return f"{year:04d}-{index + 1:02d}"


def fund_report(events: Iterable[FundEvent], month: int) -> FundReport:
    """Fold the fund's events (any order) into its figures as of `month`."""
    ordered = sorted(events, key=lambda e: (e.block_number, e.log_index))
    programmes: dict[int, dict[str, object]] = {}
    spent: dict[tuple[int, int], int] = {}
    inflows: dict[tuple[int, str], list[int]] = {}
    outflows: dict[tuple[int, str], list[int]] = {}
    total_in = total_out = 0
    for e in ordered:
        if e.kind == "inflow" and e.amount is not None and e.month is not None:
            total_in += e.amount
            flow = inflows.setdefault((e.month, e.source or ""), [0, 0])
            flow[0] += e.amount
            flow[1] += 1
        elif e.kind == "outflow" and e.amount is not None and e.month is not None and e.programme_id:
            total_out += e.amount
            key = (e.programme_id, e.month)
            spent[key] = spent.get(key, 0) + e.amount
            flow = outflows.setdefault((e.month, str(e.programme_id)), [0, 0])
            flow[0] += e.amount
            flow[1] += 1
        elif e.kind in ("opened", "changed") and e.programme_id:
            entry = programmes.setdefault(e.programme_id, {"name": ""})
            if e.name is not None:
                entry["name"] = e.name
            entry["spender"] = e.account or ""
            entry["budget"] = e.monthly_budget or 0
            entry["active"] = bool(e.active)
    figures = []
    for programme_id, entry in sorted(programmes.items()):
        budget = int(str(entry["budget"]))
        active = bool(entry["active"])
        spent_now = spent.get((programme_id, month), 0)
        left = max(0, budget - spent_now) if active else 0
        figures.append(ProgrammeFigures(
            programme_id, str(entry["name"]), str(entry["spender"]), budget, active, spent_now, left,
        ))
    return FundReport(
        month=month,
        total_in=total_in,
        total_out=total_out,
        programmes=figures,
        inflows=[MonthFlow(m, k, v[0], v[1]) for (m, k), v in sorted(inflows.items())],
        outflows=[MonthFlow(m, k, v[0], v[1]) for (m, k), v in sorted(outflows.items())],
    )
