"""What the routes do, without HTTP: read the ledger through the port and shape the answers."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, ParamSpec, TypeVar

import anyio
import orjson
import segno

from api.errors import BadRequest, IndexerBehind, NotFound, Unavailable
from api.feed import ref_text
from api.money import MICRO, display, display_digits, ratio
from api.ports import LedgerReader
from api.schemas import (
    CATEGORIES,
    AccountPaymentsOut,
    Amount,
    BalanceOut,
    BookingOut,
    BookingsOut,
    CommonsFundOut,
    CommonsOut,
    DeclarationOut,
    FundInflowOut,
    FundOut,
    FundOutflowOut,
    FundProgrammeOut,
    FundSolidarityOut,
    MandateOut,
    MandatesOut,
    MerchantBookingOut,
    MerchantBookingsOut,
    MerchantOut,
    MerchantPaymentOut,
    MerchantPaymentsOut,
    MerchantRequestOut,
    MerchantsOut,
    PaymentOut,
    PaymentRequestOut,
    PublicPaymentOut,
    PublicPaymentsOut,
    RedemptionOut,
    RefSource,
    SupplyPointOut,
    SupplySeriesOut,
    TokenOut,
)
from api.settings import ApiSettings
from api.state import ApiState
from ledger.chain.reference import matches, new_salt, reference_commitment
from ledger.db.api_state import StoredRequest
from ledger.db.queries_api import BookingItem, MerchantItem, PaymentItem
from ledger.domain.fund import fund_report, month_label, utc_month

P = ParamSpec("P")
R = TypeVar("R")
ZERO = "0x0000000000000000000000000000000000000000"
YEAR_SECONDS = 365 * 86_400
_CURSOR = re.compile(r"^(\d{1,18})\.(\d{1,9})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def amount(micro: int) -> Amount:
    return Amount(micro=str(micro), display=display(micro))


@dataclass(frozen=True)
class Deployment:
    """Addresses of the district contracts (lowercase), from the manifest or the settings."""

    token: str | None
    contracts: tuple[str, ...]
    fund: str | None = None


def parse_cursor(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    match = _CURSOR.match(text)
    if match is None:
        raise BadRequest(
            "The cursor must be the next_cursor of a previous page, like 123.4.", code="bad_cursor"
        )
    return int(match.group(1)), int(match.group(2))


async def quick_read(reader: LedgerReader, read: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run one of the reader's bounded reads (cursor, balance, history): on the event loop when the
    reader says they are quick local reads (SQLite), else in a worker thread."""
    if reader.inline_reads:
        return read(*args, **kwargs)
    return await anyio.to_thread.run_sync(lambda: read(*args, **kwargs))


async def wait_for_block(reader: LedgerReader, min_block: int | None, settings: ApiSettings) -> None:
    """Return once the indexer reached `min_block`, waiting at most the configured bound."""
    if min_block is None:
        return
    deadline = time.monotonic() + settings.min_block_wait_seconds
    delay = 0.02
    while True:
        cursor = await quick_read(reader, reader.cursor)
        if cursor.block_number >= min_block:
            return
        if time.monotonic() >= deadline:
            raise IndexerBehind(
                f"The ledger is indexed up to block {cursor.block_number}, not yet block {min_block}; "
                "try again in a moment.",
                retry_after=1,
            )
        await anyio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.25)


def token(
    reader: LedgerReader, settings: ApiSettings, deployment: Deployment, now: float | None = None
) -> TokenOut:
    now = time.time() if now is None else now
    figures = reader.token_figures(int(now) - YEAR_SECONDS, deployment.contracts)
    threshold = settings.declaration_threshold_eur * MICRO
    share = ratio(figures.digital_payments_12m, threshold) or "0.000000"
    return TokenOut(
        indexed_block=figures.indexed.block_number,
        symbol="M3E",
        decimals=6,
        chain_id=settings.chain_id,
        address=deployment.token,
        total_supply=amount(figures.total_supply),
        reserve=amount(figures.reserve),
        backing_ratio=ratio(figures.reserve, figures.total_supply),
        fully_backed=figures.reserve >= figures.total_supply,
        declaration=DeclarationOut(
            window_days=365,
            digital_payments=amount(figures.digital_payments_12m),
            threshold=amount(threshold),
            share_of_threshold=share,
            above_threshold=figures.digital_payments_12m > threshold,
            basis=(
                "every transfer between two holders over the last 365 days, except mints, burns "
                "and booking deposits into the district contracts"
            ),
        ),
    )


def fund(
    reader: LedgerReader,
    deployment: Deployment,
    now: float | None = None,
    solidarity: Sequence[FundSolidarityOut] = (),
) -> FundOut:
    """The commons fund: balance, inflows by source and month, outflows by programme and month,
    each programme's budget left this (UTC) month, and `solidarity` (what the settlement's lines
    moved through the fund by month, `services_energy.fund_solidarity`)."""
    if deployment.fund is None:
        raise NotFound(
            "This district has no commons fund contract: deploy the contracts of this version "
            "(`ledger deploy`) and point the API at the new manifest.",
            code="no_fund",
        )
    figures = reader.fund_figures(deployment.fund)
    month = utc_month(int(time.time() if now is None else now))
    report = fund_report(figures.events, month)
    recorded = report.total_in - report.total_out
    return FundOut(
        indexed_block=figures.indexed.block_number,
        address=deployment.fund,
        month=month_label(month),
        balance=amount(figures.balance),
        recorded_in=amount(report.total_in),
        recorded_out=amount(report.total_out),
        not_yet_recorded=amount(max(0, figures.balance - recorded)),
        programmes=[
            FundProgrammeOut(
                programme_id=p.programme_id,
                name=p.name,
                spender=p.spender,
                monthly_budget=amount(p.monthly_budget),
                active=p.active,
                spent_this_month=amount(p.spent_this_month),
                left_this_month=amount(p.left_this_month),
                budget_spent=p.left_this_month == 0,
            )
            for p in report.programmes
        ],
        inflows=[
            FundInflowOut(month=month_label(f.month), source=f.key, amount=amount(f.amount), count=f.count)
            for f in report.inflows
        ],
        outflows=[
            FundOutflowOut(
                month=month_label(f.month), programme_id=int(f.key), amount=amount(f.amount), count=f.count
            )
            for f in report.outflows
        ],
        solidarity=list(solidarity),
    )


def supply_series(reader: LedgerReader, limit: int) -> SupplySeriesOut:
    page = reader.supply_series(limit)
    return SupplySeriesOut(
        indexed_block=page.indexed.block_number,
        points=[
            SupplyPointOut(
                block=p.block_number,
                time=p.block_time,
                total_supply=amount(p.total_supply),
                reserve=amount(p.reserve),
            )
            for p in page.items
        ],
    )


def balance(reader: LedgerReader, account: str) -> BalanceOut:
    figure = reader.balance(account)
    return BalanceOut(
        indexed_block=figure.indexed.block_number,
        account=account.lower(),
        balance=amount(figure.balance),
        updated_block=figure.updated_block,
    )


def history(reader: LedgerReader, account: str, cursor: str | None, limit: int) -> bytes:
    """The history page as the JSON of `HistoryOut` (the route's documented model).

    Written as plain dicts and serialized with orjson: building and serializing one pydantic model
    (and one Amount) per line cost more than reading the lines from the database. Same fields,
    same order, same types as `HistoryOut`, which the OpenAPI schema (and the schemathesis test)
    hold it to."""
    account = account.lower()
    page = reader.history(account, parse_cursor(cursor), limit)
    items = []
    for block, log_index, tx_hash, sender, receiver, value, block_time in page.items:
        if sender == ZERO:
            kind, direction, other = "mint", "in", ZERO
        elif receiver == ZERO:
            kind, direction, other = "burn", "out", ZERO
        elif sender == receiver:
            kind, direction, other = "transfer", "self", account
        elif receiver == account:
            kind, direction, other = "transfer", "in", sender
        else:
            kind, direction, other = "transfer", "out", receiver
        micro = str(value)  # amounts are >= 0 (uint256)
        items.append(
            {
                "block": block,
                "log_index": log_index,
                "tx_hash": tx_hash,
                "time": block_time,
                "direction": direction,
                "kind": kind,
                "counterparty": other,
                "amount": {"micro": micro, "display": display_digits(micro)},
            }
        )
    last = page.items[-1] if len(page.items) == limit and page.items else None
    return orjson.dumps(
        {
            "indexed_block": page.indexed.block_number,
            "account": account,
            "items": items,
            "next_cursor": f"{last.block_number}.{last.log_index}" if last else None,
        }
    )


def category_number(label: str | None) -> int | None:
    if label is None:
        return None
    try:
        return CATEGORIES.index(label)
    except ValueError:
        raise BadRequest(f"Unknown category {label!r}; use one of {', '.join(CATEGORIES)}.") from None


def merchants(reader: LedgerReader, category: str | None, addresses: dict[int, str]) -> MerchantsOut:
    page = reader.merchants(category_number(category))
    return MerchantsOut(
        indexed_block=page.indexed.block_number,
        merchants=[
            MerchantOut(
                id=m.merchant_id,
                name=m.name,
                category=CATEGORIES[m.category] if 0 <= m.category < len(CATEGORIES) else "other",
                payout=m.payout,
                active=m.active,
                street_address=addresses.get(m.merchant_id),
            )
            for m in page.items
        ],
    )


def _commitment(p: PaymentItem) -> bytes:
    try:
        raw = bytes.fromhex(p.ref.removeprefix("0x"))
    except ValueError:
        return b""
    return raw if len(raw) == 32 else b""


def reference_view(p: PaymentItem, stored: StoredRequest | None) -> tuple[str, RefSource, str]:
    """(reference shown, where it comes from, commitment) for one payment.

    `stored` is the payment request made through this API whose commitment the payment records,
    used only when it was made by the merchant the payment went to and the commitment checks;
    else an old payment's plain-text reference; else only the commitment."""
    raw = _commitment(p)
    commitment = "0x" + raw.hex() if raw else p.ref
    answers = stored is not None and stored.merchant_id == p.merchant_id
    if answers and stored is not None and matches(raw, stored.reference, stored.salt):
        return stored.reference, "request", commitment
    text = ref_text(p.ref)
    if text != p.ref:
        return text, "clear", commitment
    return commitment, "commitment", commitment


def payment_out(
    p: PaymentItem, stored: StoredRequest | None = None, times: dict[int, int] | None = None
) -> PaymentOut:
    ref, source, commitment = reference_view(p, stored)
    return PaymentOut(
        kind=p.kind,
        block=p.block_number,
        log_index=p.log_index,
        tx_hash=p.tx_hash,
        merchant_id=p.merchant_id,
        merchant=p.merchant_name,
        amount=amount(p.amount),
        ref=ref,
        ref_source=source,
        commitment=commitment,
        day=p.day,
        time=(times or {}).get(p.block_number),
    )


def recent_payments(reader: LedgerReader, limit: int) -> PublicPaymentsOut:
    """Which merchant was paid how much and when: no payer, no reference, no transaction."""
    page = reader.payments(limit=limit, newest_first=True)
    times = reader.block_times(sorted({p.block_number for p in page.items}))
    return PublicPaymentsOut(
        indexed_block=page.indexed.block_number,
        payments=[
            PublicPaymentOut(
                kind=p.kind,
                block=p.block_number,
                log_index=p.log_index,
                merchant_id=p.merchant_id,
                merchant=p.merchant_name,
                amount=amount(p.amount),
                day=p.day,
                time=times.get(p.block_number),
            )
            for p in page.items
        ],
    )


def account_payments(
    reader: LedgerReader, account: str, cursor: str | None, limit: int
) -> AccountPaymentsOut:
    """The payer's own payments. References of requests made through the API are not filled in
    here: anyone can pay with a commitment copied from the chain, and must not learn its text by
    doing so (the payer's wallet keeps the references it paid with)."""
    page = reader.payments(payer=account, before=parse_cursor(cursor), limit=limit, newest_first=True)
    last = page.items[-1] if len(page.items) == limit and page.items else None
    times = reader.block_times(sorted({p.block_number for p in page.items}))
    return AccountPaymentsOut(
        indexed_block=page.indexed.block_number,
        account=account.lower(),
        payments=[payment_out(p, None, times) for p in page.items],
        next_cursor=f"{last.block_number}.{last.log_index}" if last else None,
    )


def euros(micro: int) -> Amount:
    """Micro-euros (a redemption wires one euro per M3E) shown with the euro sign."""
    return Amount(micro=str(micro), display=display(micro, "€"))


def commons(reader: LedgerReader, deployment: Deployment) -> CommonsOut:
    figures = reader.commons(deployment.token)
    return CommonsOut(
        indexed_block=figures.indexed.block_number,
        paused=figures.paused,
        paused_block=figures.paused_block,
        fund=CommonsFundOut(
            address=figures.fund,
            since_block=figures.fund_since_block,
            balance=amount(figures.fund_balance),
            fee_inflows=amount(figures.fee_inflows),
        ),
        redemptions=figures.redemptions,
        euros_paid=euros(figures.euros_paid),
        recent_redemptions=[
            RedemptionOut(
                block=r.block_number,
                time=r.block_time,
                redemption_id=r.redemption_id,
                merchant=r.merchant_name,
                amount=amount(r.amount),
                fee=amount(r.fee),
                euros=euros(r.euros),
            )
            for r in figures.recent
        ],
    )


def _booking_fields(b: BookingItem) -> dict[str, Any]:
    return {
        "booking_id": b.booking_id,
        "merchant_id": b.merchant_id,
        "merchant": b.merchant_name,
        "deposit": amount(b.deposit),
        "expires_at": b.expires_at,
        "state": b.state,
        "charged": amount(b.charged) if b.charged is not None else None,
        "returned": amount(b.returned) if b.returned is not None else None,
        "opened_block": b.opened_block,
        "opened_time": b.opened_time,
    }


def bookings(reader: LedgerReader, account: str) -> BookingsOut:
    page = reader.bookings(account)
    return BookingsOut(
        indexed_block=page.indexed.block_number,
        account=account.lower(),
        held=amount(sum(b.deposit for b in page.items if b.state == "open")),
        bookings=[BookingOut(**_booking_fields(b)) for b in page.items],
    )


def merchant_bookings(reader: LedgerReader, merchant_id: int, limit: int) -> MerchantBookingsOut:
    """The bookings made with merchant `merchant_id`: who booked, deposits held, what was charged."""
    page = reader.bookings(merchant_id=merchant_id, limit=limit)
    return MerchantBookingsOut(
        indexed_block=page.indexed.block_number,
        merchant_id=merchant_id,
        held=amount(sum(b.deposit for b in page.items if b.state == "open")),
        charged=amount(sum(b.charged or 0 for b in page.items if b.state == "closed")),
        bookings=[MerchantBookingOut(**_booking_fields(b), payer=b.payer) for b in page.items],
    )


def mandates(reader: LedgerReader, account: str) -> MandatesOut:
    page = reader.mandates(account)
    return MandatesOut(
        indexed_block=page.indexed.block_number,
        account=account.lower(),
        mandates=[
            MandateOut(
                operation_id=str(m.operation_id),
                per_day=amount(m.per_day),
                per_month=amount(m.per_month),
                active=m.active,
                block=m.block_number,
                time=m.block_time,
            )
            for m in page.items
        ],
    )


def find_merchant(reader: LedgerReader, merchant_id: int) -> MerchantItem:
    found = next((m for m in reader.merchants(None).items if m.merchant_id == merchant_id), None)
    if found is None:
        raise NotFound(f"No merchant has the id {merchant_id}.", code="no_merchant")
    return found


def merchant_payments(
    reader: LedgerReader, state: ApiState, chain_id: int, merchant_id: int, cursor: str | None, limit: int
) -> MerchantPaymentsOut:
    """What merchant `merchant_id` received (and refunded), with the references of the requests
    it made through this API matched to their commitments."""
    page = reader.payments(
        merchant_id=merchant_id, before=parse_cursor(cursor), limit=limit, newest_first=True
    )
    stored = state.requests(chain_id, [c for c in (_commitment(p) for p in page.items) if c])
    out = []
    for p in page.items:
        base = payment_out(p, stored.get(_commitment(p)))
        out.append(MerchantPaymentOut(**base.model_dump(), payer=p.payer))
    last = page.items[-1] if len(page.items) == limit and page.items else None
    return MerchantPaymentsOut(
        indexed_block=page.indexed.block_number,
        merchant_id=merchant_id,
        payments=out,
        next_cursor=f"{last.block_number}.{last.log_index}" if last else None,
    )


def merchant_request(
    settings: ApiSettings,
    deployment: Deployment,
    state: ApiState,
    merchant: MerchantItem,
    micro: int,
    reference: str,
    now: float | None = None,
) -> MerchantRequestOut:
    """A payment request with a salted reference commitment, kept (reference, salt, commitment)
    so the merchant's view can show the reference of the payment that answers it."""
    from urllib.parse import quote

    from ledger.chain.reference import ReferenceError

    if deployment.token is None:
        raise Unavailable("The token address is not known yet (no deployment manifest); try again later.")
    salt = new_salt()
    try:
        commitment = reference_commitment(reference, salt)
    except ReferenceError as exc:
        raise BadRequest(str(exc), code="bad_reference") from None
    state.save_request(
        settings.chain_id,
        StoredRequest(
            commitment, merchant.merchant_id, reference, salt, micro, int(time.time() if now is None else now)
        ),
    )
    uri = (
        erc681(deployment.token, settings.chain_id, merchant.payout, micro)
        + f"&ref={quote(reference, safe='')}&refsalt=0x{salt.hex()}"
    )
    return MerchantRequestOut(
        uri=uri,
        merchant_id=merchant.merchant_id,
        to=merchant.payout,
        amount=amount(micro),
        chain_id=settings.chain_id,
        token=deployment.token,
        reference=reference,
        salt="0x" + salt.hex(),
        commitment="0x" + commitment.hex(),
    )


def month_bounds(month: str) -> tuple[str, str]:
    match = _MONTH.match(month)
    if match is None:
        raise BadRequest("The month must be written YYYY-MM, like 2026-11.", code="bad_month")
    year, number = int(match.group(1)), int(match.group(2))
    if not 1 <= number <= 12 or year < 2000:
        raise BadRequest("The month must be written YYYY-MM, like 2026-11.", code="bad_month")
    first = date(year, number, 1)
    last = date(year + number // 12, number % 12 + 1, 1)
    return first.isoformat(), date.fromordinal(last.toordinal() - 1).isoformat()


def statement_csv(reader: LedgerReader, account: str, month: str, max_rows: int = 10_000) -> tuple[str, int]:
    """The month's payments and refunds of `account` as CSV (amounts in micro-M3E and M3E)."""
    first, last = month_bounds(month)
    page = reader.payments(payer=account, day_from=first, day_to=last, limit=max_rows + 1)
    if len(page.items) > max_rows:
        raise BadRequest("This month has too many lines for one statement; ask the operator.")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            "day",
            "kind",
            "merchant_id",
            "merchant",
            "reference",
            "amount_micro_m3e",
            "amount_m3e",
            "block",
            "tx_hash",
        ]
    )
    total = 0
    for p in page.items:
        signed = -p.amount if p.kind == "payment" else p.amount
        total += signed
        writer.writerow(
            [
                p.day,
                p.kind,
                p.merchant_id,
                _csv_safe(p.merchant_name or ""),
                _csv_safe(reference_view(p, None)[0]),
                signed,
                display(signed, "").strip(),
                p.block_number,
                p.tx_hash,
            ]
        )
    writer.writerow(
        ["", "total", "", "", "", total, display(total, "").strip(), page.indexed.block_number, ""]
    )
    return out.getvalue(), page.indexed.block_number


def _csv_safe(text: str) -> str:
    """No spreadsheet formulas from names or references."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def payment_request(settings: ApiSettings, deployment: Deployment, to: str, micro: int) -> PaymentRequestOut:
    if deployment.token is None:
        raise Unavailable("The token address is not known yet (no deployment manifest); try again later.")
    if micro <= 0:
        raise BadRequest("A payment request needs an amount above zero.", code="bad_amount")
    uri = erc681(deployment.token, settings.chain_id, to, micro)
    query = f"to={to}&amount={micro}"
    return PaymentRequestOut(
        uri=uri,
        to=to,
        amount=amount(micro),
        chain_id=settings.chain_id,
        token=deployment.token,
        qr_svg=f"/v1/payment-requests/qr.svg?{query}",
        qr_png=f"/v1/payment-requests/qr.png?{query}",
    )


def erc681(token_address: str, chain_id: int, to: str, micro: int) -> str:
    return f"ethereum:{token_address}@{chain_id}/transfer?address={to}&uint256={micro}"


def qr(uri: str, kind: str) -> bytes:
    code = segno.make(uri, error="m", micro=False)
    out = io.BytesIO()
    if kind == "svg":
        code.save(out, kind="svg", scale=4, border=4, xmldecl=True, svgns=True, title="Payment request")
    else:
        code.save(out, kind="png", scale=6, border=4)
    return out.getvalue()


def require_found(value: object, what: str) -> None:
    if value is None:
        raise NotFound(f"No such {what}.")
