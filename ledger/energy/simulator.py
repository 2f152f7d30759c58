"""A simulated district: homes with solar roofs, loads, gas and water, each behind a signed gateway.

Deterministic for a seed: the homes (who produces, roof size, habits), their Ed25519 gateway
keys and every reading are derived from the seed (never from the wall clock); only the envelope
counters start from `counter_base` (by default the current time in ms, so a second run on the
same database is not taken for a replay).

Every simulated step (15 min, in Europe/Paris days: 92/96/100 steps) each home sends three
envelopes on `district/gateways/<device>/readings`: electricity (import, and export for the
producers: the net flows a Linky meter measures), gas (Wh of energy) and water (L).
Time is accelerated: at `speed` 900 one 15-minute step passes per real second. Or it follows the
wall clock (`run_live`): the current day is filled up to now at once, then each quarter-hour is
published as it ends, as a real gateway does.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.domain.energy.steps import PARIS, StepLength, day_step_starts
from ledger.energy import registry
from ledger.energy.envelope import Envelope, IntervalReading, seal
from ledger.energy.registry import RegistryStore

STEP_S = 900
OPERATION_ID = "sim-lyon3"
ELECTRICITY_MAX_W = 12_000
GAS_MAX_W = 30_000
WATER_MAX_LPH = 1_500


@dataclass(frozen=True, slots=True)
class Home:
    index: int
    device_id: str
    wallet: str
    producer: bool
    peak_w: int
    base_w: int
    key: ed25519.Ed25519PrivateKey
    electricity: str
    gas: str
    water: str

    @property
    def public_key(self) -> bytes:
        return self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def build_district(
    homes: int, seed: int, wallet_for: Callable[[int], str] | None = None,
    prosumers: Sequence[str] = (),
) -> list[Home]:
    """`homes` homes; about one in three has a solar roof.

    `wallet_for(n)` gives home n's wallet (e.g. a development account the demo funds, so the
    homes can pay for their solar energy on chain); by default an address derived from the seed,
    whose key nobody holds. Each wallet of `prosumers` gets one more home, with a solar roof,
    after the `homes` (the demo's named residents who produce).
    """
    district = []
    named = {homes + k: registry.check_wallet(w) for k, w in enumerate(prosumers)}
    for n in range(homes + len(named)):
        rng = random.Random(f"{seed}:home:{n}")
        secret = hashlib.sha256(f"district-sim:{seed}:{n}".encode()).digest()
        if n in named:
            wallet = named[n]
        elif wallet_for is None:
            wallet = "0x" + hashlib.sha256(f"wallet:{seed}:{n}".encode()).hexdigest()[:40]
        else:
            wallet = registry.check_wallet(wallet_for(n))
        district.append(
            Home(
                index=n,
                device_id=f"sim-gw-{n:03d}",
                wallet=wallet,
                producer=n % 3 == 0 or n in named,
                peak_w=rng.choice((3_000, 4_500, 6_000, 9_000)),
                base_w=rng.randint(150, 450),
                key=ed25519.Ed25519PrivateKey.from_private_bytes(secret),
                electricity=f"SIM{seed:04d}E{n:05d}",
                gas=f"SIM{seed:04d}G{n:05d}",
                water=f"SIM{seed:04d}W{n:05d}",
            )
        )
    return district


def register_district(store: RegistryStore, salt: bytes, district: list[Home]) -> int:
    """Register the operation, participants, gateways and meters not yet known; returns how many
    homes were added."""
    if store.operation(OPERATION_ID) is None:
        # simulated homes have no distributor data: the operation settles on gateway readings
        registry.add_operation(store, OPERATION_ID, "Simulated Lyon 3e operation", "default",
                               STEP_S, settle_on_gateway=True)
    known = {p.wallet for p in store.participants(OPERATION_ID)}
    added = 0
    for home in district:
        if store.gateway(home.device_id) is None:
            registry.add_gateway(store, home.device_id, home.public_key)
        if home.wallet not in known:
            role = "both" if home.producer else "consumer"
            registry.add_participant(store, OPERATION_ID, home.wallet, role)
            added += 1
        for serial, commodity, rate, in_operation in (
            (home.electricity, "electricity", ELECTRICITY_MAX_W, True),
            (home.gas, "gas", GAS_MAX_W, False),
            (home.water, "water", WATER_MAX_LPH, False),
        ):
            if store.meter(serial) is None:
                registry.add_meter(
                    store, salt, serial, commodity, rate, device_id=home.device_id,
                    operation_id=OPERATION_ID if in_operation else None, wallet=home.wallet,
                )
    return added


@dataclass(frozen=True, slots=True)
class StepValues:
    electricity_import: int
    electricity_export: int | None
    gas: int
    water: int


def step_values(home: Home, start_ts: int, seed: int) -> StepValues:
    """Energy of one home over the 15 minutes starting at `start_ts` (whole Wh and L)."""
    rng = random.Random(f"{seed}:{home.index}:{start_ts}")
    local = datetime.fromtimestamp(start_ts, UTC).astimezone(PARIS)
    hour = local.hour + local.minute / 60 + 0.125
    day_of_year = local.timetuple().tm_yday
    daylight = 12 + 4 * math.cos(2 * math.pi * (day_of_year - 172) / 365)
    sunrise = 13.5 - daylight / 2
    solar_w = 0.0
    if home.producer and sunrise < hour < sunrise + daylight:
        clouds = random.Random(f"{seed}:sky:{local.date()}").uniform(0.35, 1.0)
        solar_w = home.peak_w * math.sin(math.pi * (hour - sunrise) / daylight) * clouds
        solar_w *= rng.uniform(0.9, 1.0)
    load_w = float(home.base_w)
    if 6.5 <= hour < 9:
        load_w += rng.uniform(400, 1_800)
    elif 18 <= hour < 22.5:
        load_w += rng.uniform(800, 2_600)
    elif 11.5 <= hour < 14:
        load_w += rng.uniform(0, 900)
    load_w *= rng.uniform(0.85, 1.15)
    quarter = STEP_S / 3600
    imported = max(0.0, load_w - solar_w)
    exported = max(0.0, solar_w - load_w)
    winter = 1 + math.cos(2 * math.pi * (day_of_year - 15) / 365)
    gas_w = (600 * winter + (1_500 if 7 <= hour < 8 or 19 <= hour < 20 else 0)) * rng.uniform(0.5, 1.5)
    water_l = rng.choice((0, 0, 0, 2, 5, 10, 40)) if 6 <= hour < 23 else 0
    return StepValues(
        int(imported * quarter),
        int(exported * quarter) if home.producer else None,
        int(gas_w * quarter),
        water_l,
    )


def home_envelopes(
    home: Home, start_ts: int, seed: int, next_counter: Callable[[str], int]
) -> list[Envelope]:
    values = step_values(home, start_ts, seed)
    electricity = [
        IntervalReading(start_ts, STEP_S, "electricity", "import", values.electricity_import, "raw")
    ]
    if values.electricity_export is not None:
        electricity.append(
            IntervalReading(start_ts, STEP_S, "electricity", "export", values.electricity_export, "raw")
        )
    return [
        Envelope(home.device_id, next_counter(home.device_id), home.electricity, "synced",
                 tuple(electricity)),
        Envelope(home.device_id, next_counter(home.device_id), home.gas, "synced",
                 (IntervalReading(start_ts, STEP_S, "gas", "import", values.gas, "raw"),)),
        Envelope(home.device_id, next_counter(home.device_id), home.water, "synced",
                 (IntervalReading(start_ts, STEP_S, "water", "import", values.water, "raw"),)),
    ]


class Counters:
    """Per-device monotonic counters from `base`."""

    def __init__(self, base: int | None = None) -> None:
        self._base = int(time.time() * 1000) if base is None else base
        self._last: dict[str, int] = {}

    def __call__(self, device_id: str) -> int:
        value = self._last.get(device_id, self._base) + 1
        self._last[device_id] = value
        return value


def simulated_steps(first_day: date, days: int) -> list[int]:
    """Step starts (Unix s) of `days` local days from `first_day` (DST days have 92 or 100)."""
    starts: list[int] = []
    for n in range(days):
        day = date.fromordinal(first_day.toordinal() + n)
        starts += [int(s.timestamp()) for s in day_step_starts(day, StepLength.MIN15)]
    return starts


def signed_messages(
    district: list[Home], steps: list[int], seed: int, counters: Counters
) -> Iterator[tuple[int, list[tuple[str, bytes]]]]:
    """(step start, [(device id, wire bytes)]) for each step, in time order."""
    for start_ts in steps:
        out: list[tuple[str, bytes]] = []
        for home in district:
            for envelope in home_envelopes(home, start_ts, seed, counters):
                out.append((home.device_id, seal(envelope, home.key)))
        yield start_ts, out


@dataclass
class SimulationReport:
    steps: int = 0
    published: int = 0


def run_simulation(
    publish: Callable[[str, bytes], None],
    district: list[Home],
    steps: list[int],
    *,
    seed: int,
    speed: float,
    counters: Counters | None = None,
    on_step: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SimulationReport:
    """Publish every home's envelopes step by step, `speed` times faster than real time
    (`publish(device_id, body)`). Never runs ahead of the wall clock: a step is sent once over."""
    report = SimulationReport()
    pace = STEP_S / speed if speed > 0 else 0.0
    next_at = time.monotonic()
    for start_ts, messages in signed_messages(district, steps, seed, counters or Counters()):
        while start_ts + STEP_S > time.time():  # the interval is not over yet in real time
            sleep(min(5.0, start_ts + STEP_S - time.time()))
        for device_id, body in messages:
            publish(device_id, body)
            report.published += 1
        report.steps += 1
        if on_step is not None:
            on_step(start_ts)
        next_at += pace
        delay = next_at - time.monotonic()
        if delay > 0:
            sleep(delay)
    return report


def live_backfill(first_day: date, now: float) -> list[int]:
    """Every step from `first_day` (Paris) that has ended by `now`: the current day first, so a
    chart of today has data at once, then the earlier days in order."""
    today = datetime.fromtimestamp(now, UTC).astimezone(PARIS).date()
    days = today.toordinal() - first_day.toordinal() + 1
    ended = [s for s in simulated_steps(first_day, max(days, 1)) if s + STEP_S <= now]
    today_start = int(datetime(today.year, today.month, today.day, tzinfo=PARIS).timestamp())
    return [s for s in ended if s >= today_start] + [s for s in ended if s < today_start]


def run_live(
    publish: Callable[[str, bytes], None],
    district: list[Home],
    first_day: date,
    *,
    seed: int,
    stop: threading.Event,
    counters: Counters | None = None,
    on_step: Callable[[int], None] | None = None,
    on_backfilled: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> SimulationReport:
    """Fill the days from `first_day` up to now, then publish each quarter-hour once it has ended
    on the wall clock, until `stop` is set. Between steps the process only waits on `stop`, so it
    costs next to nothing (bench/simulator.py measures it)."""
    report = SimulationReport()
    counters = counters or Counters()
    backfill = live_backfill(first_day, clock())

    def send(steps: list[int]) -> None:
        for start_ts, messages in signed_messages(district, steps, seed, counters):
            for device_id, body in messages:
                publish(device_id, body)
                report.published += 1
            report.steps += 1
            if on_step is not None:
                on_step(start_ts)
            if stop.is_set():
                return

    send(backfill)
    if on_backfilled is not None:
        on_backfilled(report.steps)
    next_start = max(backfill, default=int(clock()) // STEP_S * STEP_S - STEP_S) + STEP_S
    while not stop.is_set():
        wait = next_start + STEP_S - clock()
        if wait > 0:
            # at most a minute at a time: a suspended laptop or a clock step is caught up soon
            stop.wait(min(wait, 60.0))
            continue
        send([next_start])
        next_start += STEP_S
    return report
