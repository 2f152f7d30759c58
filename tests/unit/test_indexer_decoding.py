"""Decoders, range adaptation and exact amounts, without any I/O."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from eth_abi import encode
from hypothesis import given
from hypothesis import strategies as st

from ledger.db.records import Batch, Cursor
from ledger.db.types import U256_MAX, u256_from_blob, u256_to_blob
from ledger.indexer.errors import DecodeError, RangeTooLarge, RpcError, RpcUnavailable
from ledger.indexer.events import (
    PAYMENTS_EVENTS,
    T_MERCHANT_REGISTERED,
    T_PAYMENT,
    T_REDEEMED,
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
    assert len(b.logs) == 1
    t = b.transfers[0]
    assert (t.block_number, t.from_address, t.to_address, t.value) == (7, ALICE, BOB, U256_MAX)


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
