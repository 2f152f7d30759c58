"""The compiled reader of eth_getLogs answers (ledger/indexer/_logscan.c) against orjson and the
Python decoder: for any answer, honest or not, the rows, the block list and the removed flag it
gives are those of the pure-Python path, and an answer orjson refuses is refused the same way."""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.db.records import (
    Batch,
    BookingOpenRow,
    Cursor,
    DepositRow,
    PaymentRow,
    RedemptionRow,
    RefundRow,
    TransferRow,
)
from ledger.indexer import logscan
from ledger.indexer.errors import NodeLagging
from ledger.indexer.events import (
    T_BOOKING_CLOSED,
    T_BOOKING_OPENED,
    T_DEPOSIT,
    T_PAYMENT,
    T_REDEEMED,
    T_REFUND,
    T_TRANSFER,
    Decoder,
    local_day,
)
from ledger.indexer.logscan import ScannedLogs
from ledger.indexer.rpc import AdaptiveRange, RpcClient
from ledger.indexer.sync import Indexer, Targets

if not logscan.compiled:
    if os.environ.get("CI"):
        pytest.fail("the compiled log reader was not built (pip install -e . needs a C compiler)",
                    pytrace=False)
    pytest.skip("the compiled log reader was not built (no C compiler at install): the indexer "
                "reads answers with orjson alone, which the other tests cover",
                allow_module_level=True)

TOKEN = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
PAYMENTS = "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512"
READ = logscan.reader(Decoder(TOKEN, PAYMENTS).row_specs(), local_day)
assert READ is not None
ROW_TYPES = (TransferRow, DepositRow, RedemptionRow, PaymentRow, RefundRow, BookingOpenRow)


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _address_topic(rng: random.Random) -> str:
    return "0x" + "0" * 24 + _hex(rng, 40)


# What a field of a log may be: the honest form first, then what an odd or lying node may send.
_FIELDS = {
    "address": lambda r: r.choice([TOKEN, TOKEN, TOKEN, TOKEN.upper().replace("0X", "0x"),
                                   PAYMENTS, 7, None, "0x5fbdb2315678afecb367f032d93f642f64180aa"]),
    "data": lambda r: r.choice([
        "0x" + _hex(r, 64), "0x" + _hex(r, 64), "0x" + _hex(r, 64).upper(), "0x" + _hex(r, 63) + "g",
        "0x" + _hex(r, 62), "0x", "0x" + _hex(r, 128), 5, None, "0x" + _hex(r, 63) + "é",
        "0x" + _hex(r, 63) + " "]),
    "blockNumber": lambda r: r.choice(["0x1f", "0x1f", "0x20", "0x01F", "0x", "31", 31, "0x" + "f" * 17,
                                       "0x\u0031f"]),
    "blockHash": lambda r: r.choice(["0x" + "a" * 64, "0x" + "a" * 64, "0x" + "b" * 64, 1]),
    "blockTimestamp": lambda r: r.choice(["0x6b116edf", "0x6b116edf", None, "0x6b116ee0", 17]),
    "transactionHash": lambda r: r.choice(["0x" + _hex(r, 64), "0x" + _hex(r, 64), None, 3,
                                           "0xé" + _hex(r, 62), "0x\ud800" + _hex(r, 63)]),
    "transactionIndex": lambda r: r.choice(["0x0", "0x0", 0, None, "0x1", 1.5, "\ud800", "\udc00x",
                                            "\u0030x0", "0x\ud83d\ude00"]),
    "logIndex": lambda r: r.choice(["0x5", "0x5", "0xff", "0x", "5", 5, "0x" + "1" * 17, "0xFF",
                                    "0x1_0"]),
    "removed": lambda r: r.choice([False, False, True, 0, 1, "yes", None]),
    "other": lambda r: r.choice(["x", 1, [1, 2], {"a": "b"}]),
}


# The district's day-to-day logs (the kinds the reader builds rows of, and one it does not):
# contract, topic 0, what each further topic holds, and how many data words.
_KINDS = [
    (TOKEN, T_TRANSFER, "aa", 1), (TOKEN, T_TRANSFER, "aa", 1), (TOKEN, T_TRANSFER, "aa", 1),
    (TOKEN, T_DEPOSIT, "ha", 2), (TOKEN, T_REDEEMED, "ia", 5), (PAYMENTS, T_PAYMENT, "iah", 1),
    (PAYMENTS, T_REFUND, "iah", 1), (PAYMENTS, T_BOOKING_OPENED, "iia", 3),
    (PAYMENTS, T_BOOKING_CLOSED, "i", 2),
]


def _word(rng: random.Random) -> str:
    return rng.choice([f"{rng.randrange(10**12):064x}", f"{rng.randrange(10**12):064x}",
                       _hex(rng, 64), f"{2**63 - 1:064x}", f"{2**63:064x}"])


def _topic(rng: random.Random, holds: str) -> str:
    if holds == "a":
        return _address_topic(rng)
    if holds == "i":  # an id: small, or at the edge of what the database holds
        return "0x" + rng.choice([f"{rng.randrange(1000):064x}", f"{rng.randrange(1000):064x}",
                                  f"{2**63 - 1:064x}", f"{2**63:064x}", "f" * 64])
    return "0x" + _hex(rng, 64)


def _topics(rng: random.Random, topics: list[Any]) -> Any:
    """An odd node's topics, from the honest ones."""
    topics = list(topics)
    roll = rng.random()
    if roll < 0.1:
        topics.append(_address_topic(rng))
    elif roll < 0.15:
        topics = topics[:-1]
    elif roll < 0.2 and len(topics) > 1:
        topics[1] = "0x" + "1" + "0" * 23 + _hex(rng, 40)  # not an address's padding
    elif roll < 0.25:
        topics[-1] = topics[-1][:-1]
    elif roll < 0.3:
        topics[-1] = 12
    elif roll < 0.35:
        topics[-1] = topics[-1][:30] + "é" + topics[-1][31:]
    elif roll < 0.4:
        return rng.choice(["0xabc", None, {}])
    elif roll < 0.5:
        topics[0] = rng.choice([T_PAYMENT, T_TRANSFER, T_DEPOSIT, "0x" + _hex(rng, 64),
                                topics[0].upper().replace("0X", "0x")])
    elif roll < 0.6:
        i = rng.randrange(len(topics))
        topics[i] = "0x" + topics[i][2:].upper()
    return topics


def _data(rng: random.Random, words: int) -> Any:
    """An odd node's data for a log of `words` words."""
    honest = "0x" + "".join(_word(rng) for _ in range(words))
    return rng.choice([
        honest, honest.upper().replace("0X", "0x"), honest[:-1] + "g", honest[:-2], "0x",
        honest + _word(rng), 5, None, honest[:-1] + "é", honest[:-1] + " ",
        "0x" + "".join(_word(rng) for _ in range(max(words - 1, 0)))])


def _log(rng: random.Random, odd: float) -> dict[str, Any]:
    address, t0, holds, words = rng.choice(_KINDS)
    topics = [t0, *(_topic(rng, h) for h in holds)]
    log: dict[str, Any] = {}
    for key in ("address", "topics", "data", "blockHash", "blockNumber", "blockTimestamp",
                "transactionHash", "transactionIndex", "logIndex", "removed"):
        if key == "topics":
            log[key] = _topics(rng, topics) if rng.random() < odd * 3 else topics
        elif key == "data" and rng.random() < odd:
            log[key] = _data(rng, words)
        elif rng.random() < odd:
            if rng.random() < 0.15:
                continue  # the field left out
            log[key] = _FIELDS[key](rng)
        else:  # what an honest node sends
            log[key] = {"address": address, "removed": False,
                        "data": "0x" + "".join(_word(rng) for _ in range(words)),
                        "blockNumber": "0x1f", "blockHash": "0x" + "a" * 64,
                        "blockTimestamp": "0x6b116edf", "transactionIndex": "0x0",
                        "transactionHash": "0x" + _hex(rng, 64),
                        "logIndex": hex(rng.randrange(1000))}[key]
    if rng.random() < odd / 2:
        log["other"] = _FIELDS["other"](rng)
    keys = list(log)
    if rng.random() < 0.3:
        rng.shuffle(keys)
    return {k: log[k] for k in keys}


def _dumps(rng: random.Random, value: Any) -> bytes:
    style = rng.randrange(4)
    if style == 0:
        try:
            return orjson.dumps(value)
        except TypeError:  # a lone surrogate: orjson writes none
            style = 1
    if style == 1:
        return json.dumps(value, ensure_ascii=True).encode()  # non-ASCII as \\u escapes
    # A lone surrogate written raw is not UTF-8: orjson refuses it, and so must the reader.
    if style == 2:
        return json.dumps(value, indent=rng.choice([1, 2]), ensure_ascii=False).encode(
            "utf-8", "surrogatepass")
    return json.dumps(value, separators=(" , ", " : "), ensure_ascii=False).encode(
        "utf-8", "surrogatepass")


def _answer(seed: int, odd: float) -> bytes:
    rng = random.Random(seed)
    logs = [_log(rng, odd) for _ in range(rng.randrange(0, 12))]
    replies: list[Any] = [{"jsonrpc": "2.0", "id": 1, "result": logs},
                          {"jsonrpc": "2.0", "id": 2, "result": {"hash": "0x" + "c" * 64,
                                                                  "number": "0x20"}}]
    roll = rng.random()
    if roll < 0.05:
        replies[1] = {"jsonrpc": "2.0", "id": 2, "error": {"code": -32005, "message": "too many"}}
    elif roll < 0.1:
        replies[0] = {"jsonrpc": "2.0", "id": 1, "result": None}
    elif roll < 0.15:
        replies[0]["result"] = [1, 2]
    if rng.random() < 0.1:  # a reply nobody asked for, with logs of its own (ignored by id)
        replies.append({"jsonrpc": "2.0", "id": 99,
                        "result": [_log(rng, odd) for _ in range(rng.randrange(0, 4))]})
    rng.shuffle(replies)
    body = _dumps(rng, replies if rng.random() < 0.9 else replies[0])
    if rng.random() < odd / 2 and b'"logIndex"' in body:  # a key twice: orjson keeps the last
        body = body.replace(b'"logIndex"', b'"logIndex":"0x7","logIndex"', 1)
    return body


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except Exception as exc:  # the same failure, whichever path: its type and its words
        return "raises", (type(exc), str(exc))


def _times(logs: list[Any]) -> dict[int, int] | None:
    """The block times the fetch stage hands the decoder with these logs, or None when it
    refuses them (a block given two times, or a time that is not a number)."""
    times: dict[int, int] = {}
    try:
        for log in logs:
            stamp = log.get("blockTimestamp")
            if stamp is None:
                continue
            t = int(stamp, 16)
            if times.setdefault(int(log["blockNumber"], 16), t) != t:
                return None
    except (TypeError, ValueError, KeyError, AttributeError):
        return None
    return times


def _decoded(logs: list[Any], times: dict[int, int]) -> tuple[str, Any]:
    batch = Batch(69003, 0, Cursor(0, ""))
    batch.block_times.update(times)
    outcome = _outcome(Decoder(TOKEN, PAYMENTS).decode_into, logs, batch)
    return outcome if outcome[0] == "raises" else ("ok", (outcome[1], batch))


def _triples(logs: list[Any]) -> tuple[str, Any]:
    return _outcome(lambda: list(dict.fromkeys(
        (log["blockNumber"], log["blockHash"], log.get("blockTimestamp")) for log in logs)))


def check_same(body: bytes) -> bool:
    """The compiled reader's answer is the pure path's; True when it read the logs itself."""
    pure = _outcome(orjson.loads, body)
    compiled = _outcome(READ, body)
    if pure[0] == "raises":
        assert compiled == pure
        return False
    assert compiled[0] == "ok"
    expected, got = pure[1], compiled[1]
    replies = got if isinstance(got, list) else [got]
    scanned = [i for i, r in enumerate(replies)
               if isinstance(r, dict) and isinstance(r.get("result"), ScannedLogs)]
    if not scanned:
        assert got == expected
        return False
    pure_replies = expected if isinstance(expected, list) else [expected]
    assert [r for j, r in enumerate(replies) if j not in scanned] == [
        r for j, r in enumerate(pure_replies) if j not in scanned]
    for i in scanned:  # each array of logs on its own
        logs, pure_logs = replies[i]["result"], pure_replies[i]["result"]
        assert {**replies[i], "result": None} == {**pure_replies[i], "result": None}
        assert len(logs.items) == len(pure_logs)
        for item, log in zip(logs.items, pure_logs, strict=True):
            if isinstance(item, dict):
                assert item == log
            else:
                assert type(item) in ROW_TYPES
                assert log.get("removed") is False or "removed" not in log
        assert logs.removed == any(log.get("removed") for log in pure_logs)
        assert _triples(pure_logs) == ("ok", list(dict.fromkeys(logs.blocks)))
        times = _times(pure_logs)
        if times is not None:  # else the fetch stage refuses the answer before decoding
            compiled_rows, pure_rows = _decoded(logs.items, times), _decoded(pure_logs, times)
            assert compiled_rows == pure_rows
            if compiled_rows[0] == "ok":  # each row in its own list, and of its own class
                for name in ("transfers", "deposits", "redemptions", "payments", "refunds",
                             "booking_opens"):
                    assert [type(r) for r in getattr(compiled_rows[1][1], name)] == [
                        type(r) for r in getattr(pure_rows[1][1], name)]
    return True


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), odd=st.sampled_from([0.0, 0.02, 0.1, 0.4]))
def test_any_answer_gives_the_rows_of_the_pure_path(seed: int, odd: float) -> None:
    check_same(_answer(seed, odd))


@settings(max_examples=1500, deadline=None)
@given(seed=st.integers(0, 2**32), cut=st.integers(0, 10_000), byte=st.integers(0, 255),
       how=st.sampled_from(["cut", "flip", "insert"]))
def test_a_damaged_answer_is_refused_or_read_as_orjson_reads_it(
    seed: int, cut: int, byte: int, how: str
) -> None:
    body = _answer(seed, 0.02)
    at = cut % (len(body) + 1)
    if how == "cut":
        body = body[:at]
    elif how == "flip" and at < len(body):
        body = body[:at] + bytes([byte]) + body[at + 1 :]
    else:
        body = body[:at] + bytes([byte]) + body[at:]
    check_same(body)


def test_an_honest_answer_is_read_into_transfer_rows() -> None:
    """Without this the properties above could pass with every answer handed to orjson."""
    rng = random.Random(5)
    logs = [{"address": TOKEN, "topics": [T_TRANSFER, _address_topic(rng), _address_topic(rng)],
             "data": "0x" + _hex(rng, 64), "blockHash": "0x" + "a" * 64,
             "blockNumber": hex(31 + i // 3), "blockTimestamp": "0x6b116edf",
             "transactionHash": "0x" + _hex(rng, 64), "transactionIndex": "0x0",
             "logIndex": hex(i), "removed": False} for i in range(9)]
    body = orjson.dumps([{"jsonrpc": "2.0", "id": 1, "result": logs},
                         {"jsonrpc": "2.0", "id": 2, "result": None}])
    assert check_same(body)
    scanned = READ(body)[0]["result"]
    assert all(isinstance(item, TransferRow) for item in scanned.items)
    assert scanned.items[4] == TransferRow(
        32, 4, logs[4]["transactionHash"], "0x" + logs[4]["topics"][1][26:],
        "0x" + logs[4]["topics"][2][26:], int(logs[4]["data"], 16))
    assert scanned.blocks == [(hex(n), "0x" + "a" * 64, "0x6b116edf") for n in (31, 32, 33)]
    assert scanned.removed is False


def test_the_generated_answers_reach_the_compiled_rows() -> None:
    """The generator must produce answers the reader reads itself, with rows of every kind
    among them, or the properties would test the fallback only."""
    read = [check_same(_answer(seed, 0.1)) for seed in range(300)]
    assert sum(read) > 100
    rows: Counter[type] = Counter()
    for seed in range(600):
        done, got = _outcome(READ, _answer(seed, 0.02))
        if done != "ok":
            continue  # an answer orjson refuses (the checks above compare those)
        for reply in got if isinstance(got, list) else [got]:
            if isinstance(reply, dict) and isinstance(reply.get("result"), ScannedLogs):
                rows.update(type(item) for item in reply["result"].items)
    for kind in ROW_TYPES:
        assert rows[kind] > 20, (kind, rows)
    assert rows[TransferRow] > 150


def test_a_reply_nobody_asked_for_does_not_hide_a_block_from_the_hash_check() -> None:
    """A node adds to the batch a reply of its own (id 99) holding the same block's log: the
    reply for the range must still name that block, whose hash differs from the header's, so
    the range is read again (the reader once carried the block list from one array to the
    next and left the block out)."""
    rng = random.Random(9)
    log = {"address": TOKEN, "topics": [T_TRANSFER, _address_topic(rng), _address_topic(rng)],
           "data": "0x" + _hex(rng, 64), "blockHash": "0x" + "a" * 64, "blockNumber": "0x1f",
           "transactionHash": "0x" + _hex(rng, 64), "transactionIndex": "0x0",
           "logIndex": "0x5", "removed": False}

    def answer(request: httpx.Request) -> httpx.Response:
        ids = [call["id"] for call in orjson.loads(request.content)]
        return httpx.Response(200, content=orjson.dumps([
            {"jsonrpc": "2.0", "id": 99, "result": [log]},
            {"jsonrpc": "2.0", "id": ids[0], "result": [log]},
            {"jsonrpc": "2.0", "id": ids[1], "result": {
                "hash": "0x" + "b" * 64, "parentHash": "0x" + "c" * 64, "number": "0x1f",
                "timestamp": "0x6b116edf"}}]))

    targets = Targets(chain_id=69003, token=TOKEN, payments=None, start_block=31)
    with RpcClient("http://127.0.0.1:1", transport=httpx.MockTransport(answer)) as rpc:
        indexer = Indexer(rpc, None, targets, ranges=AdaptiveRange(initial=1))  # type: ignore[arg-type]
        assert indexer.read_logs is not None
        with pytest.raises(NodeLagging, match="block 31 changed while reading it"):
            indexer._fetch_final(31, 31)


def test_an_interrupt_while_reading_is_passed_on_not_swallowed() -> None:
    """A KeyboardInterrupt raised while a row is built (here by the day of a payment) must
    reach the caller: the reader hands only errors (Exceptions) of a log to the pure path."""
    def interrupted(_timestamp: int) -> str:
        raise KeyboardInterrupt

    read = logscan.reader(Decoder(TOKEN, PAYMENTS).row_specs(), interrupted)
    assert read is not None
    rng = random.Random(3)
    payment = {"address": PAYMENTS, "topics": [T_PAYMENT, "0x" + f"{7:064x}",
                                               _address_topic(rng), "0x" + _hex(rng, 64)],
               "data": "0x" + f"{500:064x}", "blockHash": "0x" + "a" * 64, "blockNumber": "0x1f",
               "blockTimestamp": "0x6b116edf", "transactionHash": "0x" + _hex(rng, 64),
               "transactionIndex": "0x0", "logIndex": "0x0", "removed": False}
    with pytest.raises(KeyboardInterrupt):
        read(orjson.dumps({"jsonrpc": "2.0", "id": 1, "result": [payment]}))
    items = READ(orjson.dumps({"jsonrpc": "2.0", "id": 1, "result": [payment]}))["result"].items
    assert items == [PaymentRow(31, 0, payment["transactionHash"], 7,
                                "0x" + payment["topics"][2][26:], payment["topics"][3], 500,
                                local_day(0x6b116edf))]
