"""In-memory fakes of the API's ports, for tests (and anyone trying the API without a chain)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from api.ports import OperatorReceipt, Role, SettledDay, SignedPaymentTerms
from ledger.db.api_state import StoredRequest
from ledger.db.queries_api import (
    ZERO_ADDRESS,
    BalanceFigure,
    BookingItem,
    CommonsFigures,
    CursorInfo,
    FundFigures,
    MandateItem,
    MerchantItem,
    Page,
    PaymentItem,
    SupplyPoint,
    TokenFigures,
    TransferItem,
)
from ledger.db.queries_energy import (
    EXPECTED_WINDOW_S,
    DistrictRows,
    OwnReading,
    Published,
    SettlementEvent,
    StepFigure,
    group_size,
)
from ledger.domain.fund import FundEvent


@dataclass
class FakeLedger:
    """A ledger held in lists; `add_*` helpers keep balances and supply consistent."""

    inline_reads: bool = True  # in memory: as quick as the SQLite reads the API runs inline
    cursor_info: CursorInfo = field(default_factory=lambda: CursorInfo(-1, ""))
    block_hashes: dict[int, str] = field(default_factory=dict)
    block_time: dict[int, int] = field(default_factory=dict)
    transfers: list[TransferItem] = field(default_factory=list)
    merchant_list: list[MerchantItem] = field(default_factory=list)
    payment_list: list[PaymentItem] = field(default_factory=list)
    supply: list[SupplyPoint] = field(default_factory=list)
    reserve: int = 0
    fund_events: list[FundEvent] = field(default_factory=list)
    commons_figures: CommonsFigures | None = None
    booking_list: list[tuple[str, BookingItem]] = field(default_factory=list)
    mandate_list: list[tuple[str, MandateItem]] = field(default_factory=list)

    # -- building ------------------------------------------------------------------------------

    def advance(self, number: int, block_hash: str | None = None, timestamp: int = 1_764_000_000) -> None:
        h = block_hash or "0x" + f"{number:064x}"
        self.block_hashes[number] = h
        self.block_time[number] = timestamp
        self.cursor_info = CursorInfo(number, h)

    def rollback(self, number: int) -> None:
        self.transfers = [t for t in self.transfers if t.block_number <= number]
        self.payment_list = [p for p in self.payment_list if p.block_number <= number]
        self.supply = [s for s in self.supply if s.block_number <= number]
        self.block_hashes = {n: h for n, h in self.block_hashes.items() if n <= number}
        self.cursor_info = CursorInfo(number, self.block_hashes.get(number, ""))

    def add_transfer(self, block: int, log_index: int, sender: str, to: str, value: int) -> None:
        self.transfers.append(
            TransferItem(
                block,
                log_index,
                f"0x{block:032x}{log_index:032x}",
                sender.lower(),
                to.lower(),
                value,
                self.block_time.get(block),
            )
        )
        total = self.supply[-1].total_supply if self.supply else 0
        if sender == ZERO_ADDRESS:
            self.reserve += value
            self.supply.append(SupplyPoint(block, self.block_time.get(block, 0), total + value, self.reserve))
        elif to == ZERO_ADDRESS:
            self.reserve -= value
            self.supply.append(SupplyPoint(block, self.block_time.get(block, 0), total - value, self.reserve))

    def add_payment(
        self,
        block: int,
        log_index: int,
        merchant_id: int,
        payer: str,
        amount: int,
        ref: str,
        day: str = "2026-11-25",
        kind: str = "payment",
    ) -> None:
        name = next((m.name for m in self.merchant_list if m.merchant_id == merchant_id), None)
        ref_hex = "0x" + ref.encode().ljust(32, b"\0").hex()
        self.payment_list.append(
            PaymentItem(
                kind,
                block,
                log_index,
                f"0x{block:032x}{log_index:032x}",
                merchant_id,
                name,
                payer.lower(),
                ref_hex,
                amount,
                day,
            )
        )

    # -- LedgerReader --------------------------------------------------------------------------

    def cursor(self) -> CursorInfo:
        return self.cursor_info

    def token_figures(self, since_time: int, exclude: Sequence[str]) -> TokenFigures:
        last = self.supply[-1] if self.supply else None
        excluded = {ZERO_ADDRESS, *(a.lower() for a in exclude)}
        paid = sum(
            t.value
            for t in self.transfers
            if t.from_address != ZERO_ADDRESS
            and t.to_address not in excluded
            and (t.block_time or 0) >= since_time
        )
        return TokenFigures(
            self.cursor_info,
            last.total_supply if last else 0,
            last.reserve if last else 0,
            paid,
            last.block_number if last else None,
        )

    def supply_series(self, limit: int) -> Page[SupplyPoint]:
        return Page(self.cursor_info, self.supply[-limit:])

    def fund_figures(self, fund: str) -> FundFigures:
        return FundFigures(self.cursor_info, list(self.fund_events), self.balance(fund).balance)

    def balance(self, account: str) -> BalanceFigure:
        account = account.lower()
        total = 0
        updated: int | None = None
        if account == ZERO_ADDRESS:  # mints and burns: the indexer keeps no balance for it
            return BalanceFigure(self.cursor_info, account, 0, None)
        for t in self.transfers:
            if t.to_address == account:
                total += t.value
                updated = t.block_number
            if t.from_address == account:
                total -= t.value
                updated = t.block_number
        return BalanceFigure(self.cursor_info, account, total, updated)

    def history(self, account: str, before: tuple[int, int] | None, limit: int) -> Page[TransferItem]:
        account = account.lower()
        rows = [
            t
            for t in self.transfers
            if account in (t.from_address, t.to_address)
            and (before is None or (t.block_number, t.log_index) < before)
        ]
        rows.sort(key=lambda t: (t.block_number, t.log_index), reverse=True)
        return Page(self.cursor_info, rows[:limit])

    def merchants(self, category: int | None) -> Page[MerchantItem]:
        return Page(
            self.cursor_info, [m for m in self.merchant_list if category is None or m.category == category]
        )

    def payments(
        self,
        *,
        payer: str | None = None,
        merchant_id: int | None = None,
        after: tuple[int, int] | None = None,
        before: tuple[int, int] | None = None,
        day_from: str | None = None,
        day_to: str | None = None,
        until_block: int | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> Page[PaymentItem]:
        rows = [
            p
            for p in self.payment_list
            if (payer is None or p.payer == payer.lower())
            and (merchant_id is None or p.merchant_id == merchant_id)
            and (after is None or (p.block_number, p.log_index) > after)
            and (before is None or (p.block_number, p.log_index) < before)
            and (day_from is None or p.day >= day_from)
            and (day_to is None or p.day <= day_to)
            and (until_block is None or p.block_number <= until_block)
        ]
        rows.sort(key=lambda p: (p.block_number, p.log_index), reverse=newest_first)
        return Page(self.cursor_info, rows[:limit])

    def blocks(self, numbers: Sequence[int]) -> dict[int, str]:
        return {n: self.block_hashes[n] for n in numbers if n in self.block_hashes}

    def block_times(self, numbers: Sequence[int]) -> dict[int, int]:
        return {n: self.block_time[n] for n in numbers if n in self.block_time}

    def commons(self, token: str | None, recent: int = 20) -> CommonsFigures:
        if self.commons_figures is None:
            return CommonsFigures(self.cursor_info, None, None, 0, 0, 0, 0, False, None, [])
        return self.commons_figures

    def bookings(
        self, payer: str | None = None, limit: int = 100, *, merchant_id: int | None = None
    ) -> Page[BookingItem]:
        found = [
            b for who, b in self.booking_list
            if (payer is not None and who == payer.lower()) or b.merchant_id == merchant_id
        ]
        return Page(self.cursor_info, found[:limit])

    def mandates(self, member: str) -> Page[MandateItem]:
        return Page(self.cursor_info, [m for who, m in self.mandate_list if who == member.lower()])

    def close(self) -> None:
        return None


@dataclass
class FakeOperator:
    """Roles granted by hand; transactions recorded instead of sent."""

    roles: dict[str, set[Role]] = field(default_factory=dict)
    sent: list[tuple[str, tuple[object, ...]]] = field(default_factory=list)

    def grant(self, address: str, role: Role) -> None:
        self.roles.setdefault(address.lower(), set()).add(role)

    def has_role(self, role: Role, address: str) -> bool:
        return role in self.roles.get(address.lower(), set())

    def register_merchant(self, name: str, category: int, payout: str) -> OperatorReceipt:
        self.sent.append(("register_merchant", (name, category, payout)))
        return OperatorReceipt("0x" + "ab" * 32, 1, len(self.sent))

    def record_deposit(self, bank_ref: str, beneficiary: str, amount: int) -> OperatorReceipt:
        self.sent.append(("record_deposit", (bank_ref, beneficiary, amount)))
        return OperatorReceipt("0x" + "cd" * 32, 1)

    def submit_signed_payment(self, payment: SignedPaymentTerms) -> OperatorReceipt:
        self.sent.append(("submit_signed_payment", (payment,)))
        return OperatorReceipt("0x" + "ef" * 32, 1)


@dataclass(frozen=True)
class FakeReading:
    """A stored current reading of a home's meter (`home` is the meter's wallet or None)."""

    home: str | None
    start_ts: int
    step_s: int
    commodity: str
    direction: str
    value: int
    source: str = "gateway"


def _figure(r: FakeReading) -> str:
    if r.commodity == "electricity":
        return "production" if r.direction == "export" else "consumption"
    return r.commodity


@dataclass
class FakeEnergy:
    """Readings in a list; aggregates computed like ledger.db.queries_energy does in SQL."""

    readings: list[FakeReading] = field(default_factory=list)
    published: dict[tuple[int, int, str], StepFigure] = field(default_factory=dict)

    def district(self, start_ts: int, end_ts: int) -> DistrictRows:
        rows = [r for r in self.readings if start_ts <= r.start_ts < end_ts]
        step = 1800 if any(r.step_s >= 1800 for r in rows) else 900
        sums: dict[tuple[int, str], int] = {}
        homes: dict[tuple[int, str], set[str]] = {}
        reporting: dict[tuple[int, str], set[str]] = {}
        expected: dict[str, set[str]] = {}
        for r in self.readings:
            if r.home is None:  # a meter without a home is neither summed nor counted
                continue
            if start_ts - EXPECTED_WINDOW_S <= r.start_ts < end_ts:
                expected.setdefault(_figure(r), set()).add(r.home.lower())
            if not start_ts <= r.start_ts < end_ts:
                continue
            key = (r.start_ts - r.start_ts % step, _figure(r))
            sums[key] = sums.get(key, 0) + r.value
            group = homes.setdefault(key, set())
            reporting.setdefault(key, set()).add(r.home.lower())
            if r.value != 0:  # only homes that add something to the figure count toward its group
                group.add(r.home.lower())
        return DistrictRows(
            step,
            [
                StepFigure(
                    k[0], k[1], v, group_size(v, len(homes[k]), len(reporting[k])), len(reporting[k])
                )
                for k, v in sorted(sums.items())
            ],
            {f: len(h) for f, h in expected.items()},
            {(b, f): v for (b, s, f), v in self.published.items() if s == step and start_ts <= b < end_ts},
            {(b, f): v for (b, s, f), v in self.published.items() if s != step and start_ts <= b < end_ts},
        )

    def freeze(self, step_s: int, figures: Sequence[StepFigure], now: int) -> Published:
        for f in figures:
            kept = StepFigure(f.start_ts, f.figure, f.total, f.homes)
            self.published.setdefault((f.start_ts, step_s, f.figure), kept)
        return {(b, f): v for (b, s, f), v in self.published.items() if s == step_s}

    def own_readings(self, account: str, start_ts: int, end_ts: int) -> list[OwnReading]:
        return [
            OwnReading(r.start_ts, r.step_s, r.commodity, r.direction, r.value, r.source)
            for r in sorted(self.readings, key=lambda r: (r.start_ts, r.commodity, r.direction))
            if r.home is not None and r.home.lower() == account.lower() and start_ts <= r.start_ts < end_ts
        ]

    def close(self) -> None:
        return None


@dataclass
class FakeSettlements:
    """Settled days held in a list (lines from ledger.energy.settlement, chain figures by hand),
    and the feed's settlement events in another (`rollback` drops those above a block)."""

    days: list[SettledDay] = field(default_factory=list)
    cursor_info: CursorInfo = field(default_factory=lambda: CursorInfo(-1, ""))
    event_list: list[SettlementEvent] = field(default_factory=list)

    def add_committed(
        self,
        block: int,
        log_index: int,
        operation_id: int,
        day_number: int,
        version: int = 1,
        root: str = "0x" + "5e" * 32,
        totals: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0),
    ) -> None:
        self.event_list.append(
            SettlementEvent(
                "committed",
                block,
                log_index,
                f"0x{block:032x}{log_index:032x}",
                operation_id,
                day_number,
                version,
                root=root,
                totals=totals,
            )
        )

    def add_paid(
        self,
        block: int,
        log_index: int,
        operation_id: int,
        day_number: int,
        version: int = 1,
        lines: tuple[int, int] = (0, 1),
        paid: int = 0,
        shortfall: int = 0,
    ) -> None:
        self.event_list.append(
            SettlementEvent(
                "paid",
                block,
                log_index,
                f"0x{block:032x}{log_index:032x}",
                operation_id,
                day_number,
                version,
                from_index=lines[0],
                to_index=lines[1],
                paid=paid,
                shortfall=shortfall,
            )
        )

    def rollback(self, number: int) -> None:
        self.event_list = [e for e in self.event_list if e.block_number <= number]

    def events(
        self,
        *,
        after: tuple[int, int] | None = None,
        until_block: int | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[SettlementEvent]:
        rows = [
            e
            for e in self.event_list
            if (after is None or (e.block_number, e.log_index) > after)
            and (until_block is None or e.block_number <= until_block)
        ]
        rows.sort(key=lambda e: (e.block_number, e.log_index), reverse=newest_first)
        return rows[:limit]

    def cursor(self) -> CursorInfo:
        return self.cursor_info

    def recent(self, limit: int) -> list[SettledDay]:
        latest = sorted({d.day for d in self.days}, reverse=True)[:limit]
        return sorted(
            (d for d in self.days if d.day in latest),
            key=lambda d: (-d.day.toordinal(), d.operation_id, d.version),
        )

    def day(self, day: date) -> list[SettledDay]:
        return sorted((d for d in self.days if d.day == day), key=lambda d: (d.operation_id, d.version))

    def close(self) -> None:
        return None


@dataclass
class MemoryApiState:
    """The API's shared state in dicts (one process only: tests and trying the API)."""

    inline: bool = True
    sessions: dict[str, tuple[str, int]] = field(default_factory=dict)
    spent: dict[str, int] = field(default_factory=dict)
    windows: dict[tuple[str, int], int] = field(default_factory=dict)
    stored: dict[tuple[int, bytes], StoredRequest] = field(default_factory=dict)
    naming: dict[str, bool] = field(default_factory=dict)
    addresses: dict[tuple[int, int], str] = field(default_factory=dict)

    def create_session(self, token_hash: str, address: str, expires_at: int, now: int) -> None:
        self.sessions[token_hash] = (address, expires_at)

    def session(self, token_hash: str, now: int) -> tuple[str, int] | None:
        found = self.sessions.get(token_hash)
        return found if found is not None and found[1] > now else None

    def revoke_session(self, token_hash: str) -> None:
        self.sessions.pop(token_hash, None)

    def revoke_sessions_of(self, address: str) -> None:
        for token_hash, (owner, _) in list(self.sessions.items()):
            if owner.lower() == address.lower():
                del self.sessions[token_hash]

    def spend_nonce(self, nonce: str, expires_at: int, now: int) -> bool:
        if nonce in self.spent:
            return False
        self.spent[nonce] = expires_at
        return True

    def hit(self, key: str, window: int, keep_after: int) -> tuple[int, int]:
        self.windows[(key, window)] = self.windows.get((key, window), 0) + 1
        return self.windows[(key, window)], self.windows.get((key, window - 1), 0)

    def save_request(self, chain_id: int, request: StoredRequest) -> None:
        self.stored[(chain_id, request.commitment)] = request

    def requests(self, chain_id: int, commitments: Sequence[bytes]) -> dict[bytes, StoredRequest]:
        keys = [(chain_id, bytes(c)) for c in commitments]
        return {key[1]: self.stored[key] for key in keys if key in self.stored}

    def set_named(self, address: str, named: bool, now: int) -> None:
        self.naming[address.lower()] = named

    def named(self, addresses: Sequence[str]) -> set[str]:
        return {a.lower() for a in addresses if self.naming.get(a.lower())}

    def set_merchant_address(self, chain_id: int, merchant_id: int, street_address: str, now: int) -> None:
        self.addresses[(chain_id, merchant_id)] = street_address

    def merchant_addresses(self, chain_id: int) -> dict[int, str]:
        return {m: a for (c, m), a in self.addresses.items() if c == chain_id}

    def close(self) -> None:
        return None
