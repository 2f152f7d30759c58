"""Exact amounts for people: micro-M3E ints to "12.50 M3E" and ratios as decimal strings."""

from __future__ import annotations

from ledger.domain.money import MICRO, SYMBOL, format_micro

__all__ = ["MICRO", "SYMBOL", "display", "parse_micro", "ratio"]


def display(micro: int, symbol: str = SYMBOL) -> str:
    """At least two decimals, more only when the amount needs them (never rounded)."""
    if micro < 0 or not symbol:
        return format_micro(micro, symbol)
    # format_micro's text in fewer steps (a property test holds them equal): the history
    # endpoint writes one per line and is the API's heaviest common read.
    whole, frac = divmod(micro, MICRO)
    if frac % 10_000 == 0:
        return f"{whole}.{frac // 10_000:02d} {symbol}"
    return f"{whole}.{frac:06d}".rstrip("0") + f" {symbol}"


def ratio(numerator: int, denominator: int, places: int = 6) -> str | None:
    """numerator / denominator rounded down to `places` decimals; None when dividing by zero."""
    if denominator <= 0 or numerator < 0:
        return None
    scaled = numerator * 10**places // denominator
    whole, frac = divmod(scaled, 10**places)
    return f"{whole}.{frac:0{places}d}" if places else str(whole)


def parse_micro(text: str) -> int:
    """A non-negative integer amount in micro-M3E given as decimal digits; ValueError else."""
    if not text.isascii() or not text.isdigit() or len(text) > 78:
        raise ValueError("an amount is a whole number of micro-M3E, in digits")
    value = int(text)
    if value >= 2**256:
        raise ValueError("the amount does not fit a uint256")
    return value
