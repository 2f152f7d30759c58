"""District operations over the deployed contracts: deposits, merchants, payments, bookings.

One object per signer. Amounts are integers in micro-M3E (1 M3E = 1_000_000). A payment,
refund or booking reference is a bytes32 on chain, and never the reference in clear: give the
32-byte commitment of ledger.chain.reference (what residents' payments carry: the clear
reference stays with payer and merchant), or a text reference, which these methods commit under
a fresh random salt (the pair is kept in `District.committed`, by commitment, for the caller to
hand to payer and merchant). Only the operator's bank and payout references (record_deposit,
redeem) go on chain as short text, as the bank needs them.

Merchant names: the registrar's check (register_merchant) refuses a name that resembles one in
the registry, holds invisible or control characters, or reads as a merchant number; check and
send are serialised by a lock in this process (two processes are not serialised by it).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.logs import DISCARD

from ledger.chain.client import ChainClient, SentTx
from ledger.chain.deploy import decoder_for_manifest
from ledger.chain.manifest import Manifest
from ledger.chain.reference import ReferenceError, new_salt, reference_commitment
from ledger.chain.typed_data import (
    authorization_typed_data,
    cancel_authorization_typed_data,
    payment_authorization_nonce,
    random_nonce,
)
from ledger.errors import InputError

MAX_UINT256 = 2**256 - 1

# Serialises the registrar's check-and-send (register_merchant) across the threads of one
# process, e.g. the API's operator requests; another process does not share it.
_REGISTRAR_LOCK = threading.Lock()


class Category(IntEnum):
    """Same order as IServicePayments.Category."""

    CO_WORKING = 0
    CAR_SHARING = 1
    PARKING = 2
    CONCIERGE = 3
    FOOD = 4
    RETAIL = 5
    OTHER = 6

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


def ref32(text: str) -> bytes:
    """A payment or bank reference as bytes32: up to 32 bytes of UTF-8, zero padded."""
    raw = text.encode("utf-8")
    if not raw or len(raw) > 32:
        raise InputError(f"a reference must be 1 to 32 bytes of text, got {len(raw)}: {text!r}")
    return raw.ljust(32, b"\0")


def deposit_reference(bank_ref: str) -> bytes:
    """The bytes32 a bank reference mints under: the statement import's encoding
    (`bank_ref_bytes`), so one bank transfer has one bankRef whichever path records it.

    Surrounding blanks and control characters are refused rather than stripped: a reference
    pasted with a trailing space would otherwise be a new bankRef and mint the same euros again."""
    from ledger.domain.treasury import bank_ref_bytes

    if not bank_ref.strip():
        raise InputError("the bank reference is empty: give the reference on the bank statement")
    if bank_ref != bank_ref.strip() or any(not c.isprintable() for c in bank_ref):
        raise InputError(
            f"the bank reference {bank_ref!r} has blanks around it or control characters: give it "
            "exactly as the bank statement prints it"
        )
    return bank_ref_bytes(bank_ref)


def ref_arg(ref: str | bytes) -> bytes:
    """The bytes32 a payment reference argument becomes: 32 bytes as they are (a commitment).

    Text is refused: a payment, refund or booking reference never goes on chain in clear
    (commit it first: `commit_ref`)."""
    if isinstance(ref, bytes | bytearray):
        if len(ref) != 32:
            raise InputError(f"a reference given as bytes must be 32 bytes, got {len(ref)}")
        return bytes(ref)
    raise InputError(
        "a payment reference in clear text never goes on chain: give its 32-byte commitment "
        "(ledger.chain.reference.reference_commitment), or let District commit it."
    )


def commit_ref(ref: str | bytes) -> tuple[bytes, tuple[str, bytes] | None]:
    """The bytes32 for a payment reference and, for text, the (reference, salt) it commits:
    32 bytes pass as they are; text is committed under a fresh random salt."""
    if isinstance(ref, bytes | bytearray):
        return ref_arg(ref), None
    salt = new_salt()
    try:
        return reference_commitment(ref, salt), (ref, salt)
    except ReferenceError as exc:
        raise InputError(str(exc)) from None


def ref_text(value: bytes) -> str:
    raw = bytes(value).rstrip(b"\0")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + bytes(value).hex()


@dataclass(frozen=True)
class SignedPayment:
    """A payment signed offline: one ERC-3009 authorization bound to a merchant, its payout
    address and a reference, for a merchant's terminal to submit (`payWithAuthorization`)."""

    chain_id: int
    token: str
    payments: str
    payer: str
    merchant_id: int
    payout: str
    amount: int
    ref: bytes
    valid_after: int
    valid_before: int
    payer_nonce: bytes
    signature: bytes

    @property
    def authorization_nonce(self) -> bytes:
        """The ERC-3009 nonce the token marks used (the one `cancelAuthorization` takes)."""
        return payment_authorization_nonce(self.merchant_id, self.payout, self.ref, self.payer_nonce)


def sign_payment_offline(
    account: LocalAccount,
    *,
    chain_id: int,
    token: str,
    token_name: str,
    payments: str,
    merchant_id: int,
    payout: str,
    amount: int,
    ref: bytes,
    valid_before: int,
    valid_after: int = 0,
    payer_nonce: bytes | None = None,
) -> SignedPayment:
    """Sign the payment without touching the network, with a fresh random payer nonce.

    `ref` is the 32-byte commitment (text is refused: commit it first, see `commit_ref`)."""
    ref = ref_arg(ref)
    payer_nonce = payer_nonce if payer_nonce is not None else random_nonce()
    nonce = payment_authorization_nonce(merchant_id, payout, ref, payer_nonce)
    signed = Account.sign_typed_data(
        account.key,
        full_message=authorization_typed_data(
            primary_type="ReceiveWithAuthorization", chain_id=chain_id, token=token,
            token_name=token_name, sender=account.address, to=payments,
            value=amount, valid_after=valid_after, valid_before=valid_before, nonce=nonce,
        ),
    )
    return SignedPayment(
        chain_id=chain_id, token=token, payments=payments, payer=account.address,
        merchant_id=merchant_id, payout=Web3.to_checksum_address(payout), amount=amount, ref=ref,
        valid_after=valid_after, valid_before=valid_before, payer_nonce=payer_nonce,
        signature=bytes(signed.signature),
    )


def sign_cancel_offline(
    account: LocalAccount, *, chain_id: int, token: str, token_name: str, nonce: bytes
) -> bytes:
    """The payer's ERC-3009 CancelAuthorization of `nonce` (65 bytes)."""
    signed = Account.sign_typed_data(
        account.key,
        full_message=cancel_authorization_typed_data(
            chain_id=chain_id, token=token, token_name=token_name, authorizer=account.address, nonce=nonce
        ),
    )
    return bytes(signed.signature)


class District:
    """The district contracts seen from one signer."""

    def __init__(self, w3: Web3, account: LocalAccount, manifest: Manifest) -> None:
        self.manifest = manifest
        self.client = ChainClient(w3, account, decoder_for_manifest(manifest))
        token = manifest.contract("DistrictToken")
        payments = manifest.contract("ServicePayments")
        self.token = self.client.contract(token.address, token.abi)
        self.payments = self.client.contract(payments.address, payments.abi)
        self.committed: dict[bytes, tuple[str, bytes]] = {}

    def _commit(self, ref: str | bytes) -> bytes:
        """The bytes32 for `ref`, remembering (reference, salt) when text was committed."""
        value, pair = commit_ref(ref)
        if pair is not None:
            self.committed[value] = pair
        return value

    @property
    def address(self) -> str:
        return self.client.address

    def as_(self, account: LocalAccount) -> District:
        return District(self.client.w3, account, self.manifest)

    # --- reads -------------------------------------------------------------------------------
    def balance_of(self, owner: str, block: int | str = "latest") -> int:
        return int(self.client.call(self.token.functions.balanceOf(Web3.to_checksum_address(owner)), block))

    def total_supply(self, block: int | str = "latest") -> int:
        return int(self.client.call(self.token.functions.totalSupply(), block))

    def reserve(self, block: int | str = "latest") -> int:
        return int(self.client.call(self.token.functions.reserve(), block))

    def merchant_count(self) -> int:
        return int(self.client.call(self.payments.functions.merchantCount()))

    def merchants(self) -> list[dict[str, Any]]:
        out = []
        for merchant_id in range(1, self.merchant_count() + 1):
            payout, category, active = self.client.call(self.payments.functions.merchant(merchant_id))
            name = self.client.call_text(self.payments.functions.merchantName(merchant_id))
            out.append(
                {
                    "id": merchant_id,
                    "name": name,
                    "category": Category(category).label,
                    "payout": payout,
                    "active": active,
                }
            )
        return out

    def net_paid(self, merchant_id: int, payer: str) -> int:
        return int(
            self.client.call(self.payments.functions.netPaid(merchant_id, Web3.to_checksum_address(payer)))
        )

    def booking(self, booking_id: int) -> dict[str, Any]:
        payer, expires_at, is_open, merchant_id, deposit = self.client.call(
            self.payments.functions.booking(booking_id)
        )
        return {
            "payer": payer,
            "expires_at": expires_at,
            "open": is_open,
            "merchant_id": merchant_id,
            "deposit": deposit,
        }

    # --- operator ----------------------------------------------------------------------------
    def record_deposit(self, bank_ref: str, beneficiary: str, amount: int) -> SentTx:
        """Mint under `deposit_reference(bank_ref)`, refused before sending when the reference
        minted under any encoding it ever had (the API, `ledger deposit` and the statement import
        all come here or check the same encodings, so one bank transfer mints once)."""
        reference = deposit_reference(bank_ref)
        if self.deposit_recorded(bank_ref):
            raise InputError(
                f"the bank reference {bank_ref!r} was already recorded (a reference mints once, ever): "
                "check the bank statement; nothing was sent"
            )
        return self.client.transact(
            self.token.functions.recordDeposit(reference, Web3.to_checksum_address(beneficiary), amount)
        )

    def deposit_recorded(self, bank_ref: str) -> bool:
        """Whether `bank_ref` already minted, under today's encoding or the old raw one."""
        from ledger.domain.treasury import bank_ref_encodings

        return any(
            self.client.call(self.token.functions.depositRecorded(r)) for r in bank_ref_encodings(bank_ref)
        )

    def register_merchant(self, name: str, category: Category, payout: str) -> tuple[int, SentTx]:
        """Register a merchant; refused (InputError, nothing sent) when the name is, or looks
        like, a merchant's already in the registry (ledger.names: case, accents, look-alikes).

        The contract cannot fold Unicode: this is the registrar's check, made by every Python
        path that registers (the API's operator route, the demo); the wallet still lists every
        merchant under a name it cannot tell apart, with #id and payout.
        """
        with _REGISTRAR_LOCK:
            self._refuse_lookalike_merchant(name)
            sent = self.client.transact(
                self.payments.functions.registerMerchant(
                    name, int(category), Web3.to_checksum_address(payout)
                )
            )
        logs = self.payments.events.MerchantRegistered().process_receipt(sent.receipt, errors=DISCARD)
        return int(logs[0]["args"]["merchantId"]), sent

    def _refuse_lookalike_merchant(self, name: str) -> None:
        from ledger.names import (
            char_names,
            fold,
            printable,
            reads_as_number,
            resembling,
            unsafe_characters,
        )

        hidden = unsafe_characters(name)
        if hidden:
            raise InputError(
                f"'{printable(name)}' cannot be a merchant name: it holds characters nobody can "
                f"see or that change how a name is shown ({char_names(hidden)}): nothing was "
                "registered. Type the name again with visible letters, digits and plain spaces."
            )
        if not fold(name):
            raise InputError("A merchant needs a name with letters or digits in it.")
        if reads_as_number(name):
            raise InputError(
                f"'{name}' cannot be a merchant name: residents would read it as a merchant "
                "number (#id): nothing was registered. Choose a name with letters."
            )
        same = resembling(name, self.merchants(), lambda m: str(m["name"]))
        if same:
            first = same[0]
            how = "is the name of" if fold(name) == fold(str(first["name"])) else "looks like"
            others = f" (and {len(same) - 1} more)" if len(same) > 1 else ""
            raise InputError(
                f"'{name}' {how} merchant #{first['id']} '{first['name']}' (payout "
                f"{first['payout']}){others}: nothing was registered. Choose a name residents "
                "cannot mistake for it (case, accents and look-alike letters do not count)."
            )

    def set_merchant_active(self, merchant_id: int, active: bool) -> SentTx:
        return self.client.transact(self.payments.functions.setMerchantActive(merchant_id, active))

    # --- residents and merchants -------------------------------------------------------------
    def transfer(self, to: str, amount: int) -> SentTx:
        return self.client.transact(self.token.functions.transfer(Web3.to_checksum_address(to), amount))

    def approve_payments(self, amount: int = MAX_UINT256) -> SentTx:
        return self.client.transact(self.token.functions.approve(self.payments.address, amount))

    def ensure_allowance(self, amount: int) -> None:
        allowance = int(self.client.call(self.token.functions.allowance(self.address, self.payments.address)))
        if allowance < amount:
            self.approve_payments()

    def pay(self, merchant_id: int, amount: int, ref: str | bytes) -> SentTx:
        self.ensure_allowance(amount)
        return self.client.transact(self.payments.functions.pay(merchant_id, amount, self._commit(ref)))

    def permit_nonce(self, owner: str) -> int:
        return int(self.client.call(self.token.functions.nonces(Web3.to_checksum_address(owner))))

    def token_name(self) -> str:
        return str(self.client.call(self.token.functions.name()))

    def payout_of(self, merchant_id: int) -> str:
        payout, _category, _active = self.client.call(self.payments.functions.merchant(merchant_id))
        return str(payout)

    def sign_payment(
        self, merchant_id: int, amount: int, ref: str | bytes, valid_seconds: int = 3600
    ) -> SignedPayment:
        """Sign a payment to the merchant's current payout address, valid for `valid_seconds`."""
        return sign_payment_offline(
            self.client.account,
            chain_id=self.client.chain_id,
            token=self.token.address,
            token_name=self.token_name(),
            payments=self.payments.address,
            merchant_id=merchant_id,
            payout=self.payout_of(merchant_id),
            amount=amount,
            ref=self._commit(ref),
            valid_before=int(time.time()) + valid_seconds,
        )

    def submit_signed_payment(self, signed: SignedPayment) -> SentTx:
        if signed.chain_id != self.client.chain_id:
            raise InputError(
                f"the payment was signed for chain {signed.chain_id}, this is {self.client.chain_id}"
            )
        return self.client.transact(
            self.payments.functions.payWithAuthorization(
                Web3.to_checksum_address(signed.payer),
                signed.merchant_id,
                signed.amount,
                signed.ref,
                signed.valid_after,
                signed.valid_before,
                signed.payer_nonce,
                signed.signature,
            )
        )

    def authorization_used(self, authorizer: str, nonce: bytes) -> bool:
        """Whether the ERC-3009 nonce was used or cancelled (it can never move money again)."""
        return bool(
            self.client.call(
                self.token.functions.authorizationState(Web3.to_checksum_address(authorizer), nonce)
            )
        )

    def cancel_authorization(self, nonce: bytes, signature: bytes | None = None, authorizer: str | None = None
                             ) -> SentTx:
        """Cancel an unused authorization: signed here by this account, or a signature given."""
        authorizer = authorizer or self.address
        if signature is None:
            signature = sign_cancel_offline(
                self.client.account, chain_id=self.client.chain_id, token=self.token.address,
                token_name=self.token_name(), nonce=nonce,
            )
        return self.client.transact(
            self.token.functions.cancelAuthorization(Web3.to_checksum_address(authorizer), nonce, signature)
        )

    def refund(self, merchant_id: int, payer: str, amount: int, ref: str | bytes) -> SentTx:
        self.ensure_allowance(amount)
        return self.client.transact(
            self.payments.functions.refund(
                merchant_id, Web3.to_checksum_address(payer), amount, self._commit(ref)
            )
        )

    def open_booking(
        self, merchant_id: int, deposit: int, expires_at: int, ref: str | bytes
    ) -> tuple[int, SentTx]:
        self.ensure_allowance(deposit)
        sent = self.client.transact(
            self.payments.functions.openBooking(merchant_id, deposit, expires_at, self._commit(ref))
        )
        logs = self.payments.events.BookingOpened().process_receipt(sent.receipt, errors=DISCARD)
        return int(logs[0]["args"]["bookingId"]), sent

    def close_booking(self, booking_id: int, charge: int) -> SentTx:
        return self.client.transact(self.payments.functions.closeBooking(booking_id, charge))

    def reclaim_booking(self, booking_id: int) -> SentTx:
        return self.client.transact(self.payments.functions.reclaimBooking(booking_id))

    def redeem(self, amount: int, payout_ref: str) -> tuple[int, SentTx]:
        sent = self.client.transact(self.token.functions.redeem(amount, ref32(payout_ref)))
        logs = self.token.events.Redeemed().process_receipt(sent.receipt, errors=DISCARD)
        return int(logs[0]["args"]["redemptionId"]), sent
