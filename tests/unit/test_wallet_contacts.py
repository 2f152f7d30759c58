"""Contacts and merchant payouts: names never look like addresses; payout changes are flagged."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wallet_cli.contacts import Contacts, SeenPayouts, check_payout
from wallet_cli.errors import AddressError, BadNameError
from wallet_cli.main import app
from wallet_cli.names import check_contact_name, looks_like_address, to_checksum_address

ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
BAKERY = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
OTHER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
REGISTRY = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    wallet_home = tmp_path / "wallet-home"
    monkeypatch.setenv("WALLET_HOME", str(wallet_home))
    return wallet_home


def run_json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


@pytest.mark.parametrize(
    "name",
    [
        ALICE,
        ALICE.lower(),
        ALICE[2:],
        "0xabc",
        "0X12",
        "alice.eth",
        "boulangerie.eth",
        "pay.example.org",
        "ethereum:0x12",
        "a/b",
        "alice@home",
    ],
)
def test_a_contact_name_can_never_look_like_an_address_or_ens_name(name: str) -> None:
    assert looks_like_address(name)
    with pytest.raises(BadNameError):
        check_contact_name(name)


@pytest.mark.parametrize(
    "name", ["Alice", "Boulangerie Martin", "Café Léa", "Dr. Martin", "Co-working 3e", "L'Épicerie"]
)
def test_ordinary_names_are_fine(name: str) -> None:
    assert check_contact_name(name) == name


def test_checksums_are_enforced_on_mixed_case_addresses() -> None:
    assert to_checksum_address(ALICE.lower()) == ALICE
    assert to_checksum_address(ALICE.upper().replace("0X", "0x")) == ALICE
    with pytest.raises(AddressError, match="checksum"):
        to_checksum_address(ALICE[:-1] + "c")
    with pytest.raises(AddressError):
        to_checksum_address("0x1234")


def test_contacts_are_added_listed_and_removed_in_a_0600_file(home: Path) -> None:
    added = run_json("contacts", "add", "Alice", ALICE.lower())
    assert added["name"] == "Alice" and added["address"] == ALICE and added["also_saved_as"] == []
    assert "registry was not read" in added["registry_note"]  # no manifest in this test
    run_json("contacts", "add", "Boulangerie Martin", BAKERY)
    listed = run_json("contacts", "list")
    assert listed["contacts"] == [
        {"name": "Alice", "address": ALICE},
        {"name": "Boulangerie Martin", "address": BAKERY},
    ]
    human = runner.invoke(app, ["contacts", "list"])
    assert "Boulangerie Martin  " + BAKERY in human.stdout
    assert stat.S_IMODE((home / "contacts.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    removed = run_json("contacts", "remove", "alice")
    assert removed["name"] == "Alice"
    assert [c["name"] for c in run_json("contacts", "list")["contacts"]] == ["Boulangerie Martin"]


def test_contact_names_are_unique_regardless_of_case(home: Path) -> None:
    run_json("contacts", "add", "Alice", ALICE)
    again = runner.invoke(app, ["contacts", "add", "ALICE", OTHER])
    assert again.exit_code == 1 and "exists already" in again.stderr
    replaced = run_json("contacts", "add", "ALICE", OTHER, "--replace")
    assert replaced["address"] == OTHER
    assert Contacts(home).get("alice") == OTHER


def test_adding_an_address_saved_under_another_name_is_pointed_out(home: Path) -> None:
    run_json("contacts", "add", "Alice", ALICE)
    data = run_json("contacts", "add", "Alice work", ALICE)
    assert data["also_saved_as"] == ["Alice"]


def test_bad_contacts_are_usage_errors(home: Path) -> None:
    assert runner.invoke(app, ["contacts", "add", "bob.eth", ALICE]).exit_code == 2
    assert runner.invoke(app, ["contacts", "add", "Bob", "0x1234"]).exit_code == 2
    assert runner.invoke(app, ["contacts", "add", ALICE, ALICE]).exit_code == 2
    assert not (home / "contacts.json").exists()


def test_removing_an_unknown_contact_suggests_close_names(home: Path) -> None:
    run_json("contacts", "add", "Boulangerie Martin", BAKERY)
    result = runner.invoke(app, ["contacts", "remove", "Boulangerie Martn", "--json"])
    assert result.exit_code == 1
    error = json.loads(result.stdout)
    assert error["error"] == "ContactError"
    assert "Did you mean: Boulangerie Martin?" in error["message"]


def test_a_corrupt_contacts_file_is_reported_not_overwritten(home: Path) -> None:
    home.mkdir(mode=0o700)
    (home / "contacts.json").write_text("{not json")
    result = runner.invoke(app, ["contacts", "add", "Alice", ALICE])
    assert result.exit_code == 1 and "not valid JSON" in result.stderr
    assert (home / "contacts.json").read_text() == "{not json"


def test_a_merchant_payout_change_is_flagged_against_the_last_one_seen(home: Path) -> None:
    first = check_payout(home, REGISTRY, 7, "Boulangerie Martin", BAKERY.lower())
    assert first.first_seen and not first.changed
    assert first.warning is not None and "never paid 'Boulangerie Martin'" in first.warning
    same = check_payout(home, REGISTRY, 7, "Boulangerie Martin", BAKERY)
    assert not same.first_seen and not same.changed and same.warning is None
    moved = check_payout(home, REGISTRY, 7, "Boulangerie Martin", OTHER)
    assert moved.changed and moved.previous == BAKERY and moved.payout == OTHER
    assert moved.warning is not None
    assert BAKERY in moved.warning and OTHER in moved.warning
    assert moved.as_json()["changed"] is True
    assert stat.S_IMODE((home / "merchants-seen.json").stat().st_mode) == 0o600


def test_checking_without_remembering_keeps_warning_until_confirmed(home: Path) -> None:
    store = SeenPayouts(home)
    store.remember(REGISTRY, 1, "Parking", BAKERY)
    assert check_payout(home, REGISTRY, 1, "Parking", OTHER, remember=False).changed
    assert check_payout(home, REGISTRY, 1, "Parking", OTHER, remember=False).changed
    assert store.last_seen(REGISTRY, 1) == BAKERY
    assert check_payout(home, OTHER, 1, "Parking", OTHER).first_seen  # another registry
