"""Names nobody can fake in the wallet: each look-alike contact is refused with a sentence naming
what it resembles, own accounts win over contacts, a name shared by two merchants lists each
#id with its payout, and a payout address never seen before is flagged before paying."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.unit.test_wallet_money import (  # the wallet's in-memory chain and home
    BAKERY,
    NEIGHBOUR,
    PAYMENTS,
    FakeGateway,
    chain,
    home,
    signer,
)
from wallet_cli import context
from wallet_cli.main import app
from wallet_cli.rpc import Merchant

__all__ = ["chain", "home"]  # fixtures used by name

ALICE_KEY = "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e"
ALICE = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"
OTHER = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"
runner = CliRunner()


class FakeRpc:
    """Raw JSON-RPC reads the contact and balance commands make."""

    def __init__(self, merchants: list[Merchant]) -> None:
        self.merchant_list = merchants
        self.balances: dict[str, int] = {}

    def __enter__(self) -> FakeRpc:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def merchants(self, payments: str) -> list[Merchant]:
        return list(self.merchant_list)

    def balance_of(self, token: str, owner: str) -> int:
        return self.balances.get(owner.lower(), 0)

    def permit_nonce(self, token: str, owner: str) -> int:
        return 0


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch, chain: FakeGateway) -> FakeRpc:
    fake = FakeRpc(chain.merchant_list)
    monkeypatch.setattr(context, "make_rpc", lambda settings: fake)
    return fake


@pytest.fixture
def alice(home: Path, tmp_path: Path) -> str:
    """A second account of this wallet, named alice."""
    result = runner.invoke(app, ["import", "alice", "--private-key", "--password-file",
                                 str(tmp_path / "pw")], input=ALICE_KEY)
    assert result.exit_code == 0, result.output
    return ALICE


def refused(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code != 0, result.output
    return result.exit_code, str(json.loads(result.stdout)["message"])


def write_contacts(home: Path, contacts: dict[str, str]) -> None:
    """A contacts file as an older wallet (without the names rule) could have left it."""
    (home / "contacts.json").write_text(json.dumps({"version": 1, "contacts": contacts}))


# ---------------------------------------------------------------- the look-alike cases


def test_a_contact_named_like_an_own_account_is_refused(
    home: Path, alice: str, registry: FakeRpc
) -> None:
    code, message = refused("contacts", "add", "alice", NEIGHBOUR)
    assert code == 2
    assert "'alice' cannot be a contact: it is your own account 'alice'" in message
    assert "own accounts always come first" in message


def test_a_contact_with_a_cyrillic_a_is_refused_naming_the_account(
    home: Path, alice: str, registry: FakeRpc
) -> None:
    code, message = refused("contacts", "add", "аlice", NEIGHBOUR)  # Cyrillic а
    assert code == 2 and "looks like your own account 'alice'" in message


def test_a_contact_with_a_capital_i_for_an_l_is_refused_naming_the_contact(
    home: Path, registry: FakeRpc
) -> None:
    assert runner.invoke(app, ["contacts", "add", "zoe-client", NEIGHBOUR]).exit_code == 0
    code, message = refused("contacts", "add", "zoe-cIient", OTHER)
    assert code == 2 and f"looks like your contact 'zoe-client' ({NEIGHBOUR})" in message


def test_a_contact_with_an_accent_more_is_refused_naming_the_contact(
    home: Path, registry: FakeRpc
) -> None:
    assert runner.invoke(app, ["contacts", "add", "zoe-client", NEIGHBOUR]).exit_code == 0
    code, message = refused("contacts", "add", "zoé-client", OTHER)
    assert code == 1 and "A contact named 'zoe-client' exists already" in message


def test_a_contact_named_like_a_merchant_is_refused_naming_the_merchant(
    home: Path, registry: FakeRpc
) -> None:
    code, message = refused("contacts", "add", "boulangerie du lac", NEIGHBOUR)
    assert code == 2
    assert f"is the merchant 'Boulangerie du Lac' (#1, payout {BAKERY})" in message
    code, message = refused("contacts", "add", "Bou1angerie-du-Lac", NEIGHBOUR)
    assert "looks like the merchant 'Boulangerie du Lac'" in message


def test_without_the_registry_the_merchants_already_paid_are_compared_and_it_is_said(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WALLET_MANIFEST")
    from wallet_cli.contacts import SeenPayouts

    home.mkdir(mode=0o700, exist_ok=True)
    SeenPayouts(home).remember(PAYMENTS, 1, "Boulangerie du Lac", BAKERY)
    _code, message = refused("contacts", "add", "Boulangerie du Lac", NEIGHBOUR)
    assert "the merchant 'Boulangerie du Lac'" in message
    saved = runner.invoke(app, ["contacts", "add", "Voisine", NEIGHBOUR])
    assert saved.exit_code == 0 and "registry was not read" in saved.stderr


def test_a_name_mixing_scripts_is_refused_even_when_it_resembles_nothing_yet(
    home: Path, registry: FakeRpc
) -> None:
    code, message = refused("contacts", "add", "mаrtine", NEIGHBOUR)  # Cyrillic а
    assert code == 2 and "CYRILLIC SMALL LETTER A" in message and "one script" in message


def test_a_contact_named_like_a_merchant_number_is_refused(home: Path) -> None:
    code, message = refused("contacts", "add", "12", NEIGHBOUR)
    assert code == 2 and "merchant number" in message


# ---------------------------------------------------------------- own accounts win


def test_own_account_wins_over_a_contact_of_the_same_name(
    home: Path, alice: str, registry: FakeRpc, chain: FakeGateway, tmp_path: Path
) -> None:
    write_contacts(home, {"alice": NEIGHBOUR})
    registry.balances = {ALICE.lower(): 7_000_000, NEIGHBOUR.lower(): 99_000_000}
    result = runner.invoke(app, ["balance", "--account", "alice", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["address"] == ALICE and data["balance"] == "7000000"
    sent = runner.invoke(app, [*signer(tmp_path, "send", "alice", "1", "--account", "resident"),
                               "--json"])
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.stdout)["to_label"] == "your account 'alice'"
    assert chain.sent == [("transfer", ALICE, 1_000_000)]


def test_a_saved_look_alike_contact_is_refused_when_used(
    home: Path, alice: str, chain: FakeGateway, tmp_path: Path
) -> None:
    write_contacts(home, {"аlice": NEIGHBOUR})  # left by an older wallet
    result = runner.invoke(app, [*signer(tmp_path, "send", "аlice", "1", "--account",
                                         "resident"), "--json"])
    assert result.exit_code == 2
    message = json.loads(result.stdout)["message"]
    assert "looks like your own account 'alice'" in message and "wallet contacts remove" in message
    assert chain.sent == []


def test_a_contact_saved_before_a_look_alike_merchant_was_registered_is_refused(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    write_contacts(home, {"La Ruche Part Dieu": NEIGHBOUR})
    result = runner.invoke(app, [*signer(tmp_path, "send", "La Ruche Part Dieu", "1"), "--json"])
    assert result.exit_code == 2
    assert "the merchant 'La Ruche Part-Dieu' (#2" in json.loads(result.stdout)["message"]
    assert chain.sent == []


# ---------------------------------------------------------------- merchants by name


def test_a_name_shared_by_two_merchants_lists_each_id_with_its_payout(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    chain.merchant_list.append(Merchant(3, "Boulangerie du lac", "food", OTHER, True))
    result = runner.invoke(app, [*signer(tmp_path, "pay", "Boulangerie du Lac", "1", "--ref", "R"),
                                 "--json"])
    assert result.exit_code == 1
    error = json.loads(result.stdout)
    assert error["error"] == "UnknownMerchantError" and error["suggestions"] == ["#1", "#3"]
    assert f"#1 Boulangerie du Lac (food), payout {BAKERY}" in error["message"]
    assert f"#3 Boulangerie du lac (food), payout {OTHER}" in error["message"]
    assert "pay by number" in error["message"]
    assert chain.sent == []


def test_a_look_alike_merchant_name_is_listed_with_the_real_one(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    chain.merchant_list.append(Merchant(4, "Bou1angerie du Lac", "food", OTHER, True))
    result = runner.invoke(app, [*signer(tmp_path, "pay", "Boulangerie du Lac", "1", "--ref", "R"),
                                 "--json"])
    assert result.exit_code == 1
    message = json.loads(result.stdout)["message"]
    assert f"payout {BAKERY}" in message and f"#4 Bou1angerie du Lac (food), payout {OTHER}" in message
    paid = runner.invoke(app, [*signer(tmp_path, "pay", "#1", "1", "--ref", "R"), "--json"])
    assert paid.exit_code == 0, paid.output


def test_a_payout_never_seen_before_is_flagged_before_paying_then_remembered(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    first = runner.invoke(app, [*signer(tmp_path, "pay", "Boulangerie du Lac", "1", "--ref", "R"),
                                "--json"])
    assert first.exit_code == 0, first.output
    flag = f"never paid 'Boulangerie du Lac' at the payout address {BAKERY}"
    assert flag in first.stderr and flag in json.loads(first.stdout)["payout_warning"]
    again = runner.invoke(app, [*signer(tmp_path, "pay", "Boulangerie du Lac", "1", "--ref", "S"),
                                "--json"])
    assert again.exit_code == 0 and "never paid" not in again.stderr
    assert json.loads(again.stdout)["payout_warning"] is None


def test_the_flag_is_shown_with_the_terms_before_the_confirmation(
    home: Path, chain: FakeGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wallet_cli import prompting

    monkeypatch.setattr(prompting, "is_interactive", lambda: True)
    result = runner.invoke(app, ["pay", "La Ruche", "1", "--ref", "R", "--password-file",
                                 str(tmp_path / "pw")], input="n\n")
    assert result.exit_code == 1 and chain.sent == []
    before_question = result.stderr.split("Sign and send?")[0]
    assert "never paid 'La Ruche Part-Dieu'" in before_question

