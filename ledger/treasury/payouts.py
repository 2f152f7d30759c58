"""Euros out: merchants' IBANs (off chain) and SEPA credit transfer files (pain.001.001.03).

A payout file holds every open redemption whose merchant has an IBAN, and every held credit the
operator asked to return. Building it is one SQL transaction that stores the file's XML whole
and marks each item `in-file`: a redemption is in exactly one file, ever (until the bank returns
the transfer, which reopens it). Writing the file to disk comes after; if that fails, `--reissue`
writes the stored bytes again, never a second file. The XML is made by sepaxml and validated
against the ISO 20022 pain.001.001.03 schema sepaxml ships (xmlschema), and again here with lxml.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from lxml import etree
from schwifty import BIC, IBAN
from sepaxml import SepaTransfer
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ledger.domain.treasury import MICRO_PER_CENT, format_eur, payout_e2e, return_e2e
from ledger.treasury.errors import PayoutError, ReviewError
from ledger.treasury.models import (
    TreasuryEntry,
    TreasuryPayee,
    TreasuryPayout,
    TreasuryPayoutFile,
    TreasuryPayoutItem,
)

PAIN_SCHEMA = "pain.001.001.03"


@cache
def pain_schema() -> etree.XMLSchema:
    path = files("sepaxml") / "schemas" / f"{PAIN_SCHEMA}.xsd"
    return etree.XMLSchema(etree.parse(str(path)))


def validate_pain(xml: bytes) -> None:
    schema = pain_schema()
    if not schema.validate(etree.fromstring(xml)):
        raise PayoutError(f"the payout file does not follow {PAIN_SCHEMA}: {schema.error_log[0].message}")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- payees --------------------------------------------------------------------------------------
def payee_message(merchant: str, iban: str, holder: str, consent_date: date) -> str:
    """The text a merchant signs (EIP-191 personal_sign) with its payout key to set its IBAN."""
    return (
        "Monnaie du 3e: pay my redemptions to this account\n"
        f"merchant: {merchant.lower()}\niban: {iban}\nholder: {holder}\nconsent: {consent_date.isoformat()}"
    )


def check_iban(iban: str, bic: str | None) -> tuple[str, str | None]:
    try:
        parsed = IBAN(iban)
    except ValueError as exc:
        raise ReviewError(f"{iban!r} is not a valid IBAN ({exc}): copy it again from the bank's RIB") from exc
    if bic:
        try:
            bic = str(BIC(bic))
        except ValueError as exc:
            raise ReviewError(f"{bic!r} is not a valid BIC ({exc})") from exc
    return str(parsed.compact), bic


def set_payee(
    engine: Engine,
    *,
    merchant: str,
    iban: str,
    holder: str,
    consent_date: date,
    bic: str | None = None,
    signature: str | None = None,
) -> dict[str, Any]:
    """Store where a merchant is paid. With `signature`, it must be the merchant's own (EIP-191
    over `payee_message`); without, the operator enters it."""
    compact, bic = check_iban(iban, bic)
    holder = holder.strip()
    if not 1 <= len(holder) <= 70:
        raise ReviewError("the account holder's name must be 1 to 70 characters, as on the RIB")
    entered_by = "operator"
    if signature:
        from eth_account import Account
        from eth_account.messages import encode_defunct

        message = payee_message(merchant, compact, holder, consent_date)
        try:
            signer = Account.recover_message(encode_defunct(text=message), signature=signature)
        except Exception as exc:
            raise ReviewError(f"the signature does not decode ({exc}): sign the message again") from exc
        if signer.lower() != merchant.lower():
            raise ReviewError(
                f"the IBAN was signed by {signer}, not by the merchant's payout key {merchant}: refused"
            )
        entered_by = "merchant"
    with Session(engine) as session, session.begin():
        row = session.get(TreasuryPayee, merchant.lower())
        values = dict(
            iban=compact,
            bic=bic,
            holder=holder,
            consent_date=consent_date,
            entered_by=entered_by,
            signature=signature,
            updated_at=_now(),
        )
        if row is None:
            session.add(TreasuryPayee(merchant=merchant.lower(), **values))
        else:
            for k, v in values.items():
                setattr(row, k, v)
    return {"merchant": merchant.lower(), "iban": compact, "holder": holder, "entered_by": entered_by}


# --- files ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PayoutFile:
    file_id: int
    msg_id: str
    xml: bytes
    count: int
    total: int
    waiting: list[str]  # redemptions left out, with why


def build_payout_file(
    engine: Engine, *, debtor_iban: str, debtor_name: str, debtor_bic: str | None, execution: date
) -> PayoutFile | None:
    """One pain.001 for everything payable now, stored with its items in one transaction."""
    with Session(engine) as session, session.begin():
        payouts = list(
            session.scalars(
                select(TreasuryPayout)
                .where(TreasuryPayout.status == "open")
                .order_by(TreasuryPayout.redemption_id)
            )
        )
        returns = list(
            session.scalars(
                select(TreasuryEntry).where(TreasuryEntry.status == "to-return").order_by(TreasuryEntry.id)
            )
        )
        payments: list[tuple[dict[str, Any], TreasuryPayoutItem]] = []
        waiting: list[str] = []
        for p in payouts:
            payee = session.get(TreasuryPayee, p.merchant)
            if payee is None:
                waiting.append(f"redemption {p.redemption_id}: merchant {p.merchant} has no IBAN yet")
                continue
            if p.amount % MICRO_PER_CENT or p.amount <= 0:
                waiting.append(
                    f"redemption {p.redemption_id}: {format_eur(p.amount)} EUR is not a whole "
                    "cent; pay the cents and keep the rest on the ledger by hand"
                )
                continue
            e2e = payout_e2e(p.redemption_id)
            payments.append(
                (
                    {
                        "name": payee.holder,
                        "IBAN": payee.iban,
                        "BIC": payee.bic,
                        "amount": p.amount // MICRO_PER_CENT,
                        "execution_date": execution,
                        "description": f"M3E remboursement {p.redemption_id}"[:140],
                        "endtoend_id": e2e,
                    },
                    TreasuryPayoutItem(end_to_end_id=e2e, redemption_id=p.redemption_id, amount=p.amount),
                )
            )
        for r in returns:
            e2e = return_e2e(r.id)
            payments.append(
                (
                    {
                        "name": (r.counterparty_name or "Payeur")[:70],
                        "IBAN": r.counterparty_iban,
                        "amount": r.amount // MICRO_PER_CENT,
                        "execution_date": execution,
                        "description": f"Retour virement {r.key}"[:140],
                        "endtoend_id": e2e,
                    },
                    TreasuryPayoutItem(end_to_end_id=e2e, entry_id=r.id, amount=r.amount),
                )
            )
        if not payments:
            return None
        config = {"name": debtor_name[:70], "IBAN": debtor_iban, "batch": True, "currency": "EUR"}
        if debtor_bic:
            config["BIC"] = debtor_bic
        sepa = SepaTransfer(config, schema=PAIN_SCHEMA, clean=True)
        for payment, _item in payments:
            if not payment.get("BIC"):
                payment.pop("BIC", None)
            sepa.add_payment(payment)
        try:
            xml = sepa.export(validate=True, pretty_print=True)
        except Exception as exc:
            raise PayoutError(f"sepaxml refused the payout file: {exc}") from exc
        validate_pain(xml)
        total = sum(item.amount for _p, item in payments)
        row = TreasuryPayoutFile(
            msg_id=str(sepa.msg_id)[:35],
            created_at=_now(),
            xml=xml.decode("utf-8"),
            sha256=hashlib.sha256(xml).hexdigest(),
            count=len(payments),
            total=total,
        )
        session.add(row)
        session.flush()
        for _payment, item in payments:
            item.file_id = row.id
            session.add(item)
        for p in payouts:
            if any(item.redemption_id == p.redemption_id for _x, item in payments):
                p.status, p.file_id = "in-file", row.id
        for r in returns:
            r.status = "return-in-file"
        return PayoutFile(row.id, row.msg_id, xml, len(payments), total, waiting)


def stored_file(engine: Engine, file_id: int) -> bytes:
    with Session(engine) as session:
        row = session.get(TreasuryPayoutFile, file_id)
        if row is None:
            raise ReviewError(f"no payout file has id {file_id}")
        return row.xml.encode("utf-8")


def write_private(path: Path, data: bytes) -> None:
    """Atomically, 0600: a payout file names people and IBANs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def payouts_summary(engine: Engine) -> list[dict[str, Any]]:
    with Session(engine) as session:
        return [
            {
                "redemption_id": p.redemption_id,
                "merchant": p.merchant,
                "amount": p.amount,
                "status": p.status,
                "file_id": p.file_id,
            }
            for p in session.scalars(select(TreasuryPayout).order_by(TreasuryPayout.redemption_id))
        ]


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
