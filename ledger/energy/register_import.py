"""Cumulative register indexes into interval energy, through the real import path.

CSV format `register-index` (comma or semicolon, UTF-8, one header line)::

    meter,at,index[,direction][,device][,event]

- `meter`: the registered meter (its number in the registry, the PRM for an Enedis point);
- `at`: the instant of the reading, ISO 8601 with its UTC offset, on a step boundary;
- `index`: the cumulative register in Wh (a whole number >= 0);
- `direction`: import (default) or export; `device`: the physical meter's own serial (default:
  the registered number), which changes when the meter is replaced;
- `event`: empty, or `final` (the old meter's last index) / `initial` (the new meter's first
  index) at a replacement.

Each sample is stored (energy_register_samples, with the file's sha256), then every pair of
samples one step apart on the same meter and direction gives the energy of that step, fed to the
reading pipeline as distributor data (same checks, duplicates dropped, conflicts held):

- an index lower than the previous one is a rollover of the register (modulus 10^9 Wh by
  default, `--modulus`) when the difference fits the physical maximum of the step; otherwise a
  reset: the step is left missing (a gap, reported), never guessed;
- a replacement (device changed) is computed from the old meter's final and the new meter's
  initial index; without them, the step is a gap;
- samples further apart than one step leave the steps between them missing.

Samples of earlier files count: a file that starts where the previous one ended continues it.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from ledger.energy.csv_import import ImportReport, RowRejection, _instant, _whole
from ledger.energy.envelope import (
    DEFAULT_REGISTER_MODULUS,
    DIRECTIONS,
    MIN_START_TS,
    REGISTER_EVENTS,
    Code,
    IntervalReading,
    Rejected,
)
from ledger.energy.errors import CsvImportError
from ledger.energy.ingest import Gap, IngestPipeline, IngestResult, StoredSample, intervals_of

DEFAULT_MODULUS = DEFAULT_REGISTER_MODULUS
EVENTS = REGISTER_EVENTS
__all__ = ["StoredSample", "import_registers", "intervals_of", "parse_registers"]


class RegisterStore(Protocol):
    def add_register_samples(self, samples: Sequence[StoredSample], raw_sha256: str) -> None:
        """Store the samples (an identical sample already stored is kept once)."""
        ...

    def register_samples(
        self, meters: Collection[str], start_ts: int, end_ts: int
    ) -> list[StoredSample]:
        """Stored samples of these meters with start_ts <= at < end_ts."""
        ...


@dataclass(frozen=True, slots=True)
class RegisterReport:
    report: ImportReport
    samples: int
    gaps: tuple[tuple[str, str, Gap], ...]

    def to_json(self) -> dict[str, object]:
        return {
            **self.report.to_json(), "samples": self.samples,
            "gaps": [{"meter": m, "direction": d, "start": g.start_ts, "end": g.end_ts,
                      "reason": g.reason} for m, d, g in self.gaps],
        }


def parse_registers(data: bytes) -> tuple[list[tuple[int, StoredSample]], list[RowRejection]]:
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
    missing = [c for c in ("meter", "at", "index") if c not in header]
    if missing:
        raise CsvImportError(
            "the register-index format needs the columns meter, at, index (optional: direction, "
            f"device, event); missing: {', '.join(missing)}"
        )
    col = {name: header.index(name) for name in header}
    good: list[tuple[int, StoredSample]] = []
    bad: list[RowRejection] = []
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            if len(row) < len(header):
                raise Rejected(Code.MALFORMED, f"{len(row)} fields where the header has {len(header)}")
            meter = row[col["meter"]].strip()
            if not meter:
                raise Rejected(Code.MALFORMED, "the meter is empty")
            at = _instant(row[col["at"]])
            if at < MIN_START_TS:
                raise Rejected(Code.OUT_OF_RANGE, "the reading is dated before 2000-01-01")
            index = _whole(row[col["index"]], "index")
            if index < 0 or index >= 2**53:
                raise Rejected(Code.OUT_OF_RANGE, f"the index must be 0 to {2**53 - 1} Wh")
            direction = row[col["direction"]].strip().lower() if "direction" in col else "import"
            if direction not in DIRECTIONS:
                raise Rejected(Code.MALFORMED, f"direction must be import or export, not {direction!r}")
            device = (row[col["device"]].strip() if "device" in col else "") or meter
            event = row[col["event"]].strip().lower() if "event" in col else ""
            if event not in EVENTS:
                raise Rejected(Code.MALFORMED, f"event must be empty, final or initial, not {event!r}")
        except Rejected as exc:
            bad.append(RowRejection(line, exc.code.value, f"line {line}: {exc.message}"))
            continue
        good.append((line, StoredSample(meter, direction, at, index, device[:128], event)))
    return good, bad


def import_registers(
    pipeline: IngestPipeline,
    store: RegisterStore,
    data: bytes,
    *,
    step_s: int = 900,
    modulus: int = DEFAULT_MODULUS,
) -> RegisterReport:
    """Store the samples of one file and ingest the step energies they complete."""
    if step_s not in (900, 1800) or modulus < 2:
        raise CsvImportError("the step is 900 or 1800 s and the modulus at least 2")
    good, bad = parse_registers(data)
    lines = len(good) + len(bad)
    sha = hashlib.sha256(data).hexdigest()
    meters = pipeline.meters({s.meter for _, s in good})
    unknown = [(line, s) for line, s in good if s.meter not in meters]
    bad += [RowRejection(line, Code.UNKNOWN_METER.value,
                         f"line {line}: this meter is not registered: add it with `ledger meter add`")
            for line, _ in unknown]
    samples = [s for _, s in good if s.meter in meters]
    if samples:
        store.add_register_samples(samples, sha)
    rows: list[tuple[str, IntervalReading]] = []
    gaps: list[tuple[str, str, Gap]] = []
    for meter, direction in sorted({(s.meter, s.direction) for s in samples}):
        mine = [s for s in samples if (s.meter, s.direction) == (meter, direction)]
        lo = min(s.at_ts for s in mine) - step_s
        hi = max(s.at_ts for s in mine) + step_s + 1
        near = [s for s in store.register_samples({meter}, lo, hi) if s.direction == direction]
        limit = meters[meter].max_per_step(step_s)
        intervals, found = intervals_of(near, step_s, modulus, limit)
        rows += [(meter, IntervalReading(start, step_s, "electricity", direction, wh, "raw"))
                 for start, wh in intervals]
        gaps += [(meter, direction, g) for g in found]
    if rows:
        result, refused = pipeline.ingest_distributor(
            rows, data, channel="csv", refused_before=[Code(r.code) for r in bad]
        )
        bad += [RowRejection(0, r.code or "", f"step {rows[n][1].start_ts}: {r.message}")
                for n, r in refused]
    else:
        result = IngestResult("rejected" if bad else "accepted", sha)
    report = ImportReport(result, lines, tuple(sorted(bad, key=lambda r: r.line)))
    return RegisterReport(report, len(samples), tuple(gaps))
