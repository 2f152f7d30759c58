"""The treasury's rules: euros in the bank against M3E on chain, integers in micro-euro.

Pure: the standard library only. The adapters (camt.053/054 parsing, SQL, the chain, pain.001)
live in `ledger.treasury`; this module decides.

- A bank amount is text with at most six decimals ("12.34"), read exactly into micro-euro
  (1 EUR = 1_000_000, the same base unit as M3E); more decimals are refused, never rounded.
- A top-up reference is an ISO 11649 structured creditor reference ("RF" + two check digits +
  up to 21 characters) derived from the resident's address under the operator's secret key:
  `RF` check digits, then `M3E` and 18 base-36 characters of HMAC-SHA256(key, address). Keyed,
  so whoever sees the bank transfer (the payer's bank, an accountant) cannot try the district's
  addresses, all public on chain, until one gives the reference. 93 bits: two accounts sharing
  one is not a practical concern, and the ledger maps a reference to an account only through its
  own registry, so a reference that is not registered is held for review, never guessed (the
  unkeyed references registered before keep matching through that registry).
- Each booked credit is classified: a known reference in EUR mints, everything else is held with
  the reason (no reference, unknown reference, not EUR, a reversal, a return of a credit that is
  not ours to reopen, not booked).
- The reserve equation, to the cent, for a day D:

      bank closing balance(D) − credits received not yet minted − held credits
          = on-chain reserve(D) + redemptions not yet paid out

  i.e. every euro in the bank is either backing M3E, owed to a merchant who redeemed, waiting to
  be minted, or held for review. Each term that does not fit is a `Difference`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum

MICRO_PER_EUR = 1_000_000
MICRO_PER_CENT = 10_000
RF_BODY_PREFIX = "M3E"
RF_HASH_CHARS = 18
REFERENCE_KEY_BYTES = 32
PAYOUT_E2E_PREFIX = "M3E-R"
RETURN_E2E_PREFIX = "M3E-RET-"
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_RF_RE = re.compile(r"^RF[0-9]{2}[0-9A-Z]{1,21}$")


class TreasuryRuleError(ValueError):
    """Input that breaks a treasury rule; the message says what to do."""


# --- amounts -------------------------------------------------------------------------------------
def parse_eur_micro(text: str) -> int:
    """ "12.34" -> 12_340_000 micro-euro, exactly; refuses signs, exponents and > 6 decimals."""
    cleaned = text.strip()
    if re.fullmatch(r"[0-9]{13,}(\.[0-9]{1,6})?", cleaned):
        raise TreasuryRuleError(
            f"the amount {text!r} is too large: at most 999999999999.99 EUR per entry is accepted"
        )
    if not re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,6})?", cleaned):
        raise TreasuryRuleError(
            f"the amount {text!r} is not a euro amount with at most six decimals (write 12.34)"
        )
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:  # pragma: no cover - the regex already holds
        raise TreasuryRuleError(f"the amount {text!r} is not a number") from exc
    micro = value * MICRO_PER_EUR
    if micro != micro.to_integral_value():  # pragma: no cover - six decimals at most
        raise TreasuryRuleError(f"the amount {text!r} has more than six decimals")
    return int(micro)


def format_eur(micro: int) -> str:
    """12_340_000 -> "12.34" (two decimals, more only when not a whole cent; never rounded)."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO_PER_EUR)
    digits = f"{frac:06d}".rstrip("0").ljust(2, "0")
    return f"{sign}{whole}.{digits}"


def cents_exact(micro: int) -> bool:
    return micro % MICRO_PER_CENT == 0


# --- ISO 11649 creditor references ---------------------------------------------------------------
def _mod97(text: str) -> int:
    digits = "".join(str(_ALNUM.index(c)) for c in text)
    return int(digits) % 97


def rf_with_check(body: str) -> str:
    """The ISO 11649 reference for `body` (1 to 21 characters, 0-9 A-Z): RF + check digits + body."""
    body = body.upper()
    if not re.fullmatch(r"[0-9A-Z]{1,21}", body):
        raise TreasuryRuleError(f"a creditor reference body is 1 to 21 letters or digits, got {body!r}")
    check = 98 - _mod97(body + "RF00")
    return f"RF{check:02d}{body}"


def normalise_rf(text: str) -> str | None:
    """The reference without spaces in upper case when it is a valid ISO 11649 one, else None."""
    compact = re.sub(r"\s+", "", text).upper()
    if not _RF_RE.match(compact):
        return None
    if _mod97(compact[4:] + compact[:4]) != 1:
        return None
    return compact


def check_address(address: str) -> str:
    """`address` in lower case when it is 0x + 40 hex digits (any case)."""
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", address):
        raise TreasuryRuleError(f"{address!r} is not an account address (0x and 40 hex digits)")
    return address.lower()


def topup_reference(address: str, key: bytes) -> str:
    """The RF reference identifying `address` (0x + 40 hex digits, any case) in a top-up, under
    the operator's secret `key` (at least REFERENCE_KEY_BYTES bytes)."""
    if len(key) < REFERENCE_KEY_BYTES:
        raise TreasuryRuleError(f"the top-up reference key must be at least {REFERENCE_KEY_BYTES} bytes")
    mac = hmac.new(key, check_address(address).encode("ascii"), hashlib.sha256).digest()
    digest = int.from_bytes(mac, "big")
    chars = []
    for _ in range(RF_HASH_CHARS):
        digest, rest = divmod(digest, 36)
        chars.append(_ALNUM[rest])
    return rf_with_check(RF_BODY_PREFIX + "".join(chars))


def group_rf(reference: str) -> str:
    """RF18M3E... printed in groups of four, as banks show it."""
    return " ".join(reference[i : i + 4] for i in range(0, len(reference), 4))


def payout_e2e(redemption_id: int) -> str:
    """The EndToEndId of the transfer paying redemption `redemption_id`."""
    return f"{PAYOUT_E2E_PREFIX}{redemption_id}"


def redemption_of_e2e(e2e: str | None) -> int | None:
    if not e2e or not e2e.startswith(PAYOUT_E2E_PREFIX):
        return None
    tail = e2e[len(PAYOUT_E2E_PREFIX) :]
    return int(tail) if tail.isdigit() else None


def return_e2e(entry_id: int) -> str:
    """The EndToEndId of the transfer sending a held credit back to its payer."""
    return f"{RETURN_E2E_PREFIX}{entry_id}"


def entry_of_return_e2e(e2e: str | None) -> int | None:
    if not e2e or not e2e.startswith(RETURN_E2E_PREFIX):
        return None
    tail = e2e[len(RETURN_E2E_PREFIX) :]
    return int(tail) if tail.isdigit() else None


# --- entries and their classification ------------------------------------------------------------
class HeldReason(StrEnum):
    NO_REFERENCE = "no-reference"
    UNKNOWN_REFERENCE = "unknown-reference"
    NOT_EUR = "not-eur"
    REVERSAL = "reversal"
    RETURN = "return"
    NOT_BOOKED = "not-booked"
    ALLOWANCE = "allowance"
    REFUSED = "refused"
    POSSIBLE_DUPLICATE = "possible-duplicate"
    ZERO_AMOUNT = "zero-amount"
    NOT_WHOLE_CENT = "not-whole-cent"


HELD_SENTENCES = {
    HeldReason.NO_REFERENCE: "the credit carries no RF creditor reference: find the payer, then "
    "`ledger treasury assign ID ACCOUNT` or `ledger treasury return ID`",
    HeldReason.UNKNOWN_REFERENCE: "the RF reference is not registered to any account: check it, then "
    "assign or return the credit",
    HeldReason.NOT_EUR: "the credit is not in euros: M3E is minted only against euros; return it",
    HeldReason.REVERSAL: "the bank reversed an earlier entry: check which one before doing anything",
    HeldReason.RETURN: "a returned transfer that matches no payout of ours: check it with the bank",
    HeldReason.NOT_BOOKED: "the entry is not booked yet (pending or informational): wait for the "
    "booked statement",
    HeldReason.ALLOWANCE: "the treasurer key's minting allowance is exhausted: raise the allowance, "
    "then `ledger treasury assign ID ACCOUNT` to mint",
    HeldReason.NOT_WHOLE_CENT: "the amount is not a whole cent: check the statement with the bank",
    HeldReason.REFUSED: "the token contract refused to mint it (see the note): fix the cause, then "
    "`ledger treasury assign ID ACCOUNT`, or return it",
    HeldReason.POSSIBLE_DUPLICATE: "the bank gave no unique reference and another statement holds the "
    "same credit: if it is really a second transfer, `ledger treasury assign ID ACCOUNT`",
    HeldReason.ZERO_AMOUNT: "a credit of zero: nothing to mint; check it with the bank",
}


@dataclass(frozen=True)
class BankEntry:
    """One booked movement of the operator's account (a camt.053/054 transaction)."""

    key: str  # the bank's unique reference: AcctSvcrRef, else entry ref + statement id
    statement_id: str
    booking_date: date
    amount: int  # micro-euro (or micro-units of `currency`), always positive
    currency: str
    credit: bool
    reversal: bool = False
    booked: bool = True
    is_return: bool = False
    return_reason: str | None = None
    rf_reference: str | None = None
    end_to_end_id: str | None = None
    remittance: str = ""
    counterparty_name: str = ""
    counterparty_iban: str = ""
    bank_keyed: bool = True  # the key is the bank's own reference (AcctSvcrRef), not derived


class Kind(StrEnum):
    MINT = "mint"  # a credit to mint to `account`
    HELD = "held"  # held for review, with a reason
    PAYOUT_PAID = "payout-paid"  # our payout debited: the redemption is paid
    PAYOUT_RETURNED = "payout-returned"  # our payout came back: the redemption reopens
    RETURN_SENT = "return-sent"  # a held credit sent back to its payer, debited
    OTHER_DEBIT = "other-debit"  # a debit we did not order (bank fees...): a difference


@dataclass(frozen=True)
class Decision:
    kind: Kind
    account: str | None = None
    reason: HeldReason | None = None
    redemption_id: int | None = None
    returned_entry: int | None = None


def classify(entry: BankEntry, accounts_by_reference: Mapping[str, str]) -> Decision:
    """What a bank entry means for the ledger. Never guesses: unclear credits are held."""
    redemption = redemption_of_e2e(entry.end_to_end_id)
    if not entry.booked:
        return Decision(Kind.HELD, reason=HeldReason.NOT_BOOKED)
    if entry.reversal:
        return Decision(Kind.HELD, reason=HeldReason.REVERSAL)
    if not entry.credit:
        if redemption is not None and entry.currency == "EUR":
            return Decision(Kind.PAYOUT_PAID, redemption_id=redemption)
        returned = entry_of_return_e2e(entry.end_to_end_id)
        if returned is not None:
            return Decision(Kind.RETURN_SENT, returned_entry=returned)
        return Decision(Kind.OTHER_DEBIT)
    if entry.is_return:
        if redemption is not None and entry.currency == "EUR":
            return Decision(Kind.PAYOUT_RETURNED, redemption_id=redemption)
        return Decision(Kind.HELD, reason=HeldReason.RETURN)
    if entry.currency != "EUR":
        return Decision(Kind.HELD, reason=HeldReason.NOT_EUR)
    if entry.amount <= 0:
        return Decision(Kind.HELD, reason=HeldReason.ZERO_AMOUNT)
    if not cents_exact(entry.amount):
        return Decision(Kind.HELD, reason=HeldReason.NOT_WHOLE_CENT)
    if entry.rf_reference is None:
        return Decision(Kind.HELD, reason=HeldReason.NO_REFERENCE)
    account = accounts_by_reference.get(entry.rf_reference)
    if account is None:
        return Decision(Kind.HELD, reason=HeldReason.UNKNOWN_REFERENCE)
    return Decision(Kind.MINT, account=account)


def find_rf(texts: Iterable[str]) -> str | None:
    """The first valid ISO 11649 reference in structured or unstructured remittance texts."""
    for text in texts:
        direct = normalise_rf(text)
        if direct:
            return direct
        for match in re.finditer(r"RF\s?[0-9]{2}(?:\s?[0-9A-Z]){1,21}", text.upper()):
            found = normalise_rf(match.group(0))
            if found:
                return found
    return None


# --- the bank reference on chain -----------------------------------------------------------------
def bank_ref_bytes(key: str) -> bytes:
    """The bytes32 `bankRef` a bank entry mints under: the key itself when it fits (readable on
    chain), else SHA-256 of it. One key, one bankRef: the contract mints it once, ever."""
    raw = key.encode("utf-8")
    if 0 < len(raw) <= 32 and raw.isascii() and b"\0" not in raw:
        return raw.ljust(32, b"\0")
    return hashlib.sha256(b"M3E bank entry\x00" + raw).digest()


def bank_ref_encodings(key: str) -> tuple[bytes, ...]:
    """Every bytes32 the bank reference `key` may already have minted under: `bank_ref_bytes`,
    then the raw UTF-8 text zero padded (how the API and `ledger deposit` minted before one
    encoding was shared; it differs for a reference with an accent). Check them all before a mint."""
    current = bank_ref_bytes(key)
    raw = key.encode("utf-8")
    old = raw.ljust(32, b"\0") if 0 < len(raw) <= 32 else current
    return (current,) if old == current else (current, old)


# --- reconciliation ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Difference:
    kind: str
    amount: int  # micro-euro; 0 when the difference is not an amount (a missing day)
    detail: str


@dataclass(frozen=True)
class StatementSpan:
    statement_id: str
    first_day: date
    last_day: date
    opening: int | None
    closing: int | None


@dataclass(frozen=True)
class ReserveCheck:
    day: date
    bank_closing: int | None
    reserve: int
    unpaid_redemptions: int
    pending_mints: int
    held_credits: int
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    @property
    def gap(self) -> int | None:
        """bank − pending − held − (reserve + unpaid): 0 when the reserve reconciles."""
        if self.bank_closing is None:
            return None
        return (
            self.bank_closing
            - self.pending_mints
            - self.held_credits
            - (self.reserve + self.unpaid_redemptions)
        )


def missing_days(spans: Iterable[StatementSpan], day: date) -> list[date]:
    """Days from the first statement up to `day` that no statement covers."""
    covered: set[date] = set()
    first: date | None = None
    for span in spans:
        first = span.first_day if first is None else min(first, span.first_day)
        d = span.first_day
        while d <= span.last_day:
            covered.add(d)
            d += timedelta(days=1)
    if first is None:
        return [day]
    out = []
    d = first
    while d <= day:
        if d not in covered:
            out.append(d)
        d += timedelta(days=1)
    return out


def balance_chain_breaks(spans: Iterable[StatementSpan]) -> list[Difference]:
    """Each statement's opening balance must be the closing balance of the one before it."""
    ordered = sorted(
        (s for s in spans if s.opening is not None and s.closing is not None),
        key=lambda s: (s.first_day, s.last_day, s.statement_id),
    )
    out = []
    for before, after in itertools.pairwise(ordered):
        if after.first_day <= before.last_day:
            continue  # overlapping statements (an intraday and an end-of-day one): not a chain
        assert before.closing is not None and after.opening is not None
        if after.opening != before.closing:
            out.append(
                Difference(
                    "balance-chain",
                    after.opening - before.closing,
                    f"statement {after.statement_id} opens at {format_eur(after.opening)} EUR but "
                    f"{before.statement_id} closed at {format_eur(before.closing)} EUR",
                )
            )
    return out


def check_reserve(
    *,
    day: date,
    spans: list[StatementSpan],
    reserve: int,
    unpaid_redemptions: int,
    pending_mints: int,
    held_credits: int,
    unmatched_debits: Iterable[tuple[str, int]] = (),
) -> ReserveCheck:
    """The reserve equation for `day`, with every difference named."""
    differences: list[Difference] = []
    for missing in missing_days(spans, day):
        differences.append(
            Difference("missing-statement", 0, f"no statement covers {missing.isoformat()}: import it")
        )
    differences += balance_chain_breaks(spans)
    closing_spans = [s for s in spans if s.last_day == day and s.closing is not None]
    bank_closing = max(closing_spans, key=lambda s: s.first_day).closing if closing_spans else None
    for key, amount in unmatched_debits:
        differences.append(
            Difference(
                "unmatched-debit",
                -amount,
                f"debit {key} of {format_eur(amount)} EUR matches no payout or return we ordered",
            )
        )
    check = ReserveCheck(day, bank_closing, reserve, unpaid_redemptions, pending_mints, held_credits)
    gap = check.gap
    if gap is not None and gap != 0:
        differences.append(
            Difference(
                "reserve-gap",
                gap,
                f"the bank holds {format_eur(gap)} EUR "
                f"{'more' if gap > 0 else 'less'} than reserve + unpaid redemptions + pending + held",
            )
        )
    return ReserveCheck(
        day, bank_closing, reserve, unpaid_redemptions, pending_mints, held_credits, differences
    )
