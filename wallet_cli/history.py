"""An account's history grouped by category, with receipts (tx hash, block, reference).

Two sources, tried in this order:
1. the district API, when its URL is configured explicitly (flag, env WALLET_API_URL or
   config.toml) and it answers: `GET /v1/accounts/{address}/history` (token movements, paged)
   and `GET /v1/merchants` (to name and categorise the merchant payouts). The public API does
   not give references: with a session of the account (`wallet login`), the private
   `GET /v1/accounts/{address}/payments` gives them (matched to the token movements by
   transaction and amount, see `add_references`); without one the notes say so.
2. the chain itself, with raw JSON-RPC `eth_getLogs` over the district contracts from their
   deployment blocks: Transfer, DepositRecorded, Redeemed (token); PaymentMade,
   PaymentRefunded, BookingOpened/Closed/Reclaimed (ServicePayments); transfers in a
   transaction of the EnergySettlement contract are energy.

Categories: one per merchant category ("food", "co-working", ...: payments, refunds and
bookings), "energy" (solar sharing settlements), "deposits" (euros in), "conversions" (M3E
back to euros) and "transfers" (between people). Amounts are signed micro-M3E from the
account's point of view (negative = out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wallet_cli.rpc import Merchant, Rpc, address_from_word, topic_address, topic_int, words

T_TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
T_PAYMENT = "0x1bcaaecd04179ab108c13b2184c5808e0913e9110aa1c2573096c4f8203acd9c"
T_REFUND = "0xb0f90e2ecca89488b5b2a6594b3494016eb38d2821e8b7f1c7101b4ab4d16257"
T_BOOKING_OPENED = "0x90ff71f04fc678ffbbe7d754e3bf4c9ecee13e81a32342613148f736ed4818c1"
T_BOOKING_CLOSED = "0x20f7098fc1d094a2a1d5991a69a8305f183bd0e41cca71a8d818e2b039658732"
T_BOOKING_RECLAIMED = "0x43fc2efdcfca496573f41b139c6130ea72cace09ebf2c03c77047c3582101cdd"
T_REDEEMED = "0x72363178076ac2ddbcf0c5a237291d159e338aa284d9a84ae7e33a2f02d38f02"
T_DEPOSIT = "0xdbf530fef1f70be00976ffb4d5ad694e65f46988cca1bfdb1bf68b0e954452d4"
ZERO = "0x" + "0" * 40

CATEGORY_ORDER = ("co-working", "car-sharing", "parking", "concierge", "food", "retail", "other",
                  "energy", "deposits", "conversions", "transfers")


@dataclass
class Entry:
    category: str
    kind: str
    amount: int  # signed micro-M3E for this account
    tx_hash: str
    block: int
    log_index: int
    counterparty: str | None = None
    merchant: str | None = None
    ref: str | None = None
    detail: str | None = None
    time: int | None = None

    def as_json(self) -> dict[str, Any]:
        from wallet_cli.amounts import format_amount

        return {"category": self.category, "kind": self.kind, "amount": str(self.amount),
                "amount_display": format_amount(self.amount), "tx_hash": self.tx_hash,
                "block": self.block, "log_index": self.log_index,
                "counterparty": self.counterparty, "merchant": self.merchant, "ref": self.ref,
                "detail": self.detail, "time": self.time}


@dataclass
class History:
    account: str
    source: str
    entries: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    signed_in: bool = False
    merchant_index: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)

    def grouped(self) -> dict[str, list[Entry]]:
        groups: dict[str, list[Entry]] = {}
        for entry in sorted(self.entries, key=lambda e: (e.block, e.log_index)):
            groups.setdefault(entry.category, []).append(entry)
        order = {c: i for i, c in enumerate(CATEGORY_ORDER)}
        return dict(sorted(groups.items(), key=lambda kv: order.get(kv[0], len(order))))

    def as_json(self) -> dict[str, Any]:
        from wallet_cli.amounts import format_amount

        groups = self.grouped()
        return {
            "account": self.account,
            "source": self.source,
            "categories": [
                {"category": name, "total": str(sum(e.amount for e in items)),
                 "total_display": format_amount(sum(e.amount for e in items)),
                 "entries": [e.as_json() for e in items]}
                for name, items in groups.items()
            ],
            "notes": self.notes,
            "signed_in": self.signed_in,
        }


def _ref(topic_or_word: str | int) -> str:
    from wallet_cli.payment_uri import bytes32_to_ref

    value = int(topic_or_word, 16) if isinstance(topic_or_word, str) else topic_or_word
    return bytes32_to_ref(value.to_bytes(32, "big"))


def _position(log: dict[str, Any]) -> tuple[str, int, int]:
    return (str(log["transactionHash"]), int(str(log["blockNumber"]), 16),
            int(str(log["logIndex"]), 16))


def chain_history(
    rpc: Rpc, account: str, *, token: str, payments: str, energy: str | None,
    from_block: int, merchants: list[Merchant],
) -> History:
    """Every district event that concerns `account`, from the chain's logs."""
    me = account.lower()
    by_id = {m.id: m for m in merchants}
    my_merchant_ids = [m.id for m in merchants if m.payout.lower() == me]
    history = History(account=account, source="chain")
    explained: set[str] = set()  # transactions whose token movements an event already tells
    entries = history.entries

    def merchant_of(merchant_id: int) -> Merchant | None:
        return by_id.get(merchant_id)

    def category_of(merchant_id: int) -> str:
        m = merchant_of(merchant_id)
        return m.category if m else "other"

    def name_of(merchant_id: int) -> str:
        m = merchant_of(merchant_id)
        return m.name if m else f"merchant #{merchant_id}"

    # payments and refunds: as payer, and as the merchant
    for topic, kind in ((T_PAYMENT, "payment"), (T_REFUND, "refund")):
        logs = rpc.get_logs(payments, [topic, None, topic_address(account)], from_block)
        if my_merchant_ids:
            logs += rpc.get_logs(payments, [topic, [topic_int(i) for i in my_merchant_ids]],
                                 from_block)
        seen: set[tuple[str, int]] = set()
        for log in logs:
            tx, block, index = _position(log)
            if (tx, index) in seen:
                continue
            seen.add((tx, index))
            merchant_id = int(log["topics"][1], 16)
            payer = address_from_word(log["topics"][2])
            amount = words(log["data"])[0]
            as_payer = payer.lower() == me
            sign = -1 if (kind == "payment") == as_payer else 1
            if as_payer and merchant_id in my_merchant_ids:
                sign = 0  # paying oneself
            entries.append(Entry(category_of(merchant_id), kind, sign * amount, tx, block, index,
                                 counterparty=payer if not as_payer else None,
                                 merchant=name_of(merchant_id), ref=_ref(log["topics"][3])))
            explained.add(tx)

    # bookings: opened by me (payer) or at my merchant
    opened = rpc.get_logs(payments, [T_BOOKING_OPENED, None, None, topic_address(account)],
                          from_block)
    if my_merchant_ids:
        opened += rpc.get_logs(payments, [T_BOOKING_OPENED, None,
                                          [topic_int(i) for i in my_merchant_ids]], from_block)
    bookings: dict[int, tuple[int, str]] = {}  # id -> (merchant id, payer)
    for log in opened:
        tx, block, index = _position(log)
        booking_id = int(log["topics"][1], 16)
        if booking_id in bookings:
            continue
        merchant_id = int(log["topics"][2], 16)
        payer = address_from_word(log["topics"][3])
        deposit, _expires, ref = words(log["data"])[:3]
        bookings[booking_id] = (merchant_id, payer)
        as_payer = payer.lower() == me
        entries.append(Entry(category_of(merchant_id), "booking-deposit",
                             -deposit if as_payer else 0, tx, block, index,
                             counterparty=None if as_payer else payer,
                             merchant=name_of(merchant_id), ref=_ref(ref),
                             detail=f"booking #{booking_id}, {_money(deposit)} held"))
        explained.add(tx)
    if bookings:
        ids = [topic_int(i) for i in bookings]
        for topic in (T_BOOKING_CLOSED, T_BOOKING_RECLAIMED):
            for log in rpc.get_logs(payments, [topic, ids], from_block):
                tx, block, index = _position(log)
                booking_id = int(log["topics"][1], 16)
                merchant_id, payer = bookings[booking_id]
                values = words(log["data"])
                charged, returned = (values[0], values[1]) if topic == T_BOOKING_CLOSED else (
                    0, values[0])
                as_payer = payer.lower() == me
                amount = returned if as_payer else charged
                kind = "booking-closed" if topic == T_BOOKING_CLOSED else "booking-reclaimed"
                entries.append(Entry(
                    category_of(merchant_id), kind, amount, tx, block, index,
                    counterparty=None if as_payer else payer, merchant=name_of(merchant_id),
                    detail=f"booking #{booking_id}: charged {_money(charged)}, returned "
                           f"{_money(returned)}"))
                explained.add(tx)

    # deposits (euros in) and conversions (M3E back to euros)
    for log in rpc.get_logs(token, [T_DEPOSIT, None, topic_address(account)], from_block):
        tx, block, index = _position(log)
        amount = words(log["data"])[0]
        entries.append(Entry("deposits", "deposit", amount, tx, block, index,
                             ref=_ref(log["topics"][1]), detail="euros deposited with the operator"))
        explained.add(tx)
    for log in rpc.get_logs(token, [T_REDEEMED, None, topic_address(account)], from_block):
        tx, block, index = _position(log)
        amount, fee, euros, payout_ref = words(log["data"])[:4]
        entries.append(Entry("conversions", "redemption", -amount, tx, block, index,
                             ref=_ref(payout_ref),
                             detail=f"{_money(euros).replace('M3E', 'EUR')} to the bank, fee "
                                    f"{_money(fee)}"))
        explained.add(tx)

    # the remaining token movements: energy settlements or transfers between people
    transfers = rpc.get_logs(token, [T_TRANSFER, topic_address(account)], from_block)
    transfers += rpc.get_logs(token, [T_TRANSFER, None, topic_address(account)], from_block)
    energy_txs: dict[str, bool] = {}
    seen_transfers: set[tuple[str, int]] = set()
    for log in transfers:
        tx, block, index = _position(log)
        if tx in explained or (tx, index) in seen_transfers:
            continue
        seen_transfers.add((tx, index))
        sender = address_from_word(log["topics"][1])
        recipient = address_from_word(log["topics"][2])
        amount = words(log["data"])[0]
        if sender.lower() == recipient.lower():
            continue
        outgoing = sender.lower() == me
        if energy is not None and tx not in energy_txs:
            receipt = rpc.receipt(tx) or {}
            energy_txs[tx] = any(str(lg.get("address", "")).lower() == energy.lower()
                                 for lg in receipt.get("logs", []))
        is_energy = energy_txs.get(tx, False)
        other = recipient if outgoing else sender
        kind = "mint" if sender == ZERO else "burn" if recipient == ZERO else "transfer"
        entries.append(Entry("energy" if is_energy else "transfers",
                             "energy" if is_energy else kind,
                             -amount if outgoing else amount, tx, block, index,
                             counterparty=None if other == ZERO else other))
    times: dict[int, int | None] = {}
    for entry in entries:
        if entry.block not in times:
            times[entry.block] = rpc.block_time(entry.block)
        entry.time = times[entry.block]
    return history


def api_history(
    http: Any, api_url: str, account: str, *, limit: int = 500,
    headers: dict[str, str] | None = None,
) -> History:
    """The history from the district API (token movements), categorised by merchant payout.
    The API gives an account's history to its signed-in owner only: `headers` carry the
    session (`Authorization: Bearer ...` of `wallet login`)."""
    base = api_url.rstrip("/")
    merchants_reply = http.get(f"{base}/v1/merchants")
    merchants_reply.raise_for_status()
    merchants = list(merchants_reply.json().get("merchants", []))
    payouts = {str(m["payout"]).lower(): m for m in merchants}
    history = History(account=account, source="api")
    history.merchant_index = {int(m["id"]): m for m in merchants}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": min(limit, 500)}
        if cursor:
            params["cursor"] = cursor
        reply = http.get(f"{base}/v1/accounts/{account}/history", params=params,
                         headers=headers or {})
        reply.raise_for_status()
        page = reply.json()
        for item in page.get("items", []):
            micro = int(item["amount"]["micro"])
            signed = -micro if item.get("direction") == "out" else micro
            other = str(item.get("counterparty") or "")
            merchant = payouts.get(other.lower())
            kind = str(item.get("kind", "transfer"))
            if merchant is not None:
                category, label = str(merchant["category"]), str(merchant["name"])
                kind = "payment" if signed < 0 else "refund"
            elif kind == "mint":
                category, label = "deposits", None
            elif kind == "burn":
                category, label = "conversions", None
            else:
                category, label = "transfers", None
            history.entries.append(Entry(
                category, kind, signed, str(item["tx_hash"]), int(item["block"]),
                int(item["log_index"]), counterparty=other or None, merchant=label,
                time=item.get("time")))
        cursor = page.get("next_cursor")
        if not cursor or len(history.entries) >= limit:
            break
    return history


def private_payments(api: Any, account: str, *, limit: int = 2000) -> list[dict[str, Any]]:
    """The account's payments and refunds with their references (a signed-in PrivateApi)."""
    payments: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(payments) < limit:
        params: dict[str, Any] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = api.get_json(f"/v1/accounts/{account}/payments", "your payments", params)
        payments += list(page.get("payments", []))
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return payments


def add_references(history: History, payments: list[dict[str, Any]]) -> int:
    """Put each private payment's reference (and merchant) on its token movement.

    A payment and its Transfer share the transaction; within it they are matched by amount
    and direction (a payment takes M3E out, a refund brings them back). Returns how many
    entries got a reference.
    """
    by_tx: dict[str, list[dict[str, Any]]] = {}
    for payment in payments:
        by_tx.setdefault(str(payment["tx_hash"]).lower(), []).append(payment)
    matched = 0
    for entry in sorted(history.entries, key=lambda e: (e.block, e.log_index)):
        candidates = by_tx.get(entry.tx_hash.lower())
        if not candidates:
            continue
        for payment in candidates:
            micro = int(payment["amount"]["micro"])
            kind = str(payment["kind"])
            expected = -micro if kind == "payment" else micro
            if entry.amount != expected:
                continue
            candidates.remove(payment)
            entry.kind = kind
            entry.ref = str(payment["ref"])
            merchant = history.merchant_index.get(int(payment["merchant_id"]))
            if merchant is not None:
                entry.category = str(merchant["category"])
                entry.merchant = str(merchant["name"])
            elif payment.get("merchant"):
                entry.merchant = str(payment["merchant"])
            matched += 1
            break
    return matched


def _money(micro: int) -> str:
    from wallet_cli.amounts import format_amount

    return format_amount(micro)


def render(history: History) -> list[str]:
    """The history as text, one block per category, newest last, with the receipts."""
    from ledger.domain.clock import paris_minute
    from wallet_cli.amounts import format_amount

    lines = [f"History of {history.account} (from the {history.source}; times in Europe/Paris)"]
    groups = history.grouped()
    if not groups:
        lines.append("  nothing yet")
    for category, items in groups.items():
        total = sum(e.amount for e in items)
        lines.append("")
        lines.append(f"{category}  ({len(items)}, net {format_amount(total)})")
        for e in items:
            when = paris_minute(e.time) if e.time else "-"
            who = e.merchant or e.counterparty or ""
            ref = f"  ref {e.ref}" if e.ref else ""
            detail = f"  ({e.detail})" if e.detail else ""
            lines.append(f"  {when}  {e.kind:<17} {format_amount(e.amount):>14}  {who}{ref}{detail}")
            lines.append(f"      receipt {e.tx_hash}  block {e.block}")
    for n in history.notes:
        lines.append("")
        lines.append(f"Note: {n}")
    return lines
