"""The repartition key the PMO sends Enedis, as CSV.

- static key: one row per consumer PRM with its fixed coefficient, `prm;coefficient`;
- dynamic key (the ledger's default prorata and priority cascade, computed from the readings):
  one row per consumer PRM and step, `prm;start;coefficient`, the coefficient being the share of
  the step's production the ledger allocates to that PRM (A_i / P; 0 when nothing is produced).

Coefficients are decimals with 6 places, rounded DOWN so a step's coefficients never sum above 1
(exact fractions such as 1/3 cannot be written in decimals). The separator is `;` and times are
ISO 8601 with their UTC offset. Enedis documents the key exchange for PMOs in its ACC procedures;
the exact column names and decimal precision of its upload format could not be confirmed from
public sources here: check them against the template Enedis gives the PMO and adapt the header.
"""

from __future__ import annotations

from datetime import UTC, date
from fractions import Fraction

from ledger.domain.energy.allocation import StaticKey, allocate_step
from ledger.energy.settlement import SettlementError
from ledger.energy.settlement_source import SettlementReadingStore, day_inputs, key_on

PLACES = 6


def coefficient(value: Fraction) -> str:
    """A fraction in [0, 1] as a decimal with 6 places, rounded down."""
    scaled = value.numerator * 10**PLACES // value.denominator
    return f"{scaled // 10**PLACES}.{scaled % 10**PLACES:0{PLACES}d}"


def export_key(store: SettlementReadingStore, operation_id: str, day: date) -> str:
    serial = {m.serial_hash: m.serial for m in store.operation_meters(operation_id)}
    key = key_on(store, operation_id, day)
    if isinstance(key, StaticKey):
        lines = ["prm;coefficient"]
        for meter_hash, share in sorted(key.shares.items(), key=lambda kv: serial[kv[0]]):
            lines.append(f"{serial[meter_hash]};{coefficient(share)}")
        return "\n".join(lines) + "\n"
    inputs = day_inputs(store, operation_id, day)  # a dynamic key needs the day's readings
    lines = ["prm;start;coefficient"]
    for start, readings in sorted(inputs.readings.items()):
        alloc = allocate_step(readings, inputs.key)
        produced = alloc.total_production
        iso = start.astimezone(UTC).isoformat().replace("+00:00", "Z")
        for meter_hash in sorted(alloc.allocated, key=lambda h: serial[h]):
            share = Fraction(alloc.allocated[meter_hash], produced) if produced else Fraction(0)
            if share > 1:
                raise SettlementError("an allocation above the production: refusing to export")
            lines.append(f"{serial[meter_hash]};{iso};{coefficient(share)}")
    return "\n".join(lines) + "\n"
