"""Settlement inputs from the stored readings (in-memory store): the operation's meters and key
from the registry, distributor data before gateway data, the latest version, 30-minute steps for
everyone when one meter only has half-hours, and a missing value that keeps the day open."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.domain.energy.allocation import DefaultKey, PriorityKey, StaticKey
from ledger.domain.energy.pricing import TariffBook
from ledger.domain.energy.steps import StepLength, day_step_starts
from ledger.energy import registry
from ledger.energy.envelope import Envelope, IntervalReading, seal
from ledger.energy.ingest import IngestPipeline, NewReading
from ledger.energy.memory_store import MemoryEnergyStore
from ledger.energy.registry import Meter
from ledger.energy.reviews import ReviewItem
from ledger.energy.settlement import (
    BatchReceipt,
    ChainTariff,
    DayLines,
    DayLogs,
    MemoryDayStore,
    OnChainDay,
    SettlementError,
    Totals,
    tariff_book,
)
from ledger.energy.settlement_source import DayOpenError, SettleWatcher, day_inputs

SALT = b"unit-test-salt-0123456789"
DAY = date(2025, 6, 15)
NOW = datetime(2025, 6, 20, 12, 0, tzinfo=UTC).timestamp()
OP = "op-unit"
WALLETS = {
    "PRM-P1": "0x" + "a1" * 20,
    "PRM-P2": "0x" + "a2" * 20,
    "PRM-C1": "0x" + "c1" * 20,
    "PRM-C2": "0x" + "c2" * 20,
    "PRM-C3": "0x" + "c3" * 20,
}
PRODUCERS = ("PRM-P1", "PRM-P2")
CONSUMERS = ("PRM-C1", "PRM-C2", "PRM-C3")


class Store(MemoryEnergyStore):
    """The in-memory store with the read methods settlement needs (as SqlEnergyStore has them)."""

    def operation_meters(self, operation_id: str) -> Sequence[Meter]:
        return tuple(m for m in self._meters.values() if m.operation_id == operation_id)

    def meter_readings(self, serials: Collection[str], start_ts: int, end_ts: int) -> list[NewReading]:
        wanted = set(serials)
        return [r for r in self.readings() if r.meter_serial in wanted and start_ts <= r.start_ts < end_ts]

    def reading_span(self, serials: Collection[str]) -> tuple[int, int] | None:
        starts = [r.start_ts for r in self.readings() if r.meter_serial in set(serials)]
        return (min(starts), max(starts)) if starts else None

    def participants_on(self, operation_id: str, day: date) -> None:
        return None  # no membership history: the plain participant list

    def open_reviews(self, serials: Collection[str], start_ts: int, end_ts: int) -> list[ReviewItem]:
        """Every review of the in-memory store is open (it has no resolution)."""
        return [
            ReviewItem(n + 1, "open", r.source, r.meter_serial, "electricity", r.start_ts, r.step_s,
                       r.direction, r.version, r.stored_value, r.proposed_value, r.reason,
                       r.raw_sha256, 0)
            for n, r in enumerate(self.reviews())
            if r.meter_serial in set(serials) and start_ts <= r.start_ts < end_ts
        ]


def hash_of(store: Store, serial: str) -> str:
    meter = store.meter(serial)
    assert meter is not None
    return meter.serial_hash


class World:
    def __init__(
        self,
        key: str = "default",
        roles: dict[str, str] | None = None,
        settle_on_gateway: bool = False,
        **extra: Any,
    ) -> None:
        self.store = Store()
        self.pipeline = IngestPipeline(self.store, clock=lambda: NOW)
        self.gw_key = ed25519.Ed25519PrivateKey.generate()
        self.counter = 0
        registry.add_operation(self.store, OP, "unit", key, 900, settle_on_gateway=settle_on_gateway)
        raw = self.gw_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        registry.add_gateway(self.store, "gw-1", raw)
        roles = roles or {**dict.fromkeys(PRODUCERS, "producer"), **dict.fromkeys(CONSUMERS, "consumer")}
        for meter, role in roles.items():
            registry.add_participant(self.store, OP, WALLETS[meter], role, **extra.get(meter, {}))
            registry.add_meter(self.store, SALT, meter, "electricity", 12_000, device_id="gw-1",
                               operation_id=OP, wallet=WALLETS[meter])

    def distributor(self, *rows: tuple[str, IntervalReading]) -> None:
        result, rejected = self.pipeline.ingest_distributor(list(rows), repr(rows).encode())
        assert not rejected and result.ok

    def gateway(self, serial: str, *readings: IntervalReading) -> None:
        self.counter += 1
        body = seal(Envelope("gw-1", self.counter, serial, "synced", readings), self.gw_key)
        assert self.pipeline.ingest_http(body).ok

    def full_day(self, day: date = DAY, skip: Collection[str] = (), source: str = "distributor") -> None:
        rows: list[tuple[str, IntervalReading]] = []
        for n, start in enumerate(day_step_starts(day, StepLength.MIN15)):
            ts = int(start.timestamp())
            for k, meter in enumerate(PRODUCERS):
                if meter not in skip:
                    rows.append((meter, q(ts, "export", 100 * (k + 1) if 30 <= n < 80 else 0)))
            for i, meter in enumerate(CONSUMERS):
                if meter not in skip:
                    rows.append((meter, q(ts, "import", 50 + 10 * i)))
        if source == "distributor":
            self.distributor(*rows)
        else:
            for serial in {s for s, _ in rows}:
                mine = [r for s, r in rows if s == serial]
                for n in range(0, len(mine), 400):
                    self.gateway(serial, *mine[n : n + 400])


def q(ts: int, direction: str, wh: int, version: str = "raw", step: int = 900) -> IntervalReading:
    return IntervalReading(ts, step, "electricity", direction, wh, version)


def starts(day: date = DAY) -> list[int]:
    return [int(s.timestamp()) for s in day_step_starts(day, StepLength.MIN15)]


def test_a_full_day_gives_96_quarter_hours_with_production_from_exports_and_consumption_from_imports(
) -> None:
    w = World()
    w.full_day()
    inputs = day_inputs(w.store, OP, DAY)
    assert inputs.step is StepLength.MIN15 and len(inputs.readings) == 96
    assert isinstance(inputs.key, DefaultKey)
    noon = day_step_starts(DAY, StepLength.MIN15)[50]
    step = inputs.readings[noon]
    assert dict(step.injections) == {hash_of(w.store, "PRM-P1"): 100, hash_of(w.store, "PRM-P2"): 200}
    assert dict(step.withdrawals) == {hash_of(w.store, m): 50 + 10 * i for i, m in enumerate(CONSUMERS)}
    assert inputs.accounts == {hash_of(w.store, m): WALLETS[m] for m in WALLETS}
    assert inputs.sources == {"distributor": 96 * 5}
    # no meter number reaches the core (nor the settlement files built from it)
    assert not any(m in str(inputs.readings) for m in WALLETS)


def test_distributor_data_wins_over_gateway_data_and_gateway_fills_gaps_when_the_operation_allows() -> None:
    w = World(settle_on_gateway=True)
    w.full_day(skip={"PRM-C1"})
    t = starts()
    w.gateway("PRM-C1", *(q(ts, "import", 999) for ts in t[:400]))
    w.distributor(*(("PRM-C1", q(ts, "import", 70)) for ts in t[:95]))
    inputs = day_inputs(w.store, OP, DAY)
    c1 = hash_of(w.store, "PRM-C1")
    series = [inputs.readings[s].withdrawals[c1] for s in day_step_starts(DAY, StepLength.MIN15)]
    assert series == [70] * 95 + [999]
    assert inputs.sources["gateway"] == 1


def test_by_default_only_distributor_data_settle_a_day_and_gateway_readings_never_fill_a_gap() -> None:
    w = World()
    w.full_day(skip={"PRM-C1"})
    t = starts()
    w.gateway("PRM-C1", *(q(ts, "import", 999) for ts in t[:400]))
    w.distributor(*(("PRM-C1", q(ts, "import", 70)) for ts in t[:95]))
    with pytest.raises(DayOpenError) as caught:
        day_inputs(w.store, OP, DAY)
    assert caught.value.missing_steps == 1 and "PRM-C1 (import)" in str(caught.value)
    w.distributor(("PRM-C1", q(t[95], "import", 70)))  # the distributor's last quarter arrives
    assert day_inputs(w.store, OP, DAY).sources == {"distributor": 96 * 5}


def test_a_day_of_gateway_readings_only_stays_open_unless_the_operation_settles_on_them() -> None:
    w = World()
    w.full_day(source="gateway")
    with pytest.raises(DayOpenError, match="distributor"):
        day_inputs(w.store, OP, DAY)
    on_gateway = World(settle_on_gateway=True)
    on_gateway.full_day(source="gateway")
    assert day_inputs(on_gateway.store, OP, DAY).sources == {"gateway": 96 * 5}


def test_an_open_review_keeps_its_day_open_naming_it() -> None:
    w = World()
    w.full_day()
    ts = starts()[10]
    w.distributor(("PRM-C2", q(ts, "import", 61)))  # another raw value for a stored key: held
    assert len(w.store.reviews()) == 1
    with pytest.raises(DayOpenError, match="review") as caught:
        day_inputs(w.store, OP, DAY)
    assert "ledger readings resolve" in str(caught.value) and "PRM-C2" in str(caught.value)


def test_a_corrected_reading_supersedes_the_raw_one() -> None:
    w = World()
    w.full_day()
    ts = starts()[40]
    w.distributor(("PRM-C2", q(ts, "import", 333, "corrected")))
    inputs = day_inputs(w.store, OP, DAY)
    start = datetime.fromtimestamp(ts, UTC)
    assert inputs.readings[start].withdrawals[hash_of(w.store, "PRM-C2")] == 333


def test_one_consumer_with_half_hours_only_puts_the_whole_operation_on_30_minute_steps() -> None:
    w = World()
    w.full_day(skip={"PRM-C3"})
    halves = [int(s.timestamp()) for s in day_step_starts(DAY, StepLength.MIN30)]
    w.distributor(*(("PRM-C3", q(ts, "import", 140, step=1800)) for ts in halves))
    inputs = day_inputs(w.store, OP, DAY)
    assert inputs.step is StepLength.MIN30 and len(inputs.readings) == 48
    assert inputs.half_hourly == ("PRM-C3",)
    step = inputs.readings[day_step_starts(DAY, StepLength.MIN30)[25]]
    # quarter-hours summed in pairs; the half-hour kept whole
    assert step.withdrawals[hash_of(w.store, "PRM-C1")] == 100
    assert step.withdrawals[hash_of(w.store, "PRM-C3")] == 140
    assert step.injections[hash_of(w.store, "PRM-P2")] == 400


def test_a_missing_reading_keeps_the_day_open_naming_the_meter_and_the_steps_never_zero() -> None:
    w = World()
    t = starts()
    w.full_day(skip={"PRM-C2"})
    w.distributor(*(("PRM-C2", q(ts, "import", 60)) for n, ts in enumerate(t) if n not in (48, 49, 70)))
    with pytest.raises(DayOpenError) as caught:
        day_inputs(w.store, OP, DAY)
    message = str(caught.value)
    assert "PRM-C2 (import): 12:00-12:30, 17:30-17:45" in message
    assert "stays open" in message and "never read as zero" in message
    assert caught.value.missing_steps == 3
    assert list(caught.value.missing) == [("PRM-C2", "import")]


def test_a_producer_without_any_reading_is_missing_for_the_whole_day() -> None:
    w = World()
    w.full_day(skip={"PRM-P2"})
    with pytest.raises(DayOpenError, match=r"PRM-P2 \(export\): the whole day"):
        day_inputs(w.store, OP, DAY)


def test_a_prosumer_meter_gives_both_its_export_and_its_import() -> None:
    roles = {"PRM-P1": "both", "PRM-C1": "consumer"}
    w = World(roles=roles)
    rows = []
    for ts in starts():
        rows += [("PRM-P1", q(ts, "export", 30)), ("PRM-P1", q(ts, "import", 5)),
                 ("PRM-C1", q(ts, "import", 40))]
    w.distributor(*rows)
    step = next(iter(day_inputs(w.store, OP, DAY).readings.values()))
    p1 = hash_of(w.store, "PRM-P1")
    assert dict(step.injections) == {p1: 30}
    assert dict(step.withdrawals) == {p1: 5, hash_of(w.store, "PRM-C1"): 40}


def test_static_shares_and_priority_levels_come_from_the_registry() -> None:
    shares = {"PRM-C1": {"share": "1/2"}, "PRM-C2": {"share": "0.25"}, "PRM-C3": {"share": "1/4"}}
    w = World(key="static", **shares)
    w.full_day()
    key = day_inputs(w.store, OP, DAY).key
    assert isinstance(key, StaticKey)
    assert key.shares[hash_of(w.store, "PRM-C1")] == Fraction(1, 2)
    levels = {m: {"priority": n + 1} for n, m in enumerate(CONSUMERS)}
    w = World(key="priority", **levels)
    w.full_day()
    key = day_inputs(w.store, OP, DAY).key
    assert isinstance(key, PriorityKey)
    assert key.levels[hash_of(w.store, "PRM-C3")] == 3


def test_the_spring_change_day_has_92_steps() -> None:
    w = World()
    w.full_day(date(2025, 3, 30))
    assert len(day_inputs(w.store, OP, date(2025, 3, 30)).readings) == 92


def test_an_unknown_operation_or_a_participant_without_a_meter_is_refused_clearly() -> None:
    w = World()
    with pytest.raises(SettlementError, match="no operation nope"):
        day_inputs(w.store, "nope", DAY)
    registry.add_participant(w.store, OP, "0x" + "dd" * 20, "consumer")
    with pytest.raises(SettlementError, match="without an electricity meter"):
        day_inputs(w.store, OP, DAY)


# --- the watch, on a fake chain ---------------------------------------------------------------


class FakeChain:
    """Just enough of EnergySettlement: commitments per (day, version), pay marks lines paid."""

    def __init__(self) -> None:
        self.days: dict[tuple[int, date, int], tuple[DayLines, int]] = {}
        self.fail_next = 0
        self.commits = 0

    def latest_version(self, operation_id: int, day: date) -> int:
        return max((v for (op, d, v) in self.days if (op, d) == (operation_id, day)), default=0)

    def commitment(self, operation_id: int, day: date, version: int) -> OnChainDay:
        found = self.days.get((operation_id, day, version))
        if found is None:
            return OnChainDay(b"\0" * 32, Totals(0, 0, 0, 0, 0, 0), 0, 0, 0)
        lines, next_batch = found
        return OnChainDay(lines.root, lines.totals, lines.batch_size, next_batch)

    def tariffs(self, operation_id: int) -> list[ChainTariff]:
        return [ChainTariff(date(2025, 1, 1), 90_000, 100_000, 80_000)]

    def send_commit(self, lines: DayLines) -> str:
        if self.fail_next:
            self.fail_next -= 1
            raise SettlementError("node unavailable")
        self.commits += 1
        self.days[(lines.operation_id, lines.day, lines.version)] = (lines, 0)
        return "0xcommit"

    def wait_commit(self, tx_hash: str) -> None:
        return None

    def send_pay(self, lines: DayLines, batch: int) -> str:
        key = (lines.operation_id, lines.day, lines.version)
        self.days[key] = (self.days[key][0], batch + 1)
        return "0xpay"

    def wait_pay(self, tx_hash: str) -> BatchReceipt:
        paid = max(p for _, p in self.days.values())
        return BatchReceipt(tx_hash, 0, paid, 0, ())

    def verify_line(self, lines: DayLines, line_number: int) -> bool:
        return True

    def day_logs(self, operation_id: int, day: date, from_block: int = 0) -> DayLogs:
        return DayLogs({})  # no logs kept: these tests do not crash between a mined tx and its row


def watcher(w: World, chain: FakeChain, events: list[dict[str, Any]]) -> SettleWatcher:
    def book() -> TariffBook:
        return tariff_book(chain.tariffs(0))

    return SettleWatcher(
        store=w.store, chain=chain, days=MemoryDayStore(), operation_id=OP, book=book,
        emit=events.append, retries=2, retry_delay_s=0, clock=lambda: NOW, sleep=lambda _s: None,
    )


def test_the_watch_settles_complete_days_once_and_leaves_a_day_with_gaps_open() -> None:
    w = World()
    w.full_day(DAY)
    nxt = DAY + timedelta(days=1)
    w.full_day(nxt, skip={"PRM-C1"})
    chain = FakeChain()
    events: list[dict[str, Any]] = []
    watch = watcher(w, chain, events)
    assert watch.candidate_days() == [DAY, nxt]
    first = watch.check()
    assert [(e["event"], e["day"]) for e in first] == [
        ("day-settled", "2025-06-15"),
        ("day-open", "2025-06-16"),
    ]
    assert first[0]["version"] == 1 and first[0]["transfers"] > 0
    assert "PRM-C1 (import): the whole day" in first[1]["reason"]
    # the same gap is not said again; a settled day is not touched again
    assert watch.check() == [] and chain.commits == 1
    w.full_day(nxt)  # C1's readings arrive (the others are exact duplicates)
    assert [e["event"] for e in watch.check()] == ["day-settled"]
    assert chain.commits == 2 and watch.candidate_days() == []


def test_the_watch_retries_a_failing_chain_a_bounded_number_of_times_then_tries_next_pass() -> None:
    w = World()
    w.full_day(DAY)
    chain = FakeChain()
    chain.fail_next = 2
    events: list[dict[str, Any]] = []
    watch = watcher(w, chain, events)
    assert [e["event"] for e in watch.check()] == ["day-failed"]
    assert [e["event"] for e in events] == ["retry", "day-failed"]
    assert [e["event"] for e in watch.check()] == ["day-settled"]


def test_the_watch_leaves_a_day_the_chain_shows_closed() -> None:
    w = World()
    w.full_day(DAY)
    chain = FakeChain()
    watcher(w, chain, []).check()
    events: list[dict[str, Any]] = []
    again = watcher(w, chain, events)  # a restarted service: the chain says it is done
    assert [e["event"] for e in again.check()] == ["day-already-settled"]
    assert chain.commits == 1


def test_simulated_homes_can_be_given_real_wallets_and_are_registered_with_them() -> None:
    from ledger.energy.simulator import OPERATION_ID, build_district, register_district

    def wallet_for(n: int) -> str:
        return "0x" + f"{n + 1:02X}" * 20

    district = build_district(4, 3, wallet_for=wallet_for)
    assert [h.wallet for h in district] == ["0x" + f"{n + 1:02x}" * 20 for n in range(4)]
    assert build_district(4, 3)[0].wallet != district[0].wallet  # the default is unchanged
    store = Store()
    register_district(store, SALT, district)
    meters = {m.serial: m.wallet for m in store.operation_meters(OPERATION_ID)}
    assert meters == {h.electricity: h.wallet for h in district}
