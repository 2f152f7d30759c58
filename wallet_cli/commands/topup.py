"""`wallet topup AMOUNT`: buy M3E with a SEPA transfer to the operator.

Shows the operator's IBAN and name, the amount in euros and the ISO 11649 creditor reference
("RF...") that identifies your account, as text and as an EPC069-12 QR code ("GiroCode") that
banking apps scan. When the bank statement carrying the transfer is imported by the operator
(`ledger treasury import`), the same amount of M3E is minted to your account, once.

The operator's account comes from, in order: `--iban`/`--name`, the environment
(`WALLET_OPERATOR_IBAN`, `WALLET_OPERATOR_NAME`), `config.toml` (`operator_iban`,
`operator_name`), else the district API (`GET /v1/treasury/bank`). The reference comes from the
district API for the account signed in there (`wallet login`; `GET /v1/treasury/topup`), which
registers it: it is keyed with the operator's secret, so nobody who sees the transfer can tell
which address it names, and the wallet cannot compute it alone.
"""

from __future__ import annotations

import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from wallet_cli import context
from wallet_cli.context import emit, guarded, info, pick_account, session_for, state_of
from wallet_cli.errors import AmountError, ApiError, ConfigError, UsageError, WalletError

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on standard output.")]
AccountOpt = Annotated[
    str | None,
    typer.Option("--account", "-a",
                 help="The account to top up (default: the configured account, else the only one)."),
]
DEFAULT_NAME = "Association Monnaie du 3e"


def _euros(text: str) -> int:
    from ledger.domain.treasury import MICRO_PER_CENT, TreasuryRuleError, parse_eur_micro

    try:
        micro = parse_eur_micro(text.strip().replace(",", "."))
    except TreasuryRuleError:
        raise AmountError(f"'{text}' is not an amount of euros: type for example 25 or 12.50.") from None
    if micro <= 0:
        raise AmountError(f"The amount must be more than zero (got '{text}').")
    if micro % MICRO_PER_CENT:
        raise AmountError(f"'{text}' has more than two decimals: a bank transfer is in whole cents.")
    if micro > 999_999_999_99 * MICRO_PER_CENT:
        raise AmountError("A SEPA QR code carries at most 999999999.99 EUR.")
    return micro


def _operator(ctx: typer.Context, iban: str | None, name: str | None) -> tuple[str, str, str | None]:
    from wallet_cli.settings import read_config_file

    config: dict[str, Any] = {}
    try:
        config = read_config_file(state_of(ctx).home)
    except ConfigError:
        config = {}
    iban = iban or os.environ.get("WALLET_OPERATOR_IBAN") or config.get("operator_iban")
    name = name or os.environ.get("WALLET_OPERATOR_NAME") or config.get("operator_name")
    api_url = context.api_url_of(ctx)
    if not iban and api_url:
        try:
            with context.make_http() as http:
                reply = http.get(f"{api_url.rstrip('/')}/v1/treasury/bank")
        except Exception as exc:
            raise ApiError(
                f"The operator's IBAN is not configured and the district API at {api_url} did not "
                f"answer ({type(exc).__name__}): set it with `wallet config set operator_iban "
                "FR76...` (from the operator's site) or WALLET_OPERATOR_IBAN, or check the API URL."
            ) from exc
        if reply.status_code != 200:
            raise ApiError(
                f"The district API does not give the operator's bank account ({reply.status_code})."
            )
        data = reply.json()
        iban, name = data.get("iban"), name or data.get("name")
    if not iban:
        raise ConfigError(
            "The operator's IBAN is not known: set it with `wallet config set operator_iban FR76...` "
            "(from the operator's site), WALLET_OPERATOR_IBAN, or point the wallet at the district API."
        )
    from schwifty import IBAN

    try:
        compact = str(IBAN(str(iban)).compact)
    except ValueError as exc:
        raise ConfigError(f"The operator's IBAN {iban!r} is not valid ({exc}): check the setting.") from exc
    return compact, str(name or DEFAULT_NAME), api_url


def _registered_reference(ctx: typer.Context, address: str, api_url: str | None, amount_text: str) -> str:
    """The account's RF reference, registered by the district API for the signed-in account.

    The reference is keyed with the operator's secret so a bank statement does not name the
    address: the wallet cannot compute it, it asks the API (a key every wallet held would be no
    secret)."""
    from wallet_cli.errors import NotSignedInError

    if not api_url:
        raise ConfigError(
            "Your top-up reference comes from the district API: set its address "
            "(`wallet config set api_url https://...` or WALLET_API_URL), sign in (`wallet login`), "
            "then run this again."
        )
    try:
        session = session_for(ctx, address, api_url)
    except WalletError as exc:
        raise NotSignedInError(
            f"{exc.message} Your top-up reference is given once you sign in (`wallet login`)."
        ) from None
    if session is None:
        raise NotSignedInError(
            "Sign in first (`wallet login`): the district API gives your top-up reference."
        )
    try:
        with context.make_http() as http:
            reply = http.get(
                f"{api_url.rstrip('/')}/v1/treasury/topup",
                params={"amount": amount_text},
                headers={"Authorization": f"Bearer {session.token}"},
            )
    except Exception as exc:
        raise ApiError(f"The district API at {api_url} did not answer ({type(exc).__name__}).") from exc
    reference = reply.json().get("reference") if reply.status_code == 200 else None
    if not isinstance(reference, str):
        raise ApiError(
            f"The district API did not give your top-up reference ({reply.status_code}); ask the operator."
        )
    from ledger.domain.treasury import normalise_rf

    checked = normalise_rf(reference)
    if checked is None:
        raise ApiError(
            f"The district API gave {reference!r}, which is not an RF creditor reference; ask the operator."
        )
    return checked


def topup(
    ctx: typer.Context,
    amount: Annotated[str, typer.Argument(help='Euros to transfer, for example "25" or "12.50".')],
    account: AccountOpt = None,
    iban: Annotated[
        str | None, typer.Option("--iban", help="The operator's IBAN (else the settings).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="The operator's account name.")] = None,
    no_qr: Annotated[bool, typer.Option("--no-qr", help="Do not draw the QR code.")] = False,
    qr_file: Annotated[
        Path | None, typer.Option("--qr-file", help="Also save the QR code (.png or .svg).", dir_okay=False)
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Buy M3E by bank transfer: IBAN, amount and your RF reference, with a SEPA QR code."""
    from segno import helpers

    from ledger.domain.treasury import format_eur, group_rf

    micro = _euros(amount)
    if account is not None and account.startswith("0x") and len(account) == 42:
        label, address = account, account
    else:
        label, address = pick_account(ctx, account)
    operator_iban, operator_name, api_url = _operator(ctx, iban, name)
    if qr_file is not None and qr_file.suffix.lower() not in (".png", ".svg"):
        raise UsageError("The QR code file must end in .png or .svg.")
    reference = _registered_reference(ctx, address, api_url, format_eur(micro))
    euros = Decimal(micro) / 1_000_000
    qr = helpers.make_epc_qr(name=operator_name[:70], iban=operator_iban, amount=euros, reference=reference)
    if qr_file is not None:
        qr.save(str(qr_file), scale=8, border=4)
    note = "Your reference is registered with the district ledger."
    data = {
        "account": label,
        "address": address,
        "iban": operator_iban,
        "name": operator_name,
        "amount": str(micro),
        "amount_eur": format_eur(micro),
        "reference": reference,
        "note": note,
    }
    if qr_file is not None:
        data["qr_file"] = str(qr_file)

    def human() -> None:
        typer.echo(f"Transfer {format_eur(micro)} EUR to buy {format_eur(micro)} M3E for {label}:")
        typer.echo(f"  to         {operator_name}")
        typer.echo(
            f"  IBAN       {' '.join(operator_iban[i : i + 4] for i in range(0, len(operator_iban), 4))}"
        )
        typer.echo(f"  reference  {group_rf(reference)}   (structured creditor reference: keep it exactly)")
        if not no_qr:
            qr.terminal(out=sys.stdout, compact=True)
        info(note)

    emit(as_json, data, human)


def register(app: typer.Typer) -> None:
    app.command("topup", context_settings=context.AMOUNT_ARGUMENTS)(guarded(topup))
