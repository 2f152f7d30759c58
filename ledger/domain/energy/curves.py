"""Distributor curves into whole Wh, exactly.

Enedis publishes load curves as the *average power* in W over each 30-minute interval. The
energy of an interval is P x 0.5 h = P / 2 Wh: an odd P is a whole Wh and a half. The ledger keeps
whole Wh, so the half is **carried**, never refused, never rounded away:

    counting in half-Wh, with c the half carried into a run of consecutive half-hours (0 or 1):
        S_0 = c,  S_i = S_(i-1) - 2 E_(i-1) + P_i,  E_i = floor(S_i / 2)
    so each interval gets the whole Wh available so far and at most one half Wh waits for the
    next half-hour; after the run, 2 x sum(E_i) + carry_out = c + sum(P_i), exactly.

Example: 1001 W, 1001 W, 1000 W -> 500 Wh, 501 Wh, 500 Wh (1501 Wh, as 3002 W x 0.5 h), no carry.
The half left at the end of a run (carry_out = 1) belongs to the next half-hour of the same meter,
direction and version; the I/O side records it and brings it in when that half-hour arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HALF_HOUR_S = 1800


@dataclass(frozen=True, slots=True)
class HalfHourRun:
    """Whole Wh per half-hour of a run, and whether a half Wh is left for the next half-hour."""

    energy_wh: tuple[int, ...]
    carry_out: int
    next_start_ts: int


def powers_to_wh(start_ts: int, powers_w: Sequence[int], carry_in: int = 0) -> HalfHourRun:
    """Consecutive 30-minute average powers (W, >= 0) from `start_ts` into whole Wh with the
    carry rule of the module docstring. `carry_in` is 0 or 1 (a half Wh from the previous run)."""
    if carry_in not in (0, 1):
        raise ValueError("the carried energy is 0 or 1 half Wh")
    halves = carry_in
    out: list[int] = []
    for power in powers_w:
        if power < 0:
            raise ValueError("an average power is never negative")
        halves += power
        wh = halves // 2
        out.append(wh)
        halves -= 2 * wh
    return HalfHourRun(tuple(out), halves, start_ts + HALF_HOUR_S * len(powers_w))


def consecutive_runs(starts: Sequence[int]) -> list[tuple[int, int]]:
    """(first index, end index) of the runs of consecutive half-hours in sorted `starts`."""
    runs: list[tuple[int, int]] = []
    first = 0
    for n in range(1, len(starts) + 1):
        if n == len(starts) or starts[n] != starts[n - 1] + HALF_HOUR_S:
            runs.append((first, n))
            first = n
    return runs if starts else []
