"""Exact amounts for people: micro-M3E ints to "12.50 M3E" and ratios as decimal strings."""

from __future__ import annotations

from ledger.domain.money import MICRO, SYMBOL, format_micro

__all__ = ["MICRO", "SYMBOL", "display", "display_digits", "parse_micro", "ratio"]


def display(micro: int, symbol: str = SYMBOL) -> str:
    """At least two decimals, more only when the amount needs them (never rounded)."""
    if micro < 0 or not symbol:
        return format_micro(micro, symbol)
    return display_digits(str(micro), symbol)


def display_digits(digits: str, symbol: str = SYMBOL) -> str:
    """`display` of an amount >= 0 given as its decimal digits, `str(micro)`, with a symbol.

    format_micro's text in fewer steps (property tests hold them equal), cut from the digits the
    history page already has for its `micro` field: it writes one per line and is the API's
    heaviest common read."""
    if len(digits) < 7:
        digits = digits.rjust(7, "0")
    whole, frac = digits[:-6], digits[-6:]
    if frac.endswith("0000"):
        return f"{whole}.{frac[:2]} {symbol}"
    return f"{whole}.{frac.rstrip('0')} {symbol}"


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
