"""The API against a running stack: real chain, indexer and SQLite, through HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ledger.chain.reference import new_salt, reference_commitment
from ledger.demo import MERCHANTS, RESIDENTS, dev_account
from tests.e2e.api_stack import FeedListener, Stack, running_stack, sign_in

pytestmark = pytest.mark.chain
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("api-stack")) as running:
        yield running


def chain_transfers(stack: Stack, account: str) -> set[tuple[int, int, str]]:
    token = stack.manifest.contract("DistrictToken").address
    logs = stack.w3.eth.get_logs(
        {"address": token, "fromBlock": 0, "toBlock": "latest", "topics": [TRANSFER_TOPIC]}
    )
    mine = set()
    padded = "0x" + "0" * 24 + account.lower()[2:]
    for log in logs:
        if padded in (log["topics"][1].to_0x_hex(), log["topics"][2].to_0x_hex()):
            mine.add((int(log["blockNumber"]), int(log["logIndex"]), str(int(log["data"].hex() or "0", 16))))
    return mine


def api_history(stack: Stack, account: str, auth: dict[str, str]) -> set[tuple[int, int, str]]:
    items: list[dict[str, object]] = []
    cursor = None
    for _ in range(100):
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        body = httpx.get(
            f"{stack.api_url}/v1/accounts/{account}/history", params=params, headers=auth, timeout=10
        ).json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    keys = [(int(i["block"]), int(i["log_index"])) for i in items]  # type: ignore[call-overload]
    assert keys == sorted(keys, reverse=True) and len(keys) == len(set(keys))
    return {(int(i["block"]), int(i["log_index"]), str(i["amount"]["micro"])) for i in items}  # type: ignore[call-overload,index]


def test_balances_histories_and_supply_equal_the_chain(stack: Stack) -> None:
    stack.wait_indexed(stack.head())
    keys = [dev_account(i) for _, i in RESIDENTS] + [dev_account(i) for _, _, i in MERCHANTS]
    for key in keys:
        account, auth = key.address, sign_in(stack.api_url, key)
        body = httpx.get(f"{stack.api_url}/v1/accounts/{account}/balance", headers=auth, timeout=10).json()
        assert int(body["balance"]["micro"]) == stack.operator.balance_of(account, body["indexed_block"]), (
            account
        )
        assert api_history(stack, account, auth) == chain_transfers(stack, account), account
    token = httpx.get(f"{stack.api_url}/v1/token", timeout=10).json()
    assert int(token["total_supply"]["micro"]) == stack.operator.total_supply(token["indexed_block"])
    assert int(token["reserve"]["micro"]) == stack.operator.reserve(token["indexed_block"])
    assert token["backing_ratio"] == "1.000000"
    merchants = httpx.get(f"{stack.api_url}/v1/merchants", timeout=10).json()["merchants"]
    assert [m["name"] for m in merchants] == [name for name, _, _ in MERCHANTS]


def test_a_client_using_min_block_sees_its_own_payment(stack: Stack) -> None:
    alice = stack.operator.as_(dev_account(RESIDENTS[0][1]))
    auth = sign_in(stack.api_url, dev_account(RESIDENTS[0][1]))
    before = int(
        httpx.get(f"{stack.api_url}/v1/accounts/{alice.address}/balance", headers=auth, timeout=10).json()[
            "balance"
        ]["micro"]
    )
    sent = alice.pay(1, 1_750_000, "E2E-MIN-BLOCK")
    history = httpx.get(
        f"{stack.api_url}/v1/accounts/{alice.address}/history",
        params={"min_block": sent.block_number, "limit": 5},
        headers=auth,
        timeout=20,
    )
    assert history.status_code == 200
    body = history.json()
    assert body["indexed_block"] >= sent.block_number
    assert body["items"][0]["tx_hash"] == sent.tx_hash
    assert body["items"][0]["amount"] == {"micro": "1750000", "display": "1.75 M3E"}
    balance = httpx.get(
        f"{stack.api_url}/v1/accounts/{alice.address}/balance",
        params={"min_block": sent.block_number},
        headers=auth,
        timeout=20,
    ).json()
    assert int(balance["balance"]["micro"]) == before - 1_750_000
    far = httpx.get(
        f"{stack.api_url}/v1/accounts/{alice.address}/balance",
        params={"min_block": sent.block_number + 10_000},
        headers=auth,
        timeout=30,
    )
    assert far.status_code == 425
    assert "not yet block" in far.json()["error"]["message"]


def test_a_reorg_is_announced_on_the_live_feed(stack: Stack) -> None:
    bruno = stack.operator.as_(dev_account(RESIDENTS[1][1]))
    stack.wait_indexed(stack.head())
    with FeedListener(f"{stack.api_url}/v1/feed") as feed:
        feed.wait_for(lambda e: e[0] == "block")
        snapshot = stack.w3.provider.make_request("evm_snapshot", [])["result"]
        # references go on chain as salted commitments only (and the public feed shows none)
        old_ref = reference_commitment("E2E-OLD-FORK", new_salt())
        new_ref = reference_commitment("E2E-NEW-FORK", new_salt())
        old = bruno.pay(2, 2_000_000, old_ref)
        feed.wait_for(lambda e: e[0] == "payment" and e[2]["block"] == old.block_number)
        assert stack.w3.provider.make_request("evm_revert", [snapshot])["result"] is True
        new = bruno.pay(3, 3_000_000, new_ref)
        stack.w3.provider.make_request("evm_mine", [])
        assert new.block_number == old.block_number and new.tx_hash != old.tx_hash
        reorg = feed.wait_for(lambda e: e[0] == "reorg")
        assert reorg[2]["to_block"] < old.block_number <= reorg[2]["from_block"]
        replayed = feed.wait_for(
            lambda e: e[0] == "payment" and e[2]["block"] == new.block_number and e[2]["merchant_id"] == 3
        )
        assert replayed[2]["amount"]["micro"] == "3000000" and "ref" not in replayed[2]
        assert feed.events.index(reorg) < feed.events.index(replayed)
    stack.wait_indexed(stack.head())
    auth = sign_in(stack.api_url, dev_account(RESIDENTS[1][1]))
    body = httpx.get(f"{stack.api_url}/v1/accounts/{bruno.address}/balance", headers=auth, timeout=10).json()
    assert int(body["balance"]["micro"]) == stack.operator.balance_of(bruno.address, body["indexed_block"])
    payments = httpx.get(f"{stack.api_url}/v1/payments/recent?limit=20", timeout=10).json()["payments"]
    at_fork = [(p["merchant_id"], p["amount"]["micro"]) for p in payments if p["block"] == new.block_number]
    assert at_fork == [(3, "3000000")]


def test_the_openapi_document_is_served(stack: Stack) -> None:
    spec = httpx.get(f"{stack.api_url}/openapi.json", timeout=10).json()
    assert "/v1/accounts/{account}/history" in spec["paths"]
