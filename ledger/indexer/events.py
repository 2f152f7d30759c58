"""Fast decoders of the district's events, keyed by topic0 = keccak(signature).

Hand-written for the hot events (Transfer, PaymentMade...): slicing hex strings is ~20x faster
than a generic ABI decoder. The dynamic `MerchantRegistered` goes through eth_abi. EnergySettlement
events (tariffs, day commitments, paid batches, shortfalls) and CommonsFund events are decoded in
branches of their own, reached only by logs of those contracts: the token's hot path is unchanged.
`check_abi(abi)` verifies that a deployed contract's ABI declares these events exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from ledger.db.records import (
    AuthorizationRow,
    Batch,
    BookingEndRow,
    BookingOpenRow,
    DepositRow,
    FreeBasicsRow,
    FreezeRow,
    FundEventRow,
    LogRow,
    MerchantEventRow,
    MinterConfigRow,
    PaymentRow,
    PayoutChangeRow,
    RedemptionRow,
    RefundRow,
    ReserveCarryRow,
    SettlementDayRow,
    SettlementPaymentRow,
    SettlementShortfallRow,
    TariffRow,
    TransferRow,
)
from ledger.domain.fund import utc_month
from ledger.indexer.errors import DecodeError
from ledger.names import chain_text

LOCAL_TZ = ZoneInfo("Europe/Paris")


def topic(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


TOKEN_EVENTS = {
    "Transfer": "Transfer(address,address,uint256)",
    "Approval": "Approval(address,address,uint256)",
    "DepositRecorded": "DepositRecorded(bytes32,address,uint256,uint256)",
    "Redeemed": "Redeemed(uint256,address,uint256,uint256,uint256,bytes32,uint256)",
    "RedemptionFeeChanged": "RedemptionFeeChanged(uint256,uint256)",
    "CommonsFundChanged": "CommonsFundChanged(address,address)",
    "MerchantDirectorySet": "MerchantDirectorySet(address)",
    "MinterConfigured": "MinterConfigured(address,uint256,uint256)",
    "AccountFrozen": "AccountFrozen(address,bytes32)",
    "AccountUnfrozen": "AccountUnfrozen(address,bytes32)",
    "AuthorizationUsed": "AuthorizationUsed(address,bytes32)",
    "AuthorizationCanceled": "AuthorizationCanceled(address,bytes32)",
    # The reserve a successor takes over: decoded (it moves the indexed reserve).
    "ReserveCarriedOver": "ReserveCarriedOver(address,uint256)",
    # Kept raw only (no decoded table yet): the minimum redemption, rescues, a retirement, and
    # carried balances (each also a mint Transfer, which the balances follow).
    "MinRedemptionChanged": "MinRedemptionChanged(uint256,uint256)",
    "TokensRescued": "TokensRescued(address,address,uint256)",
    "Retired": "Retired(address,uint256,uint256)",
    "BalanceCarriedOver": "BalanceCarriedOver(address,uint256)",
}
PAYMENTS_EVENTS = {
    "MerchantRegistered": "MerchantRegistered(uint256,address,uint8,string)",
    "MerchantPayoutChangeRequested": "MerchantPayoutChangeRequested(uint256,address,address,uint64)",
    "MerchantPayoutChangeCanceled": "MerchantPayoutChangeCanceled(uint256,address)",
    "MerchantPayoutChanged": "MerchantPayoutChanged(uint256,address,address)",
    "MerchantStatusChanged": "MerchantStatusChanged(uint256,bool)",
    "PaymentMade": "PaymentMade(uint256,address,bytes32,uint256)",
    "PaymentRefunded": "PaymentRefunded(uint256,address,bytes32,uint256)",
    "BookingOpened": "BookingOpened(uint256,uint256,address,uint256,uint64,bytes32)",
    "BookingClosed": "BookingClosed(uint256,uint256,uint256)",
    "BookingReclaimed": "BookingReclaimed(uint256,uint256)",
    "FreeTierSet": "FreeTierSet(uint256,uint128,uint32)",
    "FreeTierCovered": "FreeTierCovered(uint256,address,bytes32,uint256,uint32,uint256)",
    # Kept raw only (no decoded table yet).
    "TokensRescued": "TokensRescued(address,address,uint256)",
    "FreeBasicsFundSet": "FreeBasicsFundSet(address,uint256)",
}
SETTLEMENT_EVENTS = {
    "EnergySettlementTariffSet": "EnergySettlementTariffSet(uint256,uint256,uint32,uint32,uint32,uint32)",
    "EnergySettlementDayCommitted": "EnergySettlementDayCommitted(uint256,uint32,uint32,bytes32,"
    "(uint64,uint64,uint64,uint64,uint128,uint32))",
    "EnergySettlementBatchPaid": "EnergySettlementBatchPaid(uint256,uint32,uint32,uint32,uint32,"
    "uint256,uint256)",
    "EnergySettlementShortfall": "EnergySettlementShortfall(uint256,uint32,uint32,uint32,address,"
    "address,uint256)",
    # Kept raw only: a schedule's solidarity component, read from the contract when settling.
    "EnergySettlementTariffSolidaritySet": "EnergySettlementTariffSolidaritySet(uint256,uint256,uint32,"
    "uint32)",
    # Kept raw only: contract-wide bounds, not a fact of an operation.
    "EnergySettlementPriceBoundsChanged": "EnergySettlementPriceBoundsChanged(uint32,uint32,uint32,uint32)",
    # Kept raw only: how a version's member lines are cut in batches, which the contract checks itself.
    "EnergySettlementBatchesCommitted": "EnergySettlementBatchesCommitted(uint256,uint32,uint32,uint32,"
    "uint32)",
    # Kept raw only (no decoded table yet): credits, energy mandates, what members owe, voids.
    "EnergySettlementCredited": "EnergySettlementCredited(uint256,uint32,uint32,uint32,address,uint256,"
    "uint256,uint256)",
    "EnergySettlementMandateSet": "EnergySettlementMandateSet(uint256,address,uint48,uint48)",
    "EnergySettlementMandateRevoked": "EnergySettlementMandateRevoked(uint256,address)",
    "EnergySettlementOwedCollected": "EnergySettlementOwedCollected(uint256,address,uint256)",
    "EnergySettlementOwedCovered": "EnergySettlementOwedCovered(uint256,address,address,uint256)",
    "EnergySettlementDueReleased": "EnergySettlementDueReleased(uint256,address,uint256)",
    "EnergySettlementVoidProposed": "EnergySettlementVoidProposed(uint256,uint32,uint32,uint64)",
    "EnergySettlementVoidCancelled": "EnergySettlementVoidCancelled(uint256,uint32,uint32)",
    "EnergySettlementVoided": "EnergySettlementVoided(uint256,uint32,uint32,uint32)",
    # the commons fund's second key: kept as raw logs (the fund's report reads its own events)
    "EnergySettlementDayApprovalRequired": "EnergySettlementDayApprovalRequired(uint256,address)",
    "EnergySettlementDayApproved": "EnergySettlementDayApproved(uint256,address,uint32,uint32,uint256)",
}
FUND_EVENTS = {
    "ProgrammeOpened": "ProgrammeOpened(uint256,address,uint128,string)",
    "ProgrammeChanged": "ProgrammeChanged(uint256,address,uint128,bool)",
    "Inflow": "Inflow(bytes32,address,uint256)",
    "Disbursed": "Disbursed(uint256,uint32,address,uint256,bytes32)",
    # Kept raw only: who is eligible to the social price is not shown, even pseudonymously.
    "EligibilitySet": "EligibilitySet(address,uint64)",
    # Kept raw only: the allowance follows from the budgets and outflows already decoded.
    "SettlementAllowanceSet": "SettlementAllowanceSet(uint256,address,uint256)",
}
# Kept raw only (no decoded table): OpenZeppelin Pausable and AccessControl.
COMMON_EVENTS = {
    "Paused": "Paused(address)",
    "Unpaused": "Unpaused(address)",
    "RoleGranted": "RoleGranted(bytes32,address,address)",
    "RoleRevoked": "RoleRevoked(bytes32,address,address)",
}

T_TRANSFER = topic(TOKEN_EVENTS["Transfer"])
T_DEPOSIT = topic(TOKEN_EVENTS["DepositRecorded"])
T_REDEEMED = topic(TOKEN_EVENTS["Redeemed"])
T_MINTER_CONFIGURED = topic(TOKEN_EVENTS["MinterConfigured"])
T_ACCOUNT_FROZEN = topic(TOKEN_EVENTS["AccountFrozen"])
T_ACCOUNT_UNFROZEN = topic(TOKEN_EVENTS["AccountUnfrozen"])
T_AUTHORIZATION_USED = topic(TOKEN_EVENTS["AuthorizationUsed"])
T_AUTHORIZATION_CANCELED = topic(TOKEN_EVENTS["AuthorizationCanceled"])
_TOKEN_POWERS = frozenset({T_MINTER_CONFIGURED, T_ACCOUNT_FROZEN, T_ACCOUNT_UNFROZEN,
                           T_AUTHORIZATION_USED, T_AUTHORIZATION_CANCELED})
T_RESERVE_CARRIED = topic(TOKEN_EVENTS["ReserveCarriedOver"])
T_PAYOUT_REQUESTED = topic(PAYMENTS_EVENTS["MerchantPayoutChangeRequested"])
T_PAYOUT_CANCELED = topic(PAYMENTS_EVENTS["MerchantPayoutChangeCanceled"])
T_MERCHANT_REGISTERED = topic(PAYMENTS_EVENTS["MerchantRegistered"])
T_MERCHANT_PAYOUT = topic(PAYMENTS_EVENTS["MerchantPayoutChanged"])
T_MERCHANT_STATUS = topic(PAYMENTS_EVENTS["MerchantStatusChanged"])
T_PAYMENT = topic(PAYMENTS_EVENTS["PaymentMade"])
T_REFUND = topic(PAYMENTS_EVENTS["PaymentRefunded"])
T_BOOKING_OPENED = topic(PAYMENTS_EVENTS["BookingOpened"])
T_BOOKING_CLOSED = topic(PAYMENTS_EVENTS["BookingClosed"])
T_BOOKING_RECLAIMED = topic(PAYMENTS_EVENTS["BookingReclaimed"])
T_FREE_TIER_SET = topic(PAYMENTS_EVENTS["FreeTierSet"])
T_FREE_TIER_COVERED = topic(PAYMENTS_EVENTS["FreeTierCovered"])
T_TARIFF_SET = topic(SETTLEMENT_EVENTS["EnergySettlementTariffSet"])
T_DAY_COMMITTED = topic(SETTLEMENT_EVENTS["EnergySettlementDayCommitted"])
T_BATCH_PAID = topic(SETTLEMENT_EVENTS["EnergySettlementBatchPaid"])
T_SHORTFALL = topic(SETTLEMENT_EVENTS["EnergySettlementShortfall"])
T_PROGRAMME_OPENED = topic(FUND_EVENTS["ProgrammeOpened"])
T_PROGRAMME_CHANGED = topic(FUND_EVENTS["ProgrammeChanged"])
T_INFLOW = topic(FUND_EVENTS["Inflow"])
T_DISBURSED = topic(FUND_EVENTS["Disbursed"])

_MAX_ID = (1 << 63) - 1

# The payments events kept only decoded (see `Decoder.decode_into`), with the shape that makes
# their row whole: (topics, length of the data's hex text, the topics that hold an address; see
# `_whole`). A booking's end updates the booking's row instead of having one of its
# own: kept raw as well.
_PAYMENTS_WHOLE = {
    T_PAYMENT: (4, 2 + 64, (2,)),
    T_REFUND: (4, 2 + 64, (2,)),
    T_BOOKING_OPENED: (4, 2 + 3 * 64, (3,)),
}
_HEX_DIGITS = b"0123456789abcdef"
_PADDED = "0x" + "0" * 24  # how an address topic starts


def _whole(topics: list[str], data: str, addresses: tuple[int, ...]) -> bool:
    """True when the decoded row rebuilds the log exactly: every topic 32 bytes of lowercase hex,
    the data lowercase hex, and the topics at `addresses` an address padded with zeros (numbers
    then print back to the same text; addresses and hashes are kept as they are). A node's log
    that is not (a lying or odd node) keeps its raw row beside the decoded one. (Topic 0 was
    matched exactly already.)"""
    for t in topics:
        if len(t) != 66 or t[:2] != "0x":
            return False
    for i in addresses:
        if topics[i][:26] != _PADDED:
            return False
    if data[:2] != "0x":
        return False
    try:
        text = ("".join(topics[1:]) + data).encode("ascii")
    except UnicodeEncodeError:
        return False
    # Without its hex digits, the text is the "x" of each "0x" and nothing else (one pass in C).
    return text.translate(None, _HEX_DIGITS) == b"x" * len(topics)


def abi_signature(entry: Mapping[str, Any]) -> str:
    def typ(inp: Mapping[str, Any]) -> str:
        t = str(inp["type"])
        if t.startswith("tuple"):
            inner = ",".join(typ(c) for c in inp.get("components", []))
            return f"({inner}){t[5:]}"
        return t

    return f"{entry['name']}({','.join(typ(i) for i in entry.get('inputs', []))})"


def check_abi(abi: Iterable[Mapping[str, Any]], expected: Mapping[str, str]) -> list[str]:
    """Differences between `expected` events (name -> signature) and those the ABI declares."""
    declared = {e["name"]: abi_signature(e) for e in abi if e.get("type") == "event"}
    problems = []
    for name, signature in expected.items():
        if name in declared and declared[name] != signature:
            problems.append(f"{name}: the contract has {declared[name]}, the indexer {signature}")
    return problems


def local_day(timestamp: int) -> str:
    """The Europe/Paris calendar date of a block time (merchant takings are per local day)."""
    day = _hour_day(timestamp // 3600)
    return day if day is not None else _exact_day(timestamp)


@lru_cache(maxsize=8192)
def _hour_day(hour: int) -> str | None:
    """The local date shared by every second of a UTC hour, or None when the date changes
    inside it. Paris changes date and offset on whole UTC hours: one time-zone conversion an
    hour instead of one a payment (it was a third of decoding a district's payments)."""
    first, last = _exact_day(hour * 3600), _exact_day(hour * 3600 + 3599)
    return first if first == last else None


def _exact_day(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).astimezone(LOCAL_TZ).date().isoformat()


def _source(hex64: str) -> str:
    """A bytes32 source ("REDEMPTION_FEES"...) as text; one that is not text stays hex."""
    raw = bytes.fromhex(hex64).rstrip(b"\0")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return "0x" + hex64
    return text if text.isprintable() else "0x" + hex64


def _word(data: str, i: int) -> str:
    """The i-th 32-byte word of hex `data` ("0x..."), as 64 hex chars."""
    start = 2 + 64 * i
    word = data[start : start + 64]
    if len(word) != 64:
        raise DecodeError(f"log data too short for word {i}: {data[:80]}")
    return word


def _topics(topics: list[str], n: int, event: str, block: int) -> None:
    if len(topics) != n:
        raise DecodeError(f"{event} at block {block} has {len(topics)} topics, not {n}")


def _u256(hex64: str) -> int:
    """A uint256 kept whole (operation ids are hashes of the operation's name)."""
    return int(hex64, 16)


def _id(hex64: str) -> int:
    value = int(hex64, 16)
    if value > _MAX_ID:
        raise DecodeError(f"id {value} does not fit the database (above 2^63 - 1)")
    return value


class Decoder:
    """Turns raw logs of the district contracts into rows of a Batch."""

    def __init__(
        self,
        token: str,
        payments: str | None,
        others: Iterable[str] = (),
        settlement: str | None = None,
        fund: str | None = None,
    ) -> None:
        self.token = token.lower()
        self.fund = fund.lower() if fund else None
        self.payments = payments.lower() if payments else None
        self.settlement = settlement.lower() if settlement else None
        self.addresses = sorted(
            {self.token, *(a.lower() for a in others)}
            | ({self.payments} if self.payments else set())
            | ({self.settlement} if self.settlement else set())
            | ({self.fund} if self.fund else set())
        )

    def row_specs(self) -> tuple[tuple[str, str, int, int, type, bytes], ...]:
        """The day-to-day events the compiled reader builds rows of (`ledger/indexer/logscan`):
        per kind, its contract, topic 0, topics, data words, row type and the row's fields (see
        `_logscan.c`), the rows `decode_into` makes of a log of the shape `_whole` accepts."""
        specs: list[tuple[str, str, int, int, type, bytes]] = [
            (self.token, T_TRANSFER, 3, 1, TransferRow, b"n\0l\0x\0a\1a\2U\0"),
            (self.token, T_DEPOSIT, 3, 2, DepositRow, b"n\0l\0x\0h\1a\2U\0U\1"),
            (self.token, T_REDEEMED, 3, 5, RedemptionRow,
             b"n\0l\0x\0i\1a\2U\0U\1U\2H\3U\4"),
        ]
        if self.payments:
            specs += [
                (self.payments, T_PAYMENT, 4, 1, PaymentRow, b"n\0l\0x\0i\1a\2h\3U\0d\0"),
                (self.payments, T_REFUND, 4, 1, RefundRow, b"n\0l\0x\0i\1a\2h\3U\0d\0"),
                (self.payments, T_BOOKING_OPENED, 4, 3, BookingOpenRow,
                 b"n\0l\0x\0i\1i\2a\3U\0I\1H\2"),
            ]
        return tuple(specs)

    def decode_into(self, logs: list[Any], batch: Batch) -> int:
        """Append raw and decoded rows of `logs` (already checked) to `batch`; returns count.
        A log is its dict as parsed, or the row the compiled reader made of it (`row_specs`)."""
        times = batch.block_times
        token = self.token
        payments = self.payments
        settlement = self.settlement
        fund = self.fund
        raw_append = batch.logs.append
        transfer_append = batch.transfers.append
        rows_of: dict[type, Callable[[Any], None]] = {
            TransferRow: transfer_append, DepositRow: batch.deposits.append,
            RedemptionRow: batch.redemptions.append, PaymentRow: batch.payments.append,
            RefundRow: batch.refunds.append, BookingOpenRow: batch.booking_opens.append}
        block_cache: dict[str, int] = {}
        chain_id = batch.chain_id
        new = tuple.__new__  # LogRow without the NamedTuple constructor's overhead
        n = 0
        for log in logs:
            if log.__class__ is not dict:  # a row made by the compiled reader (indexer.logscan)
                rows_of[log.__class__](log)
                n += 1
                continue
            if log.get("removed"):
                continue
            bn_hex = log["blockNumber"]
            bn = block_cache.get(bn_hex)
            if bn is None:
                bn = block_cache[bn_hex] = int(bn_hex, 16)
            li = int(log["logIndex"], 16)
            tx = log["transactionHash"]
            address = log["address"]
            if address != token and address != payments:  # nodes may answer checksummed
                address = address.lower()
            topics = log["topics"]
            data = log["data"]
            nt = len(topics)
            t0 = topics[0] if nt else None
            n += 1
            # The day-to-day events have a row of their own holding every field of the log: they
            # are kept only decoded (a raw copy was 40% of a backfill's writes). Their shape is
            # checked first: a log that does not match keeps its raw row and is decoded as before.
            if address == token:
                if t0 == T_TRANSFER and nt == 3 and len(data) == 66:
                    # `_whole`, unrolled for the commonest log: the addresses are kept as their
                    # text is, so padded topics of 32 bytes and an amount in lowercase hex
                    # ("0x" then digits: alphanumeric, and lower case with its "x") make the row
                    # rebuild the log exactly.
                    t1, t2 = topics[1], topics[2]
                    if (len(t1) == 66 and len(t2) == 66 and t1[:26] == _PADDED
                            and t2[:26] == _PADDED and data.isalnum() and data.islower()):
                        transfer_append(new(TransferRow, (
                            bn, li, tx, "0x" + t1[26:], "0x" + t2[26:], int(data, 16))))
                        continue
                if (t0 == T_DEPOSIT and nt == 3 and len(data) == 130
                        and _whole(topics, data, (2,))):
                    self._deposit(bn, li, tx, topics, data, batch)
                    continue
                if (t0 == T_REDEEMED and nt == 3 and len(data) == 322
                        and _whole(topics, data, (2,))):
                    self._redeemed(bn, li, tx, topics, data, batch)
                    continue
            elif address == payments and t0 in _PAYMENTS_WHOLE:
                shape = _PAYMENTS_WHOLE[t0]
                if shape[:2] == (nt, len(data)) and _whole(topics, data, shape[2]):
                    self._payments(bn, li, tx, t0, topics, data, times, batch)
                    continue
            raw_append(new(LogRow, (
                chain_id, bn, li, tx, int(log["transactionIndex"], 16), address, t0,
                topics[1] if nt > 1 else None, topics[2] if nt > 2 else None,
                topics[3] if nt > 3 else None, data)))
            if address == token:
                if t0 == T_TRANSFER and nt == 3:
                    transfer_append(new(TransferRow, (
                        bn, li, tx, "0x" + topics[1][26:], "0x" + topics[2][26:],
                        int(data, 16) if len(data) > 2 else 0)))
                elif t0 == T_DEPOSIT:
                    self._deposit(bn, li, tx, topics, data, batch)
                elif t0 == T_REDEEMED:
                    self._redeemed(bn, li, tx, topics, data, batch)
                elif t0 == T_RESERVE_CARRIED:
                    _topics(topics, 2, "ReserveCarriedOver", bn)
                    batch.reserve_carries.append(ReserveCarryRow(
                        bn, li, tx, "0x" + topics[1][26:], int(_word(data, 0), 16)))
                elif t0 in _TOKEN_POWERS:
                    self._token_powers(bn, li, tx, t0, topics, data, batch)
            elif address == payments:
                self._payments(bn, li, tx, t0, topics, data, times, batch)
            elif address == settlement:
                self._settlement(bn, li, tx, t0, topics, data, batch)
            elif address == fund:
                self._fund(bn, li, tx, t0, topics, data, times, batch)
        return n

    @staticmethod
    def _deposit(bn: int, li: int, tx: str, topics: list[str], data: str, batch: Batch) -> None:
        batch.deposits.append(DepositRow(
            bn, li, tx, topics[1], "0x" + topics[2][26:], int(_word(data, 0), 16),
            int(_word(data, 1), 16),
        ))

    @staticmethod
    def _redeemed(bn: int, li: int, tx: str, topics: list[str], data: str, batch: Batch) -> None:
        batch.redemptions.append(RedemptionRow(
            bn, li, tx, _id(topics[1][2:]), "0x" + topics[2][26:], int(_word(data, 0), 16),
            int(_word(data, 1), 16), int(_word(data, 2), 16), "0x" + _word(data, 3),
            int(_word(data, 4), 16),
        ))

    @staticmethod
    def _token_powers(
        bn: int, li: int, tx: str, t0: str | None, topics: list[str], data: str, batch: Batch
    ) -> None:
        """Authorizations spent or cancelled, freezes and minter allowances."""
        if t0 == T_AUTHORIZATION_USED or t0 == T_AUTHORIZATION_CANCELED:
            _topics(topics, 3, "AuthorizationUsed" if t0 == T_AUTHORIZATION_USED
                    else "AuthorizationCanceled", bn)
            batch.authorizations.append(AuthorizationRow(
                bn, li, tx, "0x" + topics[1][26:], topics[2],
                "used" if t0 == T_AUTHORIZATION_USED else "canceled",
            ))
        elif t0 == T_ACCOUNT_FROZEN or t0 == T_ACCOUNT_UNFROZEN:
            _topics(topics, 3, "AccountFrozen" if t0 == T_ACCOUNT_FROZEN else "AccountUnfrozen", bn)
            batch.freezes.append(FreezeRow(
                bn, li, tx, "0x" + topics[1][26:], topics[2], t0 == T_ACCOUNT_FROZEN,
            ))
        elif t0 == T_MINTER_CONFIGURED:
            _topics(topics, 2, "MinterConfigured", bn)
            batch.minter_configs.append(MinterConfigRow(
                bn, li, tx, "0x" + topics[1][26:], int(_word(data, 0), 16), int(_word(data, 1), 16),
            ))

    @staticmethod
    def _fund(
        bn: int,
        li: int,
        tx: str,
        t0: str | None,
        topics: list[str],
        data: str,
        times: dict[int, int],
        batch: Batch,
    ) -> None:
        """CommonsFund events (rare: a few a day) into fund_events."""
        append = batch.fund_events.append
        if t0 == T_INFLOW:
            _topics(topics, 3, "Inflow", bn)
            append(FundEventRow(
                bn, li, tx, "inflow", None, utc_month(times[bn]), _source(topics[1][2:]),
                "0x" + topics[2][26:], int(_word(data, 0), 16), None, None, None, None,
            ))
        elif t0 == T_DISBURSED:
            _topics(topics, 4, "Disbursed", bn)
            append(FundEventRow(
                bn, li, tx, "outflow", _id(topics[1][2:]), _id(topics[2][2:]), None,
                "0x" + topics[3][26:], int(_word(data, 0), 16), None, None, None, "0x" + _word(data, 1),
            ))
        elif t0 == T_PROGRAMME_OPENED:
            _topics(topics, 3, "ProgrammeOpened", bn)
            try:
                budget, name = abi_decode(["uint128", "bytes"], bytes.fromhex(data[2:]))
            except Exception as exc:  # eth_abi raises several types
                raise DecodeError(f"ProgrammeOpened at block {bn}: {exc}") from exc
            append(FundEventRow(
                bn, li, tx, "opened", _id(topics[1][2:]), None, None, "0x" + topics[2][26:], None,
                int(budget), True, chain_text(name), None,
            ))
        elif t0 == T_PROGRAMME_CHANGED:
            _topics(topics, 3, "ProgrammeChanged", bn)
            append(FundEventRow(
                bn, li, tx, "changed", _id(topics[1][2:]), None, None, "0x" + topics[2][26:], None,
                int(_word(data, 0), 16), int(_word(data, 1), 16) != 0, None, None,
            ))

    @staticmethod
    def _settlement(
        bn: int,
        li: int,
        tx: str,
        t0: str | None,
        topics: list[str],
        data: str,
        batch: Batch,
    ) -> None:
        """EnergySettlement events; indexed fields come from the topics, the rest from words."""
        if t0 == T_BATCH_PAID:
            _topics(topics, 4, "EnergySettlementBatchPaid", bn)
            batch.settlement_payments.append(
                SettlementPaymentRow(
                    bn,
                    li,
                    tx,
                    _u256(topics[1][2:]),
                    _id(topics[2][2:]),
                    _id(topics[3][2:]),
                    _id(_word(data, 0)),
                    _id(_word(data, 1)),
                    int(_word(data, 2), 16),
                    int(_word(data, 3), 16),
                )
            )
        elif t0 == T_SHORTFALL:
            _topics(topics, 4, "EnergySettlementShortfall", bn)
            batch.settlement_shortfalls.append(
                SettlementShortfallRow(
                    bn,
                    li,
                    tx,
                    _u256(topics[1][2:]),
                    _id(topics[2][2:]),
                    _id(_word(data, 0)),
                    _id(_word(data, 1)),
                    "0x" + topics[3][26:],
                    "0x" + _word(data, 2)[24:],
                    int(_word(data, 3), 16),
                )
            )
        elif t0 == T_DAY_COMMITTED:
            _topics(topics, 4, "EnergySettlementDayCommitted", bn)
            batch.settlement_days.append(
                SettlementDayRow(
                    bn,
                    li,
                    tx,
                    _u256(topics[1][2:]),
                    _id(topics[2][2:]),
                    _id(topics[3][2:]),
                    "0x" + _word(data, 0),
                    int(_word(data, 1), 16),
                    int(_word(data, 2), 16),
                    int(_word(data, 3), 16),
                    int(_word(data, 4), 16),
                    int(_word(data, 5), 16),
                    _id(_word(data, 6)),
                )
            )
        elif t0 == T_TARIFF_SET:
            _topics(topics, 3, "EnergySettlementTariffSet", bn)
            batch.tariffs.append(
                TariffRow(
                    bn,
                    li,
                    tx,
                    _u256(topics[1][2:]),
                    _u256(topics[2][2:]),
                    _id(_word(data, 0)),
                    _id(_word(data, 1)),
                    _id(_word(data, 2)),
                    _id(_word(data, 3)),
                )
            )

    @staticmethod
    def _payments(
        bn: int,
        li: int,
        tx: str,
        t0: str | None,
        topics: list[str],
        data: str,
        times: dict[int, int],
        batch: Batch,
    ) -> None:
        if t0 == T_PAYMENT or t0 == T_REFUND:
            _topics(topics, 4, "PaymentMade" if t0 == T_PAYMENT else "PaymentRefunded", bn)
            fields = (bn, li, tx, _id(topics[1][2:]), "0x" + topics[2][26:], topics[3],
                      int(_word(data, 0), 16), local_day(times[bn]))
            if t0 == T_PAYMENT:
                batch.payments.append(PaymentRow(*fields))
            else:
                batch.refunds.append(RefundRow(*fields))
        elif t0 == T_BOOKING_OPENED:
            _topics(topics, 4, "BookingOpened", bn)
            batch.booking_opens.append(
                BookingOpenRow(
                    bn,
                    li,
                    tx,
                    _id(topics[1][2:]),
                    _id(topics[2][2:]),
                    "0x" + topics[3][26:],
                    int(_word(data, 0), 16),
                    _id(_word(data, 1)),
                    "0x" + _word(data, 2),
                )
            )
        elif t0 == T_BOOKING_CLOSED:
            batch.booking_ends.append(
                BookingEndRow(
                    bn, li, tx, _id(topics[1][2:]), "closed", int(_word(data, 0), 16), int(_word(data, 1), 16)
                )
            )
        elif t0 == T_BOOKING_RECLAIMED:
            batch.booking_ends.append(
                BookingEndRow(bn, li, tx, _id(topics[1][2:]), "reclaimed", 0, int(_word(data, 0), 16))
            )
        elif t0 == T_FREE_TIER_COVERED:
            _topics(topics, 4, "FreeTierCovered", bn)
            booking_id = _id(_word(data, 0))
            batch.free_basics.append(FreeBasicsRow(
                bn, li, tx, "covered", _id(topics[1][2:]), "0x" + topics[2][26:],
                None if booking_id else topics[3], booking_id or None, _id(_word(data, 1)),
                int(_word(data, 2), 16), None,
            ))
        elif t0 == T_FREE_TIER_SET:
            _topics(topics, 2, "FreeTierSet", bn)
            batch.free_basics.append(FreeBasicsRow(
                bn, li, tx, "tier", _id(topics[1][2:]), None, None, None, None,
                int(_word(data, 0), 16), _id(_word(data, 1)),
            ))
        elif t0 == T_MERCHANT_REGISTERED:
            try:
                category, name = abi_decode(["uint8", "bytes"], bytes.fromhex(data[2:]))
            except Exception as exc:  # eth_abi raises several types
                raise DecodeError(f"MerchantRegistered at block {bn}: {exc}") from exc
            batch.merchant_events.append(
                MerchantEventRow(
                    bn,
                    li,
                    tx,
                    _id(topics[1][2:]),
                    "registered",
                    "0x" + topics[2][26:],
                    int(category),
                    chain_text(name),
                    True,
                )
            )
        elif t0 == T_PAYOUT_REQUESTED:
            _topics(topics, 4, "MerchantPayoutChangeRequested", bn)
            batch.payout_changes.append(PayoutChangeRow(
                bn, li, tx, _id(topics[1][2:]), "requested", "0x" + topics[2][26:],
                "0x" + topics[3][26:], _id(_word(data, 0)),
            ))
        elif t0 == T_PAYOUT_CANCELED:
            _topics(topics, 3, "MerchantPayoutChangeCanceled", bn)
            batch.payout_changes.append(PayoutChangeRow(
                bn, li, tx, _id(topics[1][2:]), "canceled", None, "0x" + topics[2][26:], None,
            ))
        elif t0 == T_MERCHANT_PAYOUT:
            batch.merchant_events.append(
                MerchantEventRow(
                    bn, li, tx, _id(topics[1][2:]), "payout", "0x" + topics[3][26:], None, None, None
                )
            )
        elif t0 == T_MERCHANT_STATUS:
            batch.merchant_events.append(
                MerchantEventRow(
                    bn, li, tx, _id(topics[1][2:]), "status", None, None, None, int(_word(data, 0), 16) != 0
                )
            )
