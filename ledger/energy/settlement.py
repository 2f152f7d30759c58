"""Daily settlement of solar sharing: compute the lines, commit their Merkle root, pay, prove.

The flow of `ledger settle --day D` (`Settler.run`):

1. compute the day with the pure core (allocation per step, prices, residues) and turn it into
   *lines* (see `LineKind`): one per step x producer x consumer account (Wh, exact value), one
   per pair for the day (Wh, micro-M3E owed), one per account bought and sold, the *member
   lines* that move money (each member's net total of the day: bought minus sold value, debits
   first), one *batch line* per batch of member lines (the hash chain of its lines, which
   `EnergySettlement.pay` recomputes and proves against the root before moving anything), and one
   line with the day's totals. Each line is a leaf of an
   OpenZeppelin standard Merkle tree (`ledger.energy.merkle`), so anyone holding a line and its
   proof can check it against the root on chain (here, with the JS library, or with
   `EnergySettlement.verifyLine`);
2. save the lines (a `DayStore`: the settlement tables of the ledger database) BEFORE anything
   is sent;
   a stored version not yet committed is re-sent exactly as stored, never recomputed;
3. commit the root, the totals and the batch size, then pay the batches in order, each with the
   Merkle proof of its batch line.

The chain is the source of truth: a re-run first reads what is committed and paid for the day
and continues exactly there (the contract skips already-paid line indexes and refuses a gap), so a
crash at any point (after the commit, between batches, before a receipt) never pays twice and
never misses a line. A run on a day already closed computes it again: when the amounts or the
energy changed (revised readings) it commits the next version, whose transfer lines pay only the
difference (a consumer whose allocation went down is credited back); otherwise there is nothing
to do. A voided version counts only the batches it really paid.

Units: Wh, micro-M3E (= micro-euro), prices in micro-euro per kWh; STEP lines carry the exact
value in 1/1000 micro-euro (Wh x price), the rest whole micro-M3E.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from eth_abi.abi import encode as abi_encode
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak

from ledger.domain.energy.allocation import AllocationKey, StepReadings, allocate_step
from ledger.domain.energy.pricing import (
    Band,
    PriceBounds,
    ResidueLedger,
    TariffBook,
    TariffSchedule,
    TimeBand,
    settle_day,
)
from ledger.domain.energy.solidarity import SocialPrice, solidarity_parts, tariff_solidarity
from ledger.domain.energy.steps import StepLength, day_bounds, day_step_starts
from ledger.energy.errors import EnergyIOError
from ledger.energy.merkle import StandardMerkleTree, leaf_hash, verify

LEAF_TYPES = ("uint8", "uint32", "uint64", "address", "address", "uint64", "uint256")
"""(kind, index, time, payer, payee, wh, value): the leaf of `EnergySettlement.leafOf`."""
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
BATCH_HASH_TYPES = ["bytes32", "address", "int256"]
"""(previous hash, member, amount): one link of the chain `EnergySettlement.pay` recomputes."""
DEFAULT_BATCH = 100
MAX_UINT32 = 2**32 - 1
MAX_UINT64 = 2**64 - 1


class SettlementError(EnergyIOError):
    """The day cannot be settled as asked; the message says why and what to do."""


class LineKind(enum.IntEnum):
    """What a line says. `payer` is the consumer side, `payee` the producer side."""

    DAY = 0
    """The day's totals: index = transfer lines, time = day start, wh = 0 (the committed totals
    carry no energy figure), value = amount."""
    STEP = 1
    """One step x producer x consumer: index = step number, time = step start, wh, value in
    1/1000 micro-euro (Wh x price)."""
    PAIR = 2
    """One producer x consumer for the day: wh, value = micro-M3E owed (residues carried)."""
    TRANSFER = 3
    """A member line that `EnergySettlement.pay` moves: index = its line number, value = the
    amount; payer = the member when it pays (a debit), payee = the member when it receives."""
    BOUGHT = 4
    """An account's purchases for the day (payer = account): wh, value owed (before netting)."""
    SOLD = 5
    """An account's sales for the day (payee = account): wh, value earned (before netting)."""
    BATCH = 6
    """A batch of member lines: index = batch number, wh = its line count, value = the hash chain
    of its lines as an integer (`batch_hash`)."""
    SOLIDARITY = 7
    """The social price: the commons fund (payer) pays `value` of the household's (payee) day of
    purchases (`wh`, as its BOUGHT line); the household's member line is its BOUGHT value minus
    its SOLD value minus this, the fund's member line the sum of these lines."""
    SURCHARGE = 8
    """Peak pays for off-peak: the consumer (payer) pays the commons fund (payee) `value`, the
    tariff's peak surcharge on the `wh` it bought in the peak band (rounded down)."""
    DISCOUNT = 9
    """The commons fund (payer) pays `value` for the consumer (payee): the tariff's off-peak
    discount on the `wh` it bought in the off-peak band (rounded down, scaled down when the fund's
    month is short). A member line is BOUGHT - SOLD - SOLIDARITY - DISCOUNT + SURCHARGE; the
    fund's is SOLIDARITY + DISCOUNT - SURCHARGE (below zero the fund receives it)."""


@dataclass(frozen=True, slots=True)
class Line:
    kind: LineKind
    index: int
    time: int
    payer: str
    payee: str
    wh: int
    value: int

    def values(self) -> tuple[int, int, int, str, str, int, int]:
        return (int(self.kind), self.index, self.time, self.payer, self.payee, self.wh, self.value)

    def leaf(self) -> bytes:
        return leaf_hash(LEAF_TYPES, self.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.name.lower(),
            "index": self.index,
            "time": self.time,
            "payer": self.payer,
            "payee": self.payee,
            "wh": self.wh,
            "value": self.value,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Line:
        return cls(
            LineKind[str(raw["kind"]).upper()],
            int(raw["index"]),
            int(raw["time"]),
            str(raw["payer"]),
            str(raw["payee"]),
            int(raw["wh"]),
            int(raw["value"]),
        )


@dataclass(frozen=True, slots=True)
class MemberTransfer:
    """One member line: `amount` > 0 the member pays it, < 0 the member receives it."""

    member: str
    amount: int


def batch_hash(lines: Iterable[MemberTransfer]) -> bytes:
    """The hash chain of a batch's member lines, as `EnergySettlement.pay` recomputes it:
    h_0 = 32 zero bytes, h_{i+1} = keccak256(abi.encode(h_i, member, amount))."""
    chained = b"\0" * 32
    for t in lines:
        values = [chained, to_checksum_address(t.member), t.amount]
        chained = bytes(keccak(abi_encode(BATCH_HASH_TYPES, values)))
    return chained


def batch_lines(transfers: Sequence[MemberTransfer], batch_size: int) -> list[Line]:
    """The batch lines of member lines cut in batches of `batch_size`."""
    out = []
    for number, start in enumerate(range(0, len(transfers), batch_size)):
        chunk = transfers[start : start + batch_size]
        value = int.from_bytes(batch_hash(chunk), "big")
        out.append(Line(LineKind.BATCH, number, 0, ZERO_ADDRESS, ZERO_ADDRESS, len(chunk), value))
    return out


@dataclass(frozen=True, slots=True)
class Totals:
    produced_wh: int
    consumed_wh: int
    allocated_wh: int
    surplus_wh: int
    amount: int
    transfers: int

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        return (
            self.produced_wh,
            self.consumed_wh,
            self.allocated_wh,
            self.surplus_wh,
            self.amount,
            self.transfers,
        )

    def same_energy(self, other: Totals) -> bool:
        return self.as_tuple()[:4] == other.as_tuple()[:4]


@dataclass(frozen=True)
class DayLines:
    """Everything computed for one (operation, day, version): lines, root, residues."""

    operation_id: int
    day: date
    version: int
    step_minutes: int
    lines: tuple[Line, ...]
    totals: Totals
    batch_size: int = DEFAULT_BATCH
    residues_before: Mapping[tuple[str, str], int] = field(default_factory=dict)
    residues_after: Mapping[tuple[str, str], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_tree", StandardMerkleTree.of([ln.values() for ln in self.lines], LEAF_TYPES)
        )

    @property
    def tree(self) -> StandardMerkleTree:
        tree: StandardMerkleTree = object.__getattribute__(self, "_tree")
        return tree

    @property
    def root(self) -> bytes:
        return self.tree.root

    @property
    def transfers(self) -> tuple[MemberTransfer, ...]:
        """The member lines in line-number order."""
        lines = sorted((ln for ln in self.lines if ln.kind is LineKind.TRANSFER), key=lambda ln: ln.index)
        return tuple(
            MemberTransfer(ln.payer, ln.value)
            if ln.payer != ZERO_ADDRESS
            else MemberTransfer(ln.payee, -ln.value)
            for ln in lines
        )

    @property
    def batch_count(self) -> int:
        return -(-self.totals.transfers // self.batch_size) if self.totals.transfers else 0

    def batch(self, number: int) -> tuple[tuple[MemberTransfer, ...], list[bytes]]:
        """The member lines of batch `number` and the Merkle proof of its batch line."""
        start = number * self.batch_size
        lines = self.transfers[start : start + self.batch_size]
        line_number = next(
            n for n, ln in enumerate(self.lines) if ln.kind is LineKind.BATCH and ln.index == number
        )
        return lines, self.proof(line_number)

    def proof(self, line_number: int) -> list[bytes]:
        return self.tree.proof(line_number)

    def lines_of(self, account: str) -> list[tuple[int, Line]]:
        """(line number, line) of every line naming `account` (payer or payee)."""
        wanted = account.lower()
        return [
            (n, ln)
            for n, ln in enumerate(self.lines)
            if ln.payer.lower() == wanted or ln.payee.lower() == wanted
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "operation_id": str(self.operation_id),
            "day": self.day.isoformat(),
            "version": self.version,
            "step_minutes": self.step_minutes,
            "root": "0x" + self.root.hex(),
            "batch_size": self.batch_size,
            "totals": dict(zip(_TOTAL_NAMES, self.totals.as_tuple(), strict=True)),
            "residues_before": _residues_json(self.residues_before),
            "residues_after": _residues_json(self.residues_after),
            "lines": [
                {**ln.to_json(), "proof": ["0x" + p.hex() for p in self.proof(n)]}
                for n, ln in enumerate(self.lines)
            ],
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> DayLines:
        lines = cls(
            operation_id=int(raw["operation_id"]),
            day=date.fromisoformat(raw["day"]),
            version=int(raw["version"]),
            step_minutes=int(raw["step_minutes"]),
            lines=tuple(Line.from_json(ln) for ln in raw["lines"]),
            totals=Totals(*(int(raw["totals"][name]) for name in _TOTAL_NAMES)),
            batch_size=int(raw.get("batch_size", DEFAULT_BATCH)),
            residues_before=_residues_from_json(raw.get("residues_before", [])),
            residues_after=_residues_from_json(raw.get("residues_after", [])),
        )
        if "0x" + lines.root.hex() != raw["root"]:
            raise SettlementError(
                f"the stored lines of {lines.day} version {lines.version} do not hash to their "
                "recorded root: the file was altered"
            )
        return lines


_TOTAL_NAMES = ("produced_wh", "consumed_wh", "allocated_wh", "surplus_wh", "amount", "transfers")


def _residues_json(residues: Mapping[tuple[str, str], int]) -> list[list[object]]:
    return [[p, c, r] for (p, c), r in sorted(residues.items())]


def _residues_from_json(raw: Iterable[Sequence[Any]]) -> dict[tuple[str, str], int]:
    return {(str(p), str(c)): int(r) for p, c, r in raw}


# --- identifiers ------------------------------------------------------------------------------


def day_number(day: date) -> int:
    """The contract's day: YYYYMMDD."""
    return day.year * 10_000 + day.month * 100 + day.day


def day_of_number(number: int) -> date:
    return date(number // 10_000, number // 100 % 100, number % 100)


def operation_number(operation: str) -> int:
    """The contract's operation id: the number itself, or keccak256 of the text id."""
    text = operation.strip()
    if text.isdigit():
        return int(text)
    if not text:
        raise SettlementError("an operation id cannot be empty")
    return int.from_bytes(keccak(text=text), "big")


def account_of(text: str) -> str:
    if not is_address(text):
        raise SettlementError(f"{text!r} is not an account address (0x and 40 hex digits)")
    return str(to_checksum_address(text))


# --- tariffs ----------------------------------------------------------------------------------

DISTRICT_BANDS: tuple[tuple[time, time, Band], ...] = (
    (time(22, 0), time(6, 0), Band.OFF_PEAK),
    (time(6, 0), time(10, 0), Band.PEAK),
    (time(10, 0), time(16, 0), Band.SOLAR),
    (time(16, 0), time(22, 0), Band.PEAK),
)
"""The district's band layout (local clock): the chain keeps the prices, this keeps the hours."""


@dataclass(frozen=True, slots=True)
class ChainTariff:
    effective_from: date
    solar: int
    peak: int
    off_peak: int
    peak_surcharge: int = 0
    off_peak_discount: int = 0


def tariff_book(tariffs: Sequence[ChainTariff], bounds: PriceBounds | None = None) -> TariffBook:
    """The pure core's tariff book from the schedules registered on chain."""
    book = TariffBook()
    for tariff in tariffs:
        prices = {Band.SOLAR: tariff.solar, Band.PEAK: tariff.peak, Band.OFF_PEAK: tariff.off_peak}
        bands = tuple(TimeBand(start, end, band, prices[band]) for start, end, band in DISTRICT_BANDS)
        book = book.add(
            TariffSchedule(
                tariff.effective_from,
                bands,
                bounds or PriceBounds(),
                tariff.peak_surcharge,
                tariff.off_peak_discount,
            )
        )
    return book


# --- computing a day --------------------------------------------------------------------------


def compute_day(
    *,
    operation_id: int,
    day: date,
    step: StepLength,
    readings: Mapping[datetime, StepReadings],
    key: AllocationKey,
    book: TariffBook,
    accounts: Mapping[str, str],
    residues: Mapping[tuple[str, str], int] | None = None,
    version: int = 1,
    already_transferred: Mapping[str, int] | None = None,
    batch_size: int = DEFAULT_BATCH,
    social: SocialPrice | None = None,
) -> DayLines:
    """The lines of (operation, day, version) from the readings of every step of the day.

    `accounts`: meter -> wallet address. `residues`: 1/1000 micro-euro carried per meter pair
    from the previous day. `already_transferred`: member -> net micro-M3E of the member lines of
    earlier versions of the day that the chain processed (> 0 paid; shortfalls included: the
    member owes them on chain); a correction moves only the difference. `social`: the social
    price (eligible households, the fund's share and what is left of its month; a correction adds
    back what earlier versions of the day moved from the fund): the fund becomes a paying member
    and SOLIDARITY lines say what it pays for whom. Raises the core's errors (a missing reading,
    a missing step) unchanged.
    """
    if not 1 <= version <= MAX_UINT32:
        raise SettlementError(f"a version is 1 to {MAX_UINT32}, got {version}")
    if not 1 <= batch_size <= MAX_UINT32:
        raise SettlementError(f"a payment batch holds 1 to {MAX_UINT32} member lines, got {batch_size}")
    grid = day_step_starts(day, step)
    by_start = {start.astimezone(UTC): r for start, r in readings.items()}
    allocations = {start: allocate_step(by_start[start], key) for start in grid if start in by_start}
    settled = settle_day(day, step, allocations, book, ResidueLedger(dict(residues or {})))

    def account(meter: str) -> str:
        wallet = accounts.get(meter)
        if wallet is None:
            raise SettlementError(f"meter {meter} has no account: add it to the participants")
        return account_of(wallet)

    day_start = int(day_bounds(day)[0].timestamp())
    lines: list[Line] = []
    produced = consumed = 0
    # Wh each consumer account bought per band: the base of the tariff's solidarity component.
    band_wh: dict[Band, dict[str, int]] = {Band.PEAK: {}, Band.OFF_PEAK: {}}
    for number, start in enumerate(grid):
        alloc = allocations[start]
        produced += alloc.total_production
        consumed += alloc.total_consumption
        band, price = book.price_at(start)
        step_pairs: dict[tuple[str, str], int] = {}
        for producer, consumer, wh in alloc.iter_pairs():
            pair = (account(consumer), account(producer))
            step_pairs[pair] = step_pairs.get(pair, 0) + wh
        for (payer, payee), wh in sorted(step_pairs.items()):
            lines.append(Line(LineKind.STEP, number, int(start.timestamp()), payer, payee, wh, wh * price))
            if band in band_wh:
                band_wh[band][payer] = band_wh[band].get(payer, 0) + wh

    pair_wh: dict[tuple[str, str], int] = {}
    pair_amount: dict[tuple[str, str], int] = {}
    for (producer, consumer), wh in settled.energy.items():
        pair = (account(consumer), account(producer))
        pair_wh[pair] = pair_wh.get(pair, 0) + wh
        pair_amount[pair] = pair_amount.get(pair, 0) + settled.amounts.get((producer, consumer), 0)
    for number, (payer, payee) in enumerate(sorted(pair_wh)):
        pair = (payer, payee)
        lines.append(Line(LineKind.PAIR, number, day_start, payer, payee, pair_wh[pair], pair_amount[pair]))

    bought: dict[str, tuple[int, int]] = {}
    sold: dict[str, tuple[int, int]] = {}
    for (payer, payee), wh in pair_wh.items():
        b, s = bought.get(payer, (0, 0)), sold.get(payee, (0, 0))
        bought[payer] = (b[0] + wh, b[1] + pair_amount[(payer, payee)])
        sold[payee] = (s[0] + wh, s[1] + pair_amount[(payer, payee)])
    for number, who in enumerate(sorted(bought)):
        wh, value = bought[who]
        lines.append(Line(LineKind.BOUGHT, number, day_start, who, ZERO_ADDRESS, wh, value))
    for number, who in enumerate(sorted(sold)):
        wh, value = sold[who]
        lines.append(Line(LineKind.SOLD, number, day_start, ZERO_ADDRESS, who, wh, value))

    net: dict[str, int] = {}
    for who, (_, value) in bought.items():
        net[who] = net.get(who, 0) + value
    for who, (_, value) in sold.items():
        net[who] = net.get(who, 0) - value
    schedule = book.schedule_for(day)
    if schedule.has_solidarity and social is None:
        raise SettlementError(
            f"the tariff in force on {day} carries a solidarity component (peak surcharge, off-peak "
            "discount) and no commons fund takes part in this settlement: have the council grant a "
            "fund programme to this settlement, then settle again"
        )
    if social is not None:
        fund = account_of(social.fund)
        if fund in net:
            raise SettlementError("the commons fund's account cannot also be a meter's account")
        eligible = frozenset(account_of(a) for a in social.eligible)
        # What earlier versions of this day moved from the fund (less what it received) is part
        # of what it may pay now.
        budget = max(0, social.budget_left + (already_transferred or {}).get(fund, 0))
        parts = solidarity_parts(
            {who: value for who, (_, value) in bought.items()},
            SocialPrice(fund, eligible, social.discount_bps, budget),
        )
        for number, who in enumerate(sorted(parts)):
            lines.append(Line(LineKind.SOLIDARITY, number, day_start, fund, who, bought[who][0], parts[who]))
            net[who] -= parts[who]
        surcharges, discounts = tariff_solidarity(
            band_wh[Band.PEAK] if schedule.peak_surcharge else {},
            band_wh[Band.OFF_PEAK] if schedule.off_peak_discount else {},
            schedule.peak_surcharge,
            schedule.off_peak_discount,
            {who: value - parts.get(who, 0) for who, (_, value) in bought.items()},
            budget - sum(parts.values()),
        )
        for number, who in enumerate(sorted(surcharges)):
            wh = band_wh[Band.PEAK][who]
            lines.append(Line(LineKind.SURCHARGE, number, day_start, who, fund, wh, surcharges[who]))
            net[who] += surcharges[who]
        for number, who in enumerate(sorted(discounts)):
            wh = band_wh[Band.OFF_PEAK][who]
            lines.append(Line(LineKind.DISCOUNT, number, day_start, fund, who, wh, discounts[who]))
            net[who] -= discounts[who]
        fund_net = sum(parts.values()) + sum(discounts.values()) - sum(surcharges.values())
        if fund_net:
            net[fund] = fund_net
    transfers = member_difference(net, already_transferred or {})
    for number, t in enumerate(transfers):
        payer, payee = (t.member, ZERO_ADDRESS) if t.amount > 0 else (ZERO_ADDRESS, t.member)
        lines.append(Line(LineKind.TRANSFER, number, 0, payer, payee, 0, abs(t.amount)))
    lines.extend(batch_lines(transfers, batch_size))

    # The committed totals carry no energy now, but a line's `wh` is a uint64 leaf field.
    if max(produced, consumed) > MAX_UINT64:
        raise SettlementError("the day's energy does not fit a line of its tree (uint64 Wh)")
    # The committed totals are public (the chain's event, which the feed repeats): they carry no
    # energy figure at all (zeros, which the contract accepts). A day's energy could otherwise be
    # that of a handful of homes (few traders among many members, a home's whole day as the
    # difference of two versions); the district's energy is published only by the API's
    # aggregates of at least MIN_HOMES homes, and each pair and step stays in the tree, proven.
    totals = Totals(
        produced_wh=0,
        consumed_wh=0,
        allocated_wh=0,
        surplus_wh=0,
        amount=sum(t.amount for t in transfers if t.amount > 0),
        transfers=len(transfers),
    )
    lines.append(
        Line(
            LineKind.DAY, totals.transfers, day_start, ZERO_ADDRESS, ZERO_ADDRESS, totals.allocated_wh,
            totals.amount,
        )
    )
    return DayLines(
        operation_id=operation_id,
        day=day,
        version=version,
        step_minutes=int(step),
        lines=tuple(lines),
        totals=totals,
        batch_size=batch_size,
        residues_before=dict(settled.residues_before.residues),
        residues_after=dict(settled.residues_after.residues),
    )


def member_difference(owed: Mapping[str, int], moved: Mapping[str, int]) -> list[MemberTransfer]:
    """The member lines still to move so that each member's net moved equals its net owed:
    debits first, then credits, each sorted by account; zero differences dropped. Debits and
    credits add up to the same amount (each side of the day sums to zero)."""
    diff = {who: owed.get(who, 0) - moved.get(who, 0) for who in set(owed) | set(moved)}
    debits = [MemberTransfer(who, amount) for who, amount in sorted(diff.items()) if amount > 0]
    credits = [MemberTransfer(who, amount) for who, amount in sorted(diff.items()) if amount < 0]
    if sum(t.amount for t in debits) != -sum(t.amount for t in credits):
        raise SettlementError("the member lines do not balance: debits differ from credits")
    return debits + credits


def fund_debit_to_approve(
    lines: DayLines,
    fund: str,
    eligible: frozenset[str],
    discount_bps: int,
    from_batch: int = 0,
    book: TariffBook | None = None,
) -> int:
    """What the commons fund's member lines of `lines` take from it from batch `from_batch` on,
    once its SOLIDARITY, SURCHARGE and DISCOUNT lines are checked as the social service checks them
    before approving the day on chain: each SOLIDARITY line helps an `eligible` household, for the
    energy of its BOUGHT line and at most `discount_bps` of its value (rounded down); each
    SURCHARGE line pays the fund exactly the tariff's peak surcharge on the consumer's peak Wh
    (from its STEP lines, rounded down) and each DISCOUNT line at most the off-peak discount on its
    off-peak Wh (`book`: the tariff schedules); and the fund's debit of the version is at most
    SOLIDARITY + DISCOUNT - SURCHARGE. Raises SettlementError naming the first line that fails."""
    fund = account_of(fund)
    bought = {ln.payer: ln for ln in lines.lines if ln.kind is LineKind.BOUGHT}
    helped = 0
    social: dict[str, int] = {}
    for ln in lines.lines:
        if ln.kind is not LineKind.SOLIDARITY:
            continue
        who = ln.payee
        if who in social:  # a second line would make the fund help the household twice
            raise SettlementError(f"SOLIDARITY line {ln.index} of {lines.day} helps {who} a second time")
        social[who] = ln.value
        if ln.payer != fund:
            raise SettlementError(f"SOLIDARITY line {ln.index} of {lines.day} is not paid by the fund")
        if who not in eligible:
            raise SettlementError(
                f"SOLIDARITY line {ln.index} of {lines.day} helps {who}, not eligible at the end of the day"
            )
        purchase = bought.get(who)
        if purchase is None or ln.wh != purchase.wh or ln.value * 10_000 > purchase.value * discount_bps:
            raise SettlementError(
                f"SOLIDARITY line {ln.index} of {lines.day} pays more than {discount_bps} bps of what "
                f"{who} bought that day"
            )
        helped += ln.value
    helped += _checked_tariff_solidarity(lines, fund, book, bought, social)
    debits = [t.amount for t in lines.transfers if t.member == fund and t.amount > 0]
    if sum(debits) > max(0, helped):
        raise SettlementError(
            f"the commons fund's member line of {lines.day} v{lines.version} takes {sum(debits)} µM3E, "
            f"more than its SOLIDARITY and DISCOUNT lines less its SURCHARGE lines ({helped} µM3E)"
        )
    start = from_batch * lines.batch_size
    return sum(t.amount for t in lines.transfers[start:] if t.member == fund and t.amount > 0)


def _checked_tariff_solidarity(
    lines: DayLines, fund: str, book: TariffBook | None, bought: Mapping[str, Line], social: Mapping[str, int]
) -> int:
    """DISCOUNT minus SURCHARGE of `lines`, each line checked against the tariff (see
    `fund_debit_to_approve`): one line of each kind per consumer at most; a SURCHARGE line for
    every consumer whose peak surcharge is above zero (leaving one out would move it to the
    fund); a DISCOUNT at most what the household still pays of its BOUGHT value after its
    SOLIDARITY line (`bought`, `social`)."""
    kinds = (LineKind.SURCHARGE, LineKind.DISCOUNT)
    checked = [ln for ln in lines.lines if ln.kind in kinds]
    if book is None:
        if not checked:
            return 0
        raise SettlementError(
            f"{lines.day} v{lines.version} has SURCHARGE or DISCOUNT lines: check them with the "
            "tariff schedules in force (give the tariff book)"
        )
    schedule = book.schedule_for(lines.day)
    band_wh: dict[tuple[Band, str], int] = {}
    for ln in lines.lines:
        if ln.kind is LineKind.STEP:
            band, _ = book.price_at(datetime.fromtimestamp(ln.time, UTC))
            band_wh[(band, ln.payer)] = band_wh.get((band, ln.payer), 0) + ln.wh
    net = 0
    seen: set[tuple[LineKind, str]] = set()
    for ln in checked:
        if ln.kind is LineKind.SURCHARGE:
            who, band, rate = ln.payer, Band.PEAK, schedule.peak_surcharge
            right = ln.payee == fund and ln.value == ln.wh * rate // 1000
        else:
            who, band, rate = ln.payee, Band.OFF_PEAK, schedule.off_peak_discount
            purchase = bought.get(who)
            still_paid = (purchase.value if purchase is not None else 0) - social.get(who, 0)
            right = ln.payer == fund and ln.value <= min(ln.wh * rate // 1000, still_paid)
        if (ln.kind, who) in seen:
            raise SettlementError(f"{ln.kind.name} line {ln.index} of {lines.day} names {who} a second time")
        seen.add((ln.kind, who))
        if not right or ln.wh != band_wh.get((band, who), 0):
            raise SettlementError(
                f"{ln.kind.name} line {ln.index} of {lines.day} does not match {who}'s {band.value} "
                f"energy at the tariff's {rate} µ€/kWh, what it still pays, or does not name the fund"
            )
        net += ln.value if ln.kind is LineKind.DISCOUNT else -ln.value
    peak_wh = sorted((who, wh) for (band, who), wh in band_wh.items() if band is Band.PEAK)
    for who, wh in peak_wh:
        if wh * schedule.peak_surcharge // 1000 > 0 and (LineKind.SURCHARGE, who) not in seen:
            raise SettlementError(
                f"{lines.day} v{lines.version} has no SURCHARGE line for {who}'s {wh} Wh bought at peak: "
                "the fund would pay what the consumer owes it"
            )
    return net


def transferred_by(versions: Iterable[tuple[DayLines, int]]) -> dict[str, int]:
    """member -> net micro-M3E of the member lines of these versions, each counted up to the
    number of its batches the chain processed (all of them for a closed version)."""
    total: dict[str, int] = {}
    for lines, batches in versions:
        for t in lines.transfers[: batches * lines.batch_size]:
            total[t.member] = total.get(t.member, 0) + t.amount
    return total


# --- ports: the store and the chain -----------------------------------------------------------


class DayStore(Protocol):
    """Where computed lines, their progress and the residues are kept (`ledger.db.settlement_store`
    on the ledger database; `MemoryDayStore` in unit tests)."""

    def load(self, operation_id: int, day: date) -> dict[int, DayLines]: ...

    def save(self, lines: DayLines) -> None:
        """Store a version; refuse (SettlementError) another version already stored under the
        same number with other lines, so two runs never hold two different versions N."""

    def residues_before(self, operation_id: int, day: date) -> dict[tuple[str, str], int]: ...

    def latest_before(self, operation_id: int, day: date) -> tuple[date, int] | None:
        """(day, latest version) of the latest stored day before `day`, or None."""

    def mark(
        self, operation_id: int, day: date, version: int, state: str, commit_tx: str | None = None
    ) -> None:
        """Record the progress of a version: "commit-sent" (with its tx), "committed", "paid",
        "voided"."""

    def record_batch(
        self, operation_id: int, day: date, version: int, batch: int, tx_hash: str, block_number: int
    ) -> None: ...

    def recorded_batches(self, operation_id: int, day: date) -> set[tuple[int, int]]:
        """(version, batch) of every batch recorded as mined for the day."""

    def record_commit(self, operation_id: int, day: date, version: int, commit_tx: str) -> None:
        """Record the transaction that committed a version, its state unchanged."""

    def claim(self, operation_id: int, day: date) -> AbstractContextManager[None]:
        """Hold the day for one run: a second run on the same day raises SettlementBusy."""


class SettlementBusy(SettlementError):
    """Another run holds the day; nothing was sent by this one."""


class MemoryDayStore:
    """The in-memory fake of `DayStore`."""

    def __init__(self) -> None:
        self.days: dict[tuple[int, date], dict[int, DayLines]] = {}
        self.states: dict[tuple[int, date, int], tuple[str, str | None]] = {}
        self.batches: dict[tuple[int, date, int, int], tuple[str, int]] = {}
        self.held: set[tuple[int, date]] = set()

    def load(self, operation_id: int, day: date) -> dict[int, DayLines]:
        return dict(self.days.get((operation_id, day), {}))

    def save(self, lines: DayLines) -> None:
        versions = self.days.setdefault((lines.operation_id, lines.day), {})
        known = versions.get(lines.version)
        if known is not None and known.root != lines.root:
            raise SettlementError(f"{lines.day} version {lines.version} is already stored with other lines")
        versions[lines.version] = lines
        self.states.setdefault((lines.operation_id, lines.day, lines.version), ("computed", None))

    def latest_before(self, operation_id: int, day: date) -> tuple[date, int] | None:
        earlier = sorted(d for op, d in self.days if op == operation_id and d < day)
        return (earlier[-1], max(self.days[(operation_id, earlier[-1])])) if earlier else None

    def residues_before(self, operation_id: int, day: date) -> dict[tuple[str, str], int]:
        earlier = sorted(d for op, d in self.days if op == operation_id and d < day)
        if not earlier:
            return {}
        versions = self.days[(operation_id, earlier[-1])]
        return dict(versions[max(versions)].residues_after)

    def mark(
        self, operation_id: int, day: date, version: int, state: str, commit_tx: str | None = None
    ) -> None:
        _, tx = self.states.get((operation_id, day, version), ("computed", None))
        self.states[(operation_id, day, version)] = (state, commit_tx or tx)

    def record_batch(
        self, operation_id: int, day: date, version: int, batch: int, tx_hash: str, block_number: int
    ) -> None:
        self.batches[(operation_id, day, version, batch)] = (tx_hash, block_number)

    def recorded_batches(self, operation_id: int, day: date) -> set[tuple[int, int]]:
        return {(v, b) for op, d, v, b in self.batches if (op, d) == (operation_id, day)}

    def record_commit(self, operation_id: int, day: date, version: int, commit_tx: str) -> None:
        state, _ = self.states.get((operation_id, day, version), ("computed", None))
        self.states[(operation_id, day, version)] = (state, commit_tx)

    @contextmanager
    def claim(self, operation_id: int, day: date) -> Iterator[None]:
        if (operation_id, day) in self.held:
            raise SettlementBusy(f"another run is settling {day} of operation {operation_id}")
        self.held.add((operation_id, day))
        try:
            yield
        finally:
            self.held.discard((operation_id, day))


@dataclass(frozen=True, slots=True)
class OnChainDay:
    """What the contract holds for an (operation, day, version)."""

    root: bytes
    totals: Totals
    batch_size: int = 0
    next_batch: int = 0
    debits: int = 0
    credits: int = 0
    voided: bool = False

    @property
    def committed(self) -> bool:
        return self.root != b"\0" * 32

    @property
    def batch_count(self) -> int:
        return -(-self.totals.transfers // self.batch_size) if self.batch_size else 0

    @property
    def closed(self) -> bool:
        """Every batch processed, or voided: the next version may be committed."""
        return self.committed and (self.voided or self.next_batch == self.batch_count)

    @property
    def processed_batches(self) -> int:
        return self.next_batch


@dataclass(frozen=True, slots=True)
class PaidBatch:
    """A BatchPaid log: the batch starting at line `from_index` of `version`, in that transaction."""

    version: int
    from_index: int
    tx_hash: str
    block_number: int


@dataclass(frozen=True)
class DayLogs:
    """What the chain's logs say of one day: the commit and payment transactions."""

    commits: Mapping[int, str]
    """version -> the transaction that committed it."""
    paid: Sequence[PaidBatch] = ()


@dataclass(frozen=True, slots=True)
class Shortfall:
    index: int
    payer: str
    payee: str
    amount: int


@dataclass(frozen=True, slots=True)
class BatchReceipt:
    tx_hash: str
    gas_used: int
    next_batch: int
    paid: int
    shortfalls: tuple[Shortfall, ...]
    block_number: int = 0
    processed: bool = True
    """False when the batch had been processed by an earlier transaction (this one did nothing)."""


class SettlementChain(Protocol):
    """The EnergySettlement contract as the settlement sees it (real adapter in
    `ledger.energy.settlement_chain`). `send_*` return a transaction hash, `wait_*` its outcome."""

    def latest_version(self, operation_id: int, day: date) -> int: ...

    def commitment(self, operation_id: int, day: date, version: int) -> OnChainDay: ...

    def tariffs(self, operation_id: int) -> list[ChainTariff]: ...

    def send_commit(self, lines: DayLines) -> str: ...

    def wait_commit(self, tx_hash: str) -> None: ...

    def send_pay(self, lines: DayLines, batch: int) -> str: ...

    def wait_pay(self, tx_hash: str) -> BatchReceipt: ...

    def verify_line(self, lines: DayLines, line_number: int) -> bool: ...

    def day_logs(self, operation_id: int, day: date, from_block: int = 0) -> DayLogs:
        """The commit transaction of each version of the day and each batch paid (from logs)."""


Hook = Callable[[str], None]
"""Called at each step of a run ("stored", "commit-sent", "committed", "pay-sent", "paid"):
tests inject failures there to simulate a crash."""


@dataclass
class SettleResult:
    operation_id: int
    day: date
    version: int
    root: bytes
    totals: Totals
    committed_now: bool
    batches: list[BatchReceipt] = field(default_factory=list)
    paid_up_to: int = 0
    paid: int = 0
    shortfall: int = 0
    nothing_to_do: bool = False

    @property
    def shortfalls(self) -> list[Shortfall]:
        return [s for b in self.batches for s in b.shortfalls]

    def to_json(self) -> dict[str, Any]:
        return {
            "operation_id": str(self.operation_id),
            "day": self.day.isoformat(),
            "version": self.version,
            "root": "0x" + self.root.hex(),
            "totals": dict(zip(_TOTAL_NAMES, self.totals.as_tuple(), strict=True)),
            "committed_now": self.committed_now,
            "nothing_to_do": self.nothing_to_do,
            "paid_up_to": self.paid_up_to,
            "paid": self.paid,
            "shortfall": self.shortfall,
            "batches": [
                {"tx": b.tx_hash, "gas_used": b.gas_used, "next_batch": b.next_batch} for b in self.batches
            ],
            "shortfalls": [
                {"index": s.index, "payer": s.payer, "payee": s.payee, "amount": s.amount}
                for s in self.shortfalls
            ],
        }


Compute = Callable[[int, Mapping[tuple[str, str], int], Mapping[str, int]], DayLines]
"""(version, residues before the day, already transferred) -> the lines of that version."""


class Settler:
    """Commits and pays a day, continuing from what the chain says after any crash."""

    def __init__(
        self,
        chain: SettlementChain,
        store: DayStore,
        batch_size: int = DEFAULT_BATCH,
        hook: Hook | None = None,
    ) -> None:
        if batch_size < 1:
            raise SettlementError("a payment batch holds at least one line")
        self.chain = chain
        self.store = store
        self.batch_size = batch_size
        self.hook = hook or (lambda _step: None)

    def run(self, operation_id: int, day: date, compute: Compute) -> SettleResult:
        # One run per day at a time: two would both send the same commit and payments (the
        # contract refuses the second, but its sender has then reported a failure for nothing).
        with self.store.claim(operation_id, day):
            return self._run(operation_id, day, compute)

    def _run(self, operation_id: int, day: date, compute: Compute) -> SettleResult:
        latest = self.chain.latest_version(operation_id, day)
        stored = self.store.load(operation_id, day)
        if any(v <= latest for v in stored):
            self._record_from_logs(operation_id, day, stored, latest)
        pending = stored.get(latest + 1)
        if pending is not None:
            # Stored before its commit was sent (or mined): re-send it exactly as stored. Computing
            # it again could commit other lines than the ones a pending transaction carries.
            return self._commit_and_pay(pending, save=False)
        if latest:
            lines = stored.get(latest)
            on_chain = self.chain.commitment(operation_id, day, latest)
            if lines is None or lines.root != on_chain.root:
                raise SettlementError(
                    f"version {latest} of {day} is committed on chain but its lines are not in the "
                    f"store ({'missing' if lines is None else 'another root'}); restore the "
                    "settlement store, or rebuild it from the chain and the readings"
                )
            if not on_chain.closed:
                return self._pay(lines, on_chain, committed_now=False)
            versions = [stored[v] for v in range(1, latest + 1) if v in stored]
            if len(versions) != latest:
                raise SettlementError(
                    f"the store lacks earlier versions of {day}; restore the settlement store"
                )
            progress = []
            for v in versions:
                earlier = self.chain.commitment(operation_id, day, v.version)
                self.store.mark(operation_id, day, v.version, "voided" if earlier.voided else "paid")
                progress.append((v, earlier.processed_batches))
            first = versions[0]
            fresh = compute(latest + 1, first.residues_before, transferred_by(progress))
            if not fresh.totals.transfers and fresh.totals.same_energy(on_chain.totals):
                return SettleResult(
                    operation_id,
                    day,
                    latest,
                    on_chain.root,
                    on_chain.totals,
                    False,
                    paid_up_to=on_chain.next_batch,
                    paid=on_chain.debits,
                    nothing_to_do=True,
                )
            return self._commit_and_pay(fresh)
        previous = stored.get(1)
        if previous is None:
            self._refuse_a_store_behind_the_chain(operation_id, day)
        residues = previous.residues_before if previous else self.store.residues_before(operation_id, day)
        return self._commit_and_pay(compute(1, residues, {}))

    def _refuse_a_store_behind_the_chain(self, operation_id: int, day: date) -> None:
        """A new day opens from the residues of the latest day the store holds: refuse when the
        chain has a later version of that day, or a day committed after it, than the store (a
        backup restored older than the chain), since those residues are then stale. A store that
        holds no earlier day of the operation opens it from none, as on its first day."""
        known = self.store.latest_before(operation_id, day)
        if known is None:
            return
        stored_day, stored_version = known
        checked = stored_day
        while checked < day:
            on_chain = self.chain.latest_version(operation_id, checked)
            held = stored_version if checked == stored_day else 0
            if on_chain > held:
                holds = f"version {held} only" if held else "none of it"
                raise SettlementError(
                    f"the settlement store is behind the chain: {checked} of operation {operation_id} "
                    f"has version {on_chain} on chain and the store holds {holds}, so {day} would "
                    "open from stale residues; run `ledger settle-rebuild` (or restore a newer "
                    "backup), then settle again"
                )
            checked += timedelta(days=1)

    def _record_from_logs(
        self, operation_id: int, day: date, stored: Mapping[int, DayLines], latest: int
    ) -> None:
        """Record the commit transactions and the batches the chain's logs show for the stored
        versions: a run killed after a transaction was mined and before its row was written
        would otherwise leave it unrecorded for good (the next run starts after it on chain)."""
        logs = self.chain.day_logs(operation_id, day)
        recorded = self.store.recorded_batches(operation_id, day)
        for version, lines in sorted(stored.items()):
            if version > latest or self.chain.commitment(operation_id, day, version).root != lines.root:
                continue  # not these lines on chain: the run refuses it, nothing to record
            commit_tx = logs.commits.get(version)
            if commit_tx is not None:
                self.store.record_commit(operation_id, day, version, commit_tx)
            for paid in logs.paid:
                batch = paid.from_index // lines.batch_size
                if paid.version == version and (version, batch) not in recorded:
                    self.store.record_batch(
                        operation_id, day, version, batch, paid.tx_hash, paid.block_number
                    )

    def _commit_and_pay(self, lines: DayLines, save: bool = True) -> SettleResult:
        if save:
            self.store.save(lines)
            self.hook("stored")
        on_chain = self.chain.commitment(lines.operation_id, lines.day, lines.version)
        if not on_chain.committed:
            try:
                tx = self.chain.send_commit(lines)
            except Exception as exc:
                if save:
                    raise
                # A node that checks against its pending state refuses the same commit twice.
                raise SettlementError(
                    f"the commit of {lines.day} version {lines.version} sent by an earlier run is not "
                    f"mined yet and the node refused it again ({exc}); run again once it is mined"
                ) from exc
            self.store.mark(lines.operation_id, lines.day, lines.version, "commit-sent", tx)
            self.hook("commit-sent")
            try:
                self.chain.wait_commit(tx)
            except Exception:
                # A commit sent by an earlier run may have been mined first: then this one was
                # refused, and the version on chain is the stored one (checked below).
                if not self.chain.commitment(lines.operation_id, lines.day, lines.version).committed:
                    raise
                # The stored tx is this refused one: take the commit's from the logs.
                self._record_from_logs(
                    lines.operation_id, lines.day, {lines.version: lines}, lines.version
                )
            self.hook("committed")
            on_chain = self.chain.commitment(lines.operation_id, lines.day, lines.version)
        if on_chain.root != lines.root:
            raise SettlementError(
                f"version {lines.version} of {lines.day} is committed on chain with another root than "
                "the stored lines; restore the settlement store"
            )
        self.store.mark(lines.operation_id, lines.day, lines.version, "committed")
        return self._pay(lines, on_chain, committed_now=True)

    def _pay(self, lines: DayLines, on_chain: OnChainDay, committed_now: bool) -> SettleResult:
        result = SettleResult(
            lines.operation_id, lines.day, lines.version, lines.root, lines.totals, committed_now
        )
        if on_chain.voided:
            self.store.mark(lines.operation_id, lines.day, lines.version, "voided")
            raise SettlementError(
                f"{lines.day} version {lines.version} was voided on chain; run again to commit the next "
                "version"
            )
        batch = on_chain.next_batch
        count = lines.batch_count
        while batch < count:
            tx = self.chain.send_pay(lines, batch)
            self.hook("pay-sent")
            receipt = self.chain.wait_pay(tx)
            if receipt.processed:
                self.store.record_batch(
                    lines.operation_id, lines.day, lines.version, batch, receipt.tx_hash, receipt.block_number
                )
            else:  # paid by an earlier transaction, maybe of a run killed before its row
                self._record_from_logs(
                    lines.operation_id, lines.day, {lines.version: lines}, lines.version
                )
            self.hook("paid")
            result.batches.append(receipt)
            batch = max(batch + 1, receipt.next_batch)
        final = self.chain.commitment(lines.operation_id, lines.day, lines.version)
        # Shortfalls are read from this run's receipts (a resumed run sees only its own batches).
        result.shortfall = sum(s.amount for s in result.shortfalls)
        result.paid_up_to, result.paid = final.next_batch, final.debits - result.shortfall
        if final.next_batch != count:
            raise SettlementError(
                f"{day_number(lines.day)} v{lines.version}: {final.next_batch} of {count} batches "
                "paid on chain after the run; run it again"
            )
        self.store.mark(lines.operation_id, lines.day, lines.version, "paid")
        return result


def with_batch_size(compute: Compute, batch_size: int) -> Compute:
    """`compute` with the member lines cut in batches of `batch_size` (the lines are recomputed
    only when the batch size differs: same lines, same tree otherwise)."""

    def wrapped(version: int, residues: Mapping[tuple[str, str], int], moved: Mapping[str, int]) -> DayLines:
        lines = compute(version, residues, moved)
        if lines.batch_size == batch_size:
            return lines
        kept = tuple(ln for ln in lines.lines if ln.kind is not LineKind.BATCH)
        return DayLines(
            operation_id=lines.operation_id,
            day=lines.day,
            version=lines.version,
            step_minutes=lines.step_minutes,
            lines=kept[:-1] + tuple(batch_lines(lines.transfers, batch_size)) + kept[-1:],
            totals=lines.totals,
            batch_size=batch_size,
            residues_before=lines.residues_before,
            residues_after=lines.residues_after,
        )

    return wrapped


def verify_offline(lines: DayLines, line_number: int, root: bytes) -> bool:
    """A line of the day against a root, with its stored proof, in Python."""
    line = lines.lines[line_number]
    return verify(root, line.leaf(), lines.proof(line_number))


def day_compute(
    *,
    operation_id: int,
    day: date,
    step: StepLength,
    readings: Mapping[datetime, StepReadings],
    key: AllocationKey,
    book: TariffBook,
    accounts: Mapping[str, str],
    batch_size: int = DEFAULT_BATCH,
    social: SocialPrice | None = None,
) -> Compute:
    """The `Compute` of `Settler.run` for these inputs (`social`: see `compute_day`)."""

    def compute(version: int, residues: Mapping[tuple[str, str], int], moved: Mapping[str, int]) -> DayLines:
        return compute_day(
            operation_id=operation_id,
            day=day,
            step=step,
            readings=readings,
            key=key,
            book=book,
            accounts=accounts,
            residues=residues,
            version=version,
            already_transferred=moved,
            batch_size=batch_size,
            social=social,
        )

    return compute
