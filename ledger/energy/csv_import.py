"""CSV import of distributor load curves (settlement-grade, source "distributor").

Two formats, comma or semicolon separated, UTF-8 (a BOM is accepted), one header line:

- `enedis-30min`: columns `meter,end,power_w[,direction][,version]`: the *average power* in W
  over the 30 minutes that END at `end` (how Enedis stamps load curves). Energy is
  W x 0.5 h = W / 2 Wh. An odd number of W is a whole Wh and a half: the half is carried to the
  next half-hour of the same meter, direction and version (ledger.domain.energy.curves), never
  refused nor rounded away. Within a file the rows of a meter are taken in time order; the half
  left after the last half-hour of a run is recorded (energy_half_wh_carries) and brought into
  that next half-hour when it arrives in a later file. Re-importing a file gives the same values
  (duplicates). Known limit: a file imported *before* the file of the preceding half-hours does
  not receive their half Wh (it stays recorded, unapplied): import distributor files in order.
- `energy-15min`: columns `meter,start,wh[,direction][,version]`: energy in Wh over the
  15 minutes that START at `start`.

Times are ISO 8601 with their UTC offset (2025-03-30T03:00:00+02:00 or ...Z); `direction` is
`import` (withdrawn, the default) or `export` (injected); `version` `raw` (default) or
`corrected`. Every row goes through the same checks as gateway readings (registered meter,
physical maximum, not in the future, step boundary); a bad row is refused alone with its line
number, the others are stored. The sha256 of the file is kept with every stored row.
"""

from __future__ import annotations

import csv
import enum
import io
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from ledger.domain.energy.curves import consecutive_runs, powers_to_wh
from ledger.energy.envelope import (
    DIRECTIONS,
    MIN_START_TS,
    VERSIONS,
    Code,
    IntervalReading,
    Rejected,
)
from ledger.energy.errors import CsvImportError
from ledger.energy.ingest import CarryKey, IngestPipeline, IngestResult


class CsvFormat(enum.StrEnum):
    ENEDIS_30MIN = "enedis-30min"
    ENERGY_15MIN = "energy-15min"


_COLUMNS = {
    CsvFormat.ENEDIS_30MIN: ("meter", "end", "power_w"),
    CsvFormat.ENERGY_15MIN: ("meter", "start", "wh"),
}
_OPTIONAL = ("direction", "version")


@dataclass(frozen=True, slots=True)
class RowRejection:
    line: int
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    result: IngestResult
    rows: int
    rejected: tuple[RowRejection, ...]

    def to_json(self) -> dict[str, object]:
        return {
            **self.result.to_json(),
            "rows": self.rows,
            "rejected": [{"line": r.line, "code": r.code, "message": r.message} for r in self.rejected],
        }


Row = tuple[int, str, IntervalReading]


def parse_csv(data: bytes, fmt: CsvFormat) -> tuple[list[Row], list[RowRejection]]:
    """(line, meter serial, reading in Wh) for each good row, and the refused rows; 30-minute
    powers are converted with no half Wh carried in from earlier files."""
    good, bad = _parse_rows(data, fmt)
    if fmt is CsvFormat.ENEDIS_30MIN:
        good, _, more = powers_to_energy(good, set())
        bad = sorted([*bad, *more], key=lambda r: r.line)
    return good, bad


def powers_to_energy(
    rows: list[Row], carried: set[CarryKey]
) -> tuple[list[Row], list[CarryKey], list[RowRejection]]:
    """30-minute rows whose value is the average power (W) into whole Wh with the carry rule:
    per (meter, direction, version), runs of consecutive half-hours; `carried` are the run
    starts that receive a half Wh from earlier data. Returns the rows in Wh, the half-hours that
    receive a half Wh left by these rows, and rows refused for repeating a half-hour."""
    groups: dict[tuple[str, str, str], list[Row]] = {}
    for row in rows:
        _, serial, r = row
        groups.setdefault((serial, r.direction, r.version), []).append(row)
    out: list[Row] = []
    carries: list[CarryKey] = []
    refused: list[RowRejection] = []
    for (serial, direction, version), members in groups.items():
        members.sort(key=lambda row: (row[2].start_ts, row[0]))
        unique: list[Row] = []
        for row in members:
            if unique and unique[-1][2].start_ts == row[2].start_ts:
                refused.append(RowRejection(
                    row[0], Code.MALFORMED.value,
                    f"line {row[0]}: repeats the half-hour of line {unique[-1][0]} (one value each)",
                ))
                continue
            unique.append(row)
        starts = [row[2].start_ts for row in unique]
        for first, end in consecutive_runs(starts):
            run = unique[first:end]
            start = starts[first]
            carry_in = 1 if (serial, direction, version, start) in carried else 0
            converted = powers_to_wh(start, [row[2].value for row in run], carry_in)
            for (line, _, r), wh in zip(run, converted.energy_wh, strict=True):
                out.append((line, serial, replace(r, value=wh)))
            if converted.carry_out:
                carries.append((serial, direction, version, converted.next_start_ts))
    out.sort(key=lambda row: row[0])
    return out, carries, refused


def _parse_rows(data: bytes, fmt: CsvFormat) -> tuple[list[Row], list[RowRejection]]:
    """Rows as written (30-minute rows carry the power in W as their value)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvImportError("the file is not UTF-8 text") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise CsvImportError("the file is empty") from None
    required = _COLUMNS[fmt]
    missing = [c for c in required if c not in header]
    if missing:
        raise CsvImportError(
            f"the {fmt} format needs the columns {', '.join(required)} (optional: "
            f"{', '.join(_OPTIONAL)}); missing: {', '.join(missing)}"
        )
    index = {name: header.index(name) for name in (*required, *_OPTIONAL) if name in header}
    good: list[tuple[int, str, IntervalReading]] = []
    bad: list[RowRejection] = []
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            if len(row) < len(header):
                raise Rejected(Code.MALFORMED, f"{len(row)} fields where the header has {len(header)}")
            serial, reading = _row(fmt, index, row)
        except Rejected as exc:
            bad.append(RowRejection(line, exc.code.value, f"line {line}: {exc.message}"))
            continue
        good.append((line, serial, reading))
    return good, bad


def _row(fmt: CsvFormat, index: dict[str, int], row: list[str]) -> tuple[str, IntervalReading]:
    serial = row[index["meter"]].strip()
    if not serial:
        raise Rejected(Code.MALFORMED, "the meter is empty")
    direction = row[index["direction"]].strip().lower() if "direction" in index else "import"
    if direction not in DIRECTIONS:
        raise Rejected(Code.MALFORMED, f"direction must be import or export, not {direction!r}")
    version = row[index["version"]].strip().lower() if "version" in index else "raw"
    if version not in VERSIONS:
        raise Rejected(Code.MALFORMED, f"version must be raw or corrected, not {version!r}")
    if fmt == CsvFormat.ENEDIS_30MIN:
        step = 1800
        end = _instant(row[index["end"]])
        start = end - step
        value = _whole(row[index["power_w"]], "power_w")  # W: into Wh by powers_to_energy
    else:
        step = 900
        start = _instant(row[index["start"]])
        value = _whole(row[index["wh"]], "wh")
    if start < MIN_START_TS:
        raise Rejected(Code.OUT_OF_RANGE, "the interval starts before 2000-01-01")
    if start % step:
        raise Rejected(Code.MISALIGNED, f"the interval does not start on a {step // 60}-minute boundary")
    if value < 0:
        raise Rejected(Code.NEGATIVE_VALUE, f"the energy is negative ({value} Wh)")
    return serial, IntervalReading(start, step, "electricity", direction, value, version)


def _refuse_above_connection(
    pipeline: IngestPipeline, rows: list[Row]
) -> tuple[list[Row], list[RowRejection]]:
    """A power above the meter's connection is refused before the carry (its half Wh must not
    move into a neighbour); unknown meters are left to the pipeline, which refuses them."""
    meters = pipeline.meters({s for _, s, _ in rows})
    kept: list[Row] = []
    refused: list[RowRejection] = []
    for line, serial, r in rows:
        meter = meters.get(serial)
        if meter is not None and r.value > meter.max_rate:
            refused.append(RowRejection(
                line, Code.ABOVE_PHYSICAL_MAX.value,
                f"line {line}: {r.value} W is above what the connection can carry "
                f"({meter.max_rate} W)",
            ))
            continue
        kept.append((line, serial, r))
    return kept, refused


def _instant(text: str) -> int:
    text = text.strip()
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise Rejected(Code.MALFORMED, f"{text[:40]!r} is not an ISO 8601 time") from None
    if instant.tzinfo is None:
        raise Rejected(
            Code.MALFORMED, f"{text} has no UTC offset: local times are ambiguous on DST days"
        )
    if instant.second or instant.microsecond:
        raise Rejected(Code.MISALIGNED, f"{text} is not on a whole minute")
    return int(instant.astimezone(UTC).timestamp())


def _whole(text: str, column: str) -> int:
    text = text.strip()
    if not text.lstrip("-").isdigit():
        raise Rejected(Code.MALFORMED, f"{column} must be a whole number, got {text[:20]!r}")
    return int(text)


def import_csv(pipeline: IngestPipeline, data: bytes, fmt: CsvFormat) -> ImportReport:
    """Parse and ingest one distributor file (source "distributor")."""
    good, bad = _parse_rows(data, fmt)
    carries: list[CarryKey] = []
    if fmt is CsvFormat.ENEDIS_30MIN:
        good, over = _refuse_above_connection(pipeline, good)
        candidates = {(s, r.direction, r.version, r.start_ts) for _, s, r in good}
        good, carries, repeated = powers_to_energy(good, pipeline.half_wh_carries(candidates))
        bad = sorted([*bad, *over, *repeated], key=lambda r: r.line)
    result, refused = pipeline.ingest_distributor(
        [(s, r) for _, s, r in good], data, refused_before=[Code(r.code) for r in bad],
        carries=carries,
    )
    rejected = list(bad)
    for n, rejection in refused:
        line = good[n][0]
        rejected.append(RowRejection(line, rejection.code or "", f"line {line}: {rejection.message}"))
    rejected.sort(key=lambda r: r.line)
    return ImportReport(result, len(good) + len(bad), tuple(rejected))
