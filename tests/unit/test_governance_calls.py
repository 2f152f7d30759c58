"""The admin's set-up calls, built without a node: what the timelock batch and a Safe batch hold."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from web3 import Web3

from ledger.chain import governance
from ledger.chain.deploy_plan import TimelockPlan, parse_plan
from ledger.errors import ConfigError


def addr(n: int) -> str:
    return to_checksum_address(f"0x{n:040x}")


def fn(name: str, inputs: list[str] | None = None) -> dict[str, Any]:
    return {"type": "function", "name": name, "stateMutability": "nonpayable", "outputs": [],
            "inputs": [{"name": f"a{i}", "type": t} for i, t in enumerate(inputs or [])]}


def const(name: str) -> dict[str, Any]:
    return {"type": "function", "name": name, "stateMutability": "view", "inputs": [],
            "outputs": [{"name": "", "type": "bytes32"}]}


GRANT = fn("grantRole", ["bytes32", "address"])
TOKEN_ABI = [const("TREASURER_ROLE"), const("PAUSER_ROLE"), const("FREEZER_ROLE"), GRANT,
             fn("setMerchantDirectory", ["address"]),
             fn("configureMinter", ["address", "uint256", "uint256"])]
PAYMENTS_ABI = [const("REGISTRAR_ROLE"), const("PAUSER_ROLE"), GRANT]
TIMELOCK_ABI = [const("PROPOSER_ROLE"), const("EXECUTOR_ROLE"), const("CANCELLER_ROLE"), GRANT,
                fn("revokeRole", ["bytes32", "address"]), fn("updateDelay", ["uint256"])]


@pytest.fixture
def contracts(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    w3 = Web3()
    # Role ids are keccak of the constant's name, as the contracts define them.
    monkeypatch.setattr(governance, "_role_id", lambda contract, role: Web3.keccak(text=role))
    return {
        "DistrictToken": w3.eth.contract(address=addr(0xA), abi=TOKEN_ABI),
        "ServicePayments": w3.eth.contract(address=addr(0xB), abi=PAYMENTS_ABI),
        "TimelockController": w3.eth.contract(address=addr(0xC), abi=TIMELOCK_ABI),
    }


def plan() -> Any:
    return parse_plan({
        "admin": {"delay_seconds": 10, "timelock": {"min_delay_seconds": 86400, "proposers": [addr(1)],
                                                    "executors": [addr(2)]}},
        "roles": {"pauser": [addr(11)], "registrar": [addr(12)], "freezer": [addr(13)]},
        "minters": [{"address": addr(20), "allowance": "5", "daily_limit": "1"}],
    })


def test_every_role_is_granted_on_every_contract_that_has_it_and_each_minter_gets_its_allowance(
        contracts: dict[str, Any]) -> None:
    district = {k: v for k, v in contracts.items() if k != "TimelockController"}
    calls = governance.setup_calls(district, plan())
    texts = [(c.contract, c.description) for c in calls]
    assert texts[0][1].startswith("setMerchantDirectory")
    assert ("DistrictToken", f"grant PAUSER_ROLE to {addr(11)}") in texts
    assert ("ServicePayments", f"grant PAUSER_ROLE to {addr(11)}") in texts
    assert ("ServicePayments", f"grant REGISTRAR_ROLE to {addr(12)}") in texts
    assert ("DistrictToken", f"grant TREASURER_ROLE to {addr(20)}") in texts
    assert ("DistrictToken", f"allow {addr(20)} to mint 5.00 M3E, at most 1.00 M3E a day") in texts
    minter = calls[-1]
    token = contracts["DistrictToken"]
    assert minter.data == token.encode_abi("configureMinter", args=[addr(20), 5_000_000, 1_000_000])
    assert len(calls) == 1 + 2 + 1 + 1 + 1 + 1  # directory, pauser x2, registrar, freezer, treasurer, minter


def test_the_timelock_batch_ends_by_raising_its_delay_and_revoking_the_deployer(
        contracts: dict[str, Any]) -> None:
    deployer = addr(99)
    calls = governance._timelock_handover(contracts["TimelockController"], deployer,
                                          TimelockPlan(86400, (addr(1),), (addr(2),)))
    texts = [c.description for c in calls]
    assert texts[:3] == [f"grant PROPOSER_ROLE to {addr(1)}", f"grant CANCELLER_ROLE to {addr(1)}",
                         f"grant EXECUTOR_ROLE to {addr(2)}"]
    assert texts[3] == "set the timelock delay to 86400 s"
    assert sorted(texts[4:]) == sorted(f"revoke {r} from the deployer"
                                       for r in ("PROPOSER_ROLE", "EXECUTOR_ROLE", "CANCELLER_ROLE"))
    # a deployer named in the file as a proposer (a dev chain) keeps that role only
    kept = governance._timelock_handover(contracts["TimelockController"], deployer,
                                         TimelockPlan(0, (deployer,), (addr(2),)))
    assert [c.description for c in kept if "revoke" in c.description] == [
        "revoke EXECUTOR_ROLE from the deployer"]


def test_a_safe_batch_is_a_0600_transaction_builder_file(tmp_path: Path, contracts: dict[str, Any]) -> None:
    district = {k: v for k, v in contracts.items() if k != "TimelockController"}
    calls = governance.setup_calls(district, plan())
    out = tmp_path / "safe-setup-batch.json"
    governance.write_safe_batch(out, 69003, calls, addr(0x5AFE))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    batch = json.loads(out.read_text())
    assert batch["version"] == "1.0" and batch["chainId"] == "69003"
    assert batch["meta"]["createdFromSafeAddress"] == addr(0x5AFE)
    assert [t["data"] for t in batch["transactions"]] == [c.data for c in calls]
    assert all(t["value"] == "0" for t in batch["transactions"])


def test_minters_need_a_token_with_allowances(contracts: dict[str, Any]) -> None:
    old = Web3().eth.contract(address=addr(0xA), abi=[const("TREASURER_ROLE"), GRANT])
    with pytest.raises(ConfigError, match="has no minter allowances"):
        governance.minter_allowance_call(old, addr(20), 1, None)
