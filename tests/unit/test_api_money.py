"""The API's amount text: `display` is format_micro's text, whatever its shortcut."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from api.money import display, display_digits
from ledger.domain.money import format_micro

UINT256_MAX = 2**256 - 1


@given(st.integers(min_value=-(10**30), max_value=UINT256_MAX), st.sampled_from(["M3E", "€", ""]))
def test_display_writes_the_same_text_as_format_micro_for_every_amount(micro: int, symbol: str) -> None:
    assert display(micro, symbol) == format_micro(micro, symbol)


@given(st.integers(min_value=0, max_value=10**15).map(lambda cents: cents * 10_000))
def test_display_of_whole_cents_shows_two_decimals_like_format_micro(micro: int) -> None:
    assert display(micro) == format_micro(micro)


# Amounts of every length, with 0 to 6 trailing zeros (where the decimals are cut) as often as not.
AMOUNTS = st.one_of(
    st.integers(min_value=0, max_value=UINT256_MAX),
    st.tuples(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=6)).map(
        lambda pair: pair[0] * 10 ** pair[1]
    ),
)


@given(AMOUNTS, st.sampled_from(["M3E", "€"]))
def test_display_from_the_digits_writes_the_same_text_as_format_micro(micro: int, symbol: str) -> None:
    assert display_digits(str(micro), symbol) == format_micro(micro, symbol)


def test_display_keeps_every_significant_decimal_and_pads_to_two() -> None:
    assert display(12_500_000) == "12.50 M3E"
    assert display(1_234_567) == "1.234567 M3E"
    assert display(1_000_010) == "1.00001 M3E"
    assert display(1_123_000) == "1.123 M3E"
    assert display(120_000) == "0.12 M3E"
    assert display(0) == "0.00 M3E"
    assert display(-2_400_000) == "-2.40 M3E"
