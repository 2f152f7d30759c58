"""The money commands: balance, send, pay, refund, book/close/reclaim, redeem, broadcast, sign tx.

Registered on the `wallet` app by `register(app)` (wallet_cli/main.py). Everything heavy is
imported inside the commands: `wallet balance` speaks raw JSON-RPC through httpx (no web3), the
commands that sign a contract call use ledger.chain (web3) through `wallet_cli.gateway`.

Before anything is signed the command shows who is paid (merchant name and payout address),
the amount with its symbol and the chain id, and asks to confirm unless `--yes`; with no
terminal it refuses to ask (pass --yes). While waiting for the receipt a spinner turns on
standard error (only on a terminal); after `--timeout` seconds the command exits 3 with the
transaction hash: it may still go through.

`wallet pay URI` (an ERC-681 request) decides how to pay from the request's `address=`:
- it is the payout address of an active merchant: the payment goes through
  ServicePayments.pay(merchantId, amount, ref), so the reference's commitment is recorded on
  chain, the merchant can refund it and it is counted in the merchant's category (what
  `wallet request` by a merchant produces);
- it is the payout of a suspended merchant: refused (a plain transfer would go around the
  suspension);
- anything else (a neighbour): a plain ERC-20 transfer; a reference cannot be recorded by a
  transfer, so the command says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wallet_cli import context
from wallet_cli.context import (
    DEFAULT_TIMEOUT,
    AccountOpt,
    JsonOpt,
    PasswordFileOpt,
    RefOpt,
    TimeoutOpt,
    YesOpt,
    check_chain,
    confirm,
    connect,
    emit,
    guarded,
    home_of,
    load,
    manifest_of,
    money,
    note,
    open_keystore,
    pick_account,
    receipt_json,
    recipient,
    unlock,
    wait,
)
from wallet_cli.errors import (
    ChainError,
    InsufficientBalanceError,
    UnknownMerchantError,
    UsageError,
    WalletError,
)

if TYPE_CHECKING:
    from wallet_cli.gateway import ChainGateway
    from wallet_cli.references import Committed
    from wallet_cli.rpc import Merchant
    from wallet_cli.settings import Settings

SIGNED_TX_KIND = "m3e-signed-tx"
SIGNED_TX_VERSION = 1
TOPIC_BOOKING_OPENED = "0x90ff71f04fc678ffbbe7d754e3bf4c9ecee13e81a32342613148f736ed4818c1"
TOPIC_REDEEMED = "0x72363178076ac2ddbcf0c5a237291d159e338aa284d9a84ae7e33a2f02d38f02"


BUY_OR = "Buy M3E from the operator (`wallet topup`, a euro transfer) or "
REFUND_ADVICE = ("A refund is paid from this payout account: wait for takings or move M3E to it "
                 "from another of your accounts, or refund less.")


def check_balance(gateway: ChainGateway, address: str, needed: int, advice: str) -> int:
    """The balance of `address`, or a sentence with what to do that fits the command."""
    balance = gateway.balance_of(address)
    if balance < needed:
        raise InsufficientBalanceError(
            f"Not enough M3E: your balance is {money(balance)} and this needs {money(needed)}. "
            + advice,
            balance, needed,
        )
    return balance


def find_merchant(merchants: list[Merchant], text: str) -> Merchant:
    """A merchant by id ("3" or "#3") or by name: the one merchant whose name is, or looks
    like, what was typed (case, accents and look-alikes folded: ledger.names), else a unique
    prefix. Several merchants under one name (a look-alike registered outside the registrar's
    check, or a prefix) are listed with their #id and payout address, never guessed between;
    nothing found: UnknownMerchantError with the closest names."""
    import difflib

    from ledger.names import fold, resembling

    wanted = text.strip()
    number = wanted.removeprefix("#")
    if number.isascii() and number.isdigit():  # ASCII only: '²'.isdigit() but int('²') fails
        merchant_id = int(wanted.removeprefix("#"))
        for m in merchants:
            if m.id == merchant_id:
                return m
        raise UnknownMerchantError(f"There is no merchant #{merchant_id}.", [])
    same = resembling(wanted, merchants, lambda m: m.name)
    if len(same) == 1:
        return same[0]
    if len(same) > 1:
        raise _ambiguous(text, same, "names")
    folded = fold(wanted)
    prefix = [m for m in merchants if folded and fold(m.name).startswith(folded)]
    if len(prefix) == 1:
        return prefix[0]
    names = [m.name for m in merchants]
    if len(prefix) > 1:
        raise _ambiguous(text, prefix, "matches")
    by_fold = {fold(n): n for n in names}
    close = [by_fold[n] for n in difflib.get_close_matches(folded, list(by_fold), n=3, cutoff=0.4)]
    hint = f" Did you mean: {', '.join(close)}?" if close else (
        f" Merchants: {', '.join(names)}." if names else " No merchant is registered yet.")
    raise UnknownMerchantError(f"There is no merchant named '{text}'.{hint}", close)


def _ambiguous(text: str, found: list[Merchant], verb: str) -> UnknownMerchantError:
    listed = "; ".join(f"#{m.id} {m.name} ({m.category}{'' if m.active else ', suspended'}), "
                       f"payout {m.payout}" for m in found)
    return UnknownMerchantError(
        f"'{text}' {verb} {len(found)} merchants: {listed}. Check the payout address with the "
        f"merchant and pay by number, for example '#{found[0].id}'.",
        [f"#{m.id}" for m in found])


def payout_check(ctx: typer.Context, gateway: ChainGateway, merchant: Merchant) -> str | None:
    """The warning when the merchant's payout changed since last seen (nothing recorded yet)."""
    from wallet_cli.contacts import SeenPayouts

    check = SeenPayouts(home_of(ctx)).check(gateway.payments, merchant.id, merchant.name,
                                            merchant.payout)
    return check.warning


def remember_payout(ctx: typer.Context, gateway: ChainGateway, merchant: Merchant) -> None:
    from wallet_cli.contacts import SeenPayouts
    from wallet_cli.home import ensure_private_dir

    ensure_private_dir(home_of(ctx))
    SeenPayouts(home_of(ctx)).remember(gateway.payments, merchant.id, merchant.name,
                                       merchant.payout)


def ref_bytes(ref: str) -> bytes:
    """A clear bytes32 (redemption payout references, which the operator's bank needs)."""
    from wallet_cli.payment_uri import ref_to_bytes32

    return ref_to_bytes32(ref)


def committed_ref(ctx: typer.Context, ref: str, role: str, salt: bytes | None = None,
                  **meta: Any) -> Committed:
    """Commit to `ref` (a fresh salt unless given) and keep the clear text and salt in the
    wallet home, before anything is sent (a crash after sending loses nothing)."""
    from wallet_cli.references import ReferenceBook, commit

    committed = commit(ref, salt)
    ReferenceBook(home_of(ctx)).remember(committed, role, **meta)
    return committed


def _signer_flow(
    ctx: typer.Context, settings: Settings, gateway: ChainGateway, account: str,
    password_file: Path | None,
) -> None:
    """Decrypt the account's key for the gateway (after the person confirmed)."""
    gateway.use_key(unlock(ctx, account, password_file))


def _approve(gateway: ChainGateway, amount: int, timeout: float) -> None:
    approval = gateway.approve_if_needed(amount)
    if approval is not None:
        wait(gateway, approval, timeout, "the approval of ServicePayments")


# ---------------------------------------------------------------- balance


def balance(
    ctx: typer.Context,
    account: Annotated[
        str | None,
        typer.Option("--account", "-a", help="An account name, a contact or an address "
                     "(default: every account of this wallet)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the M3E balance (raw JSON-RPC: fast, no web3)."""
    from wallet_cli.settings import token_from_manifest

    settings = load(ctx)
    token = settings.token or token_from_manifest(manifest_of(settings))
    targets: list[tuple[str, str]] = []
    if account is None:
        store = open_keystore(ctx)
        targets = [(a.name, a.address) for a in store.accounts() if a.address.startswith("0x")]
        if not targets:
            raise UsageError("No account yet: create one with `wallet new NAME`, or pass "
                             "--account ADDRESS.")
    else:
        address, label = recipient(ctx, account)
        if not address:
            raise UsageError(f"'{account}' is not an account, a contact or an address.")
        targets = [(account if label else address, address)]
    rows = []
    with context.make_rpc(settings) as rpc:
        for name, address in targets:
            micro = rpc.balance_of(token, address)
            rows.append({"name": name, "address": address, "balance": str(micro),
                         "display": money(micro),
                         "permit_nonce": rpc.permit_nonce(token, address)})
    if len(rows) == 1:
        human = f"{rows[0]['display']}  ({rows[0]['name']}, {rows[0]['address']})"
        if rows[0]["name"] == rows[0]["address"]:
            human = f"{rows[0]['display']}  ({rows[0]['address']})"
        data: dict[str, Any] = {**rows[0], "token": token}
    else:
        width = max(len(str(r["name"])) for r in rows)
        human = "\n".join(f"{r['name']:<{width}}  {r['address']}  {r['display']:>14}" for r in rows)
        data = {"accounts": rows, "token": token}
    emit(as_json, data, human)


# ---------------------------------------------------------------- send


def send(
    ctx: typer.Context,
    to: Annotated[str, typer.Argument(help="An address, a contact or a merchant name.")],
    amount: Annotated[str, typer.Argument(help='Amount in M3E, e.g. "12.50".')],
    account: AccountOpt = None,
    yes: YesOpt = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send M3E to someone (a plain transfer). To pay a merchant with a reference, use `pay`."""
    from wallet_cli.amounts import parse_amount

    micro = parse_amount(amount)
    name, payer, settings, gateway = connect(ctx, account)
    merchants = gateway.merchants()
    address, label = recipient(ctx, to, merchants)
    merchant = None
    warning = None
    if not address:
        merchant = find_merchant(merchants, to)
        if not merchant.active:
            raise WalletError(f"The merchant '{merchant.name}' is suspended: do not pay it.")
        address, label = merchant.payout, f"merchant '{merchant.name}' (#{merchant.id})"
        warning = payout_check(ctx, gateway, merchant)
    if address.lower() == payer.lower():
        raise UsageError("That is your own account: nothing to send.")
    check_balance(gateway, payer, micro, BUY_OR + "send less.")
    if warning:
        note(warning)
    who = f"{label} {address}" if label else address
    confirm([f"Send {money(micro)} to {who}", f"From {name} ({payer}) on chain {settings.chain_id}"],
            yes)
    _signer_flow(ctx, settings, gateway, name, password_file)
    tx_hash = gateway.transfer(address, micro)
    receipt = wait(gateway, tx_hash, timeout, "the transfer")
    if merchant is not None:
        remember_payout(ctx, gateway, merchant)
    data = {"from": payer, "to": address, "to_label": label, "amount": str(micro),
            "amount_display": money(micro), "chain_id": settings.chain_id,
            "payout_warning": warning, **receipt_json(receipt)}
    emit(as_json, data, f"Sent {money(micro)} to {who}. Receipt: {data['tx_hash']} "
         f"(block {data['block']})")


# ---------------------------------------------------------------- pay


def pay(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(metavar="MERCHANT|URI",
                                          help="A merchant name (or #id), or an ethereum: URI.")],
    amount: Annotated[str | None, typer.Argument(help='Amount in M3E (not with a URI).')] = None,
    ref: Annotated[str | None, typer.Option("--ref", help="Payment reference (up to 140 "
                                            "bytes; only a salted commitment to it goes on "
                                            "chain); a URI carries its own.")] = None,
    account: AccountOpt = None,
    yes: YesOpt = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Pay a merchant by name with a reference, or pay an ERC-681 payment request (URI).

    A URI to a merchant's payout address is paid through ServicePayments (reference on chain,
    refundable); a URI to anyone else is a plain transfer.
    """
    from wallet_cli.amounts import parse_amount
    from wallet_cli.payment_uri import parse_payment_uri
    from wallet_cli.references import check_reference

    settings = load(ctx)
    name, payer = pick_account(ctx, account)
    gateway = context.make_gateway(settings)
    merchant: Merchant | None
    if is_payment_uri(target):
        if amount is not None or ref is not None:
            raise UsageError("A payment request carries its amount and reference: give only the URI.")
        request = parse_payment_uri(target, expected_token=gateway.token,
                                    expected_chain_id=settings.chain_id)
        micro, ref, to = request.amount, request.ref, request.to
        salt = request.ref_salt
        merchant = next((m for m in gateway.merchants() if m.payout.lower() == to.lower()), None)
        if merchant is not None and not merchant.active:
            raise WalletError(f"The request pays the suspended merchant '{merchant.name}': refused.")
        via = "ServicePayments" if merchant is not None else "transfer"
    else:
        if amount is None:
            raise UsageError("How much? `wallet pay MERCHANT AMOUNT --ref R`.")
        if ref is None:
            raise UsageError("A merchant payment needs a reference: --ref (an invoice, a table...).")
        micro = parse_amount(amount)
        ref = check_reference(ref)
        salt = None
        merchant = find_merchant(gateway.merchants(), target)
        to = merchant.payout
        via = "ServicePayments"
    check_chain(settings, gateway)
    if merchant is not None and not merchant.active:
        raise WalletError(f"The merchant '{merchant.name}' is suspended: payments are refused.")
    # Free basics: the commons fund pays part of a shared service's price; the payer the rest.
    covered = (gateway.fund_cover(merchant.id, payer, micro) or 0) if merchant is not None else 0
    check_balance(gateway, payer, micro - covered, BUY_OR + "pay less.")
    warning = payout_check(ctx, gateway, merchant) if merchant is not None else None
    if warning:
        note(warning)
    if merchant is not None:
        who = f"{merchant.name} (merchant #{merchant.id}, {merchant.category}), payout {to}"
    else:
        who = f"{to} (not a merchant: a plain transfer)"
    # A request's `ref` without `refsalt` is committed under a fresh salt even when it is
    # written as a raw bytes32: nothing proves 0x... is a commitment and not padded clear text.
    lines = [f"Pay {money(micro)} to {who}",
             f"Reference: {ref} (on chain: only a salted commitment)" if ref else "No reference",
             f"From {name} ({payer}) on chain {settings.chain_id}"]
    if merchant is None and ref:
        lines.append("Note: a plain transfer cannot record the reference on chain.")
    if covered:
        lines.insert(1, f"The commons fund pays {money(covered)} of it (free tier): you pay "
                        f"{money(micro - covered)}")
    confirm(lines, yes)
    _signer_flow(ctx, settings, gateway, name, password_file)
    committed: Committed | None = None
    if merchant is not None:
        if ref is not None:
            committed = committed_ref(ctx, ref, "paid", salt, merchant_id=merchant.id,
                                      amount=str(micro), payer=payer)
            if salt is None and is_payment_uri(target):
                note(f"This request carries no reference salt: give the merchant the salt "
                     f"{committed.salt_hex} with the reference so they can match the payment.")
        on_chain = committed.commitment if committed is not None else bytes(32)
        _approve(gateway, micro, timeout)
        tx_hash = gateway.pay(merchant.id, micro, on_chain)
    else:
        tx_hash = gateway.transfer(to, micro)
    receipt = wait(gateway, tx_hash, timeout, "the payment")
    if merchant is not None:
        remember_payout(ctx, gateway, merchant)
    data = {"from": payer, "to": to, "merchant": merchant.as_json() if merchant else None,
            "via": via, "amount": str(micro), "amount_display": money(micro), "ref": ref,
            "fund_covers": str(covered), "fund_covers_display": money(covered),
            "ref_salt": committed.salt_hex if committed else None,
            "ref_commitment": committed.commitment_hex if committed else None,
            "chain_id": settings.chain_id, "payout_warning": warning, **receipt_json(receipt)}
    target_text = merchant.name if merchant else to
    kept = (f" (on chain only its commitment {committed.commitment_hex}; salt "
            f"{committed.salt_hex}, kept in your wallet)") if committed else ""
    emit(as_json, data, f"Paid {money(micro)} to {target_text}" + (f", ref {ref}" if ref else "")
         + f"{kept}. Receipt: {data['tx_hash']} (block {data['block']})")


def is_payment_uri(target: str) -> bool:
    """True for an ERC-681 request: the scheme in any case (RFC 3986: `ETHEREUM:` is the same;
    QR scanners in alphanumeric mode upper-case it)."""
    return target.strip()[:9].lower() == "ethereum:"


# ---------------------------------------------------------------- merchants: refund, redeem


def refund(
    ctx: typer.Context,
    merchant_id: Annotated[int, typer.Argument(help="Your merchant id.", min=1)],
    payer: Annotated[str, typer.Argument(help="Who paid: an address or a contact.")],
    amount: Annotated[str, typer.Argument(help='Amount in M3E, e.g. "4.20".')],
    ref: RefOpt,
    account: AccountOpt = None,
    yes: YesOpt = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Refund a payer (merchants: from the payout account, up to what they paid net).

    On chain only a salted commitment to the reference: the salt this wallet holds for that
    reference (one it requested), so the payer's wallet matches the refund; else a fresh one.
    """
    from wallet_cli.amounts import parse_amount
    from wallet_cli.references import ReferenceBook, check_reference

    micro = parse_amount(amount)
    ref = check_reference(ref)
    name, me, settings, gateway = connect(ctx, account)
    merchant = find_merchant(gateway.merchants(), str(merchant_id))
    if merchant.payout.lower() != me.lower():
        raise WalletError(
            f"Only the payout account of '{merchant.name}' ({merchant.payout}) can refund; "
            f"{name} is {me}.")
    to, label = recipient(ctx, payer)
    if not to:
        raise UsageError(f"'{payer}' is not an address or a contact.")
    check_balance(gateway, me, micro, REFUND_ADVICE)
    confirm([f"Refund {money(micro)} to {label + ' ' if label else ''}{to}",
             f"From {merchant.name} (merchant #{merchant.id}, {me}), ref {ref}, chain "
             f"{settings.chain_id}"], yes)
    _signer_flow(ctx, settings, gateway, name, password_file)
    committed = committed_ref(ctx, ref, "refund", ReferenceBook(home_of(ctx)).salt_for(ref),
                              merchant_id=merchant.id, amount=str(micro), payer=to)
    _approve(gateway, micro, timeout)
    receipt = wait(gateway, gateway.refund(merchant.id, to, micro, committed.commitment), timeout,
                   "the refund")
    data = {"merchant": merchant.as_json(), "payer": to, "amount": str(micro),
            "amount_display": money(micro), **committed.as_json(), "chain_id": settings.chain_id,
            **receipt_json(receipt)}
    emit(as_json, data, f"Refunded {money(micro)} to {to}, ref {ref}. Receipt: "
         f"{data['tx_hash']} (block {data['block']})")


def redeem(
    ctx: typer.Context,
    amount: Annotated[str, typer.Argument(help='Amount in M3E to convert to euros.')],
    ref: Annotated[str, typer.Option("--ref", help="Your payout reference (bank transfer).")],
    account: AccountOpt = None,
    yes: YesOpt = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Convert M3E back to euros (merchants only; the operator's fee funds the commons)."""
    from wallet_cli.amounts import parse_amount
    from wallet_cli.payment_uri import check_ref
    from wallet_cli.rpc import words

    micro = parse_amount(amount)
    ref = check_ref(ref)
    name, me, settings, gateway = connect(ctx, account)
    merchant = next((m for m in gateway.merchants() if m.payout.lower() == me.lower()), None)
    if merchant is None or not merchant.active:
        raise WalletError(f"Only active merchants convert M3E back to euros; {name} ({me}) is "
                          "not the payout account of an active merchant.")
    check_balance(gateway, me, micro, "Redeem at most your balance.")
    confirm([f"Convert {money(micro)} to euros for {merchant.name} ({me}), ref {ref}",
             "The conversion fee is kept for the commons fund; the rest is paid in euros.",
             f"Chain {settings.chain_id}"], yes)
    _signer_flow(ctx, settings, gateway, name, password_file)
    receipt = wait(gateway, gateway.redeem(micro, ref_bytes(ref)), timeout, "the conversion")
    fee = euros = None
    redemption_id = None
    for log in receipt.get("logs", []):
        topics = log.get("topics", [])
        if topics and topics[0] == TOPIC_REDEEMED:
            redemption_id = int(topics[1], 16)
            values = words(log["data"])
            fee, euros = values[1], values[2]
    data = {"merchant": merchant.as_json(), "amount": str(micro), "amount_display": money(micro),
            "redemption_id": redemption_id, "fee": None if fee is None else str(fee),
            "euros": None if euros is None else str(euros), "ref": ref,
            "chain_id": settings.chain_id, **receipt_json(receipt)}
    euro_text = f": {money(euros).replace('M3E', 'EUR')} to your bank, fee {money(fee)}" if (
        euros is not None and fee is not None) else ""
    emit(as_json, data, f"Converted {money(micro)}{euro_text} (redemption #{redemption_id}). "
         f"Receipt: {data['tx_hash']} (block {data['block']})")


# ---------------------------------------------------------------- bookings


def book(
    ctx: typer.Context,
    merchant_name: Annotated[str, typer.Argument(metavar="MERCHANT", help="Merchant name or #id.")],
    deposit: Annotated[str, typer.Argument(help='Deposit in M3E, e.g. "50".')],
    hours: Annotated[float, typer.Option("--hours", help="How long the booking lasts.", min=0.01)],
    ref: RefOpt,
    account: AccountOpt = None,
    yes: YesOpt = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Book a service: the deposit is held by the contract until the merchant closes it
    (charging part of it) or, after expiry, you reclaim it."""
    from wallet_cli.amounts import parse_amount
    from wallet_cli.references import check_reference

    micro = parse_amount(deposit)
    ref = check_reference(ref)
    name, payer, settings, gateway = connect(ctx, account)
    merchant = find_merchant(gateway.merchants(), merchant_name)
    if not merchant.active:
        raise WalletError(f"The merchant '{merchant.name}' is suspended: bookings are refused.")
    check_balance(gateway, payer, micro, BUY_OR + "book with a smaller deposit.")
    warning = payout_check(ctx, gateway, merchant)
    if warning:
        note(warning)
    # The contract compares with its block time, which may run ahead of this machine's clock
    # (the demo chain did by ~70 s): the window starts from the chain's latest block.
    expires = gateway.chain_time() + int(hours * 3600)
    from ledger.domain.clock import paris_time

    until = paris_time(expires)
    # The charge is known only at closing: the fund's part of it is quoted on the deposit.
    covered = gateway.fund_cover(merchant.id, payer, micro) or 0
    lines = [f"Book {merchant.name} (merchant #{merchant.id}, {merchant.category}) with a deposit "
             f"of {money(micro)}, ref {ref}", f"Until {until}; payout {merchant.payout}",
             f"From {name} ({payer}) on chain {settings.chain_id}"]
    if covered:
        lines.insert(1, f"The commons fund pays up to {money(covered)} of the charge (free tier, "
                        "if still in its budget at closing): that much of the deposit comes back")
    confirm(lines, yes)
    _signer_flow(ctx, settings, gateway, name, password_file)
    committed = committed_ref(ctx, ref, "booking", merchant_id=merchant.id, amount=str(micro),
                              payer=payer)
    _approve(gateway, micro, timeout)
    receipt = wait(gateway, gateway.open_booking(merchant.id, micro, expires,
                                                 committed.commitment), timeout, "the booking")
    booking_id = next((int(log["topics"][1], 16) for log in receipt.get("logs", [])
                       if log.get("topics") and log["topics"][0] == TOPIC_BOOKING_OPENED), None)
    remember_payout(ctx, gateway, merchant)
    data = {"booking_id": booking_id, "merchant": merchant.as_json(), "deposit": str(micro),
            "payout_warning": warning, "fund_covers_up_to": str(covered),
            "deposit_display": money(micro), "expires_at": expires, **committed.as_json(),
            "chain_id": settings.chain_id, **receipt_json(receipt)}
    emit(as_json, data, f"Booking #{booking_id} with {merchant.name}: {money(micro)} held until "
         f"{until}. Receipt: {data['tx_hash']} (block {data['block']})")


def _zero_or_amount(text: str) -> int:
    from wallet_cli.amounts import parse_amount

    if text.strip().rstrip("0").rstrip(".") in ("", "0") and text.strip()[:1] == "0":
        return 0
    return parse_amount(text)


def close(
    ctx: typer.Context,
    booking_id: Annotated[int, typer.Argument(help="The booking number.", min=1)],
    charge: Annotated[str, typer.Option("--charge", help='What to keep, e.g. "18" (0 for '
                                        'nothing); the rest goes back to the payer.')],
    account: AccountOpt = None,
    yes: YesOpt = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Close a booking (merchants): charge part of the deposit, return the rest."""
    micro = _zero_or_amount(charge)
    name, me, settings, gateway = connect(ctx, account)
    booking = gateway.booking(booking_id)
    if not booking["open"]:
        raise WalletError(f"Booking #{booking_id} is not open (unknown, closed or reclaimed).")
    merchant = find_merchant(gateway.merchants(), str(booking["merchant_id"]))
    if merchant.payout.lower() != me.lower():
        raise WalletError(f"Only the payout account of '{merchant.name}' ({merchant.payout}) "
                          f"closes its bookings; {name} is {me}.")
    deposit = int(booking["deposit"])
    if micro > deposit:
        raise UsageError(f"The charge {money(micro)} is above the deposit {money(deposit)}.")
    confirm([f"Close booking #{booking_id} of {booking['payer']} at {merchant.name}: keep "
             f"{money(micro)}, return {money(deposit - micro)}", f"Chain {settings.chain_id}"], yes)
    _signer_flow(ctx, settings, gateway, name, password_file)
    receipt = wait(gateway, gateway.close_booking(booking_id, micro), timeout, "the closing")
    data = {"booking_id": booking_id, "charged": str(micro), "returned": str(deposit - micro),
            "charged_display": money(micro), "returned_display": money(deposit - micro),
            "payer": booking["payer"], "merchant": merchant.as_json(),
            "chain_id": settings.chain_id, **receipt_json(receipt)}
    emit(as_json, data, f"Closed booking #{booking_id}: charged {money(micro)}, returned "
         f"{money(deposit - micro)}. Receipt: {data['tx_hash']} (block {data['block']})")


def reclaim(
    ctx: typer.Context,
    booking_id: Annotated[int, typer.Argument(help="The booking number.", min=1)],
    account: AccountOpt = None,
    yes: YesOpt = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Take your whole deposit back from a booking the merchant did not close before expiry."""
    name, me, settings, gateway = connect(ctx, account)
    booking = gateway.booking(booking_id)
    if not booking["open"]:
        raise WalletError(f"Booking #{booking_id} is not open (unknown, closed or reclaimed).")
    if str(booking["payer"]).lower() != me.lower():
        raise WalletError(f"Booking #{booking_id} was paid by {booking['payer']}, not {name}.")
    deposit = int(booking["deposit"])
    confirm([f"Reclaim {money(deposit)} from booking #{booking_id}", f"Chain {settings.chain_id}"],
            yes)
    _signer_flow(ctx, settings, gateway, name, password_file)
    receipt = wait(gateway, gateway.reclaim_booking(booking_id), timeout, "the reclaim")
    data = {"booking_id": booking_id, "returned": str(deposit), "returned_display": money(deposit),
            "chain_id": settings.chain_id, **receipt_json(receipt)}
    emit(as_json, data, f"Reclaimed {money(deposit)} from booking #{booking_id}. Receipt: "
         f"{data['tx_hash']} (block {data['block']})")


# ---------------------------------------------------------------- offline: sign tx, broadcast


def sign_tx(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Account that signs.")],
    to: Annotated[str, typer.Argument(help="An address, a contact or one of your accounts.")],
    amount: Annotated[str, typer.Argument(help='Amount in M3E, e.g. "12.50".')],
    out: Annotated[Path, typer.Option("--out", dir_okay=False,
                                      help="File to write (0600, never overwritten).")],
    nonce: Annotated[int | None, typer.Option(
        "--nonce", min=0, help="The account's transaction count (offline: you say it; "
        "default: asked from the chain).")] = None,
    gas: Annotated[int, typer.Option("--gas", min=21000, help="Gas limit (gas is free here).")]
    = 120_000,
    token: Annotated[str | None, typer.Option("--token", help="Token address.")] = None,
    yes: YesOpt = False,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign an M3E transfer into a file (zero-fee EIP-1559), for `wallet broadcast` later."""
    from wallet_cli.amounts import parse_amount
    from wallet_cli.home import atomic_write
    from wallet_cli.rpc import SEL_TRANSFER, word

    micro = parse_amount(amount)
    payer = str(open_keystore(ctx).address_of(name))
    address, label = recipient(ctx, to)
    if not address:
        raise UsageError(f"'{to}' is not an address, a contact or one of your accounts.")
    token_address, chain_id = context.resolve_token(ctx, token)
    if out.exists():
        raise UsageError(f"{out} exists already: choose another file.")
    if nonce is None:
        settings = load(ctx)
        try:
            with context.make_rpc(settings) as rpc:
                nonce = rpc.tx_count(payer)
        except ChainError as exc:
            raise UsageError(f"{exc.message} Offline, give the nonce with --nonce N.") from exc
    confirm([f"Sign a transfer of {money(micro)} to {label + ' ' if label else ''}{address}",
             f"From {name} ({payer}), nonce {nonce}, chain {chain_id}"], yes, "Sign?")
    key = unlock(ctx, name, password_file)
    from eth_account import Account

    tx = {"type": 2, "chainId": chain_id, "nonce": nonce, "to": token_address, "value": 0,
          "data": SEL_TRANSFER + word(address) + word(micro), "gas": gas,
          "maxFeePerGas": 0, "maxPriorityFeePerGas": 0}
    signed = Account.sign_transaction(tx, key)
    document = {"kind": SIGNED_TX_KIND, "version": SIGNED_TX_VERSION, "chain_id": chain_id,
                "from": payer, "token": token_address, "to": address, "amount": str(micro),
                "nonce": nonce, "raw": "0x" + bytes(signed.raw_transaction).hex(),
                "tx_hash": "0x" + bytes(signed.hash).hex()}
    atomic_write(out, (json.dumps(document, indent=2) + "\n").encode(), overwrite=False)
    emit(as_json, {"file": str(out), **document},
         f"Signed a transfer of {money(micro)} from {payer} to {address} (nonce {nonce}): {out}")


def _decode_raw_tx(raw: str) -> dict[str, Any]:
    from eth_account import Account
    from eth_account.typed_transactions.typed_transaction import TypedTransaction
    from hexbytes import HexBytes

    try:
        data = HexBytes(bytes.fromhex(raw.removeprefix("0x")))
        tx = TypedTransaction.from_bytes(data).as_dict()
        sender = Account.recover_transaction(data)
    except Exception as exc:
        raise UsageError(f"The signed transaction cannot be read ({type(exc).__name__}).") from exc
    to = tx.get("to", b"")
    return {**tx, "to": "0x" + bytes(to).hex() if not isinstance(to, str) else to, "from": sender}


def broadcast(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A file written by `wallet sign payment` or "
                                         "`wallet sign tx`.", dir_okay=False)],
    account: Annotated[str | None, typer.Option(
        "--account", "-a", help="For a signed payment: the account that submits it (a "
        "merchant's terminal; gas is free).")] = None,
    yes: YesOpt = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a signed payment or a signed transfer; refuses one signed for another chain."""
    from wallet_cli.home import read_document
    from wallet_cli.payment_uri import bytes32_to_ref
    from wallet_cli.rpc import words

    document = read_document(file, "a signed M3E file")
    settings = load(ctx)
    gateway = context.make_gateway(settings)
    kind = document.get("kind")
    if kind == SIGNED_TX_KIND:
        raw = str(document.get("raw", ""))
        tx = _decode_raw_tx(raw)
        file_chain = int(tx.get("chainId", -1))
        if file_chain != int(document.get("chain_id", file_chain)):
            raise UsageError("The file's chain id and its signed transaction's disagree: refused.")
        _refuse_other_chain(file_chain, settings, gateway)
        if str(tx.get("to", "")).lower() != gateway.token.lower():
            raise UsageError(f"The signed transaction is not for the M3E token {gateway.token}.")
        calldata = tx.get("data", b"")
        body = bytes(calldata).hex() if not isinstance(calldata, str) else calldata.removeprefix("0x")
        values = words(body[8:])
        recipient, micro = "0x" + f"{values[0]:040x}", values[1]
        confirm([f"Broadcast a transfer of {money(micro)} from {tx['from']} to {recipient}",
                 f"Chain {file_chain}"], yes, "Send?")
        tx_hash = gateway.send_raw(raw)
        receipt = wait(gateway, tx_hash, timeout, "the transfer")
        data = {"kind": kind, "from": tx["from"], "to": recipient, "amount": str(micro),
                "amount_display": money(micro), "chain_id": file_chain, **receipt_json(receipt)}
        emit(as_json, data, f"Broadcast: {money(micro)} from {tx['from']} to {recipient}. "
             f"Receipt: {data['tx_hash']} (block {data['block']})")
        return
    from wallet_cli.signing import CANCEL_KIND, FILE_KIND, load_signed_cancel, load_signed_payment

    if kind not in (FILE_KIND, CANCEL_KIND):
        raise UsageError(f"{file} is neither a signed payment, a cancellation nor a signed transfer.")
    try:
        file_chain = int(document.get("chain_id", -1))
    except (TypeError, ValueError):
        raise UsageError(f"{file} has no valid chain id.") from None
    _refuse_other_chain(file_chain, settings, gateway)
    if kind == CANCEL_KIND:
        cancel = load_signed_cancel(document, check_signer=not _is_contract(gateway, document, "authorizer"))
        if cancel.token.lower() != gateway.token.lower():
            raise UsageError(f"The cancellation is for another token than the manifest's ({cancel.token}).")
        _cancel(ctx, settings, gateway, cancel.authorizer, cancel.nonce, cancel.signature, account,
                yes, timeout, password_file, as_json)
        return
    signed = load_signed_payment(document, check_signer=not _is_contract(gateway, document, "payer"))
    t = signed.terms
    if (t.token.lower() != gateway.token.lower()
            or t.service_payments.lower() != gateway.payments.lower()):
        raise UsageError("The payment was signed for other contracts than the manifest's "
                         f"(token {t.token}, ServicePayments {t.service_payments}): refused.")
    if t.valid_before <= gateway.chain_time():  # the token checks it against block time
        from ledger.domain.clock import paris_time

        raise WalletError(f"The signed payment expired at {paris_time(t.valid_before)}: ask the "
                          "payer to sign again.")
    if gateway.authorization_used(t.payer, t.nonce):
        raise WalletError("This signed payment was already paid or cancelled by its payer: it can "
                          "never move money again. Nothing was sent.")
    merchant = find_merchant(gateway.merchants(), str(t.merchant_id))
    if merchant.payout.lower() != t.payout.lower():
        raise WalletError(
            f"The payment was signed for the payout address {t.payout}, but {merchant.name} is now "
            f"paid at {merchant.payout}: ask the payer to sign again. Nothing was sent.")
    submitter, _ = pick_account(ctx, account)
    ref = bytes32_to_ref(t.ref)
    confirm([f"Submit {t.payer}'s payment of {money(t.amount)} to {merchant.name} (merchant "
             f"#{merchant.id}, payout {merchant.payout}), ref {ref}",
             f"Submitted by {submitter}; chain {file_chain}"], yes, "Submit?")
    _signer_flow(ctx, settings, gateway, submitter, password_file)
    receipt = wait(gateway, gateway.pay_with_authorization(signed.pay_with_authorization_args()),
                   timeout, "the payment")
    data = {"kind": kind, "payer": t.payer, "merchant": merchant.as_json(), "amount": str(t.amount),
            "amount_display": money(t.amount), "ref": ref, "chain_id": file_chain,
            "nonce": "0x" + t.nonce.hex(), **receipt_json(receipt)}
    emit(as_json, data, f"Paid {money(t.amount)} from {t.payer} to {merchant.name}, ref {ref}. "
         f"Receipt: {data['tx_hash']} (block {data['block']})")


def _is_contract(gateway: ChainGateway, document: dict[str, Any], field: str) -> bool:
    address = str(document.get(field, ""))
    return bool(address.startswith("0x") and len(address) == 42 and gateway.is_contract(address))


def _cancel(ctx: typer.Context, settings: Settings, gateway: ChainGateway, authorizer: str, nonce: bytes,
            signature: bytes, account: str | None, yes: bool, timeout: float,
            password_file: Path | None, as_json: bool) -> None:
    if gateway.authorization_used(authorizer, nonce):
        raise WalletError("This authorization was already used or cancelled: there is nothing to "
                          "cancel, it can never move money again.")
    submitter, _ = pick_account(ctx, account)
    confirm([f"Cancel the unused authorization 0x{nonce.hex()} of {authorizer}",
             f"Submitted by {submitter}"], yes, "Cancel it?")
    _signer_flow(ctx, settings, gateway, submitter, password_file)
    receipt = wait(gateway, gateway.cancel_authorization(authorizer, nonce, signature), timeout,
                   "the cancellation")
    data = {"kind": "m3e-signed-cancel", "authorizer": authorizer, "nonce": "0x" + nonce.hex(),
            **receipt_json(receipt)}
    emit(as_json, data, f"Cancelled: the authorization 0x{nonce.hex()} of {authorizer} can never be "
         f"used. Receipt: {data['tx_hash']} (block {data['block']})")


def cancel(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The signed payment file to withdraw.", dir_okay=False)],
    account: Annotated[str, typer.Option(
        "--account", "-a", help="The payer's account: it signs the cancellation.")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the signed cancellation to this file (0600) for `wallet broadcast` "
        "instead of sending it now (offline).", dir_okay=False)] = None,
    yes: YesOpt = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel a payment you signed and that was not used yet: it can then never be submitted."""
    from wallet_cli.home import atomic_write, read_document
    from wallet_cli.keys import decrypt_keystore
    from wallet_cli.prompting import read_password
    from wallet_cli.signing import load_signed_payment, sign_cancel

    document = read_document(file, "a signed payment file")
    payment = load_signed_payment(document).terms
    store = open_keystore(ctx)
    if store.address_of(account).lower() != payment.payer.lower():
        raise UsageError(f"Only the payer {payment.payer} can cancel this payment; '{account}' is "
                         f"{store.address_of(account)}.")
    if out is not None and out.exists():
        raise UsageError(f"{out} exists already: choose another file.")
    password = read_password(password_file, prompt=f"Password of '{account}'")
    signed = sign_cancel(decrypt_keystore(store.load(account), password).private_key, payment)
    if out is not None:
        atomic_write(out, (json.dumps(signed.to_json(), indent=2) + "\n").encode(), overwrite=False)
        emit(as_json, {"file": str(out), **signed.to_json()},
             f"Signed the cancellation of 0x{signed.nonce.hex()}: {out} (submit it with `wallet broadcast`)")
        return
    settings = load(ctx)
    gateway = context.make_gateway(settings)
    _refuse_other_chain(payment.chain_id, settings, gateway)
    if payment.token.lower() != gateway.token.lower():
        raise UsageError(f"The payment was signed for another token than the manifest's ({payment.token}).")
    _cancel(ctx, settings, gateway, payment.payer, signed.nonce, signed.signature, account, yes, timeout,
            password_file, as_json)


def _refuse_other_chain(file_chain: int, settings: Settings, gateway: ChainGateway) -> None:
    node = gateway.node_chain_id()
    if file_chain != node or file_chain != settings.chain_id:
        raise UsageError(
            f"This file was signed for chain {file_chain}, but the node is chain {node} "
            f"(the wallet expects {settings.chain_id}): refused, nothing was sent.")


# ---------------------------------------------------------------- registration


def register(app: typer.Typer) -> None:
    for name, func in (("balance", balance), ("send", send), ("pay", pay), ("refund", refund),
                       ("book", book), ("close", close), ("reclaim", reclaim),
                       ("redeem", redeem), ("broadcast", broadcast), ("cancel", cancel)):
        settings = context.AMOUNT_ARGUMENTS if name in ("send", "pay", "refund", "book", "redeem") else None
        app.command(name, context_settings=settings)(guarded(func))
    sign = context.group(app, "sign", context.SIGN_HELP)
    sign.command("tx", context_settings=context.AMOUNT_ARGUMENTS)(guarded(sign_tx))
