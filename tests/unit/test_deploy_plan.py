"""The deployment file: split roles, exact allowances, and every refusal as a sentence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.chain.deploy_plan import MINTER_ROLE, load_plan, parse_plan
from ledger.domain.money import parse_m3e
from ledger.errors import ConfigError


def addr(n: int) -> str:
    from eth_utils.address import to_checksum_address

    return to_checksum_address(f"0x{n:040x}")


def base(**over: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "chain_id": 69003,
        "admin": {
            "delay_seconds": 172800,
            "timelock": {"min_delay_seconds": 86400, "proposers": [addr(1), addr(2)], "executors": [addr(3)]},
        },
        "roles": {"registrar": [addr(10)], "pauser": [addr(11)], "freezer": [addr(12)]},
        "minters": [{"address": addr(20), "allowance": "50000.00", "daily_limit": "5000"}],
    }
    raw.update(over)
    return raw


def test_a_full_file_gives_each_role_to_its_own_keys_and_minters_the_treasurer_role() -> None:
    plan = parse_plan(base())
    assert plan.admin.kind == "timelock"
    assert plan.admin.timelock is not None and plan.admin.timelock.min_delay_seconds == 86400
    assert plan.roles["REGISTRAR_ROLE"] == (addr(10),)
    assert plan.roles[MINTER_ROLE] == (addr(20),)
    assert plan.minters[0].allowance == 50_000_000_000 and plan.minters[0].daily_limit == 5_000_000_000


def test_toml_and_json_files_read_alike(tmp_path: Path) -> None:
    toml = tmp_path / "deployment.toml"
    toml.write_text(
        f"""chain_id = 69003
[admin]
delay_seconds = 172800
safe = "{addr(99)}"
[roles]
pauser = ["{addr(11)}"]
[[minters]]
address = "{addr(20)}"
allowance = "100.50"
"""
    )
    js = tmp_path / "deployment.json"
    js.write_text(json.dumps({"chain_id": 69003, "admin": {"delay_seconds": 172800, "safe": addr(99)},
                              "roles": {"pauser": [addr(11)]},
                              "minters": [{"address": addr(20), "allowance": "100.50"}]}))
    assert load_plan(toml) == load_plan(js)
    assert load_plan(toml).minters[0].allowance == 100_500_000


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"roles": {"registrar": [addr(10)], "pauser": [addr(10)]}}, "each role goes to its own key"),
        ({"roles": {"pauser": [addr(20)]}}, "each role goes to its own key"),  # a minter is a treasurer
        ({"roles": {"treasurer": [addr(21)]}, "minters": []}, "would mint without an allowance"),
        ({"minters": [{"address": addr(20), "allowance": 50000.0}]}, "never a float"),
        ({"minters": [{"address": addr(20), "allowance": "1.0000001"}]}, "more than 6 decimals"),
        ({"minters": [{"address": addr(20), "allowance": "10", "daily_limit": "11"}]}, "above its allowance"),
        ({"roles": {"pauser": ["0x1234"]}}, "is not an address"),
        ({"roles": {"pauser": ["0x52908400098527886E0F7030069857D2E4169EE7".replace("E", "e", 1)]}},
         "wrong checksum"),
        ({"roles": {"default_admin": [addr(5)]}}, "the default admin is set in [admin]"),
        ({"roles": {"pauser": ["0x" + "0" * 40]}}, "zero address"),
        ({"admin": {"delay_seconds": 1, "safe": addr(9), "timelock": {}}}, "not both"),
        ({"admin": {"delay_seconds": 1, "timelock": {"min_delay_seconds": 1, "executors": [addr(3)]}}},
         "at least one proposer"),
        ({"admin": {"delay_seconds": 1, "timelock": {"min_delay_seconds": 1, "proposers": [addr(3)]}}},
         "at least one executor"),
        ({"admin": {"delay_seconds": 1, "safe": addr(10)}}, "cannot also hold"),
        ({"admin": {"delay_seconds": -1}}, "between 0 and 2^48"),
        ({"surprise": 1}, "unknown key(s) surprise"),
    ],
)
def test_unsafe_or_unclear_files_are_refused_with_what_to_fix(change: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_plan(base(**change))
    assert words in str(refused.value)


def test_an_unreadable_file_says_which_and_why(tmp_path: Path) -> None:
    bad = tmp_path / "deployment.toml"
    bad.write_text("[admin\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_plan(bad)
    with pytest.raises(ConfigError, match="cannot read the deployment file"):
        load_plan(tmp_path / "missing.toml")


@pytest.mark.parametrize(("text", "micro"), [("12.50", 12_500_000), ("0.000001", 1), ("7", 7_000_000),
                                              (".5", 500_000), ("3 M3E", 3_000_000)])
def test_amounts_in_m3e_text_are_exact_micro(text: str, micro: int) -> None:
    assert parse_m3e(text) == micro


@pytest.mark.parametrize("text", ["", ".", "-1", "1e3", "1,5", "0.0000001", "١٢"])
def test_amounts_that_are_not_plain_decimals_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_m3e(text)
