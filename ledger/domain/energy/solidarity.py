"""The social energy price: the commons fund pays part of an eligible household's shared solar.

The producer is always paid the tariff's price. A household the town hall's social service found
eligible (a flag with an expiry, on chain in the CommonsFund) pays `discount_bps` less; the fund
pays that part, within what is left of its programme's month. When the parts of a day add up to
more than is left, each is scaled down in proportion (floor), so the fund never pays more than is
left and every eligible household keeps the same share of help; once nothing is left, households
pay the normal price. Integers in micro-M3E; every rounding is down, in the fund's favour.

Peak pays for off-peak: a tariff schedule may carry a solidarity component. Every consumer pays
`peak_surcharge` µ€/kWh more for the shared solar it bought in the peak band, to the fund, and the
fund pays `off_peak_discount` µ€/kWh of what it bought in the off-peak band. Per consumer and day:
surcharge = floor(peak Wh x surcharge / 1000), discount = floor(off-peak Wh x discount / 1000);
the surcharge's rounding favours the consumer, the discount's the fund, so the fund never pays a
fraction nobody paid it. The discounts of a day are paid from what the fund may still pay after
the social price plus that day's surcharges, scaled down in proportion (floor) when short, and a
household's discount never exceeds what it still pays after the social price.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ledger.domain.energy.errors import TariffError

BPS = 10_000


@dataclass(frozen=True, slots=True)
class SocialPrice:
    """What a day's settlement needs to apply the social price.

    fund: the fund's account (a paying member of the operation); eligible: the accounts eligible
    on the day; discount_bps: the share of the price the fund pays for them (0 to 10,000; 0: no
    social price, the fund takes part only through a tariff's solidarity component);
    budget_left: what the fund may still pay this month, in micro-M3E.
    """

    fund: str
    eligible: frozenset[str]
    discount_bps: int
    budget_left: int

    def __post_init__(self) -> None:
        if type(self.discount_bps) is not int or not 0 <= self.discount_bps <= BPS:
            raise TariffError(
                f"a social discount is 0 to {BPS} basis points of the price, got {self.discount_bps!r}"
            )
        if type(self.budget_left) is not int or self.budget_left < 0:
            raise TariffError(f"a budget left is a whole number of micro-M3E >= 0, got {self.budget_left!r}")
        if self.fund in self.eligible:
            raise TariffError("the commons fund cannot be an eligible household")


def solidarity_parts(bought: Mapping[str, int], social: SocialPrice) -> dict[str, int]:
    """household -> micro-M3E the fund pays of its day's purchases (`bought`: value at the tariff).

    Households not eligible, and parts of zero, are left out.
    """
    wanted = {
        who: value * social.discount_bps // BPS
        for who, value in sorted(bought.items())
        if who in social.eligible and value > 0
    }
    wanted = {who: part for who, part in wanted.items() if part > 0}
    total = sum(wanted.values())
    if total <= social.budget_left:
        return wanted
    scaled = {who: part * social.budget_left // total for who, part in wanted.items()}
    return {who: part for who, part in scaled.items() if part > 0}


MILLI = 1000
"""Wh per kWh: a rate in µ€/kWh times Wh is in 1/1000 µ€."""


def _scaled(wanted: Mapping[str, int], available: int) -> dict[str, int]:
    """`wanted` when it fits `available`, else each part scaled down in proportion (floor)."""
    kept = {who: part for who, part in sorted(wanted.items()) if part > 0}
    total = sum(kept.values())
    if total > available:
        kept = {who: part * available // total for who, part in kept.items()}
    return {who: part for who, part in kept.items() if part > 0}


def tariff_solidarity(
    peak_wh: Mapping[str, int],
    off_peak_wh: Mapping[str, int],
    peak_surcharge: int,
    off_peak_discount: int,
    room: Mapping[str, int],
    budget: int,
) -> tuple[dict[str, int], dict[str, int]]:
    """(surcharges, discounts) in micro-M3E per consumer for one day.

    `peak_wh` / `off_peak_wh`: the shared solar each consumer bought in each band; `room`: the
    most the fund may pay for a consumer (its purchase minus its social part); `budget`: what the
    fund may still pay this day after the social price. The discounts add up to at most `budget`
    plus the surcharges, so the fund's net (discounts minus surcharges) stays within `budget`.
    Zero amounts are left out.
    """
    for rate in (peak_surcharge, off_peak_discount, budget):
        if type(rate) is not int or rate < 0:
            raise TariffError(f"solidarity rates and budgets are whole numbers >= 0, got {rate!r}")
    surcharges = {who: wh * peak_surcharge // MILLI for who, wh in sorted(peak_wh.items())}
    surcharges = {who: part for who, part in surcharges.items() if part > 0}
    wanted = {
        who: min(wh * off_peak_discount // MILLI, max(0, room.get(who, 0))) for who, wh in off_peak_wh.items()
    }
    return surcharges, _scaled(wanted, budget + sum(surcharges.values()))
