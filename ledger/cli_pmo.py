"""What the organising body (PMO) checks against Enedis and the rules of the operation.

    ledger energy reconcile-enedis FILE --operation OP [--json]
        every figure Enedis published (allocated, complement, surplus per PRM and step) against
        the ledger's allocation of the same readings; exit 3 when any differs by more than 1 Wh

Exit codes: 0 all equal, 1 refused (the message says why), 2 bad usage or file, 3 differences.
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


def register(app: typer.Typer) -> None:
    app.add_typer(energy_app, name="energy")
