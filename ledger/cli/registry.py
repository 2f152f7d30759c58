"""Operator commands of the energy-sharing registry.

    ledger operation add ID --name NAME --key default|static|priority [--step 900|1800]
    ledger participant add --operation ID --wallet 0x... --role producer|consumer|both
                           [--share 1/3] [--priority 1]
    ledger meter add --serial S --commodity electricity|gas|water (--max-power-w W | --max-flow-lph L)
                     [--gateway DEVICE] [--operation ID --wallet 0x...]
    ledger gateway add DEVICE --public-key-file FILE      (PEM, DER, raw or hex Ed25519 / P-256)

The meter salt comes from LEDGER_METER_SALT (hex, at least 16 bytes; never printed); the meter
serial stays in the database, the commands show only its salted hash. Database: LEDGER_DATABASE_URL
(default SQLite in LEDGER_STATE_DIR), migrated on first use.
Exit codes: 0 done; 2 refused input or settings (the sentence says what to change).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ledger.errors import ConfigError
from ledger.settings import LedgerSettings

if TYPE_CHECKING:
    from ledger.db.energy_store import SqlEnergyStore

JsonOption = Annotated[bool, typer.Option("--json", help="one JSON object on stdout")]


def meter_salt(required: bool = True) -> bytes | None:
    from ledger.energy.registry import parse_salt

    secret = LedgerSettings().meter_salt
    if secret is None:
        if required:
            raise ConfigError(
                "LEDGER_METER_SALT is not set: generate one with `openssl rand -hex 32`, keep it "
                "secret and stable (the on-chain meter hashes depend on it)"
            )
        return None
    return parse_salt(secret.get_secret_value())


def open_store(settings: LedgerSettings | None = None) -> SqlEnergyStore:
    """The SQL energy store on the configured database, migrated to head."""
    from ledger.db import make_engine, migrate
    from ledger.db.energy_store import SqlEnergyStore

    settings = settings or LedgerSettings()
    engine = make_engine(settings.db_url)
    migrate(engine)
    return SqlEnergyStore(engine)


def _emit(as_json: bool, payload: dict[str, object], text: str) -> None:
    typer.echo(json.dumps(payload, sort_keys=True) if as_json else text)


operation_app = typer.Typer(
    help="Sharing operations (a group of producers and consumers).", no_args_is_help=True
)
participant_app = typer.Typer(help="Participants of an operation.", no_args_is_help=True)
meter_app = typer.Typer(help="Meters (serials stay off chain).", no_args_is_help=True)
gateway_app = typer.Typer(help="Home gateways and their public keys.", no_args_is_help=True)


@operation_app.command("add")
def operation_add(
    operation_id: Annotated[str, typer.Argument(help="short id, e.g. lyon3-moncey")],
    name: Annotated[str, typer.Option(help="name shown to residents")] = "",
    key: Annotated[str, typer.Option(help="allocation key: default, static or priority")] = "default",
    step: Annotated[int, typer.Option(help="settlement step in seconds: 900 or 1800")] = 900,
    settle_on_gateway: Annotated[
        bool,
        typer.Option(
            "--settle-on-gateway",
            help="let gateway readings fill steps the distributor has not sent (default: "
            "distributor data only)",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Register a sharing operation."""
    from ledger.energy.registry import add_operation

    op = add_operation(open_store(), operation_id, name, key, step,
                       settle_on_gateway=settle_on_gateway)
    source = "distributor and gateway" if op.settle_on_gateway else "distributor"
    _emit(as_json, {"operation": op.operation_id, "key": op.key.value, "step_s": op.step_s,
                    "settle_on_gateway": op.settle_on_gateway},
          f"Operation {op.operation_id} registered (key {op.key.value}, step {op.step_s // 60} min, "
          f"settled on {source} data).")


@participant_app.command("add")
def participant_add(
    operation: Annotated[str, typer.Option(help="operation id")],
    wallet: Annotated[str, typer.Option(help="wallet address 0x...")],
    role: Annotated[str, typer.Option(help="producer, consumer or both")],
    share: Annotated[str | None, typer.Option(help="static key: exact share, e.g. 1/3 or 0.25")] = None,
    priority: Annotated[int | None, typer.Option(help="priority key: level, 1 served first")] = None,
    as_json: JsonOption = False,
) -> None:
    """Add a participant to an operation."""
    from ledger.energy.registry import add_participant

    p = add_participant(open_store(), operation, wallet, role, share, priority)
    extra = f", share {p.share_text}" if p.share is not None else ""
    extra += f", priority {p.priority}" if p.priority is not None else ""
    _emit(as_json, {"operation": p.operation_id, "wallet": p.wallet, "role": p.role.value,
                    "share": p.share_text, "priority": p.priority},
          f"{p.wallet} joined {p.operation_id} as {p.role.value}{extra}.")


@meter_app.command("add")
def meter_add(
    serial: Annotated[str, typer.Option(help="meter serial (PRM); kept off chain")],
    commodity: Annotated[str, typer.Option(help="electricity, gas or water")] = "electricity",
    max_power_w: Annotated[int | None, typer.Option(help="physical maximum of the connection, W")] = None,
    max_flow_lph: Annotated[int | None, typer.Option(help="water: physical maximum, litres per hour")] = None,
    gateway: Annotated[str | None, typer.Option(help="device id of the gateway reading it")] = None,
    operation: Annotated[str | None, typer.Option(help="operation the meter settles in")] = None,
    wallet: Annotated[str | None, typer.Option(help="participant owning the meter")] = None,
    as_json: JsonOption = False,
) -> None:
    """Register a meter; prints its salted hash (the serial never leaves the database)."""
    from ledger.energy.registry import add_meter

    rate = max_flow_lph if commodity == "water" else max_power_w
    if rate is None:
        raise typer.BadParameter(
            "give --max-flow-lph for water" if commodity == "water" else "give --max-power-w"
        )
    salt = meter_salt()
    if salt is None:  # pragma: no cover - meter_salt(required=True) raises
        raise ConfigError("no meter salt")
    m = add_meter(open_store(), salt, serial, commodity, rate, gateway, operation, wallet)
    _emit(as_json, {"serial_hash": m.serial_hash, "commodity": m.commodity, "gateway": m.device_id},
          f"Meter registered: {m.commodity}, hash {m.serial_hash}"
          + (f", read by {m.device_id}" if m.device_id else "") + ".")


@gateway_app.command("add")
def gateway_add(
    device_id: Annotated[str, typer.Argument(help="gateway device id, as in its envelopes")],
    public_key_file: Annotated[Path, typer.Option(help="PEM, DER, raw or hex Ed25519 / P-256 public key",
                                                  exists=True, dir_okay=False, readable=True)],
    as_json: JsonOption = False,
) -> None:
    """Register a home gateway with its public key."""
    from ledger.energy.registry import add_gateway

    g = add_gateway(open_store(), device_id, public_key_file.read_bytes())
    _emit(as_json, {"device_id": g.device_id, "algorithm": g.algorithm},
          f"Gateway {g.device_id} registered ({g.algorithm}); it publishes on "
          f"district/gateways/{g.device_id}/readings.")


def register(app: typer.Typer) -> None:
    app.add_typer(operation_app, name="operation")
    app.add_typer(participant_app, name="participant")
    app.add_typer(meter_app, name="meter")
    app.add_typer(gateway_app, name="gateway")
