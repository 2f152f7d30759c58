"""What the organising body (PMO) checks against Enedis and the rules of the operation.

    ledger energy reconcile-enedis FILE --operation OP [--json]
        every figure Enedis published (allocated, complement, surplus per PRM and step) against
        the ledger's allocation of the same readings; exit 3 when any differs by more than 1 Wh

    ledger energy export-key --operation OP --day D [--output FILE]   # the key for Enedis
    ledger operation rules OP --perimeter-km 2|10|20 --power-cap-mw 3|5
    ledger meter site SERIAL --lat 45.7597 --lon 4.8422 [--installed-w 9000]
    ledger participant contract --operation OP --wallet 0x... --supplier NAME --contract REF
    ledger operation check OP [--json]     # each rule with its verdict; exit 3 when one fails
    ledger operation data OP --gateway|--distributor-only   # which readings settle the operation
    ledger participant join --operation OP --wallet 0x... --role R --from DAY [--share|--priority]
    ledger participant leave --operation OP --wallet 0x... --from DAY   # first day not a member
    ledger participant history --operation OP [--json]
    ledger participant consent-text --operation OP --wallet 0x... --kind K --document FILE
    ledger participant consent --operation OP --wallet 0x... --kind K --document FILE --signature 0x...

Exit codes: 0 all equal / all checks pass, 1 refused (the message says why), 2 bad usage or file,
3 differences / a check failed.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from ledger.cli.registry import open_store

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


@energy_app.command("export-key")
def export_key_command(
    operation: Annotated[str, typer.Option("--operation", help="operation id")],
    day: Annotated[str, typer.Option("--day", help="local day YYYY-MM-DD")],
    output: Annotated[Path | None, typer.Option(help="write to this file (default stdout)")] = None,
) -> None:
    """The repartition key for Enedis: static coefficients per PRM, or per-step coefficients."""
    from ledger.energy.enedis_key import export_key

    text = export_key(open_store(), operation, _day(day))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        typer.echo(f"{output.name}: {text.count(chr(10)) - 1} rows.")


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


def operation_data(
    operation_id: Annotated[str, typer.Argument(help="operation id")],
    gateway: Annotated[
        bool,
        typer.Option("--gateway/--distributor-only",
                     help="let gateway readings fill what the distributor has not sent, or not"),
    ] = False,
) -> None:
    """Which readings settle the operation: the distributor's only (default), or gateways too."""
    from ledger.energy.errors import UnknownEntityError

    if not open_store().set_settle_on_gateway(operation_id, gateway):
        raise UnknownEntityError(f"no operation {operation_id}: add it with `ledger operation add`")
    typer.echo(f"{operation_id} settles on "
               f"{'distributor and gateway' if gateway else 'distributor'} data from now on.")


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


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a day YYYY-MM-DD") from None


def participant_join(
    operation: Annotated[str, typer.Option(help="operation id")],
    wallet: Annotated[str, typer.Option(help="wallet address 0x...")],
    role: Annotated[str, typer.Option(help="producer, consumer or both")],
    start: Annotated[str, typer.Option("--from", help="first local day of the period, YYYY-MM-DD")],
    share: Annotated[str | None, typer.Option(help="static key: exact share, e.g. 1/3")] = None,
    priority: Annotated[int | None, typer.Option(help="priority key: level, 1 served first")] = None,
) -> None:
    """Start a membership period (closing the open one): days are settled with it from then."""
    from ledger.energy.membership import join

    m = join(open_store(), operation, wallet, role, _day(start), share, priority)
    typer.echo(f"{m.wallet} is a {m.role.value} of {operation} from {m.start}.")


def participant_leave(
    operation: Annotated[str, typer.Option(help="operation id")],
    wallet: Annotated[str, typer.Option(help="wallet address 0x...")],
    end: Annotated[str, typer.Option("--from", help="first local day no longer a member")],
) -> None:
    """End a membership period (the history is kept)."""
    from ledger.energy.membership import leave

    leave(open_store(), operation, wallet, _day(end))
    typer.echo(f"{wallet} leaves {operation} from {end}.")


def participant_history(
    operation: Annotated[str, typer.Option(help="operation id")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
) -> None:
    """Every membership period and signed consent of the operation."""
    store = open_store()
    periods = store.memberships(operation)
    consents = store.consents(operation)
    if as_json:
        typer.echo(json.dumps({
            "periods": [{"wallet": m.wallet, "role": m.role.value,
                         "share": None if m.share is None else str(m.share),
                         "priority": m.priority, "from": m.start.isoformat(),
                         "until": None if m.end is None else m.end.isoformat()} for m in periods],
            "consents": [{"wallet": c.wallet, "kind": c.kind, "document_sha256": c.document_sha256,
                          "signature": c.signature} for c in consents],
        }, sort_keys=True))
        return
    for m in periods:
        extra = (f", share {m.share}" if m.share is not None else "") + (
            f", priority {m.priority}" if m.priority is not None else "")
        typer.echo(f"{m.wallet} {m.role.value}{extra}: {m.start} -> {m.end or 'now'}")
    for c in consents:
        typer.echo(f"{c.wallet} consented ({c.kind}) to document sha256 {c.document_sha256}")


def consent_text(
    operation: Annotated[str, typer.Option(help="operation id")],
    wallet: Annotated[str, typer.Option(help="the member's wallet 0x...")],
    kind: Annotated[str, typer.Option(help="agreement or data-access")],
    document: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="the signed document")],
) -> None:
    """Print the sentence the member signs with its wallet key (EIP-191 personal message)."""
    import hashlib

    from ledger.energy.membership import CONSENT_KINDS, consent_message
    from ledger.energy.registry import check_wallet

    if kind not in CONSENT_KINDS:
        raise typer.BadParameter(f"--kind is one of {', '.join(CONSENT_KINDS)}")
    sha = hashlib.sha256(document.read_bytes()).hexdigest()
    typer.echo(consent_message(operation, check_wallet(wallet), kind, sha))


def consent(
    operation: Annotated[str, typer.Option(help="operation id")],
    wallet: Annotated[str, typer.Option(help="the member's wallet 0x...")],
    kind: Annotated[str, typer.Option(help="agreement or data-access")],
    document: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="the signed document")],
    signature: Annotated[str, typer.Option(help="the member's signature of consent-text, 0x...")],
) -> None:
    """Record a member's consent after checking its signature recovers the member's address."""
    from ledger.energy.membership import record_consent

    c = record_consent(open_store(), operation, wallet, kind, document.read_bytes(), signature)
    typer.echo(f"Consent recorded: {c.wallet} ({c.kind}), document sha256 {c.document_sha256}.")


def register(app: typer.Typer) -> None:
    from ledger.cli.registry import meter_app, operation_app, participant_app

    app.add_typer(energy_app, name="energy")
    operation_app.command("rules")(operation_rules)
    operation_app.command("check")(operation_check)
    operation_app.command("data")(operation_data)
    meter_app.command("site")(meter_site)
    participant_app.command("contract")(participant_contract)
    participant_app.command("join")(participant_join)
    participant_app.command("leave")(participant_leave)
    participant_app.command("history")(participant_history)
    participant_app.command("consent-text")(consent_text)
    participant_app.command("consent")(consent)
