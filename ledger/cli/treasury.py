"""`ledger treasury ...`: euros in from bank statements, euros out to merchants, the reserve proven.

- `import STATEMENT.xml...`  camt.053 / camt.054, schema-validated; stores, then mints each known
  credit once (re-run after any crash: it finishes, never mints twice)
- `review`                   held credits and unexplained debits, with why and what to do
- `assign ID ACCOUNT`        a held credit is minted to ACCOUNT
- `return ID`                a held credit goes back to its payer in the next payout file
- `dismiss ID`               a held possible duplicate (no bank reference, seen in two statements)
- `account-add ADDRESS`      register a resident's top-up reference (the signed-in page does too)
- `references-retire`        remove the references not keyed under the current key (issued before
                             references were keyed): their credits are then held for review
                             (`--dry-run` lists them; `--all` when none is keyed yet)
- `payee-set MERCHANT`       a merchant's IBAN (holder, consent date; `--signature` when signed
                             by the merchant's payout key)
- `payouts --out FILE.xml`   pain.001 for every open redemption and return (`--reissue ID`)
- `reconcile [--date D]`     bank = reserve + unpaid redemptions + pending + held, to the cent
- `attestation --month M`    the monthly attestation (JSON)

The operator key (to mint) comes from LEDGER_KEYSTORE with its password file or a hidden prompt,
never argv. Exit codes: 0 done; 1 refused or failed; 2 bad usage or input; 3 `reconcile` found a
difference.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ledger.domain.treasury import format_eur, group_rf
from ledger.errors import InputError
from ledger.settings import LedgerSettings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from ledger.treasury.chain import ChainTreasury

treasury = typer.Typer(
    help="Euros in and out of the operator's bank account; the reserve reconciled.", no_args_is_help=True
)
JsonOption = Annotated[bool, typer.Option("--json", help="one JSON object on stdout")]


def _settings() -> LedgerSettings:
    return LedgerSettings()


def _engine(settings: LedgerSettings) -> Engine:
    from ledger.db import make_engine, migrate

    engine = make_engine(settings.db_url)
    migrate(engine)
    return engine


def _chain(settings: LedgerSettings, signer: bool) -> ChainTreasury:
    from eth_account import Account

    from ledger.chain.client import connect, load_signer
    from ledger.chain.manifest import Manifest
    from ledger.treasury.chain import ChainTreasury

    w3 = connect(settings.rpc_url)
    manifest = Manifest.load(settings.manifest_path)
    account = load_signer(settings, w3, prompt=_hidden_prompt) if signer else Account.create()
    return ChainTreasury(w3, account, manifest, index=_engine(settings))


def _hidden_prompt(question: str) -> str:
    import getpass

    return getpass.getpass(question)


def _out(as_json: bool, payload: Any, text: str) -> None:
    typer.echo(json.dumps(payload, sort_keys=True, default=str) if as_json else text)


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"the date {text!r} is not YYYY-MM-DD (for example 2026-11-30)") from None


@treasury.command("import")
def import_(
    statements: Annotated[
        list[Path], typer.Argument(help="camt.053 / camt.054 XML files", exists=True, dir_okay=False)
    ],
    as_json: JsonOption = False,
) -> None:
    """Import bank statements and mint each known EUR credit once."""
    from ledger.treasury.camt import read_statement_file
    from ledger.treasury.service import ImportReport, mint_pending, store_statements
    from ledger.treasury.settings import TreasurySettings

    settings = _settings()
    bank = TreasurySettings()
    parsed = [read_statement_file(p) for p in statements]  # all validated before anything is stored
    engine = _engine(settings)
    total = ImportReport()
    for one in parsed:
        r = store_statements(engine, one, bank.iban)
        total.statements_new += r.statements_new
        total.statements_skipped += r.statements_skipped
        total.entries_new += r.entries_new
        total.entries_known += r.entries_known
        total.held += r.held
    mint_pending(engine, _chain(settings, signer=True), total)
    lines = [
        f"statements: {len(total.statements_new)} new, {len(total.statements_skipped)} already imported",
        f"entries: {total.entries_new} new, {total.entries_known} already known",
        f"minted: {len(total.minted)} (and {len(total.already_minted)} found already minted on chain)",
    ]
    if total.held or total.held_at_mint:
        lines.append(
            f"held for review: {len(total.held) + len(total.held_at_mint)} — run `ledger treasury review`"
        )
    for entry_id, why in total.held_at_mint:
        lines.append(f"  #{entry_id}: {why}")
    _out(as_json, total.as_dict(), "\n".join(lines))


@treasury.command()
def review(as_json: JsonOption = False) -> None:
    """Held credits and debits nobody ordered: what each is and what to do."""
    from ledger.treasury.service import held_entries

    rows = held_entries(_engine(_settings()))
    lines = [] if rows else ["Nothing held: every credit minted, every debit matched."]
    for r in rows:
        sign = "+" if r["credit"] else "-"
        lines.append(
            f"#{r['id']:<5} {r['booking_date']} {sign}{format_eur(r['amount'])} {r['currency']:<3} "
            f"{r['status']:<14} {r['counterparty'] or '?'} {r['counterparty_iban']} "
            f"ref {(r['reference'] and group_rf(r['reference'])) or '-'}"
        )
        lines.append(f"       {r['why']}")
    _out(as_json, {"held": rows}, "\n".join(lines))


@treasury.command()
def assign(
    entry_id: Annotated[int, typer.Argument(help="the id shown by review")],
    account: Annotated[str, typer.Argument(help="the resident's address (0x...)")],
    as_json: JsonOption = False,
) -> None:
    """Give a held credit its account, then mint it."""
    from ledger.domain.treasury import TreasuryRuleError, check_address
    from ledger.treasury.service import ImportReport, mint_pending
    from ledger.treasury.service import assign as do_assign

    try:
        check_address(account)
    except TreasuryRuleError as exc:
        raise InputError(str(exc)) from None
    settings = _settings()
    engine = _engine(settings)
    do_assign(engine, entry_id, account)
    report = mint_pending(engine, _chain(settings, signer=True), ImportReport())
    held = [w for i, w in report.held_at_mint if i == entry_id]
    text = f"#{entry_id} assigned to {account}: " + (f"still held: {held[0]}" if held else "minted")
    _out(as_json, {"id": entry_id, "account": account, **report.as_dict()}, text)


@treasury.command("return")
def return_(
    entry_id: Annotated[int, typer.Argument(help="the id shown by review")], as_json: JsonOption = False
) -> None:
    """Send a held credit back to its payer with the next payout file."""
    from ledger.treasury.service import request_return

    request_return(_engine(_settings()), entry_id)
    _out(
        as_json,
        {"id": entry_id, "status": "to-return"},
        f"#{entry_id} will be returned to its payer in the next `ledger treasury payouts` file",
    )


@treasury.command()
def dismiss(
    entry_id: Annotated[int, typer.Argument(help="the id shown by review")], as_json: JsonOption = False
) -> None:
    """Forget a held possible duplicate (the same transfer as in an overlapping statement)."""
    from ledger.treasury.service import dismiss_duplicate

    dismiss_duplicate(_engine(_settings()), entry_id)
    _out(as_json, {"id": entry_id, "status": "dismissed"}, f"#{entry_id} dismissed as a duplicate")


@treasury.command("account-add")
def account_add(
    account: Annotated[str, typer.Argument(help="the resident's address (0x...)")],
    as_json: JsonOption = False,
) -> None:
    """Register a resident's top-up reference so its transfers mint to it."""
    from ledger.domain.treasury import TreasuryRuleError
    from ledger.treasury.service import register_reference
    from ledger.treasury.settings import TreasurySettings

    settings = _settings()
    try:
        key = TreasurySettings().reference_key(settings.state_dir)
        reference = register_reference(_engine(settings), account, "operator", key)
    except TreasuryRuleError as exc:
        raise InputError(str(exc)) from None
    _out(as_json, {"account": account, "reference": reference}, f"{account}: {group_rf(reference)}")


@treasury.command("references-retire")
def references_retire(
    account: Annotated[str | None, typer.Option(help="only this resident's address (0x...)")] = None,
    every: Annotated[bool, typer.Option("--all", help="even if no reference is keyed under the key")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list them, remove nothing")] = False,
    as_json: JsonOption = False,
) -> None:
    """Remove the top-up references not derived under the current key (those issued before
    references were keyed name their address to whoever sees the transfer and tries the
    district's addresses). A later credit bearing one is held for review (`review`, then
    `assign`); the keyed references keep minting. The key must exist already (the one the API
    uses): this command never makes one."""
    from ledger.domain.treasury import TreasuryRuleError
    from ledger.treasury.service import retire_references
    from ledger.treasury.settings import TreasurySettings

    settings = _settings()
    try:
        key = TreasurySettings().existing_reference_key(settings.state_dir)
        retired = retire_references(_engine(settings), key, account, every=every, dry_run=dry_run)
    except TreasuryRuleError as exc:
        raise InputError(str(exc)) from None
    done = "would be retired (--dry-run)" if dry_run else "retired"
    lines = [f"{group_rf(reference)} ({owner}) {done}" for reference, owner in retired]
    summary = f"{len(retired)} reference(s) {done}"
    if not dry_run:
        summary += "; their credits will be held for review"
    _out(as_json, {"dry_run": dry_run, "retired": [{"reference": r, "account": a} for r, a in retired]},
         "\n".join([*lines, summary]))


@treasury.command("payee-set")
def payee_set(
    merchant: Annotated[str, typer.Argument(help="the merchant's payout address (0x...)")],
    iban: Annotated[str, typer.Option(help="the merchant's IBAN")],
    holder: Annotated[str, typer.Option(help="the account holder's name, as on the RIB")],
    consent: Annotated[str, typer.Option(help="date the merchant consented (YYYY-MM-DD)")],
    bic: Annotated[str | None, typer.Option(help="BIC, when the bank needs it")] = None,
    signature: Annotated[
        Path | None,
        typer.Option(
            help="file holding the merchant's EIP-191 signature of the payee message (see --print-message)"
        ),
    ] = None,
    print_message: Annotated[
        bool, typer.Option(help="print the message the merchant signs, and stop")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Where a merchant's redemptions are paid (off chain)."""
    from ledger.treasury.payouts import check_iban, payee_message, set_payee

    consent_day = _day(consent) or date.today()
    if print_message:
        compact, _ = check_iban(iban, None)
        typer.echo(payee_message(merchant, compact, holder.strip(), consent_day))
        return
    sig = signature.read_text().strip() if signature else None
    done = set_payee(
        _engine(_settings()),
        merchant=merchant,
        iban=iban,
        holder=holder,
        consent_date=consent_day,
        bic=bic,
        signature=sig,
    )
    _out(
        as_json,
        done,
        f"{merchant}: paid to {done['iban']} ({done['holder']}), entered by {done['entered_by']}",
    )


@treasury.command()
def payouts(
    out: Annotated[Path, typer.Option("--out", help="the pain.001 file to write")],
    reissue: Annotated[int | None, typer.Option(help="write an earlier file again (its id)")] = None,
    as_json: JsonOption = False,
) -> None:
    """Write one SEPA credit transfer file for every open redemption and requested return."""
    from ledger.treasury.payouts import build_payout_file, stored_file, write_private
    from ledger.treasury.service import sync_redemptions
    from ledger.treasury.settings import TreasurySettings

    settings = _settings()
    engine = _engine(settings)
    if reissue is not None:
        write_private(out, stored_file(engine, reissue))
        _out(as_json, {"file_id": reissue, "out": str(out)}, f"payout file {reissue} written again to {out}")
        return
    bank = TreasurySettings()
    if not bank.iban:
        raise InputError("set LEDGER_TREASURY_IBAN (and LEDGER_TREASURY_NAME) to the operator's account")
    chain = _chain(settings, signer=False)
    new = sync_redemptions(engine, chain.redemptions())
    made = build_payout_file(
        engine, debtor_iban=bank.iban, debtor_name=bank.name, debtor_bic=bank.bic, execution=chain.today()
    )
    if made is None:
        _out(
            as_json,
            {"file_id": None, "new_redemptions": new},
            "Nothing to pay: no open redemption with an IBAN.",
        )
        return
    write_private(out, made.xml)
    lines = [
        f"payout file {made.file_id} ({made.msg_id}): {made.count} transfers, "
        f"{format_eur(made.total)} EUR, written to {out}; send it to the bank"
    ]
    lines += [f"  waiting: {w}" for w in made.waiting]
    _out(
        as_json,
        {
            "file_id": made.file_id,
            "msg_id": made.msg_id,
            "count": made.count,
            "total": made.total,
            "waiting": made.waiting,
            "out": str(out),
        },
        "\n".join(lines),
    )


@treasury.command()
def reconcile(
    on: Annotated[
        str | None, typer.Option("--date", help="the day (YYYY-MM-DD, UTC); default the last statement day")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Bank closing balance against the reserve, to the cent; exit 3 on any difference."""
    from ledger.treasury.reconcile import check_as_dict, reconcile_day, spans
    from ledger.treasury.service import sync_redemptions

    settings = _settings()
    engine = _engine(settings)
    chain = _chain(settings, signer=False)
    sync_redemptions(engine, chain.redemptions())
    day = _day(on)
    if day is None:
        from sqlalchemy.orm import Session

        with Session(engine) as session:
            known = spans(session)
        if not known:
            raise InputError("no end-of-day statement imported yet: `ledger treasury import FILE` first")
        day = max(s.last_day for s in known)
    check = reconcile_day(engine, chain, day)
    lines = [
        f"reconciliation of {day.isoformat()}:",
        f"  bank closing balance      {_eur(check.bank_closing)}",
        f"  − credits not yet minted  {_eur(check.pending_mints)}",
        f"  − held credits            {_eur(check.held_credits)}",
        f"  = reserve on chain        {_eur(check.reserve)}",
        f"  + redemptions unpaid      {_eur(check.unpaid_redemptions)}",
    ]
    lines.append("  OK: to the cent" if check.ok else f"  {len(check.differences)} difference(s):")
    lines += [f"  - [{d.kind}] {d.detail}" for d in check.differences]
    _out(as_json, check_as_dict(check), "\n".join(lines))
    if not check.ok:
        raise typer.Exit(3)


def _eur(micro: int | None) -> str:
    return "(no statement)" if micro is None else f"{format_eur(micro):>14} EUR"


@treasury.command()
def attestation(month: Annotated[str, typer.Option(help="YYYY-MM")], as_json: JsonOption = False) -> None:
    """The monthly reserve attestation (the API serves it as a printable page)."""
    from ledger.treasury.reconcile import attestation as build

    settings = _settings()
    try:
        data = build(_engine(settings), _chain(settings, signer=False), month)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    text = "\n".join(f"{k}: {v}" for k, v in data.items())
    _out(as_json, data, text)


def register(app: typer.Typer) -> None:
    app.add_typer(treasury, name="treasury")
