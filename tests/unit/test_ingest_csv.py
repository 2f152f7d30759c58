"""Distributor CSV: 30-minute average power stamped at the end, 15-minute energy."""

from __future__ import annotations

import pytest

from ledger.energy import registry
from ledger.energy.csv_import import CsvFormat, import_csv, parse_csv
from ledger.energy.errors import CsvImportError
from ledger.energy.ingest import IngestPipeline
from ledger.energy.memory_store import MemoryEnergyStore

NOW = 1_800_000_000


def _pipeline() -> tuple[MemoryEnergyStore, IngestPipeline]:
    store = MemoryEnergyStore()
    registry.add_meter(store, b"csv-test-salt-0123456", "PRM1", "electricity", 12_000)
    return store, IngestPipeline(store, clock=lambda: NOW)


def test_enedis_power_at_interval_end_becomes_exact_energy_of_the_interval_before() -> None:
    data = b"meter;end;power_w\nPRM1;2025-06-21T10:30:00+02:00;1000\n"
    [(line, serial, reading)] = parse_csv(data, CsvFormat.ENEDIS_30MIN)[0]
    assert (line, serial, reading.value, reading.step_s) == (2, "PRM1", 500, 1800)
    assert reading.start.isoformat() == "2025-06-21T08:00:00+00:00"


def test_an_odd_power_is_not_refused_its_half_wh_goes_to_the_next_half_hour() -> None:
    data = (b"meter,end,power_w\nPRM1,2025-06-21T11:00:00Z,1001\nPRM1,2025-06-21T10:30:00Z,1001\n"
            b"PRM1,2025-06-21T11:30:00Z,1000\n")
    good, bad = parse_csv(data, CsvFormat.ENEDIS_30MIN)
    assert bad == []
    # in time order 1001, 1001, 1000 W: 500.5 + 500.5 + 500 = 1501 Wh, every half carried
    assert sorted((r.start_ts, r.value) for _, _, r in good) == [
        (1750500000, 500), (1750501800, 501), (1750503600, 500)]


def _enedis(*rows: tuple[str, int]) -> bytes:
    return ("meter,end,power_w\n" + "".join(f"PRM1,{end},{w}\n" for end, w in rows)).encode()


def test_the_half_wh_left_at_the_end_of_a_file_is_brought_into_the_next_file() -> None:
    store, pipeline = _pipeline()
    first = _enedis(("2025-06-21T10:30:00Z", 1001), ("2025-06-21T11:00:00Z", 1001),
                    ("2025-06-21T11:30:00Z", 999))
    second = _enedis(("2025-06-21T12:00:00Z", 1), ("2025-06-21T12:30:00Z", 2))
    assert import_csv(pipeline, first, CsvFormat.ENEDIS_30MIN).result.stored == 3
    assert import_csv(pipeline, second, CsvFormat.ENEDIS_30MIN).result.stored == 2
    values = [r.value for r in sorted(store.readings(), key=lambda r: r.start_ts)]
    assert values == [500, 501, 499, 1, 1]
    assert 2 * sum(values) == 1001 + 1001 + 999 + 1 + 2  # exact: no half Wh lost
    # the same files again: the same values, all duplicates (the carry is applied alike)
    assert import_csv(pipeline, second, CsvFormat.ENEDIS_30MIN).result.duplicates == 2
    assert import_csv(pipeline, first, CsvFormat.ENEDIS_30MIN).result.duplicates == 3


def test_a_power_above_the_connection_is_refused_before_its_half_moves() -> None:
    store, pipeline = _pipeline()
    data = _enedis(("2025-06-21T10:30:00Z", 1001), ("2025-06-21T11:00:00Z", 12_001),
                   ("2025-06-21T11:30:00Z", 1))
    report = import_csv(pipeline, data, CsvFormat.ENEDIS_30MIN)
    assert [(r.line, r.code) for r in report.rejected] == [(3, "above_physical_max")]
    # 10:00 and 11:00 are no longer consecutive: each is its own run
    assert sorted(r.value for r in store.readings()) == [0, 500]


def test_distributor_rows_are_stored_as_settlement_grade_and_bad_rows_refused_alone() -> None:
    store, pipeline = _pipeline()
    data = (b"meter,start,wh,direction\nPRM1,2025-03-30T01:45:00+01:00,10,import\n"
            b"PRM1,2025-03-30T03:00:00+02:00,11,import\nPRM1,2025-03-30T03:05:00+02:00,1,import\n"
            b"NOPE,2025-03-30T03:00:00+02:00,1,import\nPRM1,2025-03-30T03:15:00+02:00,99999,export\n"
            b"PRM1,2025-03-30 03:30:00,1,import\n")
    report = import_csv(pipeline, data, CsvFormat.ENERGY_15MIN)
    assert report.result.stored == 2
    assert [(r.line, r.code) for r in report.rejected] == [
        (4, "misaligned"), (5, "unknown_meter"), (6, "above_physical_max"), (7, "malformed")]
    rows = store.readings()
    # 01:45+01:00 and 03:00+02:00 are consecutive quarter-hours across the spring change
    assert [r.start_ts for r in rows] == [rows[0].start_ts, rows[0].start_ts + 900]
    assert {r.source for r in rows} == {"distributor"}
    again = import_csv(pipeline, data, CsvFormat.ENERGY_15MIN)
    assert (again.result.stored, again.result.duplicates) == (0, 2)
    assert store.counts()["rejected.misaligned"] == 2


def test_a_file_without_the_columns_is_refused_with_what_is_missing() -> None:
    with pytest.raises(CsvImportError, match="power_w"):
        parse_csv(b"meter,end\n", CsvFormat.ENEDIS_30MIN)
