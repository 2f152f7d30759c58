"""`ledger allocate` through a throwaway Typer app (`register` is what ledger.cli wires in)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ledger.cli.energy import register

HEADER = "step_start,meter,direction,wh\n"
WORKED = (
    HEADER
    + "2025-06-21T12:00:00+02:00,PV-A,export,1000\n"
    + "2025-06-21T12:00:00+02:00,B,import,400\n"
    + "2025-06-21T12:00:00+02:00,C,import,800\n"
)


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """A throwaway `ledger` for the tests."""

    register(app)
    return app


def run(tmp_path: Path, readings: str, *args: str, shares: str | None = None) -> tuple[int, str, str]:
    (tmp_path / "readings.csv").write_text(readings, encoding="utf-8")
    extra: list[str] = []
    if shares is not None:
        (tmp_path / "shares.csv").write_text(shares, encoding="utf-8")
        extra = ["--shares", str(tmp_path / "shares.csv")]
    result = CliRunner().invoke(_app(), ["allocate", *args, *extra, str(tmp_path / "readings.csv")])
    return result.exit_code, result.stdout, result.stderr


def test_the_worked_example_prints_allocations_pairs_and_surplus_as_csv(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, WORKED)
    assert code == 0
    assert out == (
        "step_start,kind,producer,consumer,wh\n"
        "2025-06-21T12:00:00+02:00,allocated,,B,333\n"
        "2025-06-21T12:00:00+02:00,allocated,,C,667\n"
        "2025-06-21T12:00:00+02:00,pair,PV-A,B,333\n"
        "2025-06-21T12:00:00+02:00,pair,PV-A,C,667\n"
        "2025-06-21T12:00:00+02:00,surplus,,,0\n"
    )


def test_the_priority_key_serves_level_one_first(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, WORKED, "--key", "priority", shares="meter,level\nB,1\nC,2\n")
    assert code == 0
    assert ",allocated,,B,400\n" in out and ",allocated,,C,600\n" in out
    assert out.endswith(",surplus,,,0\n")


def test_static_shares_as_json(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, WORKED, "--key", "static", "--json", shares="meter,share\nB,0.5\nC,1/2\n")
    assert code == 0
    document = json.loads(out)
    assert document["key"] == "static"
    [step] = document["steps"]
    assert step["allocated"] == {"B": 400, "C": 500}
    assert step["surplus_wh"] == 100
    assert step["pairs"] == [
        {"producer": "PV-A", "consumer": "B", "wh": 400},
        {"producer": "PV-A", "consumer": "C", "wh": 500},
    ]


def test_an_exact_duplicate_line_is_dropped(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, WORKED + "2025-06-21T10:00:00Z,B,import,400\n")
    assert code == 0
    assert out.count(",allocated,,B,333") == 1


def test_a_half_hourly_meter_brings_the_whole_operation_to_30_minutes(tmp_path: Path) -> None:
    readings = (
        HEADER
        + "".join(
            f"2025-06-21T12:{minute:02d}:00+02:00,{meter},{direction},{wh}\n"
            for minute in (0, 15, 30, 45)
            for meter, direction, wh in (("PV-A", "export", 500), ("B", "import", 200))
        )
        + "2025-06-21T12:00:00+02:00,C,import,800\n2025-06-21T12:30:00+02:00,C,import,800\n"
    )
    code, _, err = run(tmp_path, readings)
    assert code == 2
    assert "no reading for C" in err  # C's gaps at :15 and :45 are gaps, not half-hours
    code, out, _ = run(tmp_path, readings, "--json", "--half-hourly", "C")
    assert code == 0
    document = json.loads(out)
    assert document["step_minutes"] == 30
    assert [s["production_wh"] for s in document["steps"]] == [1000, 1000]
    assert document["steps"][0]["allocated"] == {"B": 333, "C": 667}


@pytest.mark.parametrize(
    ("readings", "message"),
    [
        (WORKED + "2025-06-21T12:15:00+02:00,B,import,-5\n", "line 5: negative energy"),
        (WORKED + "2025-06-21T12:15:00+02:00,B,import,1.5\n", "line 5: wh must be a whole"),
        (WORKED + "2025-06-21T12:15:00+02:00,B,both,5\n", "line 5: direction must be"),
        (WORKED + "2025-06-21T12:15:00,B,import,5\n", "line 5: step_start"),
        (WORKED + "yesterday,B,import,5\n", "line 5: step_start 'yesterday'"),
        (WORKED + "2025-06-21T12:07:00+02:00,B,import,5\n", "not the start of a quarter-hour"),
        (WORKED + "2025-06-21T12:00:00+02:00,B,import,401\n", "two different import values"),
        (WORKED + "2025-06-21T12:00:00+02:00,B\n", "line 5: expected 4 fields"),
        ("step_start,meter,wh\n", "line 1: the header needs"),
        (HEADER, "no readings"),
        (
            WORKED + "2025-06-21T12:15:00+02:00,PV-A,export,900\n2025-06-21T12:15:00+02:00,B,import,400\n",
            "no reading for C",
        ),
    ],
)
def test_bad_readings_exit_2_with_the_line_and_the_reason(
    tmp_path: Path, readings: str, message: str
) -> None:
    code, out, err = run(tmp_path, readings)
    assert code == 2
    assert message in err
    assert out == ""


@pytest.mark.parametrize(
    ("args", "shares", "message"),
    [
        (("--key", "static"), None, "--key static needs --shares FILE"),
        (("--key", "priority"), None, "--key priority needs --shares FILE"),
        (("--key", "static"), "meter,share\nB,0.6\nC,0.5\n", "the shares sum to 11/10 (> 1)"),
        (("--key", "static"), "meter,share\nB,0.5\n", "no static share for consumer C"),
        (("--key", "static"), "meter,share\nB,half\nC,0.5\n", "line 2: 'half' is not a share"),
        (("--key", "static"), "meter,share\nB,0.5\nB,0.1\n", "line 3: meter B is listed twice"),
        (("--key", "priority"), "meter,share\nB,1\n", "line 1: the header needs"),
        (("--key", "priority"), "meter,level\nB,1\nC,0\n", "line 3: a priority level"),
        (("--key", "static"), "meter,share\nB,0.5\nC,0.5\nD,0\n", "no reading for D"),
        ((), "meter,share\nB,1\n", "--shares is only for"),
    ],
)
def test_bad_shares_exit_2_with_a_clear_message(
    tmp_path: Path, args: tuple[str, ...], shares: str | None, message: str
) -> None:
    code, _, err = run(tmp_path, WORKED, *args, shares=shares)
    assert code == 2
    assert message in err


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ("Z", "--half-hourly names Z, which has no readings"),
        ("B", "meter B is declared half-hourly but has a reading at 2025-06-21T12:15:00+02:00"),
    ],
)
def test_a_wrong_half_hourly_declaration_exits_2(tmp_path: Path, declared: str, message: str) -> None:
    readings = WORKED + "2025-06-21T12:15:00+02:00,B,import,5\n"
    code, _, err = run(tmp_path, readings, "--half-hourly", declared)
    assert code == 2
    assert message in err


def test_an_unreadable_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["allocate", str(tmp_path / "absent.csv")])
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_a_bad_key_name_is_a_usage_error(tmp_path: Path) -> None:
    code, _, _ = run(tmp_path, WORKED, "--key", "lottery")
    assert code == 2
