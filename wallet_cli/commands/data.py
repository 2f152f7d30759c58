"""`wallet data export|consent|erase`: your data kept by the district, taken away, chosen, erased.

Each command talks to the district API as the account signed in there (`wallet login`):
- `export [--out FILE]` saves the archive of everything the district keeps about you (a zip of
  JSON and CSV files, its format in the README), written 0600: it is personal data;
- `consent` shows your choices; `consent aggregates on|off` whether your readings count in the
  district figures; `consent share PARTY on|off` whether they go to a named third party;
- `erase` deletes what the district keeps about you off chain, except what the law and your
  settlements require, which it lists with how long it is kept. It asks you to type your
  address (or `--yes`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from wallet_cli import context
from wallet_cli.errors import ApiError, ConfigError, NotSignedInError, UsageError

data_app = typer.Typer(
    help="Your data kept by the district: export it, choose its uses, erase it.", no_args_is_help=True
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on standard output.")]
AccountOpt = Annotated[
    str | None, typer.Option("--account", "-a", help="Your account (default: the only one).")
]
PARTIES = ("energy-cooperative", "research-team")


def _address(ctx: typer.Context, account: str | None) -> str:
    return context.account_address(ctx, account)


def _call(ctx: typer.Context, address: str, method: str, path: str, body: Any = None) -> Any:
    """The reply to a request to the district API signed in as `address`."""
    api_url = context.api_url_of(ctx)
    if not api_url:
        raise ConfigError(
            "Your data is kept by the district API: set its address (`wallet config set api_url "
            "https://...` or WALLET_API_URL), then sign in (`wallet login`)."
        )
    session = context.session_for(ctx, address, api_url)
    if session is None:
        raise NotSignedInError(
            f"Sign in first (`wallet login --account {address}`): your data is only given to you."
        )
    try:
        with context.make_http() as http:
            reply = http.request(
                method,
                f"{api_url.rstrip('/')}{path}",
                json=body,
                headers={"Authorization": f"Bearer {session.token}"},
            )
    except Exception as exc:
        raise ApiError(f"The district API at {api_url} did not answer ({type(exc).__name__}).") from exc
    if reply.status_code == 401:
        raise NotSignedInError("Your session has ended: sign in again (`wallet login`).")
    if reply.status_code != 200:
        try:
            message = reply.json()["error"]["message"]
        except Exception:
            message = f"HTTP {reply.status_code}"
        raise ApiError(f"The district API refused: {message}")
    return reply


def export(
    ctx: typer.Context,
    account: AccountOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Where to save the zip.", dir_okay=False)
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Save everything the district keeps about you (payments, bookings, energy, consents...)."""
    import io
    import json
    import zipfile

    from wallet_cli.context import emit
    from wallet_cli.home import atomic_write

    address = _address(ctx, account)
    reply = _call(ctx, address, "GET", "/v1/me/export")
    target = out or Path(f"m3e-data-{address.lower()}-{int(time.time())}.zip")
    try:
        manifest = json.loads(zipfile.ZipFile(io.BytesIO(reply.content)).read("manifest.json"))
    except (zipfile.BadZipFile, KeyError, ValueError):
        raise ApiError(
            "The district API sent an archive the wallet cannot read: nothing was saved."
        ) from None
    atomic_write(target.resolve(), reply.content, private_dir=False)
    counts = {name: c["rows"] for name, c in manifest["collections"].items()}
    data = {"account": address, "file": str(target), "format": manifest["format"], "rows": counts}

    def human() -> None:
        typer.echo(f"Saved {target} ({len(reply.content)} bytes, readable only by you):")
        for name, rows in counts.items():
            if rows:
                typer.echo(f"  {name:<24} {rows}")

    emit(as_json, data, human)


def _print_consents(as_json: bool, address: str, consents: list[dict[str, Any]]) -> None:
    from wallet_cli.context import emit

    def human() -> None:
        for c in consents:
            what = (
                "your readings count in the district figures"
                if c["purpose"] == "district_aggregates"
                else f"your readings are shared with {c['party']}"
            )
            since = (
                ""
                if c["changed_ts"] is None
                else f" (since {time.strftime('%Y-%m-%d %H:%M', time.gmtime(c['changed_ts']))} UTC)"
            )
            typer.echo(f"  {'yes' if c['granted'] else 'no ':<4} {what}{since}")

    emit(as_json, {"account": address, "consents": consents}, human)


def consent(
    ctx: typer.Context,
    purpose: Annotated[str | None, typer.Argument(help="aggregates, or share")] = None,
    words: Annotated[list[str] | None, typer.Argument(help="[PARTY] on|off")] = None,
    account: AccountOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show your choices, or set one: `consent aggregates off`, `consent share research-team on`."""
    rest = list(words or [])
    address = _address(ctx, account)
    if purpose is None:
        reply = _call(ctx, address, "GET", "/v1/me/consents")
        _print_consents(as_json, address, reply.json()["consents"])
        return
    if purpose == "aggregates" and len(rest) == 1:
        body: dict[str, Any] = {"purpose": "district_aggregates", "granted": _on_off(rest[0])}
    elif purpose == "share" and len(rest) == 2:
        if rest[0] not in PARTIES:
            raise UsageError(f"Sharing is chosen per party: {' or '.join(PARTIES)} (got '{rest[0]}').")
        body = {"purpose": "third_party_sharing", "party": rest[0], "granted": _on_off(rest[1])}
    else:
        raise UsageError(
            "Write `wallet data consent aggregates on|off` or `wallet data consent share PARTY on|off`."
        )
    reply = _call(ctx, address, "PUT", "/v1/me/consents", body)
    _print_consents(as_json, address, reply.json()["consents"])


def _on_off(word: str) -> bool:
    if word.lower() in ("on", "yes"):
        return True
    if word.lower() in ("off", "no"):
        return False
    raise UsageError(f"Write on or off (got '{word}').")


def erase(
    ctx: typer.Context,
    account: AccountOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask to type the address.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Erase what the district keeps about you off chain (what the law keeps is listed)."""
    from wallet_cli.context import emit

    address = _address(ctx, account)
    if not yes:
        typed = typer.prompt(f"This cannot be undone. Type your address ({address}) to erase your data")
        if typed.strip().lower() != address.lower():
            raise UsageError("The address typed is not this account's: nothing was erased.")
    reply = _call(ctx, address, "POST", "/v1/me/erase", {"confirm": address})
    report = reply.json()

    def human() -> None:
        typer.echo(f"Erased: {sum(report['deleted'].values())} records about {address}.")
        typer.echo("Kept, as the law or your settlements require:")
        for kept in report["kept"]:
            typer.echo(f"  - {kept['what']}: {kept['why']}; until {kept['until']}.")

    emit(as_json, {"account": address, **report}, human)


def register(app: typer.Typer) -> None:
    from wallet_cli.context import guarded

    data_app.command("export")(guarded(export))
    data_app.command("consent")(guarded(consent))
    data_app.command("erase")(guarded(erase))
    app.add_typer(data_app, name="data")
