"""The compiled reader of eth_getLogs answers (ledger/indexer/_logscan.c) against orjson and the
Python decoder: for any answer, honest or not, the rows, the block list and the removed flag it
gives are those of the pure-Python path, and an answer orjson refuses is refused the same way."""

from __future__ import annotations

import json
import os
import random
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.db.records import Batch, Cursor, TransferRow
from ledger.indexer import logscan
from ledger.indexer.errors import NodeLagging
from ledger.indexer.events import T_PAYMENT, T_TRANSFER, Decoder
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
READ = logscan.reader(TOKEN, T_TRANSFER)
assert READ is not None


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


def _topics(rng: random.Random) -> Any:
    t0 = rng.choice([T_TRANSFER, T_TRANSFER, T_TRANSFER, T_PAYMENT, "0x" + _hex(rng, 64),
                     T_TRANSFER.upper().replace("0X", "0x")])
    topics: list[Any] = [t0, _address_topic(rng), _address_topic(rng)]
    roll = rng.random()
    if roll < 0.1:
        topics.append(_address_topic(rng))
    elif roll < 0.15:
        topics = topics[:2]
    elif roll < 0.2:
        topics[1] = "0x" + "1" + "0" * 23 + _hex(rng, 40)  # not an address's padding
    elif roll < 0.25:
        topics[2] = topics[2][:-1]
    elif roll < 0.3:
        topics[1] = 12
    elif roll < 0.35:
        topics[2] = topics[2][:30] + "é" + topics[2][31:]
    elif roll < 0.4:
        return rng.choice(["0xabc", None, {}])
    return topics


def _log(rng: random.Random, odd: float) -> dict[str, Any]:
    log: dict[str, Any] = {}
    for key in ("address", "topics", "data", "blockHash", "blockNumber", "blockTimestamp",
                "transactionHash", "transactionIndex", "logIndex", "removed"):
        if key == "topics":
            log[key] = _topics(rng) if rng.random() < odd * 3 else [
                T_TRANSFER, _address_topic(rng), _address_topic(rng)]
        elif rng.random() < odd:
            if rng.random() < 0.15:
                continue  # the field left out
            log[key] = _FIELDS[key](rng)
        else:  # what an honest node sends
            log[key] = {"address": TOKEN, "data": "0x" + _hex(rng, 64), "removed": False,
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


def _decoded(logs: list[Any]) -> tuple[str, Any]:
    batch = Batch(69003, 0, Cursor(0, ""))
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
            if isinstance(item, TransferRow):
                assert log.get("removed") is False or "removed" not in log
            else:
                assert item == log
        assert logs.removed == any(log.get("removed") for log in pure_logs)
        assert _triples(pure_logs) == ("ok", list(dict.fromkeys(logs.blocks)))
        assert _decoded(logs.items) == _decoded(pure_logs)
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
    """The generator must produce answers the reader reads itself, with transfer rows among
    them, or the properties would test the fallback only."""
    read = [check_same(_answer(seed, 0.1)) for seed in range(300)]
    assert sum(read) > 100
    rows = 0
    for seed in range(300):
        done, got = _outcome(READ, _answer(seed, 0.1))
        if done != "ok":
            continue  # an answer orjson refuses (the checks above compare those)
        for reply in got if isinstance(got, list) else [got]:
            if isinstance(reply, dict) and isinstance(reply.get("result"), ScannedLogs):
                rows += sum(isinstance(item, TransferRow) for item in reply["result"].items)
    assert rows > 150


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
