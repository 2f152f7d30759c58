"""Energy answers without HTTP: gateway readings in, district aggregates, settlement days, a
resident's own curves, earnings and proofs.

Privacy rule of the district aggregates: a figure of a step built from fewer than `MIN_HOMES`
distinct homes is withheld (null, with the reason). Day totals are sums of the published steps
only, so a total never lets anyone subtract their way to a withheld step. A figure is published
only once final (see `_final`) and then never changes.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from api.errors import BadRequest, NotFound
from api.money import ratio
from api.ports import EnergyReader, ReadingIngest, SettledDay, SettlementSource
from api.schemas import (
    AccountEnergyOut,
    AllocationOut,
    DistrictEnergyOut,
    DistrictStepOut,
    DistrictTotalsOut,
    FundSolidarityOut,
    IngestOut,
    OwnDayOut,
    OwnStepOut,
    ProofLineOut,
    ProofSetOut,
    ProofsOut,
    SettlementDayOut,
    SettlementOut,
    SettlementsOut,
    SettlementTotalsOut,
    WithheldOut,
)
from api.services import amount
from ledger.db.queries_energy import DistrictRows, Published, StepFigure
from ledger.domain.energy.anonymity import MIN_HOMES
from ledger.domain.energy.steps import PARIS, StepLength, day_bounds, day_step_starts
from ledger.energy.envelope import MAX_ENVELOPE_BYTES, format_utc
from ledger.energy.ingest import IngestResult
from ledger.energy.settlement import LineKind, verify_offline

ZERO = "0x0000000000000000000000000000000000000000"
# How an account sees its counterparties: {address (lowercase): (shown, named)}, a pseudonym
# unless the counterparty chose to be named (api.routers.private.names).
Namer = Callable[[list[str]], dict[str, tuple[str, bool]]]


def _as_is(others: list[str]) -> dict[str, tuple[str, bool]]:
    return {o.lower(): (o.lower(), True) for o in others}
FEW_HOMES = "fewer_than_5_homes"
NO_READINGS = "no_readings"
NOT_FINAL = "not_final"
OTHER_STEP = "published_at_another_step"
# A step whose expected homes have not all reported is closed this long after it ends.
CLOSE_AFTER_S = 2 * 86_400


def _final(figure: StepFigure, rows: DistrictRows, clock: int) -> bool:
    """A step's figure is final when every home expected for it has reported the step (each home
    that reported this figure in the week before or during the day), or once the step is closed
    (CLOSE_AFTER_S after its end). Published once final, it is kept as published: a reading
    arriving later counts in settlement and in its home's own view, never in the public figure,
    so no two public answers differ by one home."""
    return figure.reporting >= rows.expected.get(figure.figure, 0) or (
        figure.start_ts + rows.step_s + CLOSE_AFTER_S <= clock
    )


def _across_step_lengths(rows: DistrictRows) -> tuple[Published, set[tuple[int, str]]]:
    """The day's figures at its step length that figures already published at the other length
    decide: a half-hour whose two quarter-hours were both published is their sum (published);
    any other step overlapping a published one at the other length is withheld, since computed
    afresh it would differ from what was published by the homes that reported late or refused
    since, one home's value given away by a subtraction."""
    derived: Published = {}
    blocked: set[tuple[int, str]] = set()
    if rows.step_s >= 1800:
        halves: dict[tuple[int, str], list[StepFigure]] = defaultdict(list)
        for (at, name), f in rows.frozen_other_step.items():
            halves[(at - at % rows.step_s, name)].append(f)
        for (at, name), found in halves.items():
            if (at, name) in rows.frozen:
                continue
            if len(found) == rows.step_s // 900:
                total, homes = sum(f.total for f in found), min(f.homes for f in found)
                derived[(at, name)] = StepFigure(at, name, total, homes, homes)
            else:
                blocked.add((at, name))
    else:
        for at, name in rows.frozen_other_step:
            blocked |= {(at + offset, name) for offset in range(0, 1800, rows.step_s)}
    return derived, blocked - rows.frozen.keys()


def parse_day(text: str | None) -> date:
    """A local (Europe/Paris) calendar day; today when not given."""
    if text is None:
        return datetime.now(PARIS).date()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            "The day must be a real date written YYYY-MM-DD, like 2026-06-21.", code="bad_day"
        ) from None
    if day.year < 2000 or day.year > 2199:
        raise BadRequest("The day must be between the years 2000 and 2199.", code="bad_day")
    return day


def _ts(instant: datetime) -> int:
    return int(instant.timestamp())


# -- gateway readings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GatewayIngest:
    """The write side of the gateway route: the pipeline, run in a worker thread by the route."""

    pipeline: ReadingIngest
    max_bytes: int = MAX_ENVELOPE_BYTES

    def submit(self, body: bytes, device_id: str) -> IngestResult:
        return self.pipeline.ingest_http(body, device_id)


def ingest_out(result: IngestResult) -> IngestOut:
    return IngestOut.model_validate(result.to_json())


# -- district aggregates -------------------------------------------------------------------------


def district(energy: EnergyReader, day: date, now: float | None = None) -> DistrictEnergyOut:
    start, end = day_bounds(day)
    rows = energy.district(_ts(start), _ts(end))
    step = StepLength.MIN30 if rows.step_s >= 1800 else StepLength.MIN15
    cells = {(f.start_ts, f.figure): f for f in rows.figures}
    clock = int(time.time() if now is None else now)
    derived, blocked = _across_step_lengths(rows)
    newly_final = [
        f for f in rows.figures
        if (f.start_ts, f.figure) not in rows.frozen
        and (f.start_ts, f.figure) not in blocked
        and (f.start_ts, f.figure) not in derived
        and f.homes >= MIN_HOMES
        and _final(f, rows, clock)
    ] + list(derived.values())
    published = rows.frozen
    if newly_final:
        published = {**rows.frozen, **energy.freeze(rows.step_s, newly_final, clock)}
    steps: list[DistrictStepOut] = []
    sums = {"production": 0, "consumption": 0, "gas": 0, "water": 0}
    both_p = both_self = 0
    self_total = 0
    latest: str | None = None
    withheld_steps = 0
    for instant in day_step_starts(day, step):
        at = _ts(instant)
        values: dict[str, int | None] = {}
        withheld: list[WithheldOut] = []
        for name in ("production", "consumption", "gas", "water"):
            cell = cells.get((at, name))
            kept = published.get((at, name))
            if kept is not None:
                values[name] = kept.total
                sums[name] += kept.total
            elif (at, name) in blocked:
                values[name] = None
                withheld.append(WithheldOut(figure=name, reason=OTHER_STEP))
            elif cell is None:
                values[name] = None
                withheld.append(WithheldOut(figure=name, reason=NO_READINGS))
            elif cell.homes < MIN_HOMES:
                values[name] = None
                withheld.append(WithheldOut(figure=name, reason=FEW_HOMES))
            else:
                values[name] = None
                withheld.append(WithheldOut(figure=name, reason=NOT_FINAL))
        p, c = values["production"], values["consumption"]
        self_wh = min(p, c) if p is not None and c is not None else None
        if p is not None and c is not None and self_wh is not None:
            both_p += p
            both_self += self_wh
            self_total += self_wh
        if any(v is not None for v in values.values()):
            latest = format_utc(at)
        if withheld:
            withheld_steps += 1
        steps.append(
            DistrictStepOut(
                start=format_utc(at),
                production_wh=p,
                consumption_wh=c,
                self_consumed_wh=self_wh,
                self_consumption_rate=ratio(self_wh, p) if self_wh is not None and p else None,
                self_sufficiency_rate=ratio(self_wh, c) if self_wh is not None and c else None,
                gas_wh=values["gas"],
                water_l=values["water"],
                withheld=withheld,
            )
        )
    day_rate = ratio(both_self, both_p) if both_p else None
    return DistrictEnergyOut(
        day=day.isoformat(),
        step_minutes=int(step),
        min_homes=MIN_HOMES,
        as_of=int(time.time() if now is None else now),
        latest_step=latest,
        self_consumption_rate=day_rate,
        totals=DistrictTotalsOut(
            production_wh=sums["production"],
            consumption_wh=sums["consumption"],
            self_consumed_wh=self_total,
            self_consumption_rate=day_rate,
            gas_wh=sums["gas"],
            water_l=sums["water"],
            steps_withheld=withheld_steps,
        ),
        steps=steps,
    )


# -- settlement days -----------------------------------------------------------------------------


def _hex(root: bytes) -> str:
    return "0x" + root.hex()


def settlement_out(s: SettledDay) -> SettlementOut:
    chain = s.chain
    if s.lines is not None:
        totals = s.lines.totals.as_tuple()
        root = _hex(s.lines.root)
    elif chain is not None:
        totals = chain.totals
        root = chain.root
    else:  # pragma: no cover - a source never yields a day known nowhere
        raise NotFound("No such settlement.")
    money, transfers = totals[4], totals[5]
    return SettlementOut(
        operation_id=str(s.operation_id),
        day=s.day.isoformat(),
        version=s.version,
        root=root,
        committed=chain is not None,
        onchain_root=chain.root if chain else None,
        block=chain.block_number if chain else None,
        tx_hash=chain.tx_hash if chain else None,
        totals=SettlementTotalsOut(amount=amount(money), transfers=transfers),
        paid=amount(chain.paid) if chain else None,
        shortfall=amount(chain.shortfall) if chain else None,
        paid_lines=chain.paid_up_to if chain else None,
    )


def settlements(source: SettlementSource, limit: int) -> SettlementsOut:
    cursor = source.cursor()
    return SettlementsOut(
        indexed_block=cursor.block_number, settlements=[settlement_out(s) for s in source.recent(limit)]
    )


def settlement_day(source: SettlementSource, day: date) -> SettlementDayOut:
    cursor = source.cursor()
    found = source.day(day)
    if not found:
        raise NotFound(f"No settlement of {day.isoformat()} is known yet.", code="no_settlement")
    return SettlementDayOut(
        indexed_block=cursor.block_number, day=day.isoformat(), settlements=[settlement_out(s) for s in found]
    )


# -- a resident's own data -----------------------------------------------------------------------


def _latest(versions: list[SettledDay]) -> dict[int, SettledDay]:
    """Per operation, the latest version with stored lines (committed ones first)."""
    best: dict[int, SettledDay] = {}
    for s in versions:
        if s.lines is None:
            continue
        known = best.get(s.operation_id)
        if known is None or (s.chain is not None, s.version) > (known.chain is not None, known.version):
            best[s.operation_id] = s
    return best


SOLIDARITY_DAYS = 366
"""How many of the latest settled days `/v1/fund` folds into its solidarity figures."""


def fund_solidarity(source: SettlementSource, days: int = SOLIDARITY_DAYS) -> list[FundSolidarityOut]:
    """By month of the settled days (newest first): the social price the fund paid, the peak
    surcharges it received and the off-peak discounts it paid, from the latest version of each
    day of each operation among the latest `days` settled days."""
    months: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    kinds = {LineKind.SOLIDARITY: 0, LineKind.SURCHARGE: 1, LineKind.DISCOUNT: 2}
    by_day: dict[date, list[SettledDay]] = defaultdict(list)
    for settled in source.recent(days):
        by_day[settled.day].append(settled)
    for the_day, versions in by_day.items():
        for chosen in _latest(versions).values():
            for line in chosen.lines.lines if chosen.lines is not None else ():
                column = kinds.get(line.kind)
                if column is not None:
                    months[the_day.strftime("%Y-%m")][column] += line.value
    return [
        FundSolidarityOut(
            month=month,
            social_paid=amount(social),
            surcharges_received=amount(surcharges),
            discounts_paid=amount(discounts),
        )
        for month, (social, surcharges, discounts) in sorted(months.items(), reverse=True)
        if social or surcharges or discounts
    ]


def account_energy(
    energy: EnergyReader,
    source: SettlementSource,
    account: str,
    day: date,
    days: int,
    namer: Namer = _as_is,
) -> AccountEnergyOut:
    wallet = account.lower()
    first = day - timedelta(days=days - 1)
    span_start, _ = day_bounds(first)
    day_start, day_end = day_bounds(day)
    readings = energy.own_readings(wallet, _ts(span_start), _ts(day_end))
    curves: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
    produced: dict[date, int] = defaultdict(int)
    for r in readings:
        name = {"electricity": f"electricity_{r.direction}_wh", "gas": "gas_wh"}.get(r.commodity, "water_l")
        if r.start_ts >= _ts(day_start):
            cell = curves[(r.start_ts, r.step_s)]
            cell[name] = cell.get(name, 0) + r.value
        if r.commodity == "electricity" and r.direction == "export":
            produced[datetime.fromtimestamp(r.start_ts, UTC).astimezone(PARIS).date()] += r.value
    steps = [
        OwnStepOut(
            start=format_utc(start),
            step_s=step_s,
            electricity_import_wh=cell.get("electricity_import_wh"),
            electricity_export_wh=cell.get("electricity_export_wh"),
            gas_wh=cell.get("gas_wh"),
            water_l=cell.get("water_l"),
        )
        for (start, step_s), cell in sorted(curves.items())
    ]
    out_days: list[OwnDayOut] = []
    for n in range(days):
        the_day = first + timedelta(days=n)
        chosen = _latest(source.day(the_day)) if the_day <= day else {}
        to: dict[str, list[int]] = {}
        earned = bought_wh = owed = fund_paid = surcharge = discount = 0
        version: int | None = None
        committed = bool(chosen)
        for s in chosen.values():
            if s.lines is None:  # pragma: no cover - _latest keeps days with lines only
                continue
            version = s.version if version is None else max(version, s.version)
            committed = committed and s.chain is not None
            for _, line in s.lines.lines_of(wallet):
                if line.kind is LineKind.PAIR and line.payee.lower() == wallet:
                    pair = to.setdefault(line.payer.lower(), [0, 0])
                    pair[0] += line.wh
                    pair[1] += line.value
                elif line.kind is LineKind.SOLD and line.payee.lower() == wallet:
                    earned += line.value
                elif line.kind is LineKind.BOUGHT and line.payer.lower() == wallet:
                    bought_wh += line.wh
                    owed += line.value
                elif line.kind is LineKind.SOLIDARITY and line.payee.lower() == wallet:
                    # The fund's part of this household's BOUGHT line (never more than it).
                    fund_paid += line.value
                elif line.kind is LineKind.SURCHARGE and line.payer.lower() == wallet:
                    surcharge += line.value
                elif line.kind is LineKind.DISCOUNT and line.payee.lower() == wallet:
                    discount += line.value
        if not chosen and the_day not in produced:
            continue
        shown = namer(list(to))
        allocated = sorted(
            (
                AllocationOut(to=shown[k][0], named=shown[k][1], wh=v[0], amount=amount(v[1]))
                for k, v in to.items()
            ),
            key=lambda a: a.to,
        )
        out_days.append(
            OwnDayOut(
                day=the_day.isoformat(),
                produced_wh=produced.get(the_day),
                allocated=allocated,
                allocated_wh=sum(a.wh for a in allocated),
                earned=amount(earned),
                bought_wh=bought_wh,
                owed=amount(owed),
                fund_paid=amount(fund_paid),
                peak_surcharge=amount(surcharge),
                off_peak_discount=amount(discount),
                paid=amount(owed - fund_paid - discount + surcharge),
                version=version,
                committed=committed,
            )
        )
    return AccountEnergyOut(
        account=wallet, day=day.isoformat(), as_of=int(time.time()), steps=steps, days=out_days
    )


def account_proofs(
    source: SettlementSource, account: str, day: date, namer: Namer = _as_is
) -> ProofsOut:
    """Your lines of `day` with their proofs. A counterparty who did not choose to be named is
    shown by its pseudonym; the leaf hashes its real address, so a set with such a line carries
    no leaf and no proof (a leaf, or a sibling hash in the proof of a neighbouring line, would let
    the pseudonym be inverted by trying the district's addresses): `verified` is then the
    server's check against the root on chain."""
    wallet = account.lower()
    cursor = source.cursor()
    sets: list[ProofSetOut] = []
    for s in source.day(day):
        if s.lines is None:
            continue
        others = {
            a.lower()
            for _, line in s.lines.lines_of(wallet)
            for a in (line.payer, line.payee)
            if a.lower() not in (wallet, ZERO)
        }
        shown = namer(sorted(others))

        def show(address: str, shown: dict[str, tuple[str, bool]] = shown) -> str:
            return shown[address.lower()][0] if address.lower() in shown else address

        onchain = bytes.fromhex(s.chain.root.removeprefix("0x")) if s.chain else None
        masked = any(not named for _label, named in shown.values())
        lines = [
            ProofLineOut(
                line=number,
                kind=line.kind.name.lower(),
                index=line.index,
                time=line.time,
                payer=show(line.payer),
                payee=show(line.payee),
                wh=line.wh,
                value=str(line.value),
                leaf=None if masked else _hex(line.leaf()),
                proof=[] if masked else [_hex(p) for p in s.lines.proof(number)],
                verified=onchain is not None and verify_offline(s.lines, number, onchain),
            )
            for number, line in s.lines.lines_of(wallet)
        ]
        if lines:
            sets.append(
                ProofSetOut(
                    operation_id=str(s.operation_id),
                    version=s.version,
                    root=_hex(s.lines.root),
                    onchain_root=s.chain.root if s.chain else None,
                    committed=s.chain is not None,
                    lines=lines,
                )
            )
    return ProofsOut(indexed_block=cursor.block_number, account=wallet, day=day.isoformat(), settlements=sets)
