"""The treasury seen from the web: the operator's bank details, a signed-in resident's top-up
(IBAN, amount, RF reference, EPC069-12 QR code) and the monthly reserve attestation (JSON and a
printable page in French)."""

from __future__ import annotations

import html
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import CurrentSession, Settings, errors
from api.errors import BadRequest, NotFound, Unavailable
from ledger.domain.treasury import TreasuryRuleError, format_eur, group_rf, parse_eur_micro
from ledger.treasury.view import BankDetails, SqlTreasuryView, TreasuryView, epc_qr, topup_instructions

router = APIRouter(tags=["treasury"])
# Positive euros with at most two decimals: zero ("0", "0.00") is refused by the schema itself.
AmountQ = Annotated[
    str,
    Query(
        pattern=r"^([1-9][0-9]{0,8}(\.[0-9]{1,2})?|0\.([1-9][0-9]?|0[1-9]))$",
        description="euros, e.g. 12.50",
    ),
]
MonthQ = Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]


async def get_treasury(request: Request, settings: Settings) -> TreasuryView:
    view: TreasuryView | None = getattr(request.app.state, "treasury", None)
    if view is None:
        from ledger.treasury.settings import TreasurySettings

        manifest = settings.manifest or settings.settlement_dir.parent / "deployment.json"
        # The state directory holds the reference key unless LEDGER_TREASURY_REFERENCE_KEY_FILE
        # names one: the same file for every worker and the operator's commands, which read
        # LEDGER_STATE_DIR too (the settlement directory's parent was another key once it moved).
        key = await anyio.to_thread.run_sync(
            lambda: TreasurySettings().reference_key(settings.state_dir)
        )
        view = await anyio.to_thread.run_sync(
            lambda: SqlTreasuryView(settings.database_url, settings.rpc_url, manifest, key)
        )
        request.app.state.treasury = view
    return view


Treasury = Annotated[TreasuryView, Depends(get_treasury)]


def _bank(view: TreasuryView) -> BankDetails:
    bank = view.bank()
    if bank is None:
        raise Unavailable("The operator's bank account is not configured (LEDGER_TREASURY_IBAN).")
    return bank


def _amount(text: str) -> int:
    try:
        return parse_eur_micro(text)
    except TreasuryRuleError as exc:
        raise BadRequest(str(exc)) from exc


@router.get("/v1/treasury/bank", responses=errors(503))
async def bank(view: Treasury) -> dict[str, Any]:
    """Where euros are sent to buy M3E (the operator's account)."""
    details = _bank(view)
    return {"iban": details.iban, "name": details.name, "bic": details.bic}


@router.get("/v1/treasury/topup", responses=errors(400, 401, 503))
async def topup(session: CurrentSession, view: Treasury, amount: AmountQ) -> dict[str, Any]:
    """Your top-up: transfer this amount with this RF reference and it is minted to you."""
    details = _bank(view)
    micro = _amount(amount)
    reference = await anyio.to_thread.run_sync(view.register, session.address)
    try:
        data = topup_instructions(details, session.address, micro, reference)
    except TreasuryRuleError as exc:
        raise BadRequest(str(exc)) from exc
    return {**data, "amount": str(micro), "reference_grouped": group_rf(data["reference"])}


@router.get("/v1/treasury/topup.svg", response_class=Response, responses=errors(400, 401, 503))
async def topup_qr(session: CurrentSession, view: Treasury, amount: AmountQ) -> Response:
    """The EPC069-12 QR code of your top-up, for a banking app to scan."""
    details = _bank(view)
    micro = _amount(amount)
    reference = await anyio.to_thread.run_sync(view.register, session.address)
    try:
        data = topup_instructions(details, session.address, micro, reference)
    except TreasuryRuleError as exc:
        raise BadRequest(str(exc)) from exc
    qr = epc_qr(details, micro, data["reference"])
    import io

    out = io.BytesIO()
    qr.save(out, kind="svg", scale=4, border=4)
    return Response(
        out.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "private, no-store"}
    )


async def _attestation(view: TreasuryView, month: str) -> dict[str, Any]:
    try:
        return await anyio.to_thread.run_sync(view.attestation, month)
    except KeyError as exc:
        raise NotFound(f"No attestation for {month}.") from exc
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc


@router.get("/v1/treasury/attestation", responses=errors(400, 404, 503))
async def attestation(view: Treasury, month: MonthQ) -> dict[str, Any]:
    """The monthly reserve attestation: reserve, supply, coverage, deposits, redemptions, fees."""
    return await _attestation(view, month)


def _eur(micro: int | None) -> str:
    if micro is None:
        return "—"
    whole, _, cents = format_eur(micro).partition(".")
    grouped = f"{int(whole.lstrip('-') or 0):,}".replace(",", "\u202f")
    return f"{'-' if micro < 0 else ''}{grouped},{cents} €"


@router.get("/attestation/{month}", response_class=HTMLResponse, include_in_schema=False)
async def attestation_page(view: Treasury, month: str) -> HTMLResponse:
    """The printable attestation, in French."""
    if len(month) != 7 or month[4] != "-" or not (month[:4] + month[5:]).isdigit():
        raise BadRequest("Le mois s'écrit AAAA-MM (par exemple 2026-11).")
    a = await _attestation(view, month)
    coverage = a.get("coverage_bps")
    cov = "—" if coverage is None else f"{coverage // 100},{coverage % 100:02d} %"
    esc = html.escape
    rows = [
        ("Réserve en euros (sur la chaîne)", _eur(a["reserve"])),
        ("Monnaie en circulation (M3E)", _eur(a["supply"]).replace("€", "M3E")),
        ("Couverture", cov),
        (f"Dépôts convertis en M3E ({a['deposits_count']})", _eur(a["deposits"])),
        (f"Reconversions en euros ({a['redemptions_count']})", _eur(a["redemptions"])),
        ("Commissions versées au fonds commun", _eur(a["fees_to_commons"])),
        ("Solde bancaire de clôture", _eur(a["bank_closing"])),
    ]
    diffs = "".join(f"<li>{esc(d['detail'])}</li>" for d in a["differences"]) or "<li>Aucun écart.</li>"
    stmts = ", ".join(esc(s) for s in a["statements"]) or "aucun"
    body = f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Attestation de réserve — {esc(month)}</title>
<link rel="stylesheet" href="/static/attestation.css"></head>
<body><main class="attestation">
<h1>Attestation mensuelle de réserve — Monnaie du 3e</h1>
<p>Mois : <strong>{esc(month)}</strong> — arrêtée au {esc(a["as_of"])} (fin de journée, UTC).</p>
<table>{"".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)}</table>
<h2>Rapprochement bancaire : {"conforme au centime" if a["reconciled"] else "écarts à traiter"}</h2>
<ul>{diffs}</ul>
<p>Relevés bancaires (camt.053) sur lesquels repose cette attestation : {stmts}.</p>
<p class="note">Chaque M3E est adossé à un euro détenu par l'association. Réserve et circulation
sont lues sur la chaîne du district ; le solde bancaire provient des relevés ISO 20022.</p>
</main></body></html>"""
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})
