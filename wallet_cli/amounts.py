"""Amounts of M3E: text typed by a person <-> integer micro-M3E (6 decimals).

Parsing goes through `Decimal` built from the text (never a float), accepts at most 6 decimals
and only positive amounts, and fails with a sentence saying what to type instead. Formatting
shows the symbol and two decimals ("12.50 M3E"), or every significant decimal when the amount is
not a whole number of cents ("0.125 M3E"), so nothing is ever rounded away on screen.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation, localcontext

from ledger.domain.money import DECIMALS, SYMBOL, format_micro
from wallet_cli.errors import AmountError

UNIT = 10**DECIMALS
MAX_UINT256 = 2**256 - 1

_AMOUNT_TEXT = re.compile(r"^[0-9]+(\.[0-9]*)?$|^\.[0-9]+$")


def parse_amount(text: str) -> int:
    """Parse "12.50" (M3E) into micro-M3E (12_500_000), exactly.

    Accepts digits with an optional decimal point; refuses signs, exponents, commas, zero, more
    than 6 decimals and amounts that do not fit in a uint256.
    """
    cleaned = text.strip()
    if cleaned.upper().endswith(SYMBOL):
        cleaned = cleaned[: -len(SYMBOL)].strip()
    if "," in cleaned:
        raise AmountError(
            f"'{text}' is not an amount: use a dot for decimals and no thousands separator, "
            "for example 12.50."
        )
    if not _AMOUNT_TEXT.match(cleaned):
        raise AmountError(
            f"'{text}' is not an amount: type a positive number of {SYMBOL} such as 12.50."
        )
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:  # pragma: no cover - the regex already filtered
        raise AmountError(f"'{text}' is not an amount.") from exc
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and value != 0 and exponent < -DECIMALS:
        raise AmountError(
            f"'{text}' has more than {DECIMALS} decimals: the smallest amount is 0.000001 {SYMBOL}."
        )
    with localcontext() as ctx:
        ctx.prec = len(cleaned) + DECIMALS + 2  # exact: never round in the scaling
        micro = int(value.scaleb(DECIMALS))
    if micro <= 0:
        raise AmountError(f"The amount must be more than zero (got '{text}').")
    if micro > MAX_UINT256:
        raise AmountError(f"'{text}' is too large an amount.")
    return micro


def to_decimal(micro: int) -> Decimal:
    """micro-M3E as an exact Decimal number of M3E (for JSON output and arithmetic on text)."""
    with localcontext() as ctx:
        ctx.prec = len(str(abs(micro))) + DECIMALS + 2
        return Decimal(micro).scaleb(-DECIMALS)


def format_amount(micro: int, *, symbol: bool = True, full: bool = False) -> str:
    """Format micro-M3E: "12.50 M3E"; all significant decimals when not a whole cent.

    `full` always prints the 6 decimals ("12.500000 M3E"). Negative amounts keep their sign.
    """
    return format_micro(micro, SYMBOL if symbol else "", full=full)


def plain_amount(micro: int) -> str:
    """The amount as a plain decimal string without symbol or padding ("12.5"), for URIs/JSON."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), UNIT)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{f'{frac:0{DECIMALS}d}'.rstrip('0')}"
