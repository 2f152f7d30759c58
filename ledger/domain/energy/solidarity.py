"""The social energy price: the commons fund pays part of an eligible household's shared solar.

The producer is always paid the tariff's price. A household the town hall's social service found
eligible (a flag with an expiry, on chain in the CommonsFund) pays `discount_bps` less; the fund
pays that part, within what is left of its programme's month. When the parts of a day add up to
more than is left, each is scaled down in proportion (floor), so the fund never pays more than is
left and every eligible household keeps the same share of help; once nothing is left, households
pay the normal price. Integers in micro-M3E; every rounding is down, in the fund's favour.
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
    on the day; discount_bps: the share of the price the fund pays for them (1 to 10,000);
    budget_left: what the fund may still pay this month, in micro-M3E.
    """

    fund: str
    eligible: frozenset[str]
    discount_bps: int
    budget_left: int

    def __post_init__(self) -> None:
        if type(self.discount_bps) is not int or not 0 < self.discount_bps <= BPS:
            raise TariffError(
                f"a social discount is 1 to {BPS} basis points of the price, got {self.discount_bps!r}"
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
