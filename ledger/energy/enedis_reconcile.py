"""Reconcile the ledger's allocation with what Enedis publishes for the operation.

Enedis, the metering authority, publishes for each PRM (meter point) and step of a collective
self-consumption operation the energy allocated to a consumer (autoconsommée), its complement
(what its supplier still provides) and, for a producer, the surplus (injected, not allocated).
Suppliers bill from those figures, so the ledger must match them to the Wh.

The file read here (`ledger energy reconcile-enedis FILE`), one header line, comma or semicolon::

    meter,start,allocated_wh,complement_wh,surplus_wh

`meter` is the registered meter (PRM); `start` the step start, ISO 8601 with its UTC offset; a
figure left empty is not compared (a consumer has no surplus, a producer no complement). Rows of a
finer step than the day's settlement step are summed into it. Enedis's own file layouts differ by
channel (portal export, SGE flows); convert them to these columns. For each figure the ledger
recomputes the day from the stored readings with the same pure allocation core that settles it
and reports every difference above `tolerance_wh` (1 Wh).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime

from ledger.domain.energy.allocation import allocate_step
from ledger.domain.energy.steps import local_day_of
from ledger.energy.csv_import import _instant
from ledger.energy.envelope import Rejected
from ledger.energy.errors import CsvImportError
from ledger.energy.settlement_source import (
    DayOpenError,
    SettlementReadingStore,
    day_inputs,
)

FIGURES = ("allocated_wh", "complement_wh", "surplus_wh")


@dataclass(frozen=True, slots=True)
class Difference:
    meter: str
    start_ts: int
    figure: str
    enedis_wh: int
    ledger_wh: int | None  # None: the ledger has no such figure (not a member, day open...)
    note: str = ""

    def line(self) -> str:
        at = datetime.fromtimestamp(self.start_ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        ours = "none" if self.ledger_wh is None else f"{self.ledger_wh} Wh"
        delta = "" if self.ledger_wh is None else f" (difference {self.enedis_wh - self.ledger_wh:+d} Wh)"
        return f"{self.meter} {at} {self.figure}: Enedis {self.enedis_wh} Wh, ledger {ours}{delta}" + (
            f" - {self.note}" if self.note else "")


@dataclass(frozen=True, slots=True)
class Reconciliation:
    compared: int
    differences: tuple[Difference, ...]
    days: tuple[date, ...]


Published = dict[tuple[str, int, str], int]
"""(meter, step start Unix s, figure) -> Wh."""


def parse_publication(data: bytes) -> Published:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvImportError("the file is not UTF-8 text") from None
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text), delimiter=";" if first.count(";") > first.count(",") else ",")
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise CsvImportError("the file is empty") from None
    if "meter" not in header or "start" not in header or not set(FIGURES) & set(header):
        raise CsvImportError(
            "the Enedis figures need the columns meter, start and at least one of "
            f"{', '.join(FIGURES)}"
        )
    col = {h: n for n, h in enumerate(header)}
    out: Published = {}
    for line, row in enumerate(reader, start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) < len(header):
            raise CsvImportError(f"line {line}: {len(row)} fields where the header has {len(header)}")
        try:
            start = _instant(row[col["start"]])
        except Rejected as exc:
            raise CsvImportError(f"line {line}: {exc.message}") from None
        meter = row[col["meter"]].strip()
        for figure in FIGURES:
            if figure not in col or not row[col[figure]].strip():
                continue
            text_value = row[col[figure]].strip()
            if not text_value.isdigit():
                raise CsvImportError(f"line {line}: {figure} must be a whole number of Wh")
            key = (meter, start, figure)
            out[key] = out.get(key, 0) + int(text_value)
    return out


def reconcile(
    store: SettlementReadingStore, operation_id: str, published: Published, *, tolerance_wh: int = 1
) -> Reconciliation:
    days = sorted({local_day_of(datetime.fromtimestamp(ts, UTC)) for _, ts, _ in published})
    differences: list[Difference] = []
    compared = 0
    serial_of = {m.serial_hash: m.serial for m in store.operation_meters(operation_id)}
    for day in days:
        try:
            inputs = day_inputs(store, operation_id, day)
        except DayOpenError as exc:
            for (meter, ts, figure), wh in published.items():
                if local_day_of(datetime.fromtimestamp(ts, UTC)) == day:
                    differences.append(Difference(meter, ts, figure, wh, None, f"day open: {exc}"[:160]))
            continue
        step_s = int(inputs.step) * 60
        ours: dict[tuple[str, int, str], int] = {}
        for start, readings in inputs.readings.items():
            ts = int(start.timestamp())
            alloc = allocate_step(readings, inputs.key)
            supplied = alloc.supplied()
            for meter_hash, allocated in alloc.allocated.items():
                serial = serial_of.get(meter_hash, meter_hash)
                ours[(serial, ts, "allocated_wh")] = allocated
                ours[(serial, ts, "complement_wh")] = alloc.consumption[meter_hash] - allocated
            for meter_hash, produced in alloc.production.items():
                serial = serial_of.get(meter_hash, meter_hash)
                ours[(serial, ts, "surplus_wh")] = produced - supplied.get(meter_hash, 0)
        theirs: dict[tuple[str, int, str], int] = {}
        for (meter, ts, figure), wh in published.items():
            if local_day_of(datetime.fromtimestamp(ts, UTC)) == day:
                slot = ts - ts % step_s
                theirs[(meter, slot, figure)] = theirs.get((meter, slot, figure), 0) + wh
        for key, wh in sorted(theirs.items()):
            compared += 1
            mine = ours.get(key)
            if mine is None:
                differences.append(Difference(*key, wh, None, "no such figure in the ledger"))
            elif abs(wh - mine) > tolerance_wh:
                differences.append(Difference(*key, wh, mine))
    return Reconciliation(compared, tuple(differences), tuple(days))
