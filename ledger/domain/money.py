"""Amounts of the district currency: integers in micro-M3E (1 M3E = 1_000_000), shown as text.

The one display rule, used by the service, the API and the wallet: at least two decimals, more
only when the amount is not a whole cent, never rounded.
"""

from __future__ import annotations

MICRO = 1_000_000
DECIMALS = 6
SYMBOL = "M3E"


def format_micro(micro: int, symbol: str = SYMBOL, *, full: bool = False, thousands: str = "") -> str:
    """12_500_000 -> "12.50 M3E"; 1_234_567 -> "1.234567 M3E".

    `full` prints all six decimals; `thousands` groups the whole part ("1 000.00 M3E");
    an empty `symbol` gives the number alone. The sign of a negative amount is kept.
    """
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    digits = f"{frac:0{DECIMALS}d}"
    if not full:
        digits = digits.rstrip("0").ljust(2, "0")
    whole_text = f"{whole:,}".replace(",", thousands) if thousands else str(whole)
    text = f"{sign}{whole_text}.{digits}"
    return f"{text} {symbol}" if symbol else text


def parse_m3e(text: str) -> int:
    """"12.50" (M3E, at most six decimals) -> 12_500_000 micro-M3E, exactly; ValueError else.

    Digits with an optional dot; no sign, exponent or separator. Integer arithmetic only.
    """
    cleaned = text.strip()
    if cleaned.upper().endswith(SYMBOL):
        cleaned = cleaned[: -len(SYMBOL)].strip()
    whole, _, frac = cleaned.partition(".")
    if not (whole or frac) or not (whole + frac).isascii() or not (whole + frac).isdigit():
        raise ValueError(f"{text!r} is not an amount: write a number of {SYMBOL} such as \"5000.00\"")
    if len(frac) > DECIMALS:
        raise ValueError(
            f"{text!r} has more than {DECIMALS} decimals: the smallest amount is 0.000001 {SYMBOL}; "
            "round it to 6 decimals at most (nothing is rounded for you)"
        )
    return int(whole or "0") * MICRO + int(frac.ljust(DECIMALS, "0") or "0")
