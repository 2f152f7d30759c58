"""The repartition key for Enedis: per-step coefficients of the dynamic key (A_i / P rounded down,
never summing above 1), static coefficients per PRM without needing any reading."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from ledger.energy import registry
from ledger.energy.enedis_key import coefficient, export_key
from ledger.energy.ingest import IngestPipeline
from tests.integration.test_reviews_and_corrections import _rows, _world
from tests.unit.test_settlement_source import CONSUMERS, DAY, NOW, OP, PRODUCERS, SALT, WALLETS


def test_coefficients_are_rounded_down_to_six_places() -> None:
    assert coefficient(Fraction(1, 3)) == "0.333333" and coefficient(Fraction(1)) == "1.000000"
    assert coefficient(Fraction(2, 3)) == "0.666666"


def test_the_dynamic_key_gives_each_step_the_share_allocated(tmp_path: Path) -> None:
    store = _world(f"sqlite:///{tmp_path / 'key.db'}")
    try:
        IngestPipeline(store, clock=lambda: NOW).ingest_distributor(_rows(), b"file")
        rows = export_key(store, OP, DAY).splitlines()
        assert rows[0] == "prm;start;coefficient" and len(rows) == 1 + 96 * len(CONSUMERS)
        sums: dict[str, Fraction] = {}
        for row in rows[1:]:
            _, start, value = row.split(";")
            sums[start] = sums.get(start, Fraction(0)) + Fraction(value)
        assert max(sums.values()) <= 1 and min(sums.values()) == 0  # night: nothing produced
        # a production step: P = 300, C = 50 / 70 / 60 -> each gets its need: 50/300, 70/300...
        assert "PRM-C1;2025-06-15T05:30:00Z;0.166666" in rows
    finally:
        store.engine.dispose()


def test_the_static_key_needs_no_reading(tmp_path: Path) -> None:
    from ledger.db import make_engine, migrate
    from ledger.db.energy_store import SqlEnergyStore

    engine = make_engine(f"sqlite:///{tmp_path / 'static.db'}")
    migrate(engine)
    store = SqlEnergyStore(engine)
    try:
        registry.add_operation(store, OP, "static", "static", 900)
        shares = {"PRM-C1": "1/3", "PRM-C2": "1/3", "PRM-C3": "1/3"}
        for serial in (*PRODUCERS, *CONSUMERS):
            role = "producer" if serial in PRODUCERS else "consumer"
            registry.add_participant(store, OP, WALLETS[serial], role, shares.get(serial))
            registry.add_meter(store, SALT, serial, "electricity", 12_000, operation_id=OP,
                               wallet=WALLETS[serial])
        assert export_key(store, OP, DAY) == (
            "prm;coefficient\nPRM-C1;0.333333\nPRM-C2;0.333333\nPRM-C3;0.333333\n")
    finally:
        engine.dispose()
