"""Payments through the wallet on a real local node leave only salted commitments on chain: the
clear reference bytes appear in no log (eth_getLogs over every contract) and in no transaction's
input, while the payer's and the merchant's wallets match the commitments back to the clear
references in their histories. Names: the registrar refuses a look-alike merchant, and the wallet
lists a name it cannot tell apart (registered straight on the contract) with #id and payout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.chain.client import connect
from ledger.chain.deploy import deploy_district
from ledger.chain.devnode import DevNode
from ledger.chain.district import Category, District
from ledger.chain.reference import parse_salt, reference_commitment
from ledger.demo import dev_account
from ledger.errors import InputError
from tests.e2e.test_wallet_e2e import Stack

pytestmark = pytest.mark.chain

M3E = 1_000_000
REQUESTED = "TABLE-7 terrasse, 2 cafés + 1 croissant, facture 2026-12-0007"  # > 32 bytes
TYPED = "DESK-2026-11-CHLOE"
BOOKED = "ROOM-CHLOE-1"
RESIDENT, BAKER, COWORK = 60, 61, 62


@pytest.fixture(scope="module")
def stack(chain_node: DevNode, compilation: Any,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("wallet-refs")
    w3 = connect(chain_node.url)
    manifest = deploy_district(w3, dev_account(0), compilation=compilation)
    path = tmp / "deployment.json"
    manifest.save(path)
    operator = District(w3, dev_account(0), manifest)
    bakery_id, _ = operator.register_merchant("Boulangerie du Lac", Category.FOOD,
                                              dev_account(BAKER).address)
    coworking_id, _ = operator.register_merchant("La Ruche Part-Dieu", Category.CO_WORKING,
                                                 dev_account(COWORK).address)
    (tmp / "pw").write_text("correct horse battery\n")
    (tmp / "pw").chmod(0o600)
    s = Stack(chain_node.url, path, operator, bakery_id, coworking_id, tmp)
    for home, name, index in (("resident-home", "resident", RESIDENT),
                              ("bakery-home", "bakery", BAKER)):
        s.json(home, "import", name, "--private-key", "--password-file", str(tmp / "pw"),
               input="0x" + dev_account(index).key.hex().removeprefix("0x"))
    operator.record_deposit("E2E-REFS-DEP-1", dev_account(RESIDENT).address, 100 * M3E)
    yield s


def _chain_bytes(stack: Stack, first_block: int) -> list[tuple[str, bytes]]:
    """Every log's topics and data, and every transaction's input, since `first_block`."""
    w3 = stack.operator.client.w3
    found: list[tuple[str, bytes]] = []
    for log in w3.eth.get_logs({"fromBlock": first_block, "toBlock": "latest"}):
        blob = b"".join(bytes(t) for t in log["topics"]) + bytes(log["data"])
        found.append((f"log {log['transactionHash'].hex()}:{log['logIndex']}", blob))
    for number in range(first_block, int(w3.eth.block_number) + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            found.append((f"input of {tx['hash'].hex()}", bytes(tx["input"])))
    return found


def _refs(history: dict[str, Any]) -> list[str]:
    return [str(e["ref"]) for g in history["categories"] for e in g["entries"] if e["ref"]]


def test_only_commitments_reach_the_chain_and_both_wallets_match_them_back(stack: Stack) -> None:
    s = stack
    resident = dev_account(RESIDENT).address
    first_block = int(s.operator.client.w3.eth.block_number) + 1

    # the bakery asks for a payment: the URI carries the reference and a fresh salt
    request = s.json("bakery-home", "request", "7.50", "--ref", REQUESTED, "--to", "bakery")
    assert "&refsalt=0x" in request["uri"]
    salt = parse_salt(request["ref_salt"])
    paid = s.json("resident-home", *s.signer("pay", request["uri"]))
    assert paid["ref"] == REQUESTED
    assert paid["ref_commitment"] == "0x" + reference_commitment(REQUESTED, salt).hex()
    assert "never paid 'Boulangerie du Lac'" in str(paid["payout_warning"])

    # a reference the payer types, a refund of the requested reference, a booking
    typed = s.json("resident-home", *s.signer("pay", "La Ruche Part-Dieu", "25", "--ref", TYPED))
    refund = s.json("bakery-home", *s.signer("refund", str(s.bakery_id), resident, "1.50",
                                             "--ref", REQUESTED, "--account", "bakery"))
    assert refund["ref_commitment"] == paid["ref_commitment"]  # the payer can match it
    s.json("resident-home", *s.signer("book", "La Ruche", "5", "--hours", "24", "--ref", BOOKED))

    # the chain: the commitments are in the PaymentMade logs, the clear bytes nowhere
    seen = _chain_bytes(s, first_block)
    assert any(bytes.fromhex(paid["ref_commitment"][2:]) in blob for _, blob in seen)
    assert any(bytes.fromhex(typed["ref_commitment"][2:]) in blob for _, blob in seen)
    for reference in (REQUESTED, TYPED, BOOKED):
        needle = reference.encode()[:16]
        leaks = [where for where, blob in seen if needle in blob]
        assert leaks == [], f"{reference!r} in clear: {leaks}"
    # the same search finds a reference that is in clear by design (the operator's deposit)
    everything = _chain_bytes(s, 0)
    assert any(b"E2E-REFS-DEP-1" in blob for _, blob in everything)

    # the payer's wallet reads every reference back from the commitments it holds
    mine = s.json("resident-home", "history", "--source", "chain")
    refs = _refs(mine)
    assert refs.count(REQUESTED) == 2 and TYPED in refs and BOOKED in refs

    # the merchant's wallet reads back the reference it requested (payment and refund), and
    # sees the payer-typed one only as its commitment
    theirs = s.json("bakery-home", "history", "--account", "bakery", "--source", "chain")
    assert _refs(theirs).count(REQUESTED) == 2
    assert TYPED not in json.dumps(theirs)


def test_a_look_alike_merchant_is_refused_by_the_registrar_and_listed_by_the_wallet(
    stack: Stack,
) -> None:
    s = stack
    with pytest.raises(InputError, match="looks like merchant #1 'Boulangerie du Lac'"):
        s.operator.register_merchant("Bou1angerie du Lac", Category.FOOD, dev_account(63).address)
    # straight on the contract (what a registrar key used outside ledger could still do)
    s.operator.client.transact(s.operator.payments.functions.registerMerchant(
        "Boulangerie du lac", int(Category.FOOD), dev_account(63).address))
    result = s.run("resident-home", *s.signer("pay", "Boulangerie du Lac", "1", "--ref", "X",
                                              "--json"))
    assert result.returncode == 1
    message = json.loads(result.stdout)["message"]
    assert f"#1 Boulangerie du Lac (food), payout {dev_account(BAKER).address}" in message
    assert f"payout {dev_account(63).address}" in message and "pay by number" in message


def test_a_contact_named_like_a_registered_merchant_is_refused(stack: Stack) -> None:
    result = stack.run("resident-home", "contacts", "add", "la ruche part dieu",
                       dev_account(64).address)
    assert result.returncode == 2
    assert "is the merchant 'La Ruche Part-Dieu' (#2" in result.stderr
    assert not Path(stack.tmp / "resident-home" / "contacts.json").exists()
