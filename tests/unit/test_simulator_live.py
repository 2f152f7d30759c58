"""The simulator on the wall clock: today is filled first and only up to now, each later
quarter-hour goes out once it has ended, never ahead of the clock, and a stop ends it; the named
prosumers get homes with solar roofs of their own."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

from ledger.energy.simulator import STEP_S, build_district, live_backfill, run_live

# 2026-06-10 10:07 in Paris (UTC+2): 40 quarter-hours of the day have ended
NOW = int(datetime(2026, 6, 10, 8, 7, tzinfo=UTC).timestamp())
TODAY_START = int(datetime(2026, 6, 9, 22, 0, tzinfo=UTC).timestamp())
BRUNO = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"


class FakeClock(threading.Event):
    """A stop event whose waits move a fake wall clock instead of sleeping."""

    def __init__(self, now: float) -> None:
        super().__init__()
        self.now = now
        self.waited: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None and timeout > 0
        self.waited.append(timeout)
        self.now += timeout
        return self.is_set()


def test_the_backfill_sends_today_first_then_the_past_days_and_nothing_that_has_not_ended() -> None:
    steps = live_backfill(date(2026, 6, 8), NOW)
    assert steps[:40] == [TODAY_START + n * STEP_S for n in range(40)]
    assert len(steps) == 2 * 96 + 40
    assert steps[40] == TODAY_START - 2 * 96 * STEP_S
    assert all(start + STEP_S <= NOW for start in steps)


def test_live_steps_go_out_each_once_the_quarter_hour_has_ended_until_stopped() -> None:
    district = build_district(2, seed=7)
    clock = FakeClock(NOW)
    sent: list[tuple[int, float]] = []

    def on_step(start_ts: int) -> None:
        sent.append((start_ts, clock.now))
        if start_ts == TODAY_START + 42 * STEP_S:
            clock.set()

    published: list[str] = []
    report = run_live(lambda device, body: published.append(device), district, date(2026, 6, 10),
                      seed=7, stop=clock, on_step=on_step, clock=clock)
    live = [(start, at) for start, at in sent if start >= TODAY_START + 40 * STEP_S]
    assert [start for start, _ in live] == [TODAY_START + n * STEP_S for n in (40, 41, 42)]
    assert all(at >= start + STEP_S for start, at in live)  # never ahead of the clock
    assert report.steps == 43
    assert report.published == 43 * 2 * 3  # each home: electricity, gas, water
    assert max(clock.waited) <= 60


def test_a_stop_during_the_backfill_ends_it_at_once() -> None:
    clock = FakeClock(NOW)
    clock.set()
    report = run_live(lambda device, body: None, build_district(1, seed=7), date(2026, 6, 1),
                      seed=7, stop=clock, clock=clock)
    assert report.steps == 1


def test_named_prosumers_get_a_solar_home_of_their_own_after_the_simulated_ones() -> None:
    district = build_district(4, seed=7, prosumers=[BRUNO])
    assert len(district) == 5
    bruno = district[4]
    assert bruno.wallet.lower() == BRUNO.lower() and bruno.producer
    assert bruno.device_id not in {h.device_id for h in district[:4]}
    plain = build_district(4, seed=7)
    assert [(h.wallet, h.public_key) for h in plain] == [(h.wallet, h.public_key) for h in district[:4]]
