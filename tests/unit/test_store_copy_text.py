"""The PostgreSQL COPY text the store builds in one string: exact, or refused (row by row then)
whenever a value would need escaping."""

from __future__ import annotations

import pytest

from ledger.db.store import _BULK, _copy_text

TX = "0x" + "ef" * 32
RAW = (69003, 7, 0, TX, 0, "0x" + "11" * 20, "0x" + "aa" * 32, "0x" + "bb" * 32, None, None, "0x")


def test_raw_logs_are_written_with_nulls_for_missing_topics() -> None:
    text = _copy_text("raw_logs", [RAW, RAW], len(_BULK["raw_logs"]))
    line = "\t".join(["69003", "7", "0", TX, "0", "0x" + "11" * 20, "0x" + "aa" * 32,
                      "0x" + "bb" * 32, "\\N", "\\N", "0x"]) + "\n"
    assert text == line * 2


def test_other_tables_are_written_value_by_value() -> None:
    row = (69003, 5, 1, TX, 3, "registered", "0x" + "22" * 20, 4, "Boulangerie", True)
    text = _copy_text("merchant_events", [row], len(_BULK["merchant_events"]))
    assert text == "\t".join(str(v) for v in row) + "\n"


@pytest.mark.parametrize("name", ["tab\there", "new\nline", "back\\slash", "\\N", "cr\rhere"])
def test_a_value_that_needs_escaping_falls_back_to_row_by_row(name: str) -> None:
    row = (69003, 5, 1, TX, 3, "registered", "0x" + "22" * 20, 4, name, True)
    assert _copy_text("merchant_events", [row], len(_BULK["merchant_events"])) is None
    raw = (*RAW[:10], name)  # a node answering a log's data with such text
    assert _copy_text("raw_logs", [raw], len(_BULK["raw_logs"])) is None


def test_a_null_outside_raw_logs_topics_falls_back_to_row_by_row() -> None:
    row = (69003, 5, 1, TX, 3, "payout", "0x" + "22" * 20, None, None, None)
    assert _copy_text("merchant_events", [row], len(_BULK["merchant_events"])) is None


def test_blocks_known_from_their_logs_are_written_with_a_null_parent() -> None:
    known = (69003, 8, "0x" + "08" * 32, "0x" + "07" * 32, 1_700_000_008)
    from_logs = (69003, 9, "0x" + "09" * 32, None, 1_700_000_009)
    text = _copy_text("blocks", [known, from_logs], len(_BULK["blocks"]))
    assert text == ("\t".join(["69003", "8", "0x" + "08" * 32, "0x" + "07" * 32, "1700000008"])
                    + "\n" + "\t".join(["69003", "9", "0x" + "09" * 32, "\\N", "1700000009"])
                    + "\n")
    odd = (69003, 9, "tab\there", None, 1)  # a hash that would need escaping: row by row
    assert _copy_text("blocks", [odd], len(_BULK["blocks"])) is None
