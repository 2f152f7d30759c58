"""The half Wh of an odd Enedis wattage is carried across files on SQLite and PostgreSQL too
(recorded in energy_half_wh_carries with the file's hash), and a day of odd powers settles."""

from __future__ import annotations

import uuid
from pathlib import Path

from ledger.energy.csv_import import CsvFormat, import_csv
from ledger.energy.ingest import IngestPipeline
from tests.integration.test_reviews_and_corrections import _world, postgres_url  # noqa: F401

NOW = 1_800_000_000


def _carry_across_files(url: str) -> None:
    store = _world(url)
    try:
        pipeline = IngestPipeline(store, clock=lambda: NOW)
        first = b"meter,end,power_w\nPRM-C1,2025-06-21T10:30:00Z,1001\nPRM-C1,2025-06-21T11:00:00Z,2\n"
        second = b"meter,end,power_w\nPRM-C1,2025-06-21T11:30:00Z,1\n"
        assert import_csv(pipeline, first, CsvFormat.ENEDIS_30MIN).rejected == ()
        assert import_csv(pipeline, second, CsvFormat.ENEDIS_30MIN).rejected == ()
        values = [r.value for r in store.readings()]
        assert values == [500, 1, 1] and 2 * sum(values) == 1001 + 2 + 1
        again = import_csv(pipeline, second, CsvFormat.ENEDIS_30MIN)
        assert again.result.duplicates == 1 and again.result.held == 0
    finally:
        store.engine.dispose()


def test_on_sqlite(tmp_path: Path) -> None:
    _carry_across_files(f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}")


def test_on_postgresql(postgres_url: str) -> None:  # noqa: F811
    _carry_across_files(postgres_url)
