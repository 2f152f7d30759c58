"""`wallet history` and `wallet statement`: what happened, with receipts.

History reads the district API when its URL is configured explicitly (flag --api-url, env
WALLET_API_URL or config.toml) and it answers; otherwise (or with `--source chain`) the chain's
logs over raw JSON-RPC (see wallet_cli.history). With a session of the account (`wallet
login`), the API's private payments are matched to the movements; without one (or when it
has ended) the public history is shown and a note says so. On chain a payment carries only a
salted commitment to its reference: the history shows the clear reference of every commitment
this wallet holds (wallet_cli.references: payments it made, requests it issued, refunds and
bookings), and the 0x commitment for the others.

`wallet statement --month YYYY-MM` builds the monthly statement (CSV, private: needs the
session) from `GET /v1/accounts/{address}/statement.csv?month=` (payments and refunds) and
`GET /v1/accounts/{address}/energy?day=<last day>&days=<days of the month>` (energy sold and
bought, wallet_cli.statement), to standard output (a summary with units on standard error) or to
`--output FILE` (written 0600, atomically).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from wallet_cli import context
from wallet_cli.context import (
    JsonOpt,
    account_address,
    emit,
    guarded,
    home_of,
    load,
    manifest_of,
    note,
    session_for,
)
from wallet_cli.errors import ConfigError, UsageError, WalletError

AccountOpt = Annotated[
    str | None,
    typer.Option("--account", "-a", help="An account name, a contact or an address "
                 "(default: the configured account, else the only one)."),
]


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

    if source not in ("auto", "api", "chain"):
        raise UsageError("--source is auto, api or chain.")
    address = account_address(ctx, account)
    api_url = context.api_url_of(ctx) if source != "chain" else None
    result: hist.History | None = None
    if api_url is not None:
        import httpx

        try:
            with context.make_http() as http, context.spinner(f"Asking {api_url} for your history"):
                result = hist.api_history(http, api_url, address, headers=_bearer(ctx, address, api_url))
                _add_private_references(ctx, http, api_url, result)
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            if source == "api":
                raise ConfigError(f"The API at {api_url} did not give the history ({exc}).") from exc
            note(f"The API at {api_url} did not answer ({type(exc).__name__}): reading the chain "
                 "(choose with --source api|chain).")
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
        with context.make_rpc(settings) as rpc:
            result = hist.chain_history(
                rpc, address, token=token, payments=payments, energy=energy,
                from_block=_first_block(manifest), merchants=rpc.merchants(payments))
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

    from wallet_cli.amounts import format_amount, format_wh, needs_six_decimals
    from wallet_cli.errors import ApiError
    from wallet_cli.session import PrivateApi, live_session
    from wallet_cli.statement import build_statement, month_days

    match = re.fullmatch(r"(\d{4})-(\d{2})", month)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise UsageError(f"The month must be written YYYY-MM, like 2026-11 (not '{month}').")
    address = account_address(ctx, account)
    api_url = context.api_url_of(ctx)
    session = live_session(home_of(ctx), address, api_url)
    last_day, day_count = month_days(month)
    with context.make_http() as http, context.spinner(f"Asking {api_url} for your statement"):
        private = PrivateApi(http, api_url, session)
        reply = private.get(f"/v1/accounts/{address}/statement.csv", "your statement",
                            {"month": month})
        energy = private.get_json(f"/v1/accounts/{address}/energy", "your energy of the month",
                                  {"day": last_day, "days": day_count})
    days = energy.get("days") if isinstance(energy, dict) else None
    if not isinstance(days, list):
        raise ApiError(f"The API at {api_url} gave energy data this wallet cannot read (no days).")
    built = build_statement(str(reply.text), days, reply.headers.get("x-indexed-block"), api_url)
    text = built.csv
    data: dict[str, Any] = {"account": address, "month": month, **built.as_json(),
                            "indexed_block": reply.headers.get("x-indexed-block")}
    figures = (built.payments_micro, built.energy_earned_micro, built.energy_paid_micro,
               built.total_micro)
    payments, earned, paid, total = (format_amount(m, full=needs_six_decimals(list(figures)))
                                     for m in figures)
    summary = (f"Statement of {month} for {address}: {built.lines} line(s); merchants {payments}, "
               f"energy sold {format_wh(built.energy_sold_wh)} for {earned}, energy bought "
               f"{format_wh(built.energy_bought_wh)} for {paid}; total {total}")
    if output is not None:
        from wallet_cli.home import atomic_write

        atomic_write(output, text.encode("utf-8"))
        emit(as_json, {**data, "file": str(output)}, f"{summary}, written to {output}.")
        return
    if as_json:
        emit(True, {**data, "file": None, "csv": text}, "")
    else:
        typer.echo(text, nl=not text.endswith("\n"))
        note(summary + ".")


def register(app: typer.Typer) -> None:
    app.command("history")(guarded(history))
    app.command("statement")(guarded(statement))
