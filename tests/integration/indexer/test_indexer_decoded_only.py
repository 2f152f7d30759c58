"""The day-to-day events are kept only decoded: each one's row must hold every field of its log
(the log is rebuilt from the row, byte for byte, against the node's), and every other event keeps
its raw row as the node served it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from eth_utils.crypto import keccak

from ledger.db import make_engine
from ledger.db.migrate import alembic_config, migrate
from ledger.db.ops import ops_figures
from tests.fixtures.districtchain import Chain, MockDistrict, seed_activity
from tests.integration.indexer.helpers import (
    CHAIN_ID,
    chain_logs,
    digest,
    district_logs,
    index_once,
    indexed_logs,
)

pytestmark = pytest.mark.chain


def _topic(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


def _word(value: int | str) -> str:
    if isinstance(value, str):  # an address or a bytes32 already in hex
        return value[2:].rjust(64, "0")
    return f"{value:064x}"


def _int(value: Any) -> int:
    return int.from_bytes(value, "big") if isinstance(value, bytes) else int(value)


# topic0 -> (SQL giving (block, log index, topics after topic0, data words) per row)
REBUILT = {
    _topic("Transfer(address,address,uint256)"): (
        "SELECT block_number, log_index, from_address, to_address, value FROM transfers",
        lambda r: ([_word(r[2]), _word(r[3])], [_int(r[4])])),
    _topic("DepositRecorded(bytes32,address,uint256,uint256)"): (
        "SELECT block_number, log_index, bank_ref, beneficiary, amount, reserve_after FROM deposits",
        lambda r: ([_word(r[2]), _word(r[3])], [_int(r[4]), _int(r[5])])),
    _topic("Redeemed(uint256,address,uint256,uint256,uint256,bytes32,uint256)"): (
        "SELECT block_number, log_index, redemption_id, merchant, amount, fee, euros, payout_ref, "
        "reserve_after FROM redemptions",
        lambda r: ([_word(int(r[2])), _word(r[3])],
                   [_int(r[4]), _int(r[5]), _int(r[6]), r[7], _int(r[8])])),
    _topic("PaymentMade(uint256,address,bytes32,uint256)"): (
        "SELECT block_number, log_index, merchant_id, payer, ref, amount FROM payments",
        lambda r: ([_word(int(r[2])), _word(r[3]), _word(r[4])], [_int(r[5])])),
    _topic("PaymentRefunded(uint256,address,bytes32,uint256)"): (
        "SELECT block_number, log_index, merchant_id, payer, ref, amount FROM refunds",
        lambda r: ([_word(int(r[2])), _word(r[3]), _word(r[4])], [_int(r[5])])),
    _topic("BookingOpened(uint256,uint256,address,uint256,uint64,bytes32)"): (
        "SELECT opened_block, opened_log_index, booking_id, merchant_id, payer, deposit, "
        "expires_at, ref FROM bookings",
        lambda r: ([_word(int(r[2])), _word(int(r[3])), _word(r[4])],
                   [_int(r[5]), int(r[6]), r[7]])),
}


@pytest.mark.parametrize("database", ["sqlite_url", "postgres_url"])
def test_each_day_to_day_event_is_whole_in_its_row_and_the_others_stay_raw(
    chain: Chain, district: MockDistrict, manifest: Path, database: str,
    request: pytest.FixtureRequest,
) -> None:
    url = request.getfixturevalue(database)
    seed_activity(district)
    index_once(chain.url, manifest, url, confirmations=0)
    logs = district_logs(chain.url, manifest)
    engine = make_engine(url)
    with engine.connect() as conn:
        raw = {(int(r[0]), int(r[1])): tuple(r[2:]) for r in conn.exec_driver_sql(
            "SELECT block_number, log_index, topic0, topic1, topic2, topic3, data FROM raw_logs")}
        rebuilt: dict[tuple[int, int], tuple[str, list[str], str]] = {}
        for topic0, (sql, fields) in REBUILT.items():
            for row in conn.exec_driver_sql(sql):
                topics, words = fields(row)
                data = "0x" + "".join(_word(w) for w in words)
                rebuilt[(int(row[0]), int(row[1]))] = (topic0, ["0x" + t for t in topics], data)
    engine.dispose()
    kinds = set()
    for log in logs:
        key = (int(log["blockNumber"], 16), int(log["logIndex"], 16))
        topics = [t.lower() for t in log["topics"]]
        if topics[0] in REBUILT:
            kinds.add(topics[0])
            assert key not in raw, f"a raw copy of {key} was written"
            assert rebuilt[key] == (topics[0], topics[1:], log["data"].lower()), key
        else:
            assert raw[key] == (*topics, *[None] * (4 - len(topics)), log["data"]), key
    assert kinds == set(REBUILT), "the seeded chain must hold every day-to-day event"
    assert indexed_logs(url) == chain_logs(chain.url, manifest)
    engine = make_engine(url)
    assert ops_figures(engine, CHAIN_ID).events == len(logs)  # the indexed-events metric
    engine.dispose()


@pytest.mark.parametrize("database", ["sqlite_url", "postgres_url"])
def test_an_index_built_with_raw_copies_migrates_to_what_a_new_index_holds(
    chain: Chain, district: MockDistrict, manifest: Path, database: str,
    request: pytest.FixtureRequest, tmp_path: Path,
) -> None:
    """Migration 0022 on an index as the earlier indexer left it (a raw copy of every log):
    the copies of the day-to-day events go, the rest stays, and the index then equals one built
    anew. A raw Transfer with no decoded row (another contract's, say) is kept."""
    url = request.getfixturevalue(database)
    seed_activity(district)
    index_once(chain.url, manifest, url, confirmations=0)
    logs = district_logs(chain.url, manifest)
    engine = make_engine(url)
    command.downgrade(alembic_config(engine), "0021_block_parent_optional")
    transfer = _topic("Transfer(address,address,uint256)")
    with engine.begin() as conn:
        held = {(int(b), int(i)) for b, i in conn.exec_driver_sql(
            "SELECT block_number, log_index FROM raw_logs")}
        copies = [log for log in logs
                  if (int(log["blockNumber"], 16), int(log["logIndex"], 16)) not in held]
        assert copies, "the new indexer keeps the day-to-day events only decoded"
        stray = {"blockNumber": hex(10**6), "logIndex": "0x0", "transactionHash": "0x" + "ab" * 32,
                 "transactionIndex": "0x0", "address": district.token.lower(), "data": "0x" + "00" * 32,
                 "topics": [transfer, "0x" + "00" * 32, "0x" + "00" * 32]}
        for log in [*copies, stray]:
            topics = [*log["topics"], None, None, None][:4]
            conn.exec_driver_sql(
                "INSERT INTO raw_logs (chain_id, block_number, log_index, tx_hash, tx_index, "
                "address, topic0, topic1, topic2, topic3, data) VALUES "
                "(%(c)s, %(b)s, %(i)s, %(tx)s, %(ti)s, %(a)s, %(t0)s, %(t1)s, %(t2)s, %(t3)s, %(d)s)"
                if "postgres" in database else
                "INSERT INTO raw_logs VALUES (:c, :b, :i, :tx, :ti, :a, :t0, :t1, :t2, :t3, :d)",
                {"c": CHAIN_ID, "b": int(log["blockNumber"], 16), "i": int(log["logIndex"], 16),
                 "tx": log["transactionHash"], "ti": int(log["transactionIndex"], 16),
                 "a": log["address"].lower(), "t0": topics[0], "t1": topics[1], "t2": topics[2],
                 "t3": topics[3], "d": log["data"]})
    before = ops_figures(engine, CHAIN_ID).events
    migrate(engine)
    assert ops_figures(engine, CHAIN_ID).events == before == len(logs) + 1  # no counter reset
    with engine.begin() as conn:
        kept = conn.exec_driver_sql(
            "SELECT block_number FROM raw_logs WHERE block_number = 1000000").all()
        assert len(kept) == 1
        conn.exec_driver_sql("DELETE FROM raw_logs WHERE block_number = 1000000")
    engine.dispose()
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    index_once(chain.url, manifest, fresh, confirmations=0)
    assert digest(url) == digest(fresh)
