"""What the organising body (PMO) checks against Enedis and the rules of the operation.

    ledger energy reconcile-enedis FILE --operation OP [--json]
        every figure Enedis published (allocated, complement, surplus per PRM and step) against
        the ledger's allocation of the same readings; exit 3 when any differs by more than 1 Wh

    ledger operation rules OP --perimeter-km 2|10|20 --power-cap-mw 3|5
    ledger meter site SERIAL --lat 45.7597 --lon 4.8422 [--installed-w 9000]
    ledger participant contract --operation OP --wallet 0x... --supplier NAME --contract REF
    ledger operation check OP [--json]     # each rule with its verdict; exit 3 when one fails

Exit codes: 0 all equal / all checks pass, 1 refused (the message says why), 2 bad usage or file,
3 differences / a check failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ledger.cli_registry import open_store

energy_app = typer.Typer(help="The operation against Enedis's figures.", no_args_is_help=True)


@energy_app.command("reconcile-enedis")
def reconcile_enedis(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True,
                       help="CSV: meter,start,allocated_wh,complement_wh,surplus_wh"),
    ],
    operation: Annotated[str, typer.Option("--operation", help="operation id")],
    tolerance: Annotated[int, typer.Option(min=0, help="Wh of difference tolerated")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Compare Enedis's published figures with the ledger's allocation, step by step."""
    from ledger.energy.enedis_reconcile import parse_publication, reconcile

    result = reconcile(open_store(), operation, parse_publication(file.read_bytes()),
                       tolerance_wh=tolerance)
    if as_json:
        typer.echo(json.dumps({
            "compared": result.compared, "days": [d.isoformat() for d in result.days],
            "differences": [{"meter": d.meter, "start": d.start_ts, "figure": d.figure,
                             "enedis_wh": d.enedis_wh, "ledger_wh": d.ledger_wh, "note": d.note}
                            for d in result.differences],
        }, sort_keys=True))
    else:
        for difference in result.differences:
            typer.echo(difference.line())
        typer.echo(f"{result.compared} figures compared over {len(result.days)} day(s): "
                   f"{len(result.differences)} differ by more than {tolerance} Wh.")
    if result.differences:
        raise typer.Exit(3)


def operation_rules(
    operation_id: Annotated[str, typer.Argument(help="operation id")],
    perimeter_km: Annotated[int, typer.Option(help="2, or 10 / 20 by derogation")] = 2,
    power_cap_mw: Annotated[int, typer.Option(help="3, or 5 where that cap applies")] = 3,
) -> None:
    """Set the perimeter and the producer power cap the operation is checked against."""
    from ledger.energy.operation_check import set_rules

    rules = set_rules(open_store(), operation_id, perimeter_km, power_cap_mw)
    typer.echo(f"{operation_id}: perimeter {rules.perimeter_m} m, producer power cap "
               f"{rules.power_cap_w:,} W.")


def meter_site(
    serial: Annotated[str, typer.Argument(help="meter serial (PRM)")],
    lat: Annotated[str, typer.Option(help="latitude, decimal degrees (WGS 84)")],
    lon: Annotated[str, typer.Option(help="longitude, decimal degrees (WGS 84)")],
    installed_w: Annotated[int | None, typer.Option(help="producer: installed power, W")] = None,
) -> None:
    """Record where a meter is (and a producer's installed power)."""
    from ledger.energy.operation_check import set_site

    set_site(open_store(), serial, lat, lon, installed_w)
    typer.echo("Site recorded.")


def participant_contract(
    operation: Annotated[str, typer.Option(help="operation id")],
    wallet: Annotated[str, typer.Option(help="participant's wallet 0x...")],
    supplier: Annotated[str, typer.Option(help="the supplier of the complement")],
    contract: Annotated[str, typer.Option(help="the supply contract reference")],
) -> None:
    """Record a consumer's supply contract (the complement is bought from its supplier)."""
    from ledger.energy.operation_check import set_contract

    set_contract(open_store(), operation, wallet, supplier, contract)
    typer.echo("Supply contract recorded.")


def operation_check(
    operation_id: Annotated[str, typer.Argument(help="operation id")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Check the operation against the rules: perimeter, producer power, supply contracts."""
    from ledger.energy.operation_check import check

    checks = check(open_store(), operation_id)
    if as_json:
        typer.echo(json.dumps([{"check": c.name, "ok": c.ok, "detail": c.detail} for c in checks]))
    else:
        for c in checks:
            typer.echo(f"{'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}")
    if not all(c.ok for c in checks):
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    from ledger.cli_registry import meter_app, operation_app, participant_app

    app.add_typer(energy_app, name="energy")
    operation_app.command("rules")(operation_rules)
    operation_app.command("check")(operation_check)
    meter_app.command("site")(meter_site)
    participant_app.command("contract")(participant_contract)
