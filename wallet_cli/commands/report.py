"""`wallet history` and `wallet statement`: what happened, with receipts.

History reads the district API when its URL is configured explicitly (flag --api-url, env
WALLET_API_URL or config.toml) and it answers; otherwise (or with `--source chain`) the chain's
logs over raw JSON-RPC (see wallet_cli.history). With a session of the account (`wallet
login`), the API's private payments are matched to the movements; without one (or when it
has ended) the public history is shown and a note says so. On chain a payment carries only a
salted commitment to its reference: the history shows the clear reference of every commitment
this wallet holds (wallet_cli.references: payments it made, requests it issued, refunds and
bookings), and the 0x commitment for the others.

`wallet statement --month YYYY-MM` downloads the monthly statement (CSV, private: needs the
session) from `GET /v1/accounts/{address}/statement.csv?month=`, to standard output or to
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
                 "(default: the only account)."),
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

    from wallet_cli.session import PrivateApi, live_session

    match = re.fullmatch(r"(\d{4})-(\d{2})", month)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise UsageError(f"The month must be written YYYY-MM, like 2026-11 (not '{month}').")
    address = account_address(ctx, account)
    api_url = context.api_url_of(ctx)
    session = live_session(home_of(ctx), address, api_url)
    with context.make_http() as http, context.spinner(f"Asking {api_url} for your statement"):
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
    app.command("history")(guarded(history))
    app.command("statement")(guarded(statement))
