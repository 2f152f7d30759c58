"""`wallet energy mandate` in words: the contract's day of the last pull is a yyyymmdd number,
and a mandate that never pulled anything holds 0 or 1 there (setMandate prepares the slot)."""

from __future__ import annotations

import pytest

from wallet_cli.commands.energy import mandate_sentence


@pytest.mark.parametrize("window", [0, 1])
def test_a_mandate_that_never_pulled_says_so_instead_of_a_day_number(window: int) -> None:
    text = mandate_sentence("lyon3-soleil", 2_000_000, 40_000_000, window, 0, 0)
    assert text.endswith("nothing pulled yet.")
    assert " on 1 " not in text and " on 0 " not in text


def test_the_last_pull_is_dated() -> None:
    text = mandate_sentence("lyon3-soleil", 2_000_000, 40_000_000, 20260614, 1_250_000, 9_500_000)
    assert "pulled 1.25 M3E on 2026-06-14 and 9.50 M3E that month." in text
