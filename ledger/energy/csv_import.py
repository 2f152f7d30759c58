"""CSV import of distributor load curves (settlement-grade, source "distributor").

Two formats, comma or semicolon separated, UTF-8 (a BOM is accepted), one header line:

- `enedis-30min`: columns `meter,end,power_w[,direction][,version]`: the *average power* in W
  over the 30 minutes that END at `end` (how Enedis stamps load curves). Energy is
  W x 0.5 h = W / 2 Wh, computed exactly: an odd number of W would be half a Wh, which the ledger
  does not store (whole Wh only), so that row is refused with `non_integer_energy` (never rounded).
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
from dataclasses import dataclass
from datetime import UTC, datetime

from ledger.energy.envelope import DIRECTIONS, VERSIONS, Code, IntervalReading, Rejected
from ledger.energy.errors import CsvImportError
from ledger.energy.ingest import IngestPipeline, IngestResult


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


def parse_csv(
    data: bytes, fmt: CsvFormat
) -> tuple[list[tuple[int, str, IntervalReading]], list[RowRejection]]:
    """(line, meter serial, reading) for each good row, and the refused rows."""
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
        power = _whole(row[index["power_w"]], "power_w")
        if power % 2:
            raise Rejected(
                Code.NON_INTEGER_ENERGY,
                f"{power} W over 30 minutes is {power // 2}.5 Wh; the ledger keeps whole Wh and never "
                "rounds settlement data: ask the distributor for the energy curve (Wh) instead",
            )
        value = power // 2
    else:
        step = 900
        start = _instant(row[index["start"]])
        value = _whole(row[index["wh"]], "wh")
    if start % step:
        raise Rejected(Code.MISALIGNED, f"the interval does not start on a {step // 60}-minute boundary")
    if value < 0:
        raise Rejected(Code.NEGATIVE_VALUE, f"the energy is negative ({value} Wh)")
    return serial, IntervalReading(start, step, "electricity", direction, value, version)


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
    good, bad = parse_csv(data, fmt)
    result, refused = pipeline.ingest_distributor(
        [(s, r) for _, s, r in good], data, refused_before=[Code(r.code) for r in bad]
    )
    rejected = list(bad)
    for n, rejection in refused:
        line = good[n][0]
        rejected.append(RowRejection(line, rejection.code or "", f"line {line}: {rejection.message}"))
    rejected.sort(key=lambda r: r.line)
    return ImportReport(result, len(good) + len(bad), tuple(rejected))
