"""`ledger allocate`: the operator's preview of how local solar energy is shared, step by step.

Reads a readings CSV (and a shares file for the static and priority keys), allocates every
step with the pure core (ledger.domain.energy) and prints, per step, the Wh allocated to each
consumer, who supplied whom and the surplus. Nothing is written anywhere.

Exit codes: 0 done; 2 bad usage or input (the message names the file and line).
"""

from __future__ import annotations

import csv
import enum
import json
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Annotated, NoReturn, TextIO

import typer

from ledger.domain.energy.allocation import (
    MISSING,
    AllocationKey,
    DefaultKey,
    PriorityKey,
    Reading,
    StaticKey,
    StepAllocation,
    StepReadings,
    allocate_step,
    parse_share,
)
from ledger.domain.energy.errors import EnergyError, MissingReadingError
from ledger.domain.energy.steps import (
    PARIS,
    StepLength,
    aggregate_curve_to_30,
    curve_resolution,
)

EXIT_INPUT = 2
READING_COLUMNS = ("step_start", "meter", "direction", "wh")
_WHOLE = re.compile(r"[0-9]+")


class KeyName(enum.StrEnum):
    default = "default"
    static = "static"
    priority = "priority"


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_INPUT)


def _rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file whose header holds `columns`."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror}")
    with handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
            lacking = [c for c in columns if c not in header]
            if lacking:
                _fail(
                    f"{path}, line 1: the header needs the columns {', '.join(columns)} "
                    f"(missing: {', '.join(lacking)})"
                )
            for row in reader:
                if None in row or any(row.get(c) is None for c in columns):
                    _fail(f"{path}, line {reader.line_num}: expected {len(header)} fields")
                yield reader.line_num, {c: (row[c] or "").strip() for c in columns}
        except (csv.Error, UnicodeDecodeError) as exc:
            _fail(f"{path}, line {reader.line_num}: not a readable CSV line ({exc})")


def _whole_wh(path: Path, line: int, text: str) -> int:
    if text.startswith("-") and _WHOLE.fullmatch(text[1:]):
        _fail(f"{path}, line {line}: negative energy ({text} Wh); Wh are >= 0")
    if not _WHOLE.fullmatch(text):
        _fail(f"{path}, line {line}: wh must be a whole number of Wh, got {text!r}")
    return int(text)


def _step_start(path: Path, line: int, text: str) -> datetime:
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"{path}, line {line}: step_start {text!r} is not an ISO 8601 date-time")
    if start.tzinfo is None:
        _fail(f"{path}, line {line}: step_start {text!r} needs a UTC offset (+01:00, Z...)")
    utc = start.astimezone(UTC)
    if utc.minute % 15 or utc.second or utc.microsecond:
        _fail(f"{path}, line {line}: step_start {text!r} is not the start of a quarter-hour")
    return utc


Curves = dict[str, dict[datetime, int]]


def read_readings(path: Path) -> tuple[Curves, Curves]:
    """(injections by producer, withdrawals by consumer) from a readings CSV.

    Exact duplicates are dropped; two different values for the same meter, step and direction
    are refused.
    """
    curves: dict[str, Curves] = {"export": {}, "import": {}}
    seen: dict[tuple[str, str, datetime], tuple[int, int]] = {}
    for line, row in _rows(path, READING_COLUMNS):
        start = _step_start(path, line, row["step_start"])
        meter = row["meter"]
        if not meter:
            _fail(f"{path}, line {line}: the meter is empty")
        direction = row["direction"].lower()
        if direction not in curves:
            _fail(f"{path}, line {line}: direction must be import or export, got {row['direction']!r}")
        wh = _whole_wh(path, line, row["wh"])
        previous = seen.get((direction, meter, start))
        if previous is not None:
            if previous[1] != wh:
                _fail(
                    f"{path}, line {line}: meter {meter} has two different {direction} values "
                    f"for {row['step_start']} (line {previous[0]}: {previous[1]} Wh, "
                    f"here {wh} Wh)"
                )
            continue
        seen[(direction, meter, start)] = (line, wh)
        curves[direction].setdefault(meter, {})[start] = wh
    if not seen:
        _fail(f"{path}: no readings")
    return curves["export"], curves["import"]


def read_key(kind: KeyName, path: Path | None) -> AllocationKey:
    if kind is KeyName.default:
        if path is not None:
            _fail("--shares is only for --key static or --key priority")
        return DefaultKey()
    if path is None:
        _fail(
            f"--key {kind.value} needs --shares FILE (columns meter,"
            f"{'share' if kind is KeyName.static else 'level'})"
        )
    column = "share" if kind is KeyName.static else "level"
    values: dict[str, tuple[int, str]] = {}
    for line, row in _rows(path, ("meter", column)):
        meter = row["meter"]
        if not meter:
            _fail(f"{path}, line {line}: the meter is empty")
        if meter in values:
            _fail(f"{path}, line {line}: meter {meter} is listed twice (first on line {values[meter][0]})")
        values[meter] = (line, row[column])
    try:
        if kind is KeyName.static:
            shares: dict[str, Fraction] = {}
            for meter, (line, text) in values.items():
                try:
                    shares[meter] = parse_share(text)
                except EnergyError as exc:
                    _fail(f"{path}, line {line}: {exc}")
            return StaticKey(shares)
        levels: dict[str, int] = {}
        for meter, (line, text) in values.items():
            if not _WHOLE.fullmatch(text) or int(text) < 1:
                _fail(f"{path}, line {line}: a priority level is a whole number >= 1, got {text!r}")
            levels[meter] = int(text)
        return PriorityKey(levels)
    except EnergyError as exc:
        _fail(f"{path}: {exc}")


def build_steps(
    injections: Curves, withdrawals: Curves, key: AllocationKey, half_hourly: frozenset[str]
) -> tuple[StepLength, list[tuple[datetime, StepReadings]]]:
    """The steps to allocate: 15 min, or 30 for everyone when a meter only has half-hours.

    Every producer and consumer seen in the file (and every meter of the key) takes part in
    every step; a value it lacks is MISSING. The resolution is declared (`half_hourly`), never
    guessed: a quarter-hourly meter with gaps at :15 and :45 would look half-hourly.
    """
    known = set(injections) | set(withdrawals)
    unknown = sorted(half_hourly - known)
    if unknown:
        _fail(f"--half-hourly names {', '.join(unknown)}, which has no readings")
    for meter in sorted(half_hourly):
        for curve in (injections.get(meter, {}), withdrawals.get(meter, {})):
            if curve_resolution(curve) is StepLength.MIN15:
                quarter = min(s for s in curve if s.minute % 30)
                _fail(f"meter {meter} is declared half-hourly but has a reading at {_local(quarter)}")
    step = StepLength.MIN30 if half_hourly else StepLength.MIN15

    def at_step(meter: str, curve: dict[datetime, int]) -> dict[datetime, Reading]:
        if step is StepLength.MIN30 and meter not in half_hourly:
            return aggregate_curve_to_30(curve)
        return dict(curve)

    prod = {m: at_step(m, c) for m, c in injections.items()}
    cons = {m: at_step(m, c) for m, c in withdrawals.items()}
    key_meters = (
        key.shares if isinstance(key, StaticKey) else key.levels if isinstance(key, PriorityKey) else {}
    )
    for meter in key_meters:
        cons.setdefault(meter, {})
    starts = sorted({s for curve in (*prod.values(), *cons.values()) for s in curve})
    steps = [
        (
            start,
            StepReadings(
                {m: curve.get(start, MISSING) for m, curve in prod.items()},
                {m: curve.get(start, MISSING) for m, curve in cons.items()},
            ),
        )
        for start in starts
    ]
    return step, steps


def _local(start: datetime) -> str:
    return start.astimezone(PARIS).isoformat()


def write_csv(out: TextIO, results: list[tuple[datetime, StepAllocation]]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["step_start", "kind", "producer", "consumer", "wh"])
    for start, result in results:
        when = _local(start)
        for consumer, wh in result.allocated.items():
            writer.writerow([when, "allocated", "", consumer, wh])
        for producer, consumer, wh in result.iter_pairs():
            writer.writerow([when, "pair", producer, consumer, wh])
        writer.writerow([when, "surplus", "", "", result.surplus])


def as_json(
    key: AllocationKey, step: StepLength, results: list[tuple[datetime, StepAllocation]]
) -> dict[str, object]:
    return {
        "key": key.name,
        "step_minutes": int(step),
        "steps": [
            {
                "step_start": _local(start),
                "production_wh": result.total_production,
                "consumption_wh": result.total_consumption,
                "allocated": dict(result.allocated),
                "pairs": [
                    {"producer": producer, "consumer": consumer, "wh": wh}
                    for producer, consumer, wh in result.iter_pairs()
                ],
                "surplus_wh": result.surplus,
            }
            for start, result in results
        ],
    }


def allocate_command(
    readings: Annotated[Path, typer.Argument(help="CSV: step_start,meter,direction,wh (export = injection)")],
    key: Annotated[KeyName, typer.Option("--key", help="allocation key")] = KeyName.default,
    shares: Annotated[
        Path | None,
        typer.Option("--shares", help="CSV meter,share (static) or meter,level (priority)"),
    ] = None,
    half_hourly: Annotated[
        list[str] | None,
        typer.Option(
            "--half-hourly",
            help="meter that only has 30-minute data (repeat or comma-separate); the whole "
            "operation then settles at 30 minutes",
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """Preview the sharing of local solar energy, step by step (nothing is recorded).

    Prints per step the Wh allocated to each consumer, who supplied whom and the surplus.
    A step where a meter has no value is refused: missing is never zero. Settles at 30 minutes
    (quarter-hours summed in pairs) when a meter is declared --half-hourly.
    Exit codes: 0 done, 2 bad usage or input.
    """
    allocation_key = read_key(key, shares)
    injections, withdrawals = read_readings(readings)
    declared = frozenset(
        meter.strip() for value in half_hourly or [] for meter in value.split(",") if meter.strip()
    )
    step, steps = build_steps(injections, withdrawals, allocation_key, declared)
    results: list[tuple[datetime, StepAllocation]] = []
    open_steps: list[str] = []
    for start, step_readings in steps:
        try:
            results.append((start, allocate_step(step_readings, allocation_key)))
        except MissingReadingError as exc:
            open_steps.append(f"{_local(start)} (no reading for {', '.join(exc.meters)})")
        except EnergyError as exc:
            _fail(f"step {_local(start)}: {exc}")
    if open_steps:
        shown = "; ".join(open_steps[:5]) + ("; ..." if len(open_steps) > 5 else "")
        _fail(f"{len(open_steps)} step(s) cannot be allocated, a missing value is not zero: {shown}")
    if json_output:
        typer.echo(json.dumps(as_json(allocation_key, step, results), indent=2))
    else:
        write_csv(sys.stdout, results)


def register(app: typer.Typer) -> None:
    """Add `allocate` to the `ledger` app."""
    app.command("allocate")(allocate_command)
