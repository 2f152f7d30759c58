"""`ledger settle`, `ledger proof`, `ledger tariff-set`: the daily solar settlement on chain.

- `ledger settle --day D [--operation ID] --readings CSV [--participants CSV]` computes the day
  (readings CSV as in `ledger allocate`: step_start, meter, direction, wh), saves its lines in
  the ledger database (settle_* tables), commits the Merkle root and pays the netted amounts. Run it
  again after any crash: it reads what the chain holds and continues; nothing is paid twice.
  Without `--readings` the day is built from the readings stored by the pipeline and the
  registry of the operation (`ledger.energy.settlement_source`): distributor data preferred,
  the latest version, 30-minute steps when a meter only has half-hours; a missing value keeps
  the day open (exit 1, the meters and steps named, nothing committed).
- `ledger settle-watch --operation ID` settles each complete past day as its readings are in
  (the chain says what is already closed), one JSON line per outcome, until Ctrl-C.
- `ledger settle-rebuild --operation ID` rebuilds a lost settlement store from the chain and the
  stored readings (each root checked; nothing written when one cannot be reproduced).
- `ledger settle-import-json DIR` imports the JSON day files of earlier versions, once.
- `ledger proof --day D --account A` prints the account's lines with their proofs and checks each
  against the root on chain, in Python and with the contract (`verifyLine`).
- `ledger tariff-set` registers a tariff schedule (prices in micro-euro per kWh) on chain.

Participants CSV: `meter,account` (the wallet address paid or charged for the meter).
Exit codes: 0 done; 1 refused (the chain, the contract, the data: the message says why);
2 bad usage or input.
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ledger.cli.energy import KeyName, build_steps, read_key, read_readings
from ledger.domain.energy.steps import local_day_of
from ledger.errors import InputError
from ledger.settings import LedgerSettings

if TYPE_CHECKING:
    from collections.abc import Callable

    from ledger.db.settlement_store import SqlDayStore
    from ledger.energy.settlement import SettleResult

RpcOption = Annotated[str | None, typer.Option("--rpc-url", help="JSON-RPC URL (env LEDGER_RPC_URL)")]
ManifestOption = Annotated[
    Path | None, typer.Option("--manifest", help="deployment manifest (env LEDGER_MANIFEST)")
]
OperationOption = Annotated[str, typer.Option("--operation", help="sharing operation id")]
JsonOption = Annotated[bool, typer.Option("--json", help="one JSON object on stdout")]


def _settings(rpc_url: str | None, manifest: Path | None) -> LedgerSettings:
    overrides: dict[str, object] = {}
    if rpc_url:
        overrides["rpc_url"] = rpc_url
    if manifest:
        overrides["manifest"] = manifest
    return LedgerSettings(**overrides)  # type: ignore[arg-type]


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--day must be a date YYYY-MM-DD, got {text!r}") from None


def read_participants(path: Path) -> dict[str, str]:
    """meter -> account from a CSV `meter,account`."""
    import csv

    from ledger.energy.settlement import account_of

    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot read the participants file {path} ({exc.strerror}); give --participants "
            "FILE with the columns meter,account"
        ) from None
    accounts: dict[str, str] = {}
    with handle:
        reader = csv.DictReader(handle)
        if not {"meter", "account"} <= set(reader.fieldnames or []):
            raise InputError(f"{path}, line 1: the header needs the columns meter,account")
        for row in reader:
            meter = (row.get("meter") or "").strip()
            if not meter:
                raise InputError(f"{path}, line {reader.line_num}: the meter is empty")
            try:
                accounts[meter] = account_of((row.get("account") or "").strip())
            except Exception as exc:
                raise InputError(f"{path}, line {reader.line_num}: {exc}") from None
    return accounts


def _chain(settings: LedgerSettings, signer: bool, social_discount: int = 0) -> Any:
    from eth_account import Account

    from ledger.chain.client import ChainClient, connect, load_signer
    from ledger.chain.deploy import decoder_for_manifest
    from ledger.chain.manifest import Manifest
    from ledger.energy.settlement_chain import ChainSettlement, SocialService, require_settlement

    manifest = Manifest.load(settings.manifest_path)
    require_settlement(manifest)
    w3 = connect(settings.rpc_url)
    account = load_signer(settings, w3, prompt=_hidden_prompt) if signer else Account.create()
    decoder = decoder_for_manifest(manifest)
    social = None
    # The fund also pays through a tariff's off-peak discounts: the social service's key is looked
    # for whenever this process may pay.
    if social_discount or signer:
        social_account = _social_service_account(settings, w3, manifest)
        if social_account is not None:
            social = SocialService(ChainClient(w3, social_account, decoder), social_discount)
    return ChainSettlement(ChainClient(w3, account, decoder), manifest, social)


def _fund_part(chain: Any, social_discount: int, book: Callable[[], Any]) -> Callable[[Any, date], Any]:
    """(accounts, day) -> the commons fund's part of the day: read from the chain when the day has
    a social discount or a tariff with a solidarity component, else None."""

    def part(accounts: Any, day: date) -> Any:
        if social_discount or book().schedule_for(day).has_solidarity:
            return chain.social_price(accounts, social_discount, day)
        return None

    return part


def _social_service_account(settings: LedgerSettings, w3: Any, manifest: Any) -> Any:
    """The social service's key: LEDGER_SOCIAL_SERVICE_KEY, or on a local dev node the development
    account holding SOCIAL_SERVICE_ROLE (the demo's); None when there is none (the fund's part of
    a day then waits for the social service's approval)."""
    from eth_account import Account

    from ledger.chain.client import is_dev_node
    from ledger.errors import ConfigError

    key = settings.social_service_key
    if key is not None and key.get_secret_value():
        try:
            return Account.from_key(key.get_secret_value())
        except ValueError:
            raise ConfigError("LEDGER_SOCIAL_SERVICE_KEY is not a private key (64 hex digits)") from None
    if not is_dev_node(w3):
        return None
    from ledger.demo import DEMO_ROLES, dev_account

    holders = manifest.roles.get("CommonsFund", {}).get("SOCIAL_SERVICE_ROLE", [])
    for index in (0, *DEMO_ROLES.values()):
        account = dev_account(index)
        if account.address in holders:
            return account
    return None


def _hidden_prompt(question: str) -> str:
    import getpass

    return getpass.getpass(question)


def settle_command(
    day: Annotated[str, typer.Option("--day", help="local day to settle, YYYY-MM-DD")],
    operation: OperationOption = "1",
    readings: Annotated[
        Path | None, typer.Option("--readings", help="CSV step_start,meter,direction,wh")
    ] = None,
    participants: Annotated[
        Path | None,
        typer.Option("--participants", help="CSV meter,account (default STATE/energy/participants.csv)"),
    ] = None,
    key: Annotated[KeyName, typer.Option("--key", help="allocation key")] = KeyName.default,
    shares: Annotated[Path | None, typer.Option("--shares", help="CSV meter,share or meter,level")] = None,
    half_hourly: Annotated[
        list[str] | None, typer.Option("--half-hourly", help="meter with 30-minute data only")
    ] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="transfer lines per transaction")] = 100,
    batch_delay: Annotated[float, typer.Option("--batch-delay", hidden=True)] = 0.0,
    social_discount: Annotated[
        int,
        typer.Option(
            "--social-discount", min=0, max=10_000,
            help="basis points of the price the commons fund pays for eligible households (0: none)",
        ),
    ] = 0,
    rpc_url: RpcOption = None,
    manifest: ManifestOption = None,
    as_json: JsonOption = False,
) -> None:
    """Settle a day: compute its lines, commit their Merkle root, pay the netted amounts.

    With --social-discount, households the commons fund finds eligible pay that much less and
    the fund pays the producer the difference, within what is left of its programme's month.

    Safe to run again at any time: it continues from what the chain holds, pays nothing twice,
    and commits a correction (the next version, paying only the difference) when the readings
    of a settled day changed. Exit codes: 0 done, 1 refused, 2 bad usage or input.
    """
    from ledger.energy.settlement import Settler, day_compute, operation_number, tariff_book

    settings = _settings(rpc_url, manifest)
    the_day = _day(day)
    if readings is None:
        _settle_from_store(settings, the_day, operation, batch, batch_delay, as_json, social_discount)
        return
    accounts = read_participants(participants or settings.state_dir / "energy" / "participants.csv")
    allocation_key = read_key(key, shares)
    injections, withdrawals = read_readings(readings)
    declared = frozenset(m.strip() for v in half_hourly or [] for m in v.split(",") if m.strip())
    step, steps = build_steps(injections, withdrawals, allocation_key, declared)
    of_day: dict[datetime, Any] = {s: r for s, r in steps if local_day_of(s) == the_day}
    chain = _chain(settings, signer=True, social_discount=social_discount)
    chain.ensure_roles(("ORACLE_ROLE",))
    op = operation_number(operation)
    book = tariff_book(chain.tariffs(op), chain.price_bounds())
    compute = day_compute(
        operation_id=op,
        day=the_day,
        step=step,
        readings=of_day,
        key=allocation_key,
        book=book,
        accounts=accounts,
        batch_size=batch,
        social=_fund_part(chain, social_discount, lambda: book)(accounts.values(), the_day),
    )
    store = day_store(settings)
    result = Settler(chain, store, batch_size=batch, hook=_delay_hook(batch_delay)).run(op, the_day, compute)
    _report(result, operation, as_json)


def _delay_hook(batch_delay: float) -> Callable[[str], None]:
    def hook(point: str) -> None:
        if batch_delay and point in ("committed", "paid"):
            time.sleep(batch_delay)

    return hook


def _settle_from_store(
    settings: LedgerSettings,
    the_day: date,
    operation: str,
    batch: int,
    batch_delay: float,
    as_json: bool,
    social_discount: int = 0,
) -> None:
    from ledger.cli.registry import open_store
    from ledger.energy.settlement import Settler, operation_number, tariff_book, with_batch_size
    from ledger.energy.settlement_source import store_compute

    readings_store = open_store(settings)
    chain = _chain(settings, signer=True, social_discount=social_discount)
    chain.ensure_roles(("ORACLE_ROLE",))
    op = operation_number(operation)

    def book() -> Any:
        return tariff_book(chain.tariffs(op), chain.price_bounds())

    compute = with_batch_size(
        store_compute(readings_store, operation, the_day, book, _fund_part(chain, social_discount, book)),
        batch,
    )
    store = day_store(settings)
    result = Settler(chain, store, batch_size=batch, hook=_delay_hook(batch_delay)).run(op, the_day, compute)
    _report(result, operation, as_json)


def day_store(settings: LedgerSettings) -> SqlDayStore:
    """The settlement state on the configured database (SQLite by default), migrated to head."""
    from ledger.db.settlement_store import settle_store

    return settle_store(settings.db_url)


def _report(result: SettleResult, operation: str, as_json: bool) -> None:
    the_day = result.day
    if as_json:
        typer.echo(json.dumps(result.to_json(), sort_keys=True))
        return
    from ledger.domain.money import format_micro

    if result.nothing_to_do:
        typer.echo(f"{the_day} (operation {operation}) is already settled (version {result.version}).")
        return
    t = result.totals
    energy = (
        f"produced {t.produced_wh:,} Wh, consumed {t.consumed_wh:,} Wh, shared {t.allocated_wh:,} Wh, "
        f"surplus {t.surplus_wh:,} Wh"
        if any(t.as_tuple()[:4])
        else "energy: in the lines (`ledger proof`); the committed totals carry none, as they are public"
    )
    typer.echo(
        f"{the_day} operation {operation} version {result.version}: root 0x{result.root.hex()}\n"
        f"  {energy}\n"
        f"  {t.transfers} member lines in {result.paid_up_to} batches: debits "
        f"{format_micro(result.paid, thousands=' ')}, of which short "
        f"{format_micro(result.shortfall, thousands=' ')} this run (owed: see `ledger settle-owed`)"
    )
    for s in result.shortfalls:
        owed = format_micro(s.amount, thousands=" ")
        typer.echo(f"  shortfall line {s.index}: {s.payer} owes {owed} (mandate, allowance or balance)")
    typer.echo(f"  lines kept in the ledger database; proofs: `ledger proof --day {the_day} --account A`")


def choose_operation(store: Any, the_day: date, given: str | None) -> int:
    """The operation whose lines to prove: the one given, else the only one settled that day
    (several or none: a sentence naming those that exist)."""
    from ledger.energy.settlement import operation_number

    if given is not None:
        return operation_number(given)
    that_day = store.operations(the_day)
    if len(that_day) == 1:
        return int(that_day[0])
    if that_day:
        raise InputError(f"{len(that_day)} operations settled {the_day}: "
                         f"{', '.join(map(str, that_day))}; choose one with --operation")
    known = store.operations()
    raise InputError(f"no settlement of {the_day} in the ledger database"
                     + (f" (operations settled here: {', '.join(map(str, known))})" if known else
                        " (nothing settled here yet: run `ledger settle` first)"))


def proof_command(
    day: Annotated[str, typer.Option("--day", help="local day, YYYY-MM-DD")],
    account: Annotated[str, typer.Option("--account", help="the wallet address whose lines to prove")],
    operation: Annotated[str | None, typer.Option(
        "--operation", help="sharing operation id (default: the only one settled that day)")] = None,
    rpc_url: RpcOption = None,
    manifest: ManifestOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print an account's lines of a day with their Merkle proofs, each checked against the
    root on chain (in Python and by the contract). Exit 1 when a line does not verify."""
    from ledger.energy.settlement import account_of, verify_offline

    settings = _settings(rpc_url, manifest)
    the_day = _day(day)
    who = account_of(account)
    store = day_store(settings)
    op = choose_operation(store, the_day, operation)
    operation = operation if operation is not None else str(op)
    versions = store.load(op, the_day)
    if not versions:
        raise InputError(
            f"no settlement of {the_day} for operation {operation} in the ledger database; settle the "
            "day first, or rebuild the store with `ledger settle-rebuild`"
        )
    chain = _chain(settings, signer=False)
    report: list[dict[str, Any]] = []
    ok = True
    for version, lines in sorted(versions.items()):
        on_chain = chain.commitment(op, the_day, version)
        for number, line in lines.lines_of(who):
            in_python = on_chain.committed and verify_offline(lines, number, on_chain.root)
            by_contract = on_chain.committed and chain.verify_line(lines, number)
            ok = ok and in_python and by_contract
            report.append(
                {
                    "version": version,
                    "root": "0x" + on_chain.root.hex(),
                    **line.to_json(),
                    "proof": ["0x" + p.hex() for p in lines.proof(number)],
                    "verified_python": in_python,
                    "verified_contract": by_contract,
                }
            )
    if as_json:
        typer.echo(json.dumps({"day": the_day.isoformat(), "account": who, "ok": ok, "lines": report}))
    else:
        typer.echo(f"{len(report)} lines of {who} on {the_day}:")
        for r in report:
            mark = "OK " if r["verified_python"] and r["verified_contract"] else "BAD"
            typer.echo(
                f"  {mark} v{r['version']} {r['kind']:<8} #{r['index']:<4} payer {r['payer']} "
                f"payee {r['payee']} {r['wh']} Wh value {r['value']}  proof {len(r['proof'])} hashes"
            )
    if not ok:
        raise typer.Exit(1)


def tariff_set_command(
    effective_from: Annotated[str, typer.Option("--from", help="first local day, YYYY-MM-DD")],
    solar: Annotated[int, typer.Option("--solar", help="µ€/kWh in solar hours")],
    peak: Annotated[int, typer.Option("--peak", help="µ€/kWh in peak hours")],
    off_peak: Annotated[int, typer.Option("--off-peak", help="µ€/kWh in off-peak hours")],
    peak_surcharge: Annotated[
        int, typer.Option("--peak-surcharge", min=0, help="µ€/kWh consumers pay the commons fund at peak")
    ] = 0,
    off_peak_discount: Annotated[
        int, typer.Option("--off-peak-discount", min=0, help="µ€/kWh the commons fund pays off-peak")
    ] = 0,
    operation: OperationOption = "1",
    rpc_url: RpcOption = None,
    manifest: ManifestOption = None,
) -> None:
    """Register a tariff schedule on chain (never retroactive; prices within the bounds).

    With --peak-surcharge / --off-peak-discount the schedule carries a solidarity component: peak
    pays for off-peak through the commons fund, the consumer's price staying within the bounds
    and the producer paid the tariff price."""
    from ledger.energy.settlement import operation_number

    settings = _settings(rpc_url, manifest)
    chain = _chain(settings, signer=True)
    chain.ensure_roles(("TARIFF_ROLE",))
    schedule = chain.set_tariff(
        operation_number(operation),
        _day(effective_from),
        solar,
        peak,
        off_peak,
        peak_surcharge,
        off_peak_discount,
    )
    extra = (
        f", surcharge {peak_surcharge} and discount {off_peak_discount} µ€/kWh to and from the commons fund"
        if peak_surcharge or off_peak_discount
        else ""
    )
    typer.echo(f"tariff schedule {schedule} of operation {operation} in force from {effective_from}{extra}")


def settle_watch_command(
    operation: OperationOption = "1",
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="seconds between checks")] = 30.0,
    retries: Annotated[int, typer.Option("--retries", min=1, help="attempts per day and check")] = 3,
    retry_delay: Annotated[float, typer.Option("--retry-delay", min=0, help="seconds between tries")] = 2.0,
    lookback: Annotated[int, typer.Option("--lookback-days", min=1, help="oldest day looked at")] = 31,
    batch: Annotated[int, typer.Option("--batch", min=1, help="transfer lines per transaction")] = 100,
    cycles: Annotated[int | None, typer.Option("--cycles", min=1, help="stop after N checks")] = None,
    social_discount: Annotated[
        int,
        typer.Option(
            "--social-discount", min=0, max=10_000,
            help="basis points of the price the commons fund pays for eligible households (0: none)",
        ),
    ] = 0,
    rpc_url: RpcOption = None,
    manifest: ManifestOption = None,
) -> None:
    """Settle each complete past day of the operation as its readings are in, until Ctrl-C.

    Every check asks the chain what is committed and paid; a closed day is left alone, a day
    committed but not fully paid is finished, a day lacking readings stays open (said once per
    change). One JSON line per outcome on stdout. Exit codes: 0 stopped, 1 refused at start.
    """
    import sys

    from ledger.cli.registry import open_store
    from ledger.energy.settlement import operation_number, tariff_book
    from ledger.energy.settlement_source import SettleWatcher

    settings = _settings(rpc_url, manifest)
    readings_store = open_store(settings)
    chain = _chain(settings, signer=True, social_discount=social_discount)
    chain.ensure_roles(("ORACLE_ROLE",))
    op = operation_number(operation)

    def book() -> Any:
        return tariff_book(chain.tariffs(op), chain.price_bounds())

    def emit(line: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(line, sort_keys=True) + "\n")
        sys.stdout.flush()

    watcher = SettleWatcher(
        store=readings_store,
        chain=chain,
        days=day_store(settings),
        operation_id=operation,
        book=book,
        emit=emit,
        interval_s=interval,
        retries=retries,
        retry_delay_s=retry_delay,
        lookback_days=lookback,
        batch_size=batch,
        changes=readings_store,  # re-settles days whose distributor data or reviews changed
        social=_fund_part(chain, social_discount, book),
    )
    try:
        watcher.run(cycles=cycles)
    except KeyboardInterrupt:
        emit({"event": "watch-stopped", "operation": operation})


def owed_command(
    operation: OperationOption = "1",
    from_block: Annotated[int, typer.Option("--from-block", min=0, help="first block searched")] = 0,
    rpc_url: RpcOption = None,
    manifest: ManifestOption = None,
    as_json: JsonOption = False,
) -> None:
    """List what members owe the operation (shortfalls not yet collected or covered: bill them in
    euros, then `cover` on chain) and what is due to members from the pool. Exit 0."""
    from ledger.domain.money import format_micro
    from ledger.energy.settlement import operation_number

    settings = _settings(rpc_url, manifest)
    chain = _chain(settings, signer=False)
    op = operation_number(operation)
    rows = []
    for member in chain.shortfall_members(op, from_block):
        _, _, _, owed = chain.member_account(op, member)
        if owed:
            rows.append({"member": member, "owed": owed})
    pool = chain.pool(op)
    if as_json:
        typer.echo(json.dumps({"operation": operation, "pool": pool, "members": rows}, sort_keys=True))
        return
    typer.echo(f"operation {operation}: pool {format_micro(pool, thousands=' ')}")
    if not rows:
        typer.echo("  nobody owes anything")
    for row in rows:
        amount = format_micro(abs(row["owed"]), thousands=" ")
        what = "owes" if row["owed"] > 0 else "is due"
        typer.echo(f"  {row['member']} {what} {amount}")


def rebuild_command(
    operation: OperationOption = "1",
    from_block: Annotated[int, typer.Option("--from-block", min=0, help="first block searched")] = 0,
    rpc_url: RpcOption = None,
    manifest: ManifestOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rebuild the settlement store of an operation from the chain and the stored readings.

    Every committed version is computed again from the readings in the database, day after day,
    and kept only if its root equals the committed root; if one differs, nothing is written
    (exit 1: restore the settlement tables from a backup). Then `ledger settle` continues where
    the chain stands. Exit codes: 0 rebuilt, 1 refused, 2 bad usage.
    """
    from ledger.cli.registry import open_store
    from ledger.energy.settlement import operation_number, tariff_book
    from ledger.energy.settlement_rebuild import rebuild_store
    from ledger.energy.settlement_source import store_compute

    settings = _settings(rpc_url, manifest)
    readings_store = open_store(settings)
    chain = _chain(settings, signer=False)
    op = operation_number(operation)

    def book() -> Any:
        return tariff_book(chain.tariffs(op), chain.price_bounds())

    def compute_for(the_day: date) -> Any:
        return store_compute(readings_store, operation, the_day, book)

    rebuilt = rebuild_store(chain, day_store(settings), op, compute_for, from_block)
    rows = [
        {"day": v.lines.day.isoformat(), "version": v.lines.version, "root": "0x" + v.lines.root.hex(),
         "state": v.state, "batches_paid": len(v.batches)}
        for v in rebuilt
    ]
    if as_json:
        typer.echo(json.dumps({"operation": operation, "versions": rows}, sort_keys=True))
        return
    typer.echo(f"operation {operation}: {len(rows)} committed versions rebuilt, each root checked")
    for r in rows:
        typer.echo(f"  {r['day']} v{r['version']} {r['state']:<9} {r['root']}")


def import_json_command(
    folder: Annotated[Path, typer.Argument(help="the old settlement folder (STATE/settlement)")],
) -> None:
    """Import the JSON day files of earlier versions into the database (once, after an upgrade).

    Each version is checked against its recorded root and stored as it was computed; a version
    already in the database with the same root is skipped, with another root refused (exit 1).
    `ledger settle` then continues each day from what the chain holds."""
    from ledger.energy.settlement import DayLines, SettlementError

    settings = LedgerSettings()
    files = sorted(folder.glob("op-*/*.json"))
    if not files:
        raise InputError(
            f"no settlement files (op-*/YYYY-MM-DD.json) in {folder}; give the old STATE/settlement folder"
        )
    store = day_store(settings)
    count = 0
    for path in files:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            versions = [DayLines.from_json(body) for _, body in sorted(raw["versions"].items())]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SettlementError(f"cannot read the settlement file {path}: {exc}") from None
        for lines in versions:
            store.save(lines)
            count += 1
    typer.echo(f"imported {count} versions from {len(files)} day files into the ledger database")


def register(app: typer.Typer) -> None:
    """Add `settle`, `settle-watch`, `settle-owed`, `settle-rebuild`, `settle-import-json`, `proof`
    and `tariff-set` to the `ledger` app."""
    app.command("settle")(settle_command)
    app.command("settle-rebuild")(rebuild_command)
    app.command("settle-import-json")(import_json_command)
    app.command("settle-watch")(settle_watch_command)
    app.command("settle-owed")(owed_command)
    app.command("proof")(proof_command)
    app.command("tariff-set")(tariff_set_command)
