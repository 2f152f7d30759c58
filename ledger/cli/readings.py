"""Readings commands: import distributor files, listen on MQTT, simulate a district.

    ledger readings import FILE --format enedis-30min|energy-15min|register-index [--json]
    ledger readings listen                       # MQTT subscriber until Ctrl-C
    ledger readings stats [--json]               # outcome counters (accepted, rejected.<code>...)
    ledger readings reviews [--all] [--json]     # conflicting readings held for review
    ledger readings resolve ID --keep raw|corrected|VALUE [--by NAME]
    ledger simulate --homes 30 --speed 900 [--days 1] [--seed 1] [--start YYYY-MM-DD]

MQTT: LEDGER_MQTT_URL (mqtt://host:port); when unset, `simulate` starts an embedded broker on
127.0.0.1. Exit codes: 0 done; 1 some rows or envelopes were refused (listed with the reason);
2 bad usage, settings or file.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer

from ledger.cli.registry import meter_salt, open_store
from ledger.errors import InputError
from ledger.settings import LedgerSettings

readings_app = typer.Typer(
    help="Meter readings: distributor imports, the MQTT subscriber.", no_args_is_help=True
)
JsonOption = Annotated[bool, typer.Option("--json", help="one JSON object on stdout")]


@readings_app.command("import")
def import_file(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV load curve")
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="enedis-30min (W at interval end), energy-15min (Wh) or register-index "
            "(cumulative Wh)",
        ),
    ],
    step: Annotated[int, typer.Option(help="register-index: seconds between samples")] = 900,
    modulus: Annotated[
        int, typer.Option(min=2, help="register-index: the register rolls over at this value")
    ] = 10**9,
    as_json: JsonOption = False,
) -> None:
    """Import a distributor load curve (settlement-grade, source "distributor")."""
    from ledger.energy.csv_import import CsvFormat, import_csv
    from ledger.energy.errors import CsvImportError
    from ledger.energy.ingest import IngestPipeline

    gaps: list[str] = []
    if fmt == "register-index":
        from ledger.energy.register_import import import_registers

        store = open_store()
        registers = import_registers(IngestPipeline(store), store, file.read_bytes(),
                                     step_s=step, modulus=modulus)
        report = registers.report
        gaps = [f"{m} ({d}) {g.start_ts}-{g.end_ts}: {g.reason}" for m, d, g in registers.gaps]
    elif fmt in CsvFormat.__members__.values():
        report = import_csv(IngestPipeline(open_store()), file.read_bytes(), CsvFormat(fmt))
    else:
        raise CsvImportError("--format must be enedis-30min, energy-15min or register-index")
    r = report.result
    if as_json:
        typer.echo(json.dumps(report.to_json(), sort_keys=True))
    else:
        typer.echo(
            f"{file.name}: {report.rows} rows, {r.stored} stored, {r.duplicates} duplicates dropped, "
            f"{r.held} held for review, {r.superseded} raw values superseded, "
            f"{len(report.rejected)} refused (sha256 {r.sha256[:16]}...)"
        )
        for reason in r.held_reasons:
            typer.echo(f"  held: {reason}")
        for rejection in report.rejected:
            typer.echo(f"  refused [{rejection.code}] {rejection.message}")
        for gap in gaps:
            typer.echo(f"  gap (left missing, never guessed): {gap}")
    if report.rejected:
        raise typer.Exit(1)


@readings_app.command("listen")
def listen() -> None:
    """Subscribe to every gateway's readings topic and store what arrives (until Ctrl-C)."""
    from ledger.energy.errors import BrokerError
    from ledger.energy.ingest import IngestPipeline
    from ledger.energy.mqtt_subscriber import MqttSubscriber

    settings = LedgerSettings()
    if not settings.mqtt_url:
        raise BrokerError("set LEDGER_MQTT_URL (mqtt://host:port) to listen")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    subscriber = MqttSubscriber(IngestPipeline(open_store(settings)), settings.mqtt_url).start()
    typer.echo("Listening on district/gateways/+/readings; Ctrl-C to stop.")
    try:
        while True:
            time.sleep(60)
            typer.echo(f"counts: {dict(subscriber.counts)}")
    except KeyboardInterrupt:
        pass
    finally:
        subscriber.stop()


@readings_app.command("stats")
def stats(as_json: JsonOption = False) -> None:
    """Outcome counters of ingestion (accepted, duplicates, held, rejected per reason)."""
    counts = open_store().counts()
    if as_json:
        typer.echo(json.dumps(counts, sort_keys=True))
    else:
        for name in sorted(counts):
            typer.echo(f"{name:<36} {counts[name]:>10}")


@readings_app.command("reviews")
def reviews(
    show_all: Annotated[bool, typer.Option("--all", help="resolved reviews too")] = False,
    as_json: JsonOption = False,
) -> None:
    """Conflicting readings held for review: each keeps its local day open until resolved."""
    items = open_store().review_queue(None if show_all else "open")
    if as_json:
        typer.echo(json.dumps([i.to_json() for i in items], sort_keys=True))
        return
    if not items:
        typer.echo("No reading awaits review." if not show_all else "No review recorded.")
        return
    for item in items:
        doc = item.to_json()
        line = (
            f"#{item.review_id:<6} {item.status:<8} {item.source:<11} {item.meter_serial} "
            f"{doc['start']} {item.step_s // 60} min {item.direction} {item.version}: stored "
            f"{item.stored_value} {doc['unit']}, received {item.proposed_value} {doc['unit']}"
        )
        if item.resolution is not None:
            line += f" -> kept {item.resolved_value} ({item.resolution}, by {item.resolved_by})"
        typer.echo(line)
    if not show_all:
        typer.echo("Resolve each with `ledger readings resolve ID --keep raw|corrected|VALUE`.")


@readings_app.command("resolve")
def resolve_review(
    review_id: Annotated[int, typer.Argument(min=1, help="the review id (ledger readings reviews)")],
    keep: Annotated[
        str,
        typer.Option(
            "--keep",
            help="raw: keep the stored value; corrected: take the held value; or a whole number",
        ),
    ],
    by: Annotated[str, typer.Option("--by", help="who decides (kept with the decision)")] = "operator",
    as_json: JsonOption = False,
) -> None:
    """Resolve a review: the reading kept is stored with the hash of the decision."""
    from ledger.energy.reviews import resolve

    item = resolve(open_store(), review_id, keep, by)
    if as_json:
        typer.echo(json.dumps(item.to_json(), sort_keys=True))
    else:
        typer.echo(
            f"Review #{item.review_id} resolved: {item.meter_serial} {item.to_json()['start']} "
            f"{item.direction} keeps {item.resolved_value} ({item.resolution}); the day can be "
            "settled again (settle-watch commits the correction)."
        )


def simulate(
    homes: Annotated[int, typer.Option(min=1, max=2000, help="number of homes")] = 30,
    speed: Annotated[
        float, typer.Option(min=0, help="simulated seconds per real second (0: no pause)")
    ] = 900,
    days: Annotated[int, typer.Option(min=1, max=31, help="local days to simulate")] = 1,
    seed: Annotated[int, typer.Option(help="seed of the district and its readings")] = 1,
    start: Annotated[
        str | None, typer.Option(help="first local day, YYYY-MM-DD (default: days ago)")
    ] = None,
    dev_wallets: Annotated[
        int | None,
        typer.Option(
            "--dev-wallets",
            min=0,
            help="home n's wallet is the dev-mnemonic account BASE+n (local demo chain only)",
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="fill the --days past days and today up to now, then publish each quarter-hour as it "
            "ends on the wall clock, until SIGINT or SIGTERM (--speed is then unused)",
        ),
    ] = False,
    prosumer: Annotated[
        list[str] | None,
        typer.Option("--prosumer", help="one more home with a solar roof for this wallet (repeatable)"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Simulate homes publishing signed readings over MQTT, ingested into the database."""
    import secrets

    from ledger.energy.broker import EmbeddedBroker, start_embedded_broker
    from ledger.energy.ingest import IngestPipeline
    from ledger.energy.mqtt_subscriber import MqttSubscriber, make_client, readings_topic
    from ledger.energy.simulator import (
        build_district,
        register_district,
        run_live,
        run_simulation,
        simulated_steps,
    )

    # checked before the registry is touched: a typo changes nothing
    try:
        first = date.fromisoformat(start) if start else _today_paris() - timedelta(days=days)
    except ValueError:
        raise InputError(f"--start {start!r} is not a day: write it YYYY-MM-DD, e.g. 2026-03-01") from None
    settings = LedgerSettings()
    store = open_store(settings)
    salt = meter_salt(required=False) or secrets.token_bytes(32)  # simulated serials only
    wallet_for = None
    if dev_wallets is not None:
        from ledger.demo import dev_account

        base = dev_wallets

        def wallet_for(n: int) -> str:
            return str(dev_account(base + n).address)

    district = build_district(homes, seed, wallet_for=wallet_for, prosumers=prosumer or ())
    register_district(store, salt, district)
    steps = simulated_steps(first, days)
    broker: EmbeddedBroker | None = None
    url = settings.mqtt_url
    if not url:
        broker = start_embedded_broker(0)
        url = broker.url
        typer.echo(f"No LEDGER_MQTT_URL: embedded broker on {url}", err=True)
    subscriber = MqttSubscriber(
        IngestPipeline(store), url, client_id=f"ledger-sim-ingest-{seed}"
    ).start()
    publisher, address = make_client(url, f"ledger-sim-{seed}-{secrets.token_hex(4)}")
    publisher.connect(address.host, address.port)
    publisher.loop_start()
    try:
        def publish(device: str, body: bytes) -> None:
            publisher.publish(readings_topic(device), body, qos=1).wait_for_publish(10)

        if follow:
            stop = _stop_on_signals()
            typer.echo(f"Following the wall clock from {first} with {len(district)} homes.", err=True)

            said: list[bool] = []

            def backfilled(start_ts: int) -> None:
                # said once, when the step just before now is in (the current day is sent first)
                if not said and start_ts + 2 * 900 > time.time():
                    said.append(True)
                    typer.echo("Today is filled up to now; one quarter-hour every quarter-hour from now.",
                               err=True)

            def caught_up(steps_sent: int) -> None:
                typer.echo(f"Caught up: {steps_sent} quarter-hours sent; following the wall clock.", err=True)

            report = run_live(publish, district, first, seed=seed, stop=stop, on_step=backfilled,
                              on_backfilled=caught_up)
        else:
            report = run_simulation(publish, district, steps, seed=seed, speed=speed)
        subscriber.drain(60)
    finally:
        publisher.disconnect()
        publisher.loop_stop()
        subscriber.stop()
        if broker is not None:
            broker.stop()
    counts = dict(subscriber.counts)
    summary = {"homes": homes, "steps": report.steps, "published": report.published, **counts,
               "first_day": first.isoformat(), "days": days}
    if as_json:
        typer.echo(json.dumps(summary, sort_keys=True))
    else:
        typer.echo(
            f"Simulated {homes} homes over {days} day(s) from {first} ({report.steps} steps): "
            f"{report.published} envelopes published, {counts.get('accepted', 0)} accepted, "
            f"{counts.get('duplicate', 0)} duplicates, {counts.get('rejected', 0)} rejected."
        )


def _stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM. The handlers are set explicitly: a process started in the
    background by a shell inherits SIGINT ignored, and `kill -INT` must still stop it."""
    import signal

    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return stop


def _today_paris() -> date:
    from datetime import UTC, datetime

    from ledger.domain.energy.steps import PARIS

    return datetime.now(UTC).astimezone(PARIS).date()


def register(app: typer.Typer) -> None:
    from ledger.cli import pmo as cli_pmo

    app.add_typer(readings_app, name="readings")
    cli_pmo.register(app)
    app.command("simulate")(simulate)
