"""`wallet history`, `wallet energy` and `wallet statement`: what happened, with receipts.

History reads the district API when its URL is configured explicitly (flag --api-url, env
WALLET_API_URL or config.toml) and it answers; otherwise (or with `--source chain`) the chain's
logs over raw JSON-RPC (see wallet_cli.history). With a session of the account (`wallet
login`), the API's private payments are matched to the movements; without one (or when it
has ended) the public history is shown and a note says so. On chain a payment carries only a
salted commitment to its reference: the history shows the clear reference of every commitment
this wallet holds (wallet_cli.references: payments it made, requests it issued, refunds and
bookings), and the 0x commitment for the others.

Energy (prosumers: production, allocated to whom, earnings per day and per month) needs the
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

`wallet statement --month YYYY-MM` downloads the monthly statement (CSV, private: needs the
session) from `GET /v1/accounts/{address}/statement.csv?month=`, to standard output or to
`--output FILE` (written 0600, atomically).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from wallet_cli.errors import ConfigError, NoDataSourceError, UsageError, WalletError

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on standard output.")]
AccountOpt = Annotated[
    str | None,
    typer.Option("--account", "-a", help="An account name, a contact or an address "
                 "(default: the only account)."),
]
BAR_WIDTH = 40


def explicit_api_url(ctx: typer.Context) -> str | None:
    """The API URL only when someone configured it (the default localhost does not count)."""
    from wallet_cli.main import _state
    from wallet_cli.settings import read_config_file

    state = _state(ctx)
    flag = state.flags.get("api_url")
    if flag:
        return str(flag)
    env = os.environ.get("WALLET_API_URL")
    if env:
        return env
    value = read_config_file(state.home).get("api_url")
    return str(value) if value else None


def make_http() -> Any:
    import httpx

    return httpx.Client(timeout=10.0)


def _account(ctx: typer.Context, account: str | None) -> str:
    from wallet_cli.chain_commands import _recipient, pick_account

    if account is None:
        return pick_account(ctx, None)[1]
    address, _label = _recipient(ctx, account)
    if not address:
        raise UsageError(f"'{account}' is not an account, a contact or an address.")
    return address


def history(
    ctx: typer.Context,
    account: AccountOpt = None,
    source: Annotated[str, typer.Option("--source", help="auto (the API when configured and "
                                        "answering, else the chain), api or chain.")] = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Your history grouped by category (merchants by category, energy, transfers...), with
    receipts: transaction hash, block and reference."""
    from wallet_cli import history as hist
    from wallet_cli.chain_commands import emit, load, make_rpc, manifest_of, note

    if source not in ("auto", "api", "chain"):
        raise UsageError("--source is auto, api or chain.")
    address = _account(ctx, account)
    api_url = explicit_api_url(ctx) if source != "chain" else None
    if source == "api" and api_url is None:
        raise ConfigError("No API configured: --api-url, env WALLET_API_URL or "
                          "`wallet config set api_url URL`.")
    result: hist.History | None = None
    if api_url is not None:
        import httpx

        try:
            with make_http() as http:
                result = hist.api_history(http, api_url, address, headers=_bearer(ctx, address, api_url))
                _add_private_references(ctx, http, api_url, result)
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            if source == "api":
                raise ConfigError(f"The API at {api_url} did not give the history ({exc}).") from exc
            note(f"The API at {api_url} did not answer ({type(exc).__name__}): reading the chain.")
            result = None
    if result is None:
        settings = load(ctx)
        manifest = manifest_of(settings)
        from wallet_cli.settings import (
            contract_from_manifest,
            service_payments_from_manifest,
            token_from_manifest,
        )

        token = token_from_manifest(manifest)
        payments = service_payments_from_manifest(manifest)
        try:
            energy: str | None = contract_from_manifest(manifest, ("EnergySettlement",))
        except ConfigError:
            energy = None
        with make_rpc(settings) as rpc:
            result = hist.chain_history(
                rpc, address, token=token, payments=payments, energy=energy,
                from_block=_first_block(manifest), merchants=rpc.merchants(payments))
    from wallet_cli.chain_commands import home_of
    from wallet_cli.references import ReferenceBook, reveal

    reveal(result.entries, ReferenceBook(home_of(ctx)))
    emit(as_json, result.as_json(), "\n".join(hist.render(result)))


def _bearer(ctx: typer.Context, address: str, api_url: str) -> dict[str, str]:
    """The session header for the API's private history (none without a live session)."""
    try:
        session = session_for(ctx, address, api_url)
    except WalletError:
        return {}
    return {"Authorization": f"Bearer {session.token}"} if session is not None else {}


def session_for(ctx: typer.Context, address: str, api_url: str) -> Any:
    """The kept session of `address` on this API: None when there is none; an ended one
    raises NotSignedInError ("sign in first: wallet login")."""
    from wallet_cli.chain_commands import home_of
    from wallet_cli.session import live_session, load_session

    home = home_of(ctx)
    if load_session(home, address, api_url) is None:
        return None
    return live_session(home, address, api_url)


def _add_private_references(ctx: typer.Context, http: Any, api_url: str,
                            result: Any) -> None:
    """With a session, the references of the account's payments (else a note says how)."""
    from wallet_cli import history as hist
    from wallet_cli.session import PrivateApi

    hint = ("The chain and the public API carry only a salted commitment to each payment "
            "reference: this wallet shows the references of the payments it made or requested "
            "(kept in its home); sign in (`wallet login`) for what the API keeps for you.")
    try:
        session = session_for(ctx, result.account, api_url)
    except WalletError as exc:
        result.notes.append(f"{exc.message} (references are shown to the signed-in owner).")
        return
    if session is None:
        result.notes.append(hint)
        return
    try:
        payments = hist.private_payments(PrivateApi(http, api_url, session), result.account)
    except WalletError as exc:
        result.notes.append(f"{exc.message} (references are shown to the signed-in owner).")
        return
    hist.add_references(result, payments)
    result.signed_in = True


def _first_block(manifest: Any) -> int:
    import json

    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        blocks = [int(c["deploy_block"]) for c in data["contracts"].values()
                  if isinstance(c, dict) and "deploy_block" in c]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return 0
    return min(blocks) if blocks else 0


def bar(value: int, largest: int, width: int = BAR_WIDTH) -> str:
    """A bar of `width` cells for value/largest, in eighths of a cell (integers only)."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = value * width * 8 // largest
    full, part = divmod(eighths, 8)
    return "█" * full + ("" if part == 0 else " ▏▎▍▌▋▊▉"[part])


def summarize_energy(days: list[dict[str, Any]]) -> dict[str, Any]:
    """Per day and per month: produced Wh, allocated Wh per recipient, earned micro-M3E."""
    out_days = []
    months: dict[str, dict[str, int]] = {}
    for d in days:
        day = str(d["day"])
        produced = int(d.get("produced_wh") or 0)
        allocated: list[dict[str, Any]] = [{"to": str(a["to"]), "wh": int(a["wh"])}
                                           for a in d.get("allocated", [])]
        earned_raw = d.get("earned", {})
        earned = int(earned_raw["micro"] if isinstance(earned_raw, dict) else earned_raw)
        out_days.append({"day": day, "produced_wh": produced, "allocated": allocated,
                         "allocated_wh": sum(a["wh"] for a in allocated), "earned": str(earned)})
        month = months.setdefault(day[:7], {"produced_wh": 0, "allocated_wh": 0, "earned": 0})
        month["produced_wh"] += produced
        month["allocated_wh"] += sum(a["wh"] for a in allocated)
        month["earned"] += earned
    return {"days": out_days,
            "months": [{"month": m, "produced_wh": v["produced_wh"],
                        "allocated_wh": v["allocated_wh"], "earned": str(v["earned"])}
                       for m, v in sorted(months.items())]}


def render_energy(address: str, summary: dict[str, Any]) -> list[str]:
    from wallet_cli.amounts import format_amount

    lines = [f"Solar energy of {address}"]
    days = summary["days"]
    largest = max((d["produced_wh"] for d in days), default=0)
    lines.append("")
    lines.append("per day           produced   shared   earned")
    for d in days:
        lines.append(f"  {d['day']}  {d['produced_wh'] / 1000:8.1f} kWh {d['allocated_wh'] / 1000:6.1f} "
                     f"{format_amount(int(d['earned'])):>12}  {bar(d['allocated_wh'], largest)}")
        for a in d["allocated"]:
            lines.append(f"      to {a['to']}: {a['wh'] / 1000:.1f} kWh")
    lines.append("")
    lines.append("per month")
    top = max((int(m["earned"]) for m in summary["months"]), default=0)
    for m in summary["months"]:
        lines.append(f"  {m['month']}  {m['produced_wh'] / 1000:8.1f} kWh "
                     f"{format_amount(int(m['earned'])):>12}  {bar(int(m['earned']), top)}")
    return lines


def energy(
    ctx: typer.Context,
    account: AccountOpt = None,
    days: Annotated[int, typer.Option("--days", min=1, max=366, help="How many days back.")] = 31,
    as_json: JsonOpt = False,
) -> None:
    """For prosumers: production, what was allocated to whom, earnings per day and month."""
    from wallet_cli.chain_commands import emit

    address = _account(ctx, account)
    api_url = explicit_api_url(ctx)
    if api_url is None:
        raise NoDataSourceError(
            "No energy data source configured: the settlement data comes from the district API "
            "(--api-url, env WALLET_API_URL or `wallet config set api_url URL`).")
    import httpx

    from wallet_cli.session import check_reply

    base = api_url.rstrip("/")
    session = session_for(ctx, address, base)
    headers = {"Authorization": f"Bearer {session.token}"} if session is not None else {}
    try:
        with make_http() as http:
            reply = http.get(f"{base}/v1/accounts/{address}/energy", params={"days": days},
                             headers=headers)
            if reply.status_code == 404:
                raise NoDataSourceError(
                    f"No energy data source configured: the API at {api_url} has no energy "
                    "endpoint (/v1/accounts/{address}/energy) yet.")
            check_reply(reply, base, "your energy data")
            payload = reply.json()
    except httpx.HTTPError as exc:
        raise NoDataSourceError(
            f"No energy data source: the API at {api_url} did not answer ({type(exc).__name__})."
        ) from exc
    try:
        summary = summarize_energy(list(payload["days"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise NoDataSourceError(f"The API at {api_url} gave energy data this wallet cannot read "
                                f"({exc}).") from exc
    emit(as_json, {"account": address, **summary}, "\n".join(render_energy(address, summary)))


def statement(
    ctx: typer.Context,
    month: Annotated[str, typer.Option("--month", help="The month, YYYY-MM (like 2026-11).",
                                       show_default=False)],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False,
                     help="Write the CSV to this file (0600) instead of standard output."),
    ] = None,
    account: AccountOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Your monthly statement as CSV (payments negative, refunds positive); needs `wallet login`."""
    import re

    from wallet_cli.chain_commands import emit, home_of, load
    from wallet_cli.session import PrivateApi, live_session, normalize_api_url

    match = re.fullmatch(r"(\d{4})-(\d{2})", month)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise UsageError(f"The month must be written YYYY-MM, like 2026-11 (not '{month}').")
    address = _account(ctx, account)
    api_url = normalize_api_url(explicit_api_url(ctx) or load(ctx).api_url)
    session = live_session(home_of(ctx), address, api_url)
    with make_http() as http:
        reply = PrivateApi(http, api_url, session).get(
            f"/v1/accounts/{address}/statement.csv", "your statement", {"month": month})
        text = str(reply.text)
    lines = max(0, len([line for line in text.splitlines() if line.strip()]) - 1)
    data: dict[str, Any] = {"account": address, "month": month, "lines": lines,
                            "indexed_block": reply.headers.get("x-indexed-block")}
    if output is not None:
        from wallet_cli.home import atomic_write

        atomic_write(output, text.encode("utf-8"))
        emit(as_json, {**data, "file": str(output)},
             f"Statement of {month} for {address}: {lines} line(s) written to {output}.")
        return
    if as_json:
        emit(True, {**data, "file": None, "csv": text}, "")
    else:
        typer.echo(text, nl=not text.endswith("\n"))


def register(app: typer.Typer) -> None:
    from wallet_cli.main import guarded

    app.command("history")(guarded(history))
    app.command("statement")(guarded(statement))
