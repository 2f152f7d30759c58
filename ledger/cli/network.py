"""`ledger network init`: the files to start the district's permissioned Besu QBFT network.

Exit codes: 0 written, 2 bad options or an --out folder that is not new or empty (nothing written).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

network_app = typer.Typer(help="The district's permissioned network (Hyperledger Besu, QBFT).",
                          no_args_is_help=True)


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [part.strip() for part in value.split(",")]


@network_app.command("init")
def init(
    out: Annotated[Path, typer.Option("--out", help="a new or empty folder for the kit")],
    validators: Annotated[int, typer.Option("--validators", help="how many validators")] = 4,
    names: Annotated[
        str | None,
        typer.Option(help="comma-separated validator names (default for 4: townhall, cee3, "
                     "bank, energy-coop)"),
    ] = None,
    hosts: Annotated[
        str | None,
        typer.Option(help="comma-separated host names or IP addresses the validators reach "
                     "each other at (default: the names)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Write a genesis (chain id 69003, zero base fee, QBFT), one node key per validator (0600),
    static nodes, the node allowlist, each node's Besu config and a README. Private keys are
    written to files only, never printed."""
    from ledger.chain.network import plan_validators, write_network

    kit = write_network(out, plan_validators(validators, _split(names), _split(hosts)))
    if as_json:
        typer.echo(json.dumps({
            "out": str(kit.out), "extra_data": kit.extra_data,
            "validators": [{"name": v.name, "host": v.host, "address": v.address,
                            "enode": v.enode()} for v in kit.validators],
        }, sort_keys=True))
        return
    lines = [f"The network kit for {len(kit.validators)} validators is in {kit.out}:"]
    lines += [f"  {v.name:<12} {v.address}  {v.host}" for v in kit.validators]
    lines.append(f"Each nodes/<name>/ folder goes to its validator's machine (its key is 0600); "
                 f"read {kit.out / 'README.md'} to start them.")
    typer.echo("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.add_typer(network_app, name="network")
