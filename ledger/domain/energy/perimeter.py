"""The regulatory checks of a collective self-consumption operation (French rules), pure.

- Perimeter: the two participants furthest apart are at most 2 km from each other (the 2 km
  "diameter"); by derogation 10 km (peri-urban) or 20 km (rural). Coordinates are micro-degrees
  (integers, WGS 84); distances are great-circle metres (haversine, Earth radius 6,371,008.8 m),
  rounded up so a pair is never reported closer than it is.
- Installed producer power: at most 3 MW in total (5 MW where that cap applies).
- Every consumer has a supply contract for its complement (a supplier and a contract reference).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8
PERIMETERS_M = (2_000, 10_000, 20_000)
POWER_CAPS_W = (3_000_000, 5_000_000)


@dataclass(frozen=True, slots=True)
class Site:
    name: str  # the meter (PRM) for the operator's eyes
    lat_e6: int | None
    lon_e6: int | None
    producer: bool
    installed_w: int | None


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def distance_m(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Great-circle distance in whole metres (rounded up) between two (lat, lon) micro-degrees."""
    lat1, lon1, lat2, lon2 = (math.radians(v / 1_000_000) for v in (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return math.ceil(2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h))))


def check_operation(
    sites: Sequence[Site],
    contracts: Mapping[str, bool],
    *,
    perimeter_m: int = 2_000,
    power_cap_w: int = 3_000_000,
) -> list[Check]:
    """Each check with its verdict and the figures behind it. `contracts`: consumer -> has one."""
    checks: list[Check] = []
    unplaced = sorted(s.name for s in sites if s.lat_e6 is None or s.lon_e6 is None)
    placed = [s for s in sites if s.lat_e6 is not None and s.lon_e6 is not None]
    checks.append(Check(
        "coordinates", not unplaced,
        "every meter has coordinates" if not unplaced else
        f"no coordinates for {', '.join(unplaced)}: set them with `ledger meter site`",
    ))
    widest = (0, "", "")
    for x, y in itertools.combinations(placed, 2):
        d = distance_m((x.lat_e6, x.lon_e6), (y.lat_e6, y.lon_e6))  # type: ignore[arg-type]
        if d > widest[0]:
            widest = (d, x.name, y.name)
    within = widest[0] <= perimeter_m and not unplaced
    checks.append(Check(
        "perimeter", within,
        f"the furthest participants ({widest[1]} and {widest[2]}) are {widest[0]} m apart; the "
        f"limit is {perimeter_m} m" if widest[1] else f"fewer than two placed meters; limit {perimeter_m} m",
    ))
    producers = [s for s in sites if s.producer]
    unknown = sorted(s.name for s in producers if s.installed_w is None)
    installed = sum(s.installed_w or 0 for s in producers)
    checks.append(Check(
        "producer power", not unknown and installed <= power_cap_w,
        f"{installed:,} W installed over {len(producers)} producer(s) against {power_cap_w:,} W"
        + (f"; installed power unknown for {', '.join(unknown)}" if unknown else ""),
    ))
    lacking = sorted(name for name, has in contracts.items() if not has)
    checks.append(Check(
        "supply contracts", not lacking,
        f"{len(contracts)} consumer(s), each with a supply contract" if not lacking else
        f"no supply contract for {', '.join(lacking)}: record it with `ledger participant contract`",
    ))
    return checks
