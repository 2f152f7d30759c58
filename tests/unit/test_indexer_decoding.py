"""Decoders, range adaptation and exact amounts, without any I/O."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from eth_abi import encode
from hypothesis import given
from hypothesis import strategies as st

from ledger.db.records import Batch, Cursor
from ledger.db.types import U256_MAX, u256_from_blob, u256_to_blob
from ledger.domain.fund import utc_month
from ledger.indexer.errors import DecodeError, RangeTooLarge, RpcError, RpcUnavailable
from ledger.indexer.events import (
    FUND_EVENTS,
    PAYMENTS_EVENTS,
    SETTLEMENT_EVENTS,
    T_ACCOUNT_FROZEN,
    T_ACCOUNT_UNFROZEN,
    T_AUTHORIZATION_CANCELED,
    T_AUTHORIZATION_USED,
    T_BATCH_PAID,
    T_DAY_COMMITTED,
    T_DISBURSED,
    T_FREE_TIER_COVERED,
    T_FREE_TIER_SET,
    T_INFLOW,
    T_MERCHANT_REGISTERED,
    T_MINTER_CONFIGURED,
    T_PAYMENT,
    T_PAYOUT_CANCELED,
    T_PAYOUT_REQUESTED,
    T_PROGRAMME_CHANGED,
    T_PROGRAMME_OPENED,
    T_REDEEMED,
    T_RESERVE_CARRIED,
    T_SHORTFALL,
    T_TARIFF_SET,
    T_TRANSFER,
    TOKEN_EVENTS,
    Decoder,
    check_abi,
    local_day,
    topic,
)
from ledger.indexer.rpc import AdaptiveRange, RetryPolicy, RpcClient

TOKEN = "0x" + "11" * 20
PAYMENTS = "0x" + "22" * 20
ALICE = "0x" + "aa" * 20
BOB = "0x" + "bb" * 20
INTERFACES = Path(__file__).resolve().parents[2] / "contracts" / "interfaces"


def word(value: int) -> str:
    return f"{value:064x}"


def addr_topic(address: str) -> str:
    return "0x" + "0" * 24 + address[2:]


def log(address: str, topics: list[str], data: str, block: int = 7, index: int = 0) -> dict[str, object]:
    return {
        "address": address, "topics": topics, "data": data, "blockNumber": hex(block),
        "blockHash": "0x" + "cd" * 32, "transactionHash": "0x" + "ef" * 32,
        "transactionIndex": "0x0", "logIndex": hex(index), "removed": False,
    }


def batch() -> Batch:
    b = Batch(69003, 1, Cursor(10, "0x" + "00" * 32))
    b.block_times[7] = 1_764_000_000
    return b


def test_topics_are_the_keccak_of_the_event_signatures() -> None:
    assert T_TRANSFER == "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    assert topic("Approval(address,address,uint256)").startswith("0x8c5be1e5")


def test_the_interfaces_declare_the_events_the_indexer_decodes() -> None:
    """Every event signature the indexer knows appears, with the same types, in the spec."""
    text = " ".join((INTERFACES / name).read_text() for name in
                    ("IDistrictToken.sol", "IServicePayments.sol"))
    flat = " ".join(text.split())
    for name in list(TOKEN_EVENTS)[2:] + list(PAYMENTS_EVENTS):
        assert f"event {name}(" in flat, name


def test_transfer_is_decoded_exactly_even_at_the_uint256_maximum() -> None:
    b = batch()
    n = Decoder(TOKEN, PAYMENTS).decode_into(
        [log(TOKEN, [T_TRANSFER, addr_topic(ALICE), addr_topic(BOB)], "0x" + word(U256_MAX))], b
    )
    assert n == 1
    assert b.logs == []  # its row holds every field: no raw copy
    t = b.transfers[0]
    assert (t.block_number, t.from_address, t.to_address, t.value) == (7, ALICE, BOB, U256_MAX)


def test_a_day_to_day_event_of_another_shape_keeps_its_raw_row() -> None:
    """A Transfer whose data is longer than one word, a payment without its ref topic: their
    table would not hold the whole log, so the raw row stays beside what is decoded."""
    b = batch()
    n = Decoder(TOKEN, PAYMENTS).decode_into([
        log(TOKEN, [T_TRANSFER, addr_topic(ALICE), addr_topic(BOB)], "0x" + word(5) + word(6)),
        log(PAYMENTS, [T_PAYMENT, "0x" + word(3), addr_topic(ALICE), "0x" + "42" * 32],
            "0x" + word(2_500) + word(1)),
    ], b)
    assert n == 2
    assert [row.topic0 for row in b.logs] == [T_TRANSFER, T_PAYMENT]
    assert [t.value for t in b.transfers] == [int(word(5) + word(6), 16)]
    assert [p.amount for p in b.payments] == [2_500]


def test_a_payment_missing_a_topic_is_refused_with_a_sentence() -> None:
    with pytest.raises(DecodeError, match="PaymentMade at block 7 has 3 topics, not 4"):
        Decoder(TOKEN, PAYMENTS).decode_into(
            [log(PAYMENTS, [T_PAYMENT, "0x" + word(3), addr_topic(ALICE)], "0x" + word(2_500))],
            batch())


def test_a_transfer_shaped_log_of_another_contract_is_kept_raw_only() -> None:
    b = batch()
    Decoder(TOKEN, PAYMENTS).decode_into(
        [log(PAYMENTS, [T_TRANSFER, addr_topic(ALICE), addr_topic(BOB)], "0x" + word(5))], b
    )
    assert len(b.logs) == 1
    assert b.transfers == []


def test_payment_lands_on_the_local_paris_day() -> None:
    b = batch()
    b.block_times[7] = 1_767_222_000  # 2025-12-31 23:00 UTC = 2026-01-01 00:00 in Paris
    ref = "0x" + "42" * 32
    Decoder(TOKEN, PAYMENTS).decode_into(
        [log(PAYMENTS, [T_PAYMENT, "0x" + word(3), addr_topic(ALICE), ref], "0x" + word(2_500))], b
    )
    p = b.payments[0]
    assert (p.merchant_id, p.payer, p.ref, p.amount, p.day) == (3, ALICE, ref, 2_500, "2026-01-01")
    assert local_day(1_767_221_999) == "2025-12-31"


def test_redeemed_and_merchant_registered_decode_all_fields() -> None:
    b = batch()
    data_r = "0x" + word(100) + word(3) + word(97) + "ab" * 32 + word(10**12)
    data_m = "0x" + encode(["uint8", "string"], [4, "Boulangerie du Cours Gambetta"]).hex()
    Decoder(TOKEN, PAYMENTS).decode_into([
        log(TOKEN, [T_REDEEMED, "0x" + word(9), addr_topic(BOB)], data_r, index=0),
        log(PAYMENTS, [T_MERCHANT_REGISTERED, "0x" + word(1), addr_topic(ALICE)], data_m, index=1),
    ], b)
    r = b.redemptions[0]
    assert (r.redemption_id, r.merchant, r.amount, r.fee, r.euros, r.reserve_after) == (
        9, BOB, 100, 3, 97, 10**12)
    assert r.payout_ref == "0x" + "ab" * 32
    m = b.merchant_events[0]
    assert (m.merchant_id, m.kind, m.payout, m.category, m.name) == (
        1, "registered", ALICE, 4, "Boulangerie du Cours Gambetta")


def test_truncated_data_is_a_decode_error_not_a_wrong_row() -> None:
    with pytest.raises(DecodeError):
        Decoder(TOKEN, PAYMENTS).decode_into(
            [log(PAYMENTS, [T_PAYMENT, "0x" + word(3), addr_topic(ALICE), "0x" + "00" * 32], "0x12")],
            batch(),
        )


def test_check_abi_reports_a_changed_event_signature() -> None:
    abi = [{"type": "event", "name": "PaymentMade", "inputs": [
        {"type": "uint256"}, {"type": "address"}, {"type": "uint256"}]}]
    problems = check_abi(abi, PAYMENTS_EVENTS)
    assert problems and "PaymentMade" in problems[0]
    assert check_abi(json.loads(json.dumps(abi))[:0], PAYMENTS_EVENTS) == []


def test_ranges_grow_while_answers_are_small_and_halve_on_refusal() -> None:
    r = AdaptiveRange(initial=16, maximum=10_000, target_logs=1_000)
    r.on_success(16, 0)
    assert r.span == 128
    r.on_success(128, 400)
    assert r.span == 256
    r.on_success(256, 5_000)
    assert r.span == 128
    assert r.on_error(128) and r.span == 64
    r.span = 1
    assert not r.on_error(1)
    r.span = 9_000
    r.on_success(9_000, 0)
    assert r.span == 10_000


@given(st.integers(min_value=0, max_value=U256_MAX))
def test_u256_blob_round_trips_and_sorts_like_the_numbers(value: int) -> None:
    blob = u256_to_blob(value)
    assert len(blob) == 32
    assert u256_from_blob(blob) == value
    assert (u256_to_blob(value // 2) <= blob)


def test_u256_refuses_negative_and_oversized_values() -> None:
    with pytest.raises(ValueError):
        u256_to_blob(-1)
    with pytest.raises(ValueError):
        u256_to_blob(U256_MAX + 1)


def _client(handler: httpx.MockTransport, attempts: int = 3) -> RpcClient:
    return RpcClient("http://node.test", transport=handler,
                     retry=RetryPolicy(attempts=attempts, base=0.0, sleep=lambda _s: None))


def test_rpc_retries_transport_failures_then_answers() -> None:
    calls = {"n": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "result": "0x10d8b"})

    assert _client(httpx.MockTransport(handle)).chain_id() == 69003
    assert calls["n"] == 3


def test_rpc_gives_up_after_the_bounded_retries() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(RpcUnavailable, match="after 3 tries"):
        _client(httpx.MockTransport(handle)).block_number()


def test_batch_answers_are_matched_by_id_and_log_limits_become_range_too_large() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        replies = []
        for call in reversed(body):
            if call["method"] == "eth_getLogs":
                replies.append({"jsonrpc": "2.0", "id": call["id"], "error": {
                    "code": -32005, "message": "query returned more than 10000 results"}})
            else:
                replies.append({"jsonrpc": "2.0", "id": call["id"], "result": call["params"][0]})
        return httpx.Response(200, json=replies)

    client = _client(httpx.MockTransport(handle))
    assert client.batch([("eth_getBlockByNumber", ["0x1", False]),
                         ("eth_getBlockByNumber", ["0x2", False])]) == ["0x1", "0x2"]
    with pytest.raises(RangeTooLarge):
        client.batch([("eth_getLogs", [{}])])
    with pytest.raises(RpcError):
        client.batch([("eth_getBlockByNumber", ["0x1", False]), ("eth_getLogs", [{}])])


# -- EnergySettlement ---------------------------------------------------------------------------

SETTLEMENT = "0x" + "33" * 20
UINT64_MAX = 2**64 - 1
UINT128_MAX = 2**128 - 1
UINT32_MAX = 2**32 - 1


def _solidity_events(source: str) -> dict[str, str]:
    """Event name -> canonical signature, read from an interface's text (structs expanded)."""
    flat = " ".join(re.sub(r"//[^\n]*", "", source).split())
    structs: dict[str, str] = {}
    for name, body in re.findall(r"struct (\w+) \{([^}]*)\}", flat):
        fields = [f.strip().split()[0] for f in body.split(";") if f.strip()]
        structs[name] = "(" + ",".join(structs.get(f, f) for f in fields) + ")"
    events = {}
    for name, params in re.findall(r"event (\w+)\(([^)]*)\);", flat):
        types = [p.strip().split()[0] for p in params.split(",") if p.strip()]
        events[name] = f"{name}({','.join(structs.get(t, t) for t in types)})"
    return events


def test_the_settlement_interface_declares_exactly_the_events_the_indexer_decodes() -> None:
    """The ABI-vs-decoder check: every EnergySettlement event of the spec is known to the
    indexer with the same canonical signature (the one topic0 is computed from), and back."""
    declared = _solidity_events((INTERFACES / "IEnergySettlement.sol").read_text())
    assert declared == SETTLEMENT_EVENTS
    # the compiler's ABI writes the Totals struct as a tuple with components
    totals = [{"type": t, "name": n} for t, n in (
        ("uint64", "producedWh"), ("uint64", "consumedWh"), ("uint64", "allocatedWh"),
        ("uint64", "surplusWh"), ("uint128", "amount"), ("uint32", "transfers"))]
    abi = [{"type": "event", "name": "EnergySettlementDayCommitted", "inputs": [
        {"type": "uint256"}, {"type": "uint32"}, {"type": "uint32"}, {"type": "bytes32"},
        {"type": "tuple", "components": totals}]}]
    assert check_abi(abi, SETTLEMENT_EVENTS) == []
    abi[0]["inputs"][2]["type"] = "uint64"  # type: ignore[index]
    assert check_abi(abi, SETTLEMENT_EVENTS)
    assert T_DAY_COMMITTED == topic(declared["EnergySettlementDayCommitted"])


# Operation ids are keccak256 of the operation's text id: whole 256-bit numbers.
OP = 2**256 - 12345


def settlement_log(t0: str, topics: list[str], types: list[str], values: list[Any],
                   index: int = 0) -> dict[str, object]:
    data = "0x" + encode(types, values).hex()  # eth_abi: an encoder independent of the decoder
    return log(SETTLEMENT, [t0, *topics], data, index=index)


def decoder() -> Decoder:
    return Decoder(TOKEN, PAYMENTS, settlement=SETTLEMENT)


def test_day_committed_decodes_the_root_and_every_total_at_their_type_maxima() -> None:
    root = bytes(range(32))
    totals = (UINT64_MAX, 2, 3, UINT64_MAX - 1, UINT128_MAX, UINT32_MAX)
    b = batch()
    n = decoder().decode_into([settlement_log(
        T_DAY_COMMITTED, ["0x" + word(OP), "0x" + word(20250615), "0x" + word(UINT32_MAX)],
        ["bytes32", "(uint64,uint64,uint64,uint64,uint128,uint32)"], [root, totals],
    )], b)
    assert n == 1 and len(b.logs) == 1
    d = b.settlement_days[0]
    assert (d.block_number, d.log_index, d.tx_hash) == (7, 0, "0x" + "ef" * 32)
    assert (d.operation_id, d.day, d.version, d.root) == (OP, 20250615, UINT32_MAX, "0x" + root.hex())
    assert (d.produced_wh, d.consumed_wh, d.allocated_wh, d.surplus_wh, d.amount, d.transfers) == totals
    assert b.transfers == [] and b.settlement_payments == []


def test_batch_paid_shortfall_and_tariff_decode_all_fields() -> None:
    b = batch()
    decoder().decode_into([
        settlement_log(T_TARIFF_SET, ["0x" + word(OP), "0x" + word(U256_MAX)],
                       ["uint32"] * 4, [20250601, 80_000, 100_000, 60_000], index=0),
        settlement_log(T_SHORTFALL, ["0x" + word(OP), "0x" + word(20250615), addr_topic(ALICE)],
                       ["uint32", "uint32", "address", "uint256"], [1, 3, BOB, U256_MAX], index=1),
        settlement_log(T_BATCH_PAID, ["0x" + word(OP), "0x" + word(20250615), "0x" + word(1)],
                       ["uint32", "uint32", "uint256", "uint256"], [2, 4, 81_000, U256_MAX], index=2),
    ], b)
    t = b.tariffs[0]
    assert (t.operation_id, t.schedule_id, t.effective_from, t.solar_price, t.peak_price,
            t.off_peak_price) == (OP, U256_MAX, 20250601, 80_000, 100_000, 60_000)
    s = b.settlement_shortfalls[0]
    assert (s.log_index, s.operation_id, s.day, s.version, s.line_index, s.payer, s.payee,
            s.amount) == (1, OP, 20250615, 1, 3, ALICE, BOB, U256_MAX)
    p = b.settlement_payments[0]
    assert (p.log_index, p.operation_id, p.day, p.version, p.from_index, p.to_index, p.paid,
            p.shortfall) == (2, OP, 20250615, 1, 2, 4, 81_000, U256_MAX)


def test_settlement_events_of_another_contract_or_unknown_to_the_decoder_stay_raw() -> None:
    paid = ["0x" + word(7), "0x" + word(20250615), "0x" + word(1)]
    values = [0, 1, 5, 0]
    bounds = topic(SETTLEMENT_EVENTS["EnergySettlementPriceBoundsChanged"])
    b = batch()
    n = decoder().decode_into([
        log(TOKEN, [T_BATCH_PAID, *paid], "0x" + encode(["uint32"] * 2 + ["uint256"] * 2,
                                                        values).hex(), index=0),
        settlement_log(bounds, [], ["uint32"] * 4, [1, 2, 3, 4], index=1),
    ], b)
    assert n == 2 and len(b.logs) == 2
    assert (b.settlement_payments, b.settlement_days, b.tariffs, b.settlement_shortfalls) == (
        [], [], [], [])
    # a decoder without the settlement contract keeps its logs raw
    b = batch()
    Decoder(TOKEN, PAYMENTS).decode_into(
        [settlement_log(T_BATCH_PAID, paid, ["uint32"] * 2 + ["uint256"] * 2, values)], b)
    assert len(b.logs) == 1 and b.settlement_payments == []


def test_a_malformed_settlement_log_is_a_decode_error_not_a_wrong_row() -> None:
    with pytest.raises(DecodeError, match="topics"):
        decoder().decode_into([log(SETTLEMENT, [T_BATCH_PAID, "0x" + word(7)], "0x" + word(0) * 4)],
                              batch())
    with pytest.raises(DecodeError, match="too short"):
        decoder().decode_into([log(SETTLEMENT, [T_DAY_COMMITTED, "0x" + word(7), "0x" + word(1),
                                                "0x" + word(1)], "0x" + word(0) * 3)], batch())


def test_the_decoder_follows_the_settlement_contract_too() -> None:
    assert SETTLEMENT in decoder().addresses
    assert decoder().addresses == sorted({TOKEN, PAYMENTS, SETTLEMENT})


def test_the_token_and_payments_interfaces_declare_no_event_the_indexer_does_not_know() -> None:
    """Every event of IDistrictToken and IServicePayments is in the indexer's tables with the
    same signature (decoded, or named there as kept raw only): a new event fails here first."""
    token = _solidity_events((INTERFACES / "IDistrictToken.sol").read_text())
    payments = {k: v.replace("Category", "uint8")  # an enum is a uint8 in the ABI
                for k, v in _solidity_events((INTERFACES / "IServicePayments.sol").read_text()).items()}
    assert {k: v for k, v in TOKEN_EVENTS.items() if k not in ("Transfer", "Approval")} == token
    assert PAYMENTS_EVENTS == payments


NONCE = "0x" + "5a" * 32
ORDER = "0x" + "0c" * 32


def test_authorizations_freezes_minters_and_payout_changes_decode_all_fields() -> None:
    b = batch()
    n = Decoder(TOKEN, PAYMENTS).decode_into([
        log(TOKEN, [T_AUTHORIZATION_USED, addr_topic(ALICE), NONCE], "0x", index=0),
        log(TOKEN, [T_AUTHORIZATION_CANCELED, addr_topic(BOB), NONCE], "0x", index=1),
        log(TOKEN, [T_ACCOUNT_FROZEN, addr_topic(BOB), ORDER], "0x", index=2),
        log(TOKEN, [T_ACCOUNT_UNFROZEN, addr_topic(BOB), ORDER], "0x", index=3),
        log(TOKEN, [T_MINTER_CONFIGURED, addr_topic(ALICE)], "0x" + word(U256_MAX) + word(0),
            index=4),
        log(PAYMENTS, [T_PAYOUT_REQUESTED, "0x" + word(3), addr_topic(ALICE), addr_topic(BOB)],
            "0x" + word(2**63 - 1), index=5),
        log(PAYMENTS, [T_PAYOUT_CANCELED, "0x" + word(3), addr_topic(BOB)], "0x", index=6),
    ], b)
    assert n == 7 and len(b.logs) == 7
    assert [(a.authorizer, a.nonce, a.state, a.log_index) for a in b.authorizations] == [
        (ALICE, NONCE, "used", 0), (BOB, NONCE, "canceled", 1)]
    assert [(f.account, f.order_ref, f.frozen) for f in b.freezes] == [
        (BOB, ORDER, True), (BOB, ORDER, False)]
    m = b.minter_configs[0]
    assert (m.minter, m.allowance, m.daily_limit) == (ALICE, U256_MAX, 0)
    assert [(p.merchant_id, p.kind, p.old_payout, p.new_payout, p.effective_at)
            for p in b.payout_changes] == [
        (3, "requested", ALICE, BOB, 2**63 - 1), (3, "canceled", None, BOB, None)]
    assert b.transfers == [] and b.merchant_events == []


def test_powers_events_of_another_contract_stay_raw() -> None:
    b = batch()
    Decoder(TOKEN, PAYMENTS).decode_into([
        log(PAYMENTS, [T_AUTHORIZATION_USED, addr_topic(ALICE), NONCE], "0x"),
        log(TOKEN, [T_PAYOUT_CANCELED, "0x" + word(3), addr_topic(BOB)], "0x", index=1),
    ], b)
    assert len(b.logs) == 2 and b.authorizations == [] and b.payout_changes == []


@pytest.mark.parametrize("bad", [
    (TOKEN, [T_AUTHORIZATION_USED, addr_topic(ALICE)], "0x"),  # the nonce topic is missing
    (TOKEN, [T_MINTER_CONFIGURED, addr_topic(ALICE)], "0x" + word(1)),  # no daily limit word
    (PAYMENTS, [T_PAYOUT_REQUESTED, "0x" + word(3), addr_topic(ALICE), addr_topic(BOB)], "0x"),
])
def test_a_malformed_powers_log_is_a_decode_error_not_a_wrong_row(
    bad: tuple[str, list[str], str]
) -> None:
    address, topics, data = bad
    with pytest.raises(DecodeError):
        Decoder(TOKEN, PAYMENTS).decode_into([log(address, topics, data)], batch())


def test_a_carried_reserve_is_decoded_exactly() -> None:
    b = batch()
    Decoder(TOKEN, PAYMENTS).decode_into(
        [log(TOKEN, [T_RESERVE_CARRIED, addr_topic(BOB)], "0x" + word(U256_MAX))], b)
    k = b.reserve_carries[0]
    assert (k.block_number, k.predecessor, k.reserve) == (7, BOB, U256_MAX)


FUND = "0x" + "44" * 20


def fund_log(
    t0: str, topics: list[str], types: list[str], values: list[Any], index: int = 0
) -> dict[str, object]:
    return log(FUND, [t0, *topics], "0x" + encode(types, values).hex(), index=index)


def fund_decoder() -> Decoder:
    return Decoder(TOKEN, PAYMENTS, settlement=SETTLEMENT, fund=FUND)


def test_the_fund_interface_declares_exactly_the_events_the_indexer_decodes() -> None:
    assert _solidity_events((INTERFACES / "ICommonsFund.sol").read_text()) == FUND_EVENTS


def test_fund_inflow_outflow_and_programmes_decode_all_fields() -> None:
    b = batch()  # block 7 at 1_764_000_000 = 2025-11-24 UTC: month 2025 * 12 + 10
    ref = bytes(range(32))
    fund_decoder().decode_into([
        fund_log(T_INFLOW, ["0x" + b"REDEMPTION_FEES".ljust(32, b"\0").hex(), addr_topic(ALICE)],
                 ["uint256"], [U256_MAX], index=0),
        fund_log(T_DISBURSED, ["0x" + word(3), "0x" + word(2025 * 12 + 9), addr_topic(BOB)],
                 ["uint256", "bytes32"], [42, ref], index=1),
        fund_log(T_PROGRAMME_OPENED, ["0x" + word(3), addr_topic(ALICE)],
                 ["uint128", "string"], [UINT128_MAX, "Énergie solidaire"], index=2),
        fund_log(T_PROGRAMME_CHANGED, ["0x" + word(3), addr_topic(BOB)],
                 ["uint128", "bool"], [5, False], index=3),
    ], b)
    inflow, outflow, opened, changed = b.fund_events
    assert inflow[3:] == ("inflow", None, 2025 * 12 + 10, "REDEMPTION_FEES", ALICE, U256_MAX,
                          None, None, None, None)
    assert outflow[3:] == ("outflow", 3, 2025 * 12 + 9, None, BOB, 42, None, None, None,
                           "0x" + ref.hex())
    assert opened[3:] == ("opened", 3, None, None, ALICE, None, UINT128_MAX, True,
                          "Énergie solidaire", None)
    assert changed[3:] == ("changed", 3, None, None, BOB, None, 5, False, None, None)
    assert b.transfers == [] and b.settlement_payments == []


def test_names_that_are_not_utf8_decode_with_a_replacement_character_and_stop_nothing() -> None:
    """The contracts store any bytes a raw call sends as a name: a registrar's or the council's
    key alone could stop the district's indexer with one such name (eth_abi refuses it as a
    string). The byte becomes U+FFFD, shown; the raw log keeps the bytes."""
    b = batch()
    data_m = "0x" + encode(["uint8", "bytes"], [4, b"Boulangerie \xff"]).hex()
    Decoder(TOKEN, PAYMENTS).decode_into(
        [log(PAYMENTS, [T_MERCHANT_REGISTERED, "0x" + word(1), addr_topic(ALICE)], data_m)], b)
    assert b.merchant_events[0].name == "Boulangerie \ufffd"
    f = batch()
    fund_decoder().decode_into([fund_log(T_PROGRAMME_OPENED, ["0x" + word(3), addr_topic(ALICE)],
                                         ["uint128", "bytes"], [7, b"\xc3(nergie"], index=0)], f)
    assert f.fund_events[0][11] == "\ufffd(nergie"


def test_an_eligibility_stays_raw_and_fund_events_of_another_contract_are_not_decoded() -> None:
    b = batch()
    eligibility = topic(FUND_EVENTS["EligibilitySet"])
    fund_decoder().decode_into([
        fund_log(eligibility, [addr_topic(ALICE)], ["uint64"], [1_800_000_000], index=0),
        log(TOKEN, [T_INFLOW, "0x" + word(1), addr_topic(ALICE)], "0x" + word(5), index=1),
    ], b)
    assert len(b.logs) == 2 and b.fund_events == []
    assert FUND in fund_decoder().addresses


def test_a_non_text_source_is_kept_as_hex_and_a_malformed_fund_log_is_a_decode_error() -> None:
    b = batch()
    source = "ff" * 32
    fund_decoder().decode_into([fund_log(T_INFLOW, ["0x" + source, addr_topic(ALICE)],
                                         ["uint256"], [1])], b)
    assert b.fund_events[0].source == "0x" + source
    with pytest.raises(DecodeError, match="topics"):
        fund_decoder().decode_into([log(FUND, [T_DISBURSED, "0x" + word(1)], "0x" + word(0) * 2)],
                                   batch())


def test_the_utc_month_follows_the_contracts_rule_at_the_month_edge() -> None:
    assert utc_month(1_751_328_000 - 1) == 2025 * 12 + 5  # 2025-06-30T23:59:59Z
    assert utc_month(1_751_328_000) == 2025 * 12 + 6  # 2025-07-01T00:00:00Z (02:00 in Paris)


def test_free_basics_covers_and_tiers_decode_all_fields() -> None:
    b = batch()
    ref = "0x" + "1f" * 32
    Decoder(TOKEN, PAYMENTS).decode_into([
        log(PAYMENTS, [T_FREE_TIER_COVERED, "0x" + word(2), addr_topic(ALICE), ref],
            "0x" + encode(["uint256", "uint32", "uint256"], [0, 2025 * 12 + 5, U256_MAX]).hex(),
            index=0),
        log(PAYMENTS, [T_FREE_TIER_COVERED, "0x" + word(2), addr_topic(BOB), "0x" + word(0)],
            "0x" + encode(["uint256", "uint32", "uint256"], [9, 2025 * 12 + 6, 4_000_000]).hex(),
            index=1),
        log(PAYMENTS, [T_FREE_TIER_SET, "0x" + word(2)],
            "0x" + encode(["uint128", "uint32"], [UINT128_MAX, 3]).hex(), index=2),
    ], b)
    paid, booked, tier = b.free_basics
    assert paid[3:] == ("covered", 2, ALICE, ref, None, 2025 * 12 + 5, U256_MAX, None)
    assert booked[3:] == ("covered", 2, BOB, None, 9, 2025 * 12 + 6, 4_000_000, None)
    assert tier[3:] == ("tier", 2, None, None, None, None, UINT128_MAX, 3)
    assert b.payments == [] and b.fund_events == []
    with pytest.raises(DecodeError, match="topics"):
        Decoder(TOKEN, PAYMENTS).decode_into(
            [log(PAYMENTS, [T_FREE_TIER_COVERED, "0x" + word(2)], "0x" + word(0) * 3)], batch())


@given(st.integers(min_value=0, max_value=4_102_444_800))  # 1970 to 2100
def test_the_local_day_read_by_the_hour_is_the_exact_conversion(timestamp: int) -> None:
    exact = datetime.fromtimestamp(timestamp, UTC).astimezone(ZoneInfo("Europe/Paris"))
    assert local_day(timestamp) == exact.date().isoformat()


@pytest.mark.parametrize("utc", ["2026-03-29T00:59:59", "2026-03-29T01:00:00",
                                 "2026-03-28T22:59:59", "2026-03-28T23:00:00",
                                 "2026-10-24T21:59:59", "2026-10-24T22:00:00",
                                 "2026-10-25T22:59:59", "2026-10-25T23:00:00"])
def test_the_local_day_around_the_clock_changes_and_midnights(utc: str) -> None:
    timestamp = int(datetime.fromisoformat(utc).replace(tzinfo=UTC).timestamp())
    exact = datetime.fromtimestamp(timestamp, UTC).astimezone(ZoneInfo("Europe/Paris"))
    assert local_day(timestamp) == exact.date().isoformat()
