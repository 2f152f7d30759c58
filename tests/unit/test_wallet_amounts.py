"""Amounts: text typed by a person <-> integer micro-M3E, never through a float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wallet_cli.amounts import format_amount, parse_amount, plain_amount, to_decimal
from wallet_cli.errors import AmountError, UsageError


@pytest.mark.parametrize(
    ("text", "micro"),
    [
        ("12.50", 12_500_000),
        ("12", 12_000_000),
        ("0.000001", 1),
        ("0.1", 100_000),
        (".5", 500_000),
        ("5.", 5_000_000),
        (" 7.25 ", 7_250_000),
        ("3 M3E", 3_000_000),
        ("1000000", 1_000_000_000_000),
        ("0.10000000", 100_000),
        ("123456789012345678901234567890.123456", 123456789012345678901234567890123456),
    ],
)
def test_amount_text_parses_to_exact_micro_m3e(text: str, micro: int) -> None:
    assert parse_amount(text) == micro


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0", "more than zero"),
        ("0.000000", "more than zero"),
        ("0.0000001", "more than 6 decimals"),
        ("1.1234567", "more than 6 decimals"),
        ("-1", "positive number"),
        ("+1", "positive number"),
        ("1e3", "positive number"),
        ("NaN", "positive number"),
        ("Infinity", "positive number"),
        ("1,50", "use a dot"),
        ("1,000.00", "use a dot"),
        ("", "positive number"),
        ("abc", "positive number"),
        ("1.2.3", "positive number"),
        ("9" * 80, "too large"),
    ],
)
def test_bad_amounts_are_refused_with_what_to_type(text: str, fragment: str) -> None:
    with pytest.raises(AmountError, match=fragment) as info:
        parse_amount(text)
    assert isinstance(info.value, UsageError)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("micro", "shown"),
    [
        (12_500_000, "12.50 M3E"),
        (12_000_000, "12.00 M3E"),
        (0, "0.00 M3E"),
        (1, "0.000001 M3E"),
        (125_000, "0.125000 M3E"),
        (247_998_010, "247.998010 M3E"),
        (12_345_678, "12.345678 M3E"),
        (-2_500_000, "-2.50 M3E"),
        (10_000, "0.01 M3E"),
    ],
)
def test_amounts_show_the_symbol_and_two_decimals_or_all_six_when_not_a_whole_cent(
    micro: int, shown: str
) -> None:
    assert format_amount(micro) == shown


def test_full_precision_and_plain_forms() -> None:
    assert format_amount(12_500_000, full=True) == "12.500000 M3E"
    assert format_amount(12_500_000, symbol=False) == "12.50"
    assert plain_amount(12_500_000) == "12.5"
    assert plain_amount(12_000_000) == "12"
    assert to_decimal(1) == Decimal("0.000001")


@given(st.integers(min_value=1, max_value=10**30))
def test_formatting_then_parsing_gives_back_the_same_amount(micro: int) -> None:
    assert parse_amount(format_amount(micro)) == micro
    assert parse_amount(format_amount(micro, symbol=False)) == micro
    assert parse_amount(plain_amount(micro)) == micro


@given(
    st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("1e12"), places=6)
)
def test_parsing_matches_decimal_arithmetic(value: Decimal) -> None:
    assert parse_amount(str(value) if "E" not in str(value) else f"{value:f}") == int(
        value * 1_000_000
    )
