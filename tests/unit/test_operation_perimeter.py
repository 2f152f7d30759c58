"""The operation's regulatory checks: 2 km between the furthest participants (10 / 20 km by
derogation), installed producer power against 3 MW (5 MW), a supply contract per consumer."""

from __future__ import annotations

from ledger.domain.energy.perimeter import Site, check_operation, distance_m

# Lyon 3e: place Guichard and a point about 1.9 km east; Villeurbanne about 4 km away
GUICHARD = (45_759_700, 4_842_200)
EAST = (45_759_700, 4_866_600)
VILLEURBANNE = (45_771_900, 4_890_000)


def test_distances_are_great_circle_metres_rounded_up() -> None:
    assert 1_880 <= distance_m(GUICHARD, EAST) <= 1_900
    assert distance_m(GUICHARD, GUICHARD) == 0
    assert 3_900 <= distance_m(GUICHARD, VILLEURBANNE) <= 4_000


def _sites(far: tuple[int, int], installed: int = 9_000) -> list[Site]:
    return [Site("PRM-P", *GUICHARD, True, installed), Site("PRM-C", *far, False, None)]


def test_every_rule_reported_with_its_figures() -> None:
    checks = {c.name: c for c in check_operation(_sites(EAST), {"0xc": True})}
    assert all(c.ok for c in checks.values())
    assert "PRM-P and PRM-C" in checks["perimeter"].detail and "limit is 2000 m" in checks["perimeter"].detail
    far = {c.name: c for c in check_operation(_sites(VILLEURBANNE), {"0xc": False})}
    assert not far["perimeter"].ok and not far["supply contracts"].ok
    assert "0xc" in far["supply contracts"].detail
    derogation = check_operation(_sites(VILLEURBANNE), {"0xc": True}, perimeter_m=10_000)
    assert all(c.ok for c in derogation)


def test_the_producer_power_cap_and_missing_facts_fail_the_check() -> None:
    over = {c.name: c for c in check_operation(_sites(EAST, 3_000_001), {})}
    assert not over["producer power"].ok
    five = {c.name: c for c in check_operation(_sites(EAST, 3_000_001), {}, power_cap_w=5_000_000)}
    assert five["producer power"].ok
    unplaced = [Site("PRM-P", None, None, True, None)]
    checks = {c.name: c for c in check_operation(unplaced, {})}
    assert not checks["coordinates"].ok and not checks["perimeter"].ok
    assert "installed power unknown for PRM-P" in checks["producer power"].detail
