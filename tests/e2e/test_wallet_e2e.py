"""The wallet end to end, as separate processes, against a real Hardhat node with the district
contracts deployed: create, fund through a deposit, pay a merchant by name, pay a URI made by
`wallet request`, refund, a booking, offline signing then broadcast from another process and
account, and a history showing it all by category."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ledger.chain.client import connect
from ledger.chain.deploy import deploy_district
from ledger.chain.devnode import DevNode, free_port
from ledger.chain.district import Category, District
from ledger.demo import dev_account

pytestmark = pytest.mark.chain

WALLET = Path(sys.executable).parent / "wallet"
M3E = 1_000_000


@dataclass
class Stack:
    url: str
    manifest: Path
    operator: District
    bakery_id: int
    coworking_id: int
    tmp: Path

    def run(self, home: str, *args: str, input: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(WALLET), *args],
            env={**os.environ, "WALLET_HOME": str(self.tmp / home), "WALLET_RPC_URL": self.url,
                 "WALLET_MANIFEST": str(self.manifest), **(env or {})},
            input=input, capture_output=True, text=True, timeout=180, check=False,
        )

    def json(self, home: str, *args: str, input: str | None = None) -> dict[str, Any]:
        result = self.run(home, *args, "--json", input=input)
        assert result.returncode == 0, result.stderr + result.stdout
        return dict(json.loads(result.stdout))

    def signer(self, *args: str) -> list[str]:
        return [*args, "--yes", "--password-file", str(self.tmp / "pw")]


@pytest.fixture(scope="module")
def stack(chain_node: DevNode, compilation: Any,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("wallet-e2e")
    w3 = connect(chain_node.url)
    manifest = deploy_district(w3, dev_account(0), compilation=compilation)
    path = tmp / "deployment.json"
    manifest.save(path)
    operator = District(w3, dev_account(0), manifest)
    bakery_id, _ = operator.register_merchant("Boulangerie du Lac", Category.FOOD,
                                              dev_account(41).address)
    coworking_id, _ = operator.register_merchant("La Ruche Part-Dieu", Category.CO_WORKING,
                                                 dev_account(42).address)
    (tmp / "pw").write_text("correct horse battery\n")
    (tmp / "pw").chmod(0o600)
    s = Stack(chain_node.url, path, operator, bakery_id, coworking_id, tmp)
    for home, name, index in (("resident-home", "resident", 40), ("bakery-home", "bakery", 41),
                              ("bakery-home", "coworking", 42), ("terminal-home", "terminal", 43)):
        s.json(home, "import", name, "--private-key", "--password-file", str(tmp / "pw"),
               input="0x" + dev_account(index).key.hex().removeprefix("0x"))
    yield s


def test_a_resident_pays_merchants_books_signs_offline_and_sees_it_all_by_category(
    stack: Stack,
) -> None:
    s = stack
    resident = dev_account(40).address
    # fund through an operator deposit
    s.operator.record_deposit("E2E-DEP-0001", resident, 100 * M3E)
    balance = s.json("resident-home", "balance")
    assert balance["balance"] == str(100 * M3E) and balance["display"] == "100.00 M3E"
    assert "100.00 M3E" in s.run("resident-home", "balance").stdout

    # pay a merchant by name (case-insensitive), the first time its payout is remembered
    paid = s.json("resident-home", *s.signer("pay", "boulangerie du lac", "4.20",
                                             "--ref", "BAGUETTE-1"))
    assert paid["via"] == "ServicePayments" and paid["merchant"]["id"] == s.bakery_id
    assert paid["tx_hash"].startswith("0x") and paid["block"] > 0
    assert s.operator.balance_of(dev_account(41).address) == 4_200_000

    # an unknown merchant: the closest names are suggested
    unknown = s.run("resident-home", *s.signer("pay", "Boulangrie", "1", "--ref", "X"))
    assert unknown.returncode == 1 and "Did you mean: Boulangerie du Lac?" in unknown.stderr

    # insufficient balance shows the balance
    poor = s.run("resident-home", *s.signer("pay", "Boulangerie du Lac", "1000", "--ref", "X"))
    assert poor.returncode == 1 and "your balance is 95.80 M3E" in poor.stderr

    # pay a URI produced by `wallet request` (the bakery's account)
    request = s.json("bakery-home", "request", "7.50", "--ref", "TABLE-7", "--to", "bakery")
    by_uri = s.json("resident-home", *s.signer("pay", request["uri"]))
    assert by_uri["via"] == "ServicePayments" and by_uri["ref"] == "TABLE-7"
    assert by_uri["merchant"]["name"] == "Boulangerie du Lac"

    # refund (the merchant's payout account) of the reference it requested: the same
    # commitment goes on chain, so the payer's wallet matches the refund too
    refunded = s.json("bakery-home", *s.signer("refund", str(s.bakery_id), resident, "1.20",
                                               "--ref", "TABLE-7", "--account", "bakery"))
    assert refunded["amount"] == "1200000"
    assert refunded["ref_commitment"] == by_uri["ref_commitment"]

    # a booking: book, the merchant closes it keeping part of the deposit
    booked = s.json("resident-home", *s.signer("book", "La Ruche", "50", "--hours", "24",
                                               "--ref", "ROOM-1"))
    booking_id = booked["booking_id"]
    assert isinstance(booking_id, int)
    closed = s.json("bakery-home", *s.signer("close", str(booking_id), "--charge", "18",
                                             "--account", "coworking"))
    assert closed["charged"] == str(18 * M3E) and closed["returned"] == str(32 * M3E)

    # a contract refusal is the rule's sentence: reclaiming before expiry
    second = s.json("resident-home", *s.signer("book", "La Ruche", "5", "--hours", "24",
                                               "--ref", "ROOM-2"))
    early = s.run("resident-home", *s.signer("reclaim", str(second["booking_id"]), "--json"))
    assert early.returncode == 1
    refusal = json.loads(early.stdout)
    assert refusal["error"] == "ContractRefusedError"
    assert refusal["rule"] == "ServicePaymentsBookingNotExpired"

    # offline: sign a payment (a random nonce; the payout address read from the chain), broadcast
    # it from another process and another account (the bakery's terminal)
    signed_file = s.tmp / "payment.json"
    signed = s.json("resident-home", *s.signer("sign", "payment", "resident", "--merchant-id",
                                               str(s.bakery_id), "--amount", "3.10", "--ref",
                                               "TERMINAL-1", "--out", str(signed_file)))
    assert len(str(signed["payer_nonce"])) == 66 and signed["payout"] == dev_account(41).address
    forged = s.tmp / "other-chain.json"
    forged.write_text(json.dumps({**json.loads(signed_file.read_text()), "chain_id": 1}))
    refused = s.run("terminal-home", *s.signer("broadcast", str(forged)))
    assert refused.returncode == 2 and "signed for chain 1" in refused.stderr
    before = s.operator.balance_of(dev_account(41).address)
    broadcast = s.json("terminal-home", *s.signer("broadcast", str(signed_file)))
    assert broadcast["payer"] == resident and broadcast["ref"] == signed["ref"]  # a commitment
    assert s.operator.balance_of(dev_account(41).address) == before + 3_100_000
    again = s.run("terminal-home", *s.signer("broadcast", str(signed_file)))
    assert again.returncode == 1 and "already paid or cancelled" in again.stderr  # once, ever

    # a signed raw transfer to a contact, broadcast by another process (no key needed)
    neighbour = dev_account(44).address
    s.json("resident-home", "contacts", "add", "Voisine Chloé", neighbour)
    tx_file = s.tmp / "transfer.json"
    s.json("resident-home", *s.signer("sign", "tx", "resident", "Voisine Chloé", "2",
                                      "--out", str(tx_file)))
    sent_raw = s.json("terminal-home", "broadcast", str(tx_file), "--yes")
    assert sent_raw["to"].lower() == neighbour.lower() and sent_raw["amount"] == "2000000"
    # and a plain send to the contact
    s.json("resident-home", *s.signer("send", "Voisine Chloé", "1"))
    assert s.operator.balance_of(neighbour) == 3 * M3E

    # expected: 100 - 4.20 - 7.50 + 1.20 - 18 - 5 (held) - 3.10 - 2 - 1 = 60.40
    assert s.json("resident-home", "balance")["display"] == "60.40 M3E"

    # the history, from the chain, grouped by category with receipts
    history = s.json("resident-home", "history")
    assert history["source"] == "chain"
    groups = {g["category"]: g for g in history["categories"]}
    assert {"food", "co-working", "deposits", "transfers"} <= set(groups)
    food_refs = [e["ref"] for e in groups["food"]["entries"]]
    assert food_refs.count("TABLE-7") == 2 and "BAGUETTE-1" in food_refs
    assert "TERMINAL-1" in food_refs  # matched from the commitment by the payer's wallet
    assert groups["food"]["total"] == str(-(4_200_000 + 7_500_000 - 1_200_000 + 3_100_000))
    assert groups["co-working"]["total"] == str(-(18 + 5) * M3E)
    assert groups["deposits"]["entries"][0]["ref"] == "E2E-DEP-0001"
    assert groups["transfers"]["total"] == str(-3 * M3E)
    for group in history["categories"]:
        for entry in group["entries"]:
            assert entry["tx_hash"].startswith("0x") and entry["block"] > 0
    text = s.run("resident-home", "history").stdout
    assert "food" in text and "receipt 0x" in text and "ref TABLE-7" in text

    # the merchant sees the other side
    merchant_view = s.json("bakery-home", "history", "--account", "bakery")
    food = {g["category"]: g for g in merchant_view["categories"]}["food"]
    assert food["total"] == str(4_200_000 + 7_500_000 - 1_200_000 + 3_100_000)


def test_a_changed_payout_address_is_warned_about(stack: Stack) -> None:
    s = stack
    resident = dev_account(40).address
    s.operator.record_deposit("E2E-DEP-0002", resident, 10 * M3E)
    s.json("resident-home", *s.signer("pay", "La Ruche Part-Dieu", "1", "--ref", "SEEN-1"))
    w3 = s.operator.client.w3
    # A payout change waits two days on chain: the clock moves, then comes back (snapshot), so
    # the other tests sharing this node keep the wall clock.
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        payments = s.operator.payments.functions
        s.operator.client.transact(payments.requestPayoutChange(s.coworking_id, dev_account(45).address))
        w3.provider.make_request("evm_increaseTime", [2 * 86_400 + 1])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        s.operator.client.transact(payments.completePayoutChange(s.coworking_id))
        moved = s.run("resident-home", *s.signer("pay", "La Ruche Part-Dieu", "1", "--ref", "SEEN-2"))
    finally:
        assert w3.provider.make_request("evm_revert", [snapshot])["result"]  # type: ignore[arg-type]
    assert moved.returncode == 0, moved.stderr
    assert "Warning: the payout address of 'La Ruche Part-Dieu' changed" in moved.stderr


def test_a_transaction_not_mined_in_time_exits_3_with_its_hash(stack: Stack) -> None:
    s = stack
    w3 = s.operator.client.w3
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        result = s.run("resident-home", *s.signer("send", dev_account(44).address, "0.5",
                                                  "--timeout", "1", "--json"))
    finally:
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert result.returncode == 3, result.stderr
    data = json.loads(result.stdout)
    assert data["error"] == "NotConfirmedError" and data["tx_hash"].startswith("0x")
    assert "may still go through" in data["message"]


def test_energy_when_the_configured_api_does_not_answer_says_how_to_point_at_it(stack: Stack) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # a loopback port where nothing listens
    result = stack.run("resident-home", "energy", env={"WALLET_API_URL": nobody})
    assert result.returncode == 1
    assert f"The district API at {nobody} cannot be reached" in result.stderr
    assert "wallet config set api_url" in result.stderr


def test_energy_join_mandate_and_leave_against_the_chain(stack: Stack) -> None:
    """A resident signs an energy mandate, reads it back from the contract, then revokes it."""
    home, operation = "resident-home", "lyon3-e2e-op"
    joined = stack.json(home, "energy", "join", "--operation", operation, "--per-day", "4",
                        "--per-month", "40", *stack.signer("--account", "resident"))
    assert (joined["per_day"], joined["per_month"]) == (str(4 * M3E), str(40 * M3E))
    shown = stack.json(home, "energy", "mandate", "--operation", operation, "--account", "resident")
    assert shown["active"] is True and (shown["per_day"], shown["per_month"]) == (str(4 * M3E), str(40 * M3E))
    assert (shown["pulled_day"], shown["pulled_month"], shown["owed"]) == ("0", "0", "0")
    words = stack.run(home, "energy", "mandate", "--operation", operation, "--account", "resident")
    assert words.returncode == 0 and "4" in words.stdout, words.stderr
    stack.json(home, "energy", "leave", "--operation", operation, *stack.signer("--account", "resident"))
    left = stack.json(home, "energy", "mandate", "--operation", operation, "--account", "resident")
    assert left["active"] is False
