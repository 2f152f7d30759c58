"""Membership over time, and the members' consent records.

A participant's membership is a period [start, end) of local days with its role, static share
or priority level. Joining again (a new share, a new level) closes the open period the day the
new one starts; leaving closes it. Periods are never deleted: the history is what Enedis was
told, and a day is always settled with the registry as it was that day
(`participants_on(operation, day)`, read by ledger.energy.settlement_source). An operation with
no recorded period keeps its plain participant list (`ledger participant add`), valid every day.

Consent: the member signs (EIP-191 personal message, the key of its wallet) a sentence naming
the operation, the kind of consent (`agreement`: the operation agreement; `data-access`: the
mandate letting the PMO receive its load curve from Enedis) and the sha256 of the document.
The ledger keeps the document hash, the sentence and the signature, after checking that the
signature recovers the member's address.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Protocol

from ledger.energy.errors import RegistryError, UnknownEntityError
from ledger.energy.registry import Participant, Role, check_wallet, parse_share

CONSENT_KINDS = ("agreement", "data-access")


@dataclass(frozen=True, slots=True)
class Membership:
    operation_id: str
    wallet: str
    role: Role
    share: Fraction | None
    priority: int | None
    start: date
    end: date | None  # exclusive; None: still a member

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)

    def participant(self) -> Participant:
        return Participant(self.operation_id, self.wallet, self.role, self.share, self.priority)


@dataclass(frozen=True, slots=True)
class Consent:
    operation_id: str
    wallet: str
    kind: str
    document_sha256: str
    message: str
    signature: str


class MembershipStore(Protocol):
    def memberships(self, operation_id: str) -> list[Membership]: ...
    def save_membership(self, membership: Membership, close_open_at: date | None) -> None:
        """Close the wallet's open period at `close_open_at` (if given), then add `membership`."""
        ...
    def close_membership(self, operation_id: str, wallet: str, end: date) -> None: ...
    def add_consent(self, consent: Consent) -> None: ...
    def consents(self, operation_id: str) -> list[Consent]: ...


def participants_on(periods: Sequence[Membership], day: date) -> list[Participant]:
    return sorted((m.participant() for m in periods if m.covers(day)), key=lambda p: p.wallet)


def join(
    store: MembershipStore,
    operation_id: str,
    wallet: str,
    role: str,
    start: date,
    share: str | None = None,
    priority: int | None = None,
) -> Membership:
    wallet = check_wallet(wallet)
    if role not in Role.__members__.values():
        raise RegistryError(f"the role must be producer, consumer or both, not {role!r}")
    if priority is not None and not 1 <= priority <= 1000:
        raise RegistryError("a priority level is 1 (served first) to 1000")
    periods = [m for m in store.memberships(operation_id) if m.wallet.lower() == wallet.lower()]
    if any(m.start >= start for m in periods):
        raise RegistryError(
            f"{wallet} already has a period starting on or after {start}: history is never "
            "rewritten; start the new period after it"
        )
    open_period = next((m for m in periods if m.end is None), None)
    membership = Membership(operation_id, wallet, Role(role),
                            None if share is None else parse_share(share), priority, start, None)
    store.save_membership(membership, start if open_period is not None else None)
    return membership


def leave(store: MembershipStore, operation_id: str, wallet: str, end: date) -> None:
    wallet = check_wallet(wallet)
    open_period = next((m for m in store.memberships(operation_id)
                        if m.wallet.lower() == wallet.lower() and m.end is None), None)
    if open_period is None:
        raise UnknownEntityError(f"{wallet} has no open membership in {operation_id}")
    if end <= open_period.start:
        raise RegistryError(f"the membership started on {open_period.start}: leave after that day")
    store.close_membership(operation_id, wallet, end)


def consent_message(operation_id: str, wallet: str, kind: str, document_sha256: str) -> str:
    return (f"District ledger of Lyon 3e. I, {wallet}, give my consent ({kind}) for the "
            f"collective self-consumption operation {operation_id}: document sha256 "
            f"{document_sha256}.")


def record_consent(
    store: MembershipStore,
    operation_id: str,
    wallet: str,
    kind: str,
    document: bytes,
    signature: str,
) -> Consent:
    from eth_account import Account
    from eth_account.messages import encode_defunct

    wallet = check_wallet(wallet)
    if kind not in CONSENT_KINDS:
        raise RegistryError(f"the consent is one of {', '.join(CONSENT_KINDS)}, not {kind!r}")
    sha = hashlib.sha256(document).hexdigest()
    message = consent_message(operation_id, wallet, kind, sha)
    try:
        signer = Account.recover_message(encode_defunct(text=message), signature=signature)
    except (ValueError, TypeError):
        raise RegistryError("the signature is not a 65-byte hex signature (0x...)") from None
    if signer.lower() != wallet.lower():
        raise RegistryError(
            "the signature is not by this wallet over this sentence: sign exactly the text "
            "`ledger participant consent-text` prints"
        )
    consent = Consent(operation_id, wallet, kind, sha, message, signature)
    store.add_consent(consent)
    return consent
