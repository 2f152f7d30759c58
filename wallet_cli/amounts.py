"""Amounts of M3E: text typed by a person <-> integer micro-M3E (6 decimals).

Parsing goes through `Decimal` built from the text (never a float), accepts at most 6 decimals
and only positive amounts, and fails with a sentence saying what to type instead. Formatting
shows the symbol and two decimals ("12.50 M3E"), or all six decimals when the amount is not a
whole number of cents ("0.125000 M3E"), so nothing is ever rounded away on screen and the number
of decimals is one of two, never three to five; energy is shown in kWh with three decimals.
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
    if cleaned.startswith("-"):
        raise AmountError(
            f"'{text}' is negative: an amount is a positive number of {SYMBOL} such as 12.50 "
            "(to give money back, the merchant refunds: `wallet refund`)."
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


CENT = UNIT // 100


def format_amount(micro: int, *, symbol: bool = True, full: bool | None = None) -> str:
    """Format micro-M3E in one of two fixed forms: "12.50 M3E" (a whole number of cents) or all
    six decimals "0.125000 M3E" (nothing is rounded away), never three to five decimals.

    `full` True forces the six decimals (a table where some amount needs them), False the short
    form when it is exact. Negative amounts keep their sign.
    """
    six = micro % CENT != 0 if full is None else (full or micro % CENT != 0)
    return format_micro(micro, SYMBOL if symbol else "", full=six)


def needs_six_decimals(micros: list[int]) -> bool:
    """True when one amount of a table is not a whole cent: then every row shows six decimals."""
    return any(m % CENT for m in micros)


def format_wh(wh: int) -> str:
    """Energy in kWh with three decimals, exact from integer Wh: 12345 -> "12.345 kWh"."""
    sign = "-" if wh < 0 else ""
    whole, rest = divmod(abs(wh), 1000)
    return f"{sign}{whole}.{rest:03d} kWh"


def plain_amount(micro: int) -> str:
    """The amount as a plain decimal string without symbol or padding ("12.5"), for URIs/JSON."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), UNIT)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{f'{frac:0{DECIMALS}d}'.rstrip('0')}"
