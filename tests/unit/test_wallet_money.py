"""The money commands with an in-memory chain (FakeGateway) and httpx.MockTransport: what is
shown before signing, confirmations, plain-language errors, exit codes, ERC-681 routing,
balance over raw JSON-RPC, history from the API, energy, offline signed transfers."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_utils import keccak
from typer.testing import CliRunner

from ledger.chain.reference import reference_commitment
from wallet_cli import context, history, keys, rpc
from wallet_cli.commands import chain as chain_commands
from wallet_cli.commands import energy
from wallet_cli.errors import ContractRefusedError, UnknownMerchantError
from wallet_cli.main import app
from wallet_cli.rpc import Merchant, Rpc
from wallet_cli.waiting import Spinner, wait_for_receipt

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
PAYMENTS = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ME = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
BAKERY = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
RUCHE = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
NEIGHBOUR = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"

runner = CliRunner()


class FakeGateway:
    chain_id = 69003
    token = TOKEN
    payments = PAYMENTS

    def __init__(self) -> None:
        self.node_chain = 69003
        self.clock_ahead = 0  # seconds the chain's block time runs ahead of this machine
        self.booked_until: int | None = None
        self.balances: dict[str, int] = {ME.lower(): 50_000_000}
        self.merchant_list = [Merchant(1, "Boulangerie du Lac", "food", BAKERY, True),
                              Merchant(2, "La Ruche Part-Dieu", "co-working", RUCHE, True)]
        self.sent: list[tuple[Any, ...]] = []
        self.mined = True
        self.refuse: ContractRefusedError | None = None
        self._key: bytes | None = None
        self.used: set[tuple[str, bytes]] = set()
        self.covers: dict[int, int] = {}  # merchant id -> the most the commons fund pays

    def use_key(self, private_key: bytes) -> None:
        self._key = private_key

    def node_chain_id(self) -> int:
        return self.node_chain

    def chain_time(self) -> int:
        return int(time.time()) + self.clock_ahead

    def balance_of(self, owner: str) -> int:
        return self.balances.get(owner.lower(), 0)

    def permit_nonce(self, owner: str) -> int:
        return 0

    def merchants(self) -> list[Merchant]:
        return list(self.merchant_list)

    def booking(self, booking_id: int) -> dict[str, Any]:
        return {"payer": ME, "expires_at": 0, "open": True, "merchant_id": 2,
                "deposit": 10_000_000}

    def fund_cover(self, merchant_id: int, payer: str, amount: int) -> int | None:
        return min(amount, self.covers.get(merchant_id, 0))

    def _tx(self, *call: Any) -> str:
        assert self._key is not None, "signed without the key"
        if self.refuse is not None:
            raise self.refuse
        self.sent.append(call)
        return "0x" + f"{len(self.sent):064x}"

    def approve_if_needed(self, amount: int) -> str | None:
        return None

    def transfer(self, to: str, amount: int) -> str:
        return self._tx("transfer", to, amount)

    def pay(self, merchant_id: int, amount: int, ref: bytes) -> str:
        return self._tx("pay", merchant_id, amount, ref)

    def refund(self, merchant_id: int, payer: str, amount: int, ref: bytes) -> str:
        return self._tx("refund", merchant_id, payer, amount, ref)

    def open_booking(self, merchant_id: int, deposit: int, expires_at: int, ref: bytes) -> str:
        self.booked_until = expires_at
        return self._tx("book", merchant_id, deposit, ref)

    def close_booking(self, booking_id: int, charge: int) -> str:
        return self._tx("close", booking_id, charge)

    def reclaim_booking(self, booking_id: int) -> str:
        return self._tx("reclaim", booking_id)

    def redeem(self, amount: int, ref: bytes) -> str:
        return self._tx("redeem", amount, ref)

    def pay_with_authorization(self, args: list[Any]) -> str:
        return self._tx("authorization", *args)

    def cancel_authorization(self, authorizer: str, nonce: bytes, signature: bytes) -> str:
        self.used.add((authorizer.lower(), nonce))
        return self._tx("cancel", authorizer, nonce, signature)

    def authorization_used(self, authorizer: str, nonce: bytes) -> bool:
        return (authorizer.lower(), nonce) in self.used

    def is_contract(self, address: str) -> bool:
        return False

    def send_raw(self, raw_tx: str) -> str:
        self.sent.append(("raw", raw_tx))
        return "0x" + "ab" * 32

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        if not self.mined:
            return None
        return {"transactionHash": tx_hash, "blockNumber": "0x7", "status": "0x1", "logs": []}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    wallet_home = tmp_path / "wallet-home"
    monkeypatch.setenv("WALLET_HOME", str(wallet_home))
    for var in ("WALLET_RPC_URL", "WALLET_API_URL", "WALLET_MANIFEST", "WALLET_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(keys, "SCRYPT_N", 2**10)
    manifest = tmp_path / "deployment.json"
    manifest.write_text(json.dumps({"chain_id": 69003, "contracts": {
        "DistrictToken": {"address": TOKEN, "deploy_block": 1},
        "ServicePayments": {"address": PAYMENTS, "deploy_block": 2}}}))
    monkeypatch.setenv("WALLET_MANIFEST", str(manifest))
    (tmp_path / "pw").write_text("resident password\n")
    result = runner.invoke(app, ["import", "resident", "--private-key", "--password-file",
                                 str(tmp_path / "pw")], input=KEY_1)
    assert result.exit_code == 0, result.output
    return wallet_home


@pytest.fixture
def chain(monkeypatch: pytest.MonkeyPatch) -> FakeGateway:
    fake = FakeGateway()
    monkeypatch.setattr(context, "make_gateway", lambda settings: fake)
    return fake


def signer(tmp: Path, *args: str) -> list[str]:
    return [*args, "--yes", "--password-file", str(tmp / "pw")]


def invoke_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, [*args, "--json"])
    return result.exit_code, dict(json.loads(result.stdout))


# ---------------------------------------------------------------- constants


def test_selectors_and_topics_are_the_keccak_of_their_signatures() -> None:
    for constant, signature in (
        (rpc.SEL_BALANCE_OF, "balanceOf(address)"), (rpc.SEL_NONCES, "nonces(address)"),
        (rpc.SEL_TRANSFER, "transfer(address,uint256)"),
        (rpc.SEL_MERCHANT_COUNT, "merchantCount()"), (rpc.SEL_MERCHANT, "merchant(uint256)"),
        (rpc.SEL_MERCHANT_NAME, "merchantName(uint256)"),
        (rpc.SEL_MERCHANT_ID_OF, "merchantIdOf(address)"), (rpc.SEL_BOOKING, "booking(uint256)"),
        (rpc.SEL_AUTHORIZATION_STATE, "authorizationState(address,bytes32)"),
        (rpc.SEL_FUND_COVER, "fundCover(uint256,address,uint256)"),
    ):
        assert constant == "0x" + keccak(text=signature)[:4].hex(), signature
    for topic, event in (
        (history.T_TRANSFER, "Transfer(address,address,uint256)"),
        (history.T_PAYMENT, "PaymentMade(uint256,address,bytes32,uint256)"),
        (history.T_REFUND, "PaymentRefunded(uint256,address,bytes32,uint256)"),
        (history.T_BOOKING_OPENED, "BookingOpened(uint256,uint256,address,uint256,uint64,bytes32)"),
        (history.T_BOOKING_CLOSED, "BookingClosed(uint256,uint256,uint256)"),
        (history.T_BOOKING_RECLAIMED, "BookingReclaimed(uint256,uint256)"),
        (history.T_REDEEMED, "Redeemed(uint256,address,uint256,uint256,uint256,bytes32,uint256)"),
        (history.T_DEPOSIT, "DepositRecorded(bytes32,address,uint256,uint256)"),
    ):
        assert topic == "0x" + keccak(text=event).hex(), event
    assert chain_commands.TOPIC_BOOKING_OPENED == history.T_BOOKING_OPENED
    assert chain_commands.TOPIC_REDEEMED == history.T_REDEEMED


# ---------------------------------------------------------------- balance over raw JSON-RPC


def test_balance_is_one_eth_call_shown_with_the_symbol(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls.append(body)
        data = body["params"][0]["data"]
        value = 12_500_000 if data.startswith(rpc.SEL_BALANCE_OF) else 3
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"],
                                         "result": "0x" + rpc.word(value)})

    monkeypatch.setattr(context, "make_rpc",
                        lambda settings: Rpc("http://node", transport=httpx.MockTransport(answer)))
    result = runner.invoke(app, ["balance"])
    assert result.exit_code == 0, result.output
    assert "12.50 M3E" in result.stdout and "resident" in result.stdout
    assert calls[0]["params"][0] == {"to": TOKEN, "data": rpc.SEL_BALANCE_OF + rpc.word(ME)}
    code, data = invoke_json("balance", "--account", NEIGHBOUR)
    assert code == 0 and data["balance"] == "12500000" and data["permit_nonce"] == 3


def test_balance_says_when_the_node_does_not_answer(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    monkeypatch.setattr(context, "make_rpc",
                        lambda settings: Rpc("http://node", transport=httpx.MockTransport(down)))
    result = runner.invoke(app, ["balance"])
    assert result.exit_code == 1 and "does not answer" in result.stderr


def test_balance_without_a_manifest_says_where_to_give_it(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WALLET_MANIFEST")
    result = runner.invoke(app, ["balance"])
    assert result.exit_code == 1 and "WALLET_MANIFEST" in result.stderr


# ---------------------------------------------------------------- paying


def test_pay_a_merchant_by_name_shows_the_terms_then_pays_with_the_reference(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    code, data = invoke_json(*signer(tmp_path, "pay", "boulangerie", "4.20", "--ref", "B-1"))
    assert code == 0, data
    salt = bytes.fromhex(data["ref_salt"][2:])
    assert chain.sent == [("pay", 1, 4_200_000, reference_commitment("B-1", salt))]
    assert data["via"] == "ServicePayments" and data["block"] == 7
    assert data["amount_display"] == "4.20 M3E" and data["merchant"]["name"] == "Boulangerie du Lac"


def test_pay_shows_what_the_commons_fund_covers_before_confirming(
    home: Path, chain: FakeGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain.covers[2] = 4_000_000
    monkeypatch.setattr("wallet_cli.prompting.is_interactive", lambda: True)
    result = runner.invoke(app, ["pay", "La Ruche", "10", "--ref", "DESK",
                                 "--password-file", str(tmp_path / "pw")], input="n\n")
    assert result.exit_code == 1 and chain.sent == []
    assert "The commons fund pays 4.00 M3E of it (free tier): you pay 6.00 M3E" in result.stderr
    code, data = invoke_json(*signer(tmp_path, "pay", "La Ruche", "10", "--ref", "DESK"))
    assert code == 0, data
    assert data["fund_covers"] == "4000000" and data["amount"] == "10000000"


def test_pay_needs_only_the_payers_part_in_the_balance(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    chain.balances[ME.lower()] = 6_000_000
    chain.covers[2] = 4_000_000
    code, data = invoke_json(*signer(tmp_path, "pay", "La Ruche", "10", "--ref", "DESK"))
    assert code == 0, data
    chain.covers.clear()
    code, data = invoke_json(*signer(tmp_path, "pay", "La Ruche", "10", "--ref", "DESK-2"))
    assert code == 1, data


def test_pay_without_a_free_tier_says_nothing_of_the_fund(
    home: Path, chain: FakeGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("wallet_cli.prompting.is_interactive", lambda: True)
    result = runner.invoke(app, ["pay", "Boulangerie du Lac", "1", "--ref", "R",
                                 "--password-file", str(tmp_path / "pw")], input="n\n")
    assert result.exit_code == 1 and "commons fund" not in result.stderr


def test_book_shows_what_the_commons_fund_covers_of_the_charge(
    home: Path, chain: FakeGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain.covers[2] = 4_000_000
    monkeypatch.setattr("wallet_cli.prompting.is_interactive", lambda: True)
    result = runner.invoke(app, ["book", "La Ruche", "20", "--hours", "2", "--ref", "ROOM",
                                 "--password-file", str(tmp_path / "pw")], input="n\n")
    assert result.exit_code == 1 and chain.sent == []
    assert "The commons fund pays up to 4.00 M3E of the charge" in result.stderr


def test_without_yes_and_without_a_terminal_nothing_is_signed(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["pay", "Boulangerie du Lac", "1", "--ref", "R",
                                 "--password-file", str(tmp_path / "pw")])
    assert result.exit_code == 2 and chain.sent == []
    # the terms it would sign, then a whole sentence saying how to accept them
    assert "Boulangerie du Lac" in result.stderr and "1.00 M3E" in result.stderr
    assert "nothing was signed" in result.stderr
    assert "run the same command again with --yes" in result.stderr


def test_the_confirmation_shows_merchant_amount_recipient_and_chain(
    home: Path, chain: FakeGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("wallet_cli.prompting.is_interactive", lambda: True)
    result = runner.invoke(app, ["pay", "Boulangerie du Lac", "1", "--ref", "R",
                                 "--password-file", str(tmp_path / "pw")], input="n\n")
    assert result.exit_code == 1 and chain.sent == []
    for shown in ("Boulangerie du Lac", "1.00 M3E", BAKERY, "chain 69003", "Reference: R"):
        assert shown in result.stderr


def test_an_unknown_merchant_suggests_the_closest_names(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    code, data = invoke_json(*signer(tmp_path, "pay", "Boulangrie du lac", "1", "--ref", "R"))
    assert code == 1 and data["error"] == "UnknownMerchantError"
    assert data["suggestions"] == ["Boulangerie du Lac"]
    assert "Did you mean: Boulangerie du Lac?" in data["message"]


def test_find_merchant_by_id_prefix_and_ambiguity() -> None:
    merchants = [*FakeGateway().merchant_list, Merchant(3, "La Rue", "retail", NEIGHBOUR, True)]
    assert chain_commands.find_merchant(merchants, "#2").name == "La Ruche Part-Dieu"
    assert chain_commands.find_merchant(merchants, "la ruche").id == 2
    assert chain_commands.find_merchant(merchants, "LA RUE").id == 3
    with pytest.raises(UnknownMerchantError, match="'la ru' matches 2 merchants: #2 La Ruche"):
        chain_commands.find_merchant(merchants, "la ru")
    with pytest.raises(UnknownMerchantError, match="no merchant #9"):
        chain_commands.find_merchant(merchants, "9")


def test_insufficient_balance_shows_the_balance(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    result = runner.invoke(app, signer(tmp_path, "pay", "Boulangerie du Lac", "80", "--ref", "R"))
    assert result.exit_code == 1
    assert "your balance is 50.00 M3E and this needs 80.00 M3E" in result.stderr
    code, data = invoke_json(*signer(tmp_path, "send", NEIGHBOUR, "80"))
    assert code == 1 and data["balance"] == "50000000" and data["needed"] == "80000000"


def test_a_contract_refusal_is_its_rule_sentence(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    chain.refuse = ContractRefusedError(
        "The merchant is suspended by the registrar (merchantId 1)",
        "ServicePaymentsMerchantSuspended", {"merchantId": 1})
    code, data = invoke_json(*signer(tmp_path, "pay", "Boulangerie du Lac", "1", "--ref", "R"))
    assert code == 1 and data["rule"] == "ServicePaymentsMerchantSuspended"
    assert data["message"].startswith("The merchant is suspended")


def test_not_confirmed_in_time_exits_3_with_the_hash(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    chain.mined = False
    code, data = invoke_json(*signer(tmp_path, "send", NEIGHBOUR, "1", "--timeout", "0"))
    assert code == 3 and data["error"] == "NotConfirmedError"
    assert data["tx_hash"] == "0x" + f"{1:064x}"


def test_a_chain_mismatch_sends_nothing(home: Path, chain: FakeGateway, tmp_path: Path) -> None:
    chain.node_chain = 1
    result = runner.invoke(app, signer(tmp_path, "send", NEIGHBOUR, "1"))
    assert result.exit_code == 1 and "Chain mismatch" in result.stderr and chain.sent == []


def test_a_changed_payout_is_warned_about_before_paying(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    assert invoke_json(*signer(tmp_path, "pay", "La Ruche", "1", "--ref", "R"))[0] == 0
    chain.merchant_list[1] = Merchant(2, "La Ruche Part-Dieu", "co-working", NEIGHBOUR, True)
    result = runner.invoke(app, signer(tmp_path, "pay", "La Ruche", "1", "--ref", "R2"))
    assert result.exit_code == 0
    assert f"was {RUCHE}, now {NEIGHBOUR}" in result.stderr


def test_a_uri_to_a_merchant_payout_goes_through_service_payments(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    uri = f"ethereum:{TOKEN}@69003/transfer?address={BAKERY}&uint256=7500000&ref=TABLE-7"
    code, data = invoke_json(*signer(tmp_path, "pay", uri))
    assert code == 0 and data["via"] == "ServicePayments"
    salt = bytes.fromhex(data["ref_salt"][2:])  # the request had none: the payer drew one
    assert chain.sent == [("pay", 1, 7_500_000, reference_commitment("TABLE-7", salt))]


def test_a_uri_to_anyone_else_is_a_plain_transfer(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    uri = f"ethereum:{TOKEN}@69003/transfer?address={NEIGHBOUR}&uint256=1e6"
    code, data = invoke_json(*signer(tmp_path, "pay", uri))
    assert code == 0 and data["via"] == "transfer"
    assert chain.sent == [("transfer", NEIGHBOUR, 1_000_000)]


@pytest.mark.parametrize(("uri", "fragment"), [
    (f"ethereum:{TOKEN}@1/transfer?address={BAKERY}&uint256=1", "not the district chain"),
    (f"ethereum:{NEIGHBOUR}@69003/transfer?address={BAKERY}&uint256=1", "token"),
])
def test_a_uri_for_another_chain_or_token_is_refused(
    home: Path, chain: FakeGateway, tmp_path: Path, uri: str, fragment: str
) -> None:
    result = runner.invoke(app, signer(tmp_path, "pay", uri))
    assert result.exit_code == 2 and fragment in result.stderr and chain.sent == []


def test_send_to_a_contact_and_to_a_merchant_name(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["contacts", "add", "Chloé", NEIGHBOUR]).exit_code == 0
    assert invoke_json(*signer(tmp_path, "send", "chloé", "2"))[0] == 0
    assert invoke_json(*signer(tmp_path, "send", "Boulangerie du Lac", "1"))[0] == 0
    assert chain.sent == [("transfer", NEIGHBOUR, 2_000_000), ("transfer", BAKERY, 1_000_000)]


def test_refund_and_close_only_from_the_merchant_payout(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    result = runner.invoke(app, signer(tmp_path, "refund", "1", NEIGHBOUR, "1", "--ref", "R"))
    assert result.exit_code == 1 and "Only the payout account" in result.stderr
    chain.merchant_list[1] = Merchant(2, "La Ruche Part-Dieu", "co-working", ME, True)
    code, data = invoke_json(*signer(tmp_path, "close", "5", "--charge", "4"))
    assert code == 0 and data["returned"] == "6000000"
    assert chain.sent == [("close", 5, 4_000_000)]
    code, data = invoke_json(*signer(tmp_path, "close", "5", "--charge", "11"))
    assert code == 2 and "above the deposit" in data["message"]


def test_redeem_is_for_merchants_only(home: Path, chain: FakeGateway, tmp_path: Path) -> None:
    result = runner.invoke(app, signer(tmp_path, "redeem", "5", "--ref", "PAYOUT-1"))
    assert result.exit_code == 1 and "Only active merchants" in result.stderr


# ---------------------------------------------------------------- offline transfer, broadcast


def test_a_signed_transfer_is_written_offline_and_broadcast_as_is(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    out = tmp_path / "tx.json"
    code, data = invoke_json(*signer(tmp_path, "sign", "tx", "resident", NEIGHBOUR, "2.5",
                                     "--nonce", "4", "--out", str(out)))
    assert code == 0 and data["nonce"] == 4 and (out.stat().st_mode & 0o077) == 0
    from eth_account import Account

    assert Account.recover_transaction(data["raw"]) == ME
    code, sent = invoke_json("broadcast", str(out), "--yes")
    assert code == 0 and sent["amount"] == "2500000" and sent["to"].lower() == NEIGHBOUR.lower()
    assert chain.sent == [("raw", data["raw"])]
    chain.node_chain = 1
    result = runner.invoke(app, ["broadcast", str(out), "--yes"])
    assert result.exit_code == 2 and "signed for chain 69003" in result.stderr


def test_sign_payment_offline_without_a_payout_and_no_chain_asks_for_it(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    monkeypatch.setattr(context, "make_rpc",
                        lambda settings: Rpc("http://node", transport=httpx.MockTransport(down)))
    result = runner.invoke(app, signer(tmp_path, "sign", "payment", "resident", "--merchant-id",
                                       "1", "--amount", "1", "--out", str(tmp_path / "p.json")))
    assert result.exit_code == 2 and "--payout" in result.stderr


def test_a_signed_payment_is_submitted_once_and_a_cancelled_one_never(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    first, second = tmp_path / "p1.json", tmp_path / "p2.json"
    for out in (first, second):
        code, _ = invoke_json(*signer(tmp_path, "sign", "payment", "resident", "--merchant-id", "1",
                                         "--payout", BAKERY, "--amount", "2.40", "--ref", "CROISSANT",
                                         "--out", str(out)))
        assert code == 0 and (out.stat().st_mode & 0o077) == 0
    one, two = (json.loads(p.read_text()) for p in (first, second))
    assert one["payer_nonce"] != two["payer_nonce"]  # random, not sequential
    code, _ = invoke_json(*signer(tmp_path, "broadcast", str(second)))  # any order
    assert code == 0 and chain.sent[-1][0] == "authorization"
    # the reference travels as its salted commitment, never as the clear text
    assert two["ref"] != "0x" + b"CROISSANT".ljust(32, b"\0").hex()
    assert chain.sent[-1][1:] == (ME, 1, 2_400_000, two["ref"],
                                  0, int(two["valid_before"]), two["payer_nonce"], two["signature"])
    chain.used.add((ME.lower(), bytes.fromhex(two["nonce"][2:])))  # the token marked it used
    code, again = invoke_json(*signer(tmp_path, "broadcast", str(second)))
    assert code == 1 and "already paid or cancelled" in again["message"]

    code, cancelled = invoke_json(*signer(tmp_path, "cancel", str(first), "--account", "resident"))
    assert code == 0 and cancelled["nonce"] == one["nonce"]
    assert chain.sent[-1][:3] == ("cancel", ME, bytes.fromhex(one["nonce"][2:]))
    before = len(chain.sent)
    code, refused = invoke_json(*signer(tmp_path, "broadcast", str(first)))
    assert code == 1 and "already paid or cancelled" in refused["message"]
    assert len(chain.sent) == before


def test_a_terminal_cannot_change_the_payee_amount_or_reference_of_a_signed_payment(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    out = tmp_path / "p.json"
    invoke_json(*signer(tmp_path, "sign", "payment", "resident", "--merchant-id", "1", "--payout", BAKERY,
                        "--amount", "2.40", "--ref", "CROISSANT", "--out", str(out)))
    original = json.loads(out.read_text())
    for field, value in (("amount", "24000000"), ("merchant_id", "2"), ("payout", RUCHE),
                         ("ref", "0x" + b"OTHER".ljust(32, b"\0").hex()), ("valid_before", "9999999999")):
        forged = tmp_path / f"forged-{field}.json"
        forged.write_text(json.dumps({**original, field: value}))
        code, data = invoke_json(*signer(tmp_path, "broadcast", str(forged)))
        assert code == 1 and "the file was changed after signing" in data["message"], field
    assert chain.sent == []


def test_only_the_payer_can_cancel_its_payment(home: Path, chain: FakeGateway, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    invoke_json(*signer(tmp_path, "sign", "payment", "resident", "--merchant-id", "1", "--payout", BAKERY,
                        "--amount", "1", "--out", str(out)))
    document = json.loads(out.read_text())
    document["payer"] = NEIGHBOUR
    other = tmp_path / "other.json"
    other.write_text(json.dumps(document))
    code, data = invoke_json(*signer(tmp_path, "cancel", str(other), "--account", "resident"))
    assert code != 0 and chain.sent == []
    assert "changed after signing" in data["message"]


# ---------------------------------------------------------------- waiting


def test_the_spinner_draws_only_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    with Spinner("Waiting") as spinner:
        assert not spinner.enabled
    assert capsys.readouterr().err == ""


def test_wait_for_receipt_polls_until_mined() -> None:
    answers: list[dict[str, Any] | None] = [None, None, {"blockNumber": "0x2", "status": "0x1"}]
    receipt = wait_for_receipt(lambda h: answers.pop(0), "0x1", timeout=5, sleep=lambda s: None)
    assert receipt["blockNumber"] == "0x2"


# ---------------------------------------------------------------- history and energy


def _api(routes: dict[str, Any]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        for path, body in routes.items():
            if request.url.path == path:
                return httpx.Response(200, json=body) if body is not None else httpx.Response(404)
        return httpx.Response(404, json={"detail": "not found"})

    return httpx.MockTransport(answer)


def test_history_from_the_api_groups_merchant_payouts_by_category(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WALLET_API_URL", "http://api")
    item = {"block": 9, "log_index": 1, "tx_hash": "0x" + "aa" * 32, "time": 1_700_000_000,
            "direction": "out", "kind": "transfer", "counterparty": BAKERY,
            "amount": {"micro": "4200000", "display": "4.20 M3E"}}
    mint = {**item, "block": 3, "direction": "in", "kind": "mint", "counterparty": "0x" + "0" * 40,
            "amount": {"micro": "100000000", "display": "100.00 M3E"}}
    routes = {"/v1/merchants": {"indexed_block": 9, "merchants": [
        {"id": 1, "name": "Boulangerie du Lac", "category": "food", "payout": BAKERY,
         "active": True}]},
        f"/v1/accounts/{ME}/history": {"indexed_block": 9, "account": ME, "items": [item, mint],
                                       "next_cursor": None}}
    monkeypatch.setattr(context, "make_http",
                        lambda: httpx.Client(transport=_api(routes)))
    code, data = invoke_json("history")
    assert code == 0 and data["source"] == "api"
    groups = {g["category"]: g for g in data["categories"]}
    assert groups["food"]["entries"][0]["merchant"] == "Boulangerie du Lac"
    assert groups["food"]["total"] == "-4200000" and groups["deposits"]["total"] == "100000000"
    text = runner.invoke(app, ["history"]).stdout
    assert "food" in text and "receipt 0x" + "aa" * 32 in text


def test_energy_when_the_api_cannot_be_reached_says_how_to_point_at_it(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    monkeypatch.setattr(context, "make_http", lambda: httpx.Client(transport=httpx.MockTransport(refuse)))
    result = runner.invoke(app, ["energy"])
    assert result.exit_code == 1
    assert "cannot be reached" in result.stderr and "wallet config set api_url" in result.stderr


def test_energy_when_the_api_has_no_energy_endpoint(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WALLET_API_URL", "http://api")
    monkeypatch.setattr(context, "make_http", lambda: httpx.Client(transport=_api({})))
    result = runner.invoke(app, ["energy"])
    assert result.exit_code == 1 and "no energy endpoint" in result.stderr


def test_energy_per_day_and_month_with_bars(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WALLET_API_URL", "http://api")
    days = [{"day": "2026-05-30", "produced_wh": 12_000,
             "allocated": [{"to": "Chloé", "wh": 3_000}, {"to": NEIGHBOUR, "wh": 1_000}],
             "earned": {"micro": "360000"}},
            {"day": "2026-06-01", "produced_wh": 6_000, "allocated": [], "earned": "0"}]
    routes = {f"/v1/accounts/{ME}/energy": {"days": days}}
    monkeypatch.setattr(context, "make_http", lambda: httpx.Client(transport=_api(routes)))
    code, data = invoke_json("energy")
    assert code == 0
    assert [m["month"] for m in data["months"]] == ["2026-05", "2026-06"]
    assert data["days"][0]["allocated_wh"] == 4_000 and data["months"][0]["earned"] == "360000"
    text = runner.invoke(app, ["energy"]).stdout
    assert "to Chloé: 3.000 kWh" in text and "█" in text


def test_bars_are_proportional_in_eighths() -> None:
    assert energy.bar(0, 10) == ""
    assert energy.bar(10, 10, width=4) == "████"
    assert energy.bar(5, 10, width=4) == "██"
    assert energy.bar(1, 8, width=4) == "▌"
    assert energy.bar(1, 16, width=4) == "▎"
