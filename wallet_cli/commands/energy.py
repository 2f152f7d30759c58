"""`wallet energy`: the prosumer's report, and the member's energy mandate for a sharing operation.

- `wallet energy [--days N]`: production, allocations and earnings (the report, unchanged);
- `wallet energy join --operation OP --per-day M3E --per-month M3E`: sign the energy mandate on
  chain (the operation's settlement contract pulls at most that per settled day and per month)
  and approve the contract for a year of the monthly cap (bounded, never unlimited);
- `wallet energy leave --operation OP`: revoke the mandate and the approval: nothing more is
  pulled (what is already owed stays owed, billed in euros by the operator);
- `wallet energy mandate --operation OP`: the mandate, what was pulled in the current day and month
  window, and what the member owes (or is due).

The report (prosumers: production, allocated to whom, earnings per day and per month) needs the
settlement data, which only the API holds (load curves never go on chain). The API is asked
for `GET /v1/accounts/{address}/energy?days=N`, answering::

    {"days": [{"day": "2026-05-01", "produced_wh": 12000 or null (no readings stored),
               "allocated": [{"to": "0x...", "wh": 3000, "amount": {"micro": "270000"}}, ...],
               "earned": {"micro": "270000", "display": "0.27 M3E"}, ...}, ...], ...}

(the API answers more: the day's load curves in "steps", bought Wh and "owed"; only the fields
above are read here). The endpoint needs a Sign-In with Ethereum session of the account: the
session kept by `wallet login` is sent as a bearer token; a missing, ended or refused session
gives "sign in first: wallet login" (exit 1).

When no API is configured, or it has no energy endpoint, the command says so and exits 1: it
never makes data up.

Exit codes as every money command: 0 done, 1 failed, 2 usage, 3 sent but not confirmed in time.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from wallet_cli import context
from wallet_cli.context import (
    DEFAULT_TIMEOUT,
    AccountOpt,
    JsonOpt,
    PasswordFileOpt,
    TimeoutOpt,
    YesOpt,
    account_address,
    confirm,
    connect,
    emit,
    guarded,
    money,
    receipt_json,
    session_for,
    unlock,
    wait,
)
from wallet_cli.errors import NoDataSourceError, UsageError, WalletError

OperationOpt = Annotated[
    str, typer.Option("--operation", help="The sharing operation id (as the operator gave it).")
]
MONTHS_APPROVED = 12
"""The allowance given to the settlement contract: this many monthly caps."""
BAR_WIDTH = 40


def _operation(text: str) -> int:
    from ledger.energy.settlement import SettlementError, operation_number

    try:
        return operation_number(text)
    except SettlementError as exc:
        raise UsageError(f"{exc}: give --operation as the operator wrote it.") from None


def _settlement(gateway: Any) -> Any:
    """The EnergySettlement contract with the gateway's signer (its district client)."""
    from ledger.chain.manifest import Manifest

    manifest = Manifest.load(gateway.manifest_path)
    if "EnergySettlement" not in manifest.contracts:
        raise WalletError("This deployment has no EnergySettlement contract: ask the operator.")
    deployed = manifest.contract("EnergySettlement")
    return gateway.district.client.contract(deployed.address, deployed.abi)


def mandate_sentence(operation: str, per_day: int, per_month: int, window_day: int,
                     pulled_day: int, pulled_month: int) -> str:
    """The mandate in words. `window_day` is the contract's yyyymmdd of the last pull; below any
    real date (0, or 1 once the mandate has prepared the member's slot) nothing was pulled yet."""
    head = f"Mandate for operation {operation}: {money(per_day)} a day, {money(per_month)} a month; "
    if window_day < 19700101:
        return head + "nothing pulled yet."
    from ledger.energy.settlement import day_of_number

    day = day_of_number(window_day).isoformat()
    return head + f"pulled {money(pulled_day)} on {day} and {money(pulled_month)} that month."


def _reader(gateway: Any) -> tuple[Any, Any]:
    """(client, contract) for reads, without the account's key."""
    from eth_account import Account

    from ledger.chain.client import ChainClient
    from ledger.chain.client import connect as connect_rpc
    from ledger.chain.deploy import decoder_for_manifest
    from ledger.chain.manifest import Manifest

    manifest = Manifest.load(gateway.manifest_path)
    if "EnergySettlement" not in manifest.contracts:
        raise WalletError("This deployment has no EnergySettlement contract: ask the operator.")
    client = ChainClient(connect_rpc(gateway.rpc_url), Account.create(), decoder_for_manifest(manifest))
    deployed = manifest.contract("EnergySettlement")
    return client, client.contract(deployed.address, deployed.abi)


def join(
    ctx: typer.Context,
    operation: OperationOpt,
    per_day: Annotated[str, typer.Option("--per-day", help='Cap per settled day in M3E, e.g. "5".')],
    per_month: Annotated[str, typer.Option("--per-month", help='Cap per month in M3E, e.g. "60".')],
    account: AccountOpt = None,
    yes: YesOpt = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign your energy mandate: the operation may pull at most these caps from your account."""
    from wallet_cli.amounts import parse_amount

    day_cap, month_cap = parse_amount(per_day), parse_amount(per_month)
    if not 0 < day_cap <= month_cap < 2**48:
        raise UsageError("The daily cap must be above zero and at most the monthly cap.")
    op = _operation(operation)
    name, address, settings, gateway = connect(ctx, account)
    signer: Any = gateway  # the web3 gateway: its district client signs
    allowance = month_cap * MONTHS_APPROVED
    confirm(
        [
            f"Energy mandate of {name} ({address}) for operation {operation}:",
            f"  at most {money(day_cap)} per settled day and {money(month_cap)} per month",
            f"  and an approval of {money(allowance)} ({MONTHS_APPROVED} monthly caps) to the "
            "settlement contract",
        ],
        yes,
    )
    gateway.use_key(unlock(ctx, name, password_file))
    contract = _settlement(signer)
    client = signer.district.client
    token = signer.district.token
    mandate_tx = client.transact(contract.functions.setMandate(op, day_cap, month_cap), wait=False).tx_hash
    wait(gateway, mandate_tx, timeout, "the mandate")
    approve_tx = client.transact(token.functions.approve(contract.address, allowance), wait=False).tx_hash
    receipt = wait(gateway, approve_tx, timeout, "the approval")
    data = {"operation": operation, "member": address, "per_day": str(day_cap),
            "per_month": str(month_cap), "allowance": str(allowance), "mandate_tx": mandate_tx,
            "chain_id": settings.chain_id, **receipt_json(receipt)}
    emit(as_json, data, f"Joined operation {operation}: at most {money(day_cap)} a day and "
         f"{money(month_cap)} a month. Revoke any time with `wallet energy leave`.")


def leave(
    ctx: typer.Context,
    operation: OperationOpt,
    account: AccountOpt = None,
    yes: YesOpt = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke your energy mandate and the approval: nothing more is pulled from your account."""
    op = _operation(operation)
    name, address, settings, gateway = connect(ctx, account)
    confirm([f"Revoke the energy mandate of {name} ({address}) for operation {operation}"], yes)
    gateway.use_key(unlock(ctx, name, password_file))
    signer: Any = gateway  # the web3 gateway: its district client signs
    contract = _settlement(signer)
    client = signer.district.client
    revoke_tx = client.transact(contract.functions.revokeMandate(op), wait=False).tx_hash
    wait(gateway, revoke_tx, timeout, "the revocation")
    zero = signer.district.token.functions.approve(contract.address, 0)
    approve_tx = client.transact(zero, wait=False).tx_hash
    receipt = wait(gateway, approve_tx, timeout, "the approval set to zero")
    data = {"operation": operation, "member": address, "revoke_tx": revoke_tx,
            "chain_id": settings.chain_id, **receipt_json(receipt)}
    emit(as_json, data, f"Left operation {operation}: nothing more will be pulled. What you may "
         "still owe is billed in euros by the operator.")


def mandate(
    ctx: typer.Context,
    operation: OperationOpt,
    account: AccountOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show your energy mandate, what it pulled in the current window, and what you owe or are due."""
    op = _operation(operation)
    _, address, _, gateway = connect(ctx, account)
    client, contract = _reader(gateway)
    # Both are structs: read by position (Mandate: perDay, perMonth, active, approvesDays;
    # MemberAccount: day, spentDay, spentMonth, owed, holdsCredits).
    per_day, per_month, active, approves_days = client.call(contract.functions.mandate(op, address))[:4]
    window, spent_day, spent_month, owed = client.call(contract.functions.memberAccount(op, address))[:4]
    data = {"operation": operation, "member": address, "active": bool(active),
            "per_day": str(per_day), "per_month": str(per_month), "window_day": int(window),
            "pulled_day": str(spent_day), "pulled_month": str(spent_month), "owed": str(owed),
            "approves_days": bool(approves_days)}
    if not active:
        human = f"No energy mandate for operation {operation}: join with `wallet energy join`."
    else:
        human = mandate_sentence(operation, int(per_day), int(per_month), int(window),
                                 int(spent_day), int(spent_month))
        if approves_days:
            human += " Each settled day is pulled only within what you approve for it."
    if int(owed) > 0:
        human += f" You owe {money(int(owed))} (billed in euros, or pulled again under your mandate)."
    elif int(owed) < 0:
        human += f" You are due {money(-int(owed))} (paid from the operation's pool)."
    emit(as_json, data, human)


def bar(value: int, largest: int, width: int = BAR_WIDTH) -> str:
    """A bar of `width` cells for value/largest, in eighths of a cell (integers only)."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = value * width * 8 // largest
    full, part = divmod(eighths, 8)
    return "█" * full + ("" if part == 0 else " ▏▎▍▌▋▊▉"[part])


def _micro(raw: Any) -> int:
    """An API amount: {"micro": "123"} or the bare integer text."""
    return int(raw["micro"] if isinstance(raw, dict) else raw)


def summarize_energy(days: list[dict[str, Any]]) -> dict[str, Any]:
    """Per day and per month: produced Wh, allocated Wh per recipient, earned micro-M3E (what
    your production sold for), bought Wh and paid micro-M3E (what your consumption cost)."""
    out_days = []
    months: dict[str, dict[str, int]] = {}
    for d in days:
        day = str(d["day"])
        produced = int(d.get("produced_wh") or 0)
        allocated: list[dict[str, Any]] = [{"to": str(a["to"]), "wh": int(a["wh"])}
                                           for a in d.get("allocated", [])]
        earned = _micro(d.get("earned", "0"))
        bought = int(d.get("bought_wh") or 0)
        paid = _micro(d.get("owed", "0"))
        shared = sum(a["wh"] for a in allocated)
        out_days.append({"day": day, "produced_wh": produced, "allocated": allocated,
                         "allocated_wh": shared, "earned": str(earned),
                         "bought_wh": bought, "paid": str(paid)})
        month = months.setdefault(day[:7], {"produced_wh": 0, "allocated_wh": 0, "earned": 0,
                                            "bought_wh": 0, "paid": 0})
        for key, value in (("produced_wh", produced), ("allocated_wh", shared), ("earned", earned),
                           ("bought_wh", bought), ("paid", paid)):
            month[key] += value
    return {"days": out_days,
            "months": [{"month": m, "produced_wh": v["produced_wh"],
                        "allocated_wh": v["allocated_wh"], "earned": str(v["earned"]),
                        "bought_wh": v["bought_wh"], "paid": str(v["paid"])}
                       for m, v in sorted(months.items())]}


def render_energy(address: str, summary: dict[str, Any]) -> list[str]:
    """The report for people: energy in kWh (3 decimals), money in M3E, one decimal count per
    table, every figure with its unit."""
    from wallet_cli.amounts import format_amount, format_wh, needs_six_decimals

    days, months = summary["days"], summary["months"]
    rows = days + months
    six = needs_six_decimals([int(r["earned"]) for r in rows] + [int(r["paid"]) for r in rows])

    def m3e(value: str) -> str:
        return format_amount(int(value), full=six)

    def row(label: str, r: dict[str, Any]) -> str:
        return (f"  {label:<10}  {format_wh(r['produced_wh']):>14}  {format_wh(r['allocated_wh']):>14}"
                f"  {m3e(r['earned']):>16}  {format_wh(r['bought_wh']):>14}  {m3e(r['paid']):>16}")

    header = (f"  {'':<10}  {'produced':>14}  {'shared':>14}  {'earned':>16}  {'bought':>14}  "
              f"{'paid':>16}")
    lines = [f"Solar energy of {address}", "", "per day", header]
    largest = max((d["produced_wh"] for d in days), default=0)
    for d in days:
        lines.append(row(d["day"], d) + f"  {bar(d['allocated_wh'], largest)}")
        for a in d["allocated"]:
            lines.append(f"      to {a['to']}: {format_wh(a['wh'])}")
    lines += ["", "per month", header]
    top = max((int(m["earned"]) for m in months), default=0)
    for m in months:
        lines.append(row(m["month"], m) + f"  {bar(int(m['earned']), top)}")
    return lines


def report(
    ctx: typer.Context,
    account: AccountOpt = None,
    days: Annotated[int, typer.Option("--days", min=1, max=366, help="How many days back.")] = 31,
    as_json: JsonOpt = False,
) -> None:
    """For prosumers: production, what was allocated to whom, earnings per day and month."""

    address = account_address(ctx, account)
    api_url = context.api_url_of(ctx)
    import httpx

    from wallet_cli.session import check_reply, not_answered

    session = session_for(ctx, address, api_url)
    headers = {"Authorization": f"Bearer {session.token}"} if session is not None else {}
    try:
        with context.make_http() as http, context.spinner(f"Asking {api_url} for your energy"):
            reply = http.get(f"{api_url}/v1/accounts/{address}/energy", params={"days": days},
                             headers=headers)
            if reply.status_code == 404:
                raise NoDataSourceError(
                    f"No energy data source: the API at {api_url} has no energy endpoint "
                    f"(/v1/accounts/{address}/energy): check the API URL (--api-url, env "
                    "WALLET_API_URL or `wallet config set api_url URL`).")
            check_reply(reply, api_url, "your energy data")
            payload = reply.json()
    except httpx.HTTPError as exc:
        raise not_answered(api_url, "your energy data", exc) from exc
    try:
        summary = summarize_energy(list(payload["days"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise NoDataSourceError(f"The API at {api_url} gave energy data this wallet cannot read "
                                f"({exc}).") from exc
    emit(as_json, {"account": address, **summary}, "\n".join(render_energy(address, summary)))


def register(app: typer.Typer) -> None:
    """`wallet energy` becomes a group: the report without a sub-command, plus join/leave/mandate."""
    group = typer.Typer(invoke_without_command=True, no_args_is_help=False,
                        help="Your solar energy: the report, and your mandate of an operation.")

    @group.callback()
    def energy(
        ctx: typer.Context,
        account: AccountOpt = None,
        days: Annotated[int, typer.Option("--days", min=1, max=366, help="How many days back.")] = 31,
        as_json: JsonOpt = False,
    ) -> None:
        """For prosumers: production, what was allocated to whom, earnings per day and month."""
        if ctx.invoked_subcommand is None:
            guarded(report)(ctx, account=account, days=days, as_json=as_json)

    group.command("join")(guarded(join))
    group.command("leave")(guarded(leave))
    group.command("mandate")(guarded(mandate))
    app.add_typer(group, name="energy")
