"""`ledger deploy --config` on a real node: split roles, a timelock admin, read back on chain;
and the refusals that protect a deployment off a local dev chain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from ledger.chain import governance
from ledger.chain.client import connect
from ledger.chain.deploy_plan import parse_plan
from ledger.chain.devnode import DevNode, free_port
from ledger.chain.district import Category, District
from ledger.chain.manifest import Manifest
from ledger.demo import dev_account
from ledger.errors import ConfigError, ContractRuleError

DEPLOYER = 0
PROPOSERS = (30, 31)
EXECUTOR = 32
ROLES = {"registrar": 21, "pauser": 22, "oracle": 23, "tariff": 24, "freezer": 25, "social_service": 27}
TREASURER = 26
ADMIN_DELAY = 3 * 86400
TIMELOCK_DELAY = 2 * 86400
M3E = 1_000_000


def run_ledger(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ledger", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def a(index: int) -> str:
    return str(dev_account(index).address)


def deployment_toml() -> str:
    roles = "\n".join(f'{name} = ["{a(i)}"]' for name, i in ROLES.items())
    return f"""chain_id = 69003

[token]
commons_fund = "{a(9)}"

[admin]
delay_seconds = {ADMIN_DELAY}

[admin.timelock]
min_delay_seconds = {TIMELOCK_DELAY}
proposers = ["{a(PROPOSERS[0])}", "{a(PROPOSERS[1])}"]
executors = ["{a(EXECUTOR)}"]

[roles]
{roles}

[[minters]]
address = "{a(TREASURER)}"
allowance = "1000.00"
daily_limit = "600.00"
"""


@pytest.fixture(scope="module")
def chain_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevNode]:
    """A node of this module's own: its clock is moved days ahead, which other tests must not see."""
    node = DevNode(free_port(), log_path=tmp_path_factory.mktemp("roles-chain") / "node.log").start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def deployed(chain_node: DevNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[Manifest, Path, dict[str, str]]]:
    workdir = tmp_path_factory.mktemp("deploy-roles")
    (workdir / "deployment.toml").write_text(deployment_toml())
    env = {**os.environ, "LEDGER_RPC_URL": chain_node.url, "LEDGER_STATE_DIR": str(workdir)}
    for name in ("LEDGER_MANIFEST", "LEDGER_DEPLOYER_KEY", "LEDGER_KEYSTORE"):
        env.pop(name, None)
    result = run_ledger("deploy", "--config", "deployment.toml", "--json", env=env, cwd=workdir)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["admin"]["kind"] == "timelock"
    yield Manifest.load(workdir / "deployment.json"), workdir, env


def contract(w3: Web3, manifest: Manifest, name: str) -> Any:
    info = manifest.governance.get(name) or manifest.contracts[name]
    return w3.eth.contract(address=Web3.to_checksum_address(info.address), abi=info.abi)


def role_id(c: Any, role: str) -> bytes:
    return bytes(32) if role == "DEFAULT_ADMIN_ROLE" else bytes(getattr(c.functions, role)().call())


def test_each_role_is_held_on_chain_by_its_own_key_and_the_deployer_holds_nothing(
        chain_node: DevNode, deployed: tuple[Manifest, Path, dict[str, str]]) -> None:
    manifest, _, _ = deployed
    w3 = connect(chain_node.url)
    timelock = contract(w3, manifest, "TimelockController")
    expected = {f"{k.upper()}_ROLE": a(i) for k, i in ROLES.items()} | {"TREASURER_ROLE": a(TREASURER)}
    everyone = [a(i) for i in (DEPLOYER, *PROPOSERS, EXECUTOR, TREASURER, *ROLES.values())]
    checked = 0
    for name in manifest.contracts:
        c = contract(w3, manifest, name)
        assert c.functions.defaultAdmin().call() == timelock.address
        assert c.functions.defaultAdminDelay().call() == ADMIN_DELAY
        for role in governance.role_constants(c):
            holders = [x for x in everyone if c.functions.hasRole(role_id(c, role), x).call()]
            assert holders == [expected[role]], (name, role, holders)
            assert manifest.roles[name][role] == holders
            checked += 1
        assert not c.functions.hasRole(bytes(32), a(DEPLOYER)).call()
    assert checked >= 8  # treasurer, pauser x3, freezer, registrar, oracle, tariff
    # The timelock: the file's proposers and executor, the file's delay, nothing left to the deployer.
    assert timelock.functions.getMinDelay().call() == TIMELOCK_DELAY
    wanted = (("PROPOSER_ROLE", PROPOSERS), ("CANCELLER_ROLE", PROPOSERS), ("EXECUTOR_ROLE", (EXECUTOR,)))
    for role, holders in wanted:
        rid = role_id(timelock, role)
        assert [x for x in everyone if timelock.functions.hasRole(rid, x).call()] == [a(i) for i in holders]
    assert not timelock.functions.hasRole(bytes(32), a(DEPLOYER)).call()
    assert manifest.admin["timelock"]["min_delay_seconds"] == TIMELOCK_DELAY


def test_verify_compares_the_timelock_with_the_openzeppelin_source_too(
        deployed: tuple[Manifest, Path, dict[str, str]]) -> None:
    _, workdir, env = deployed
    result = run_ledger("verify", "--json", env=env, cwd=workdir)
    assert result.returncode == 0, result.stderr
    checked = {c["name"]: c["matches"] for c in json.loads(result.stdout)["contracts"]}
    assert checked == {"DistrictToken": True, "ServicePayments": True, "EnergySettlement": True,
                       "CommonsFund": True, "TimelockController": True}


def test_a_role_grant_through_the_timelock_waits_its_delay(
        chain_node: DevNode, deployed: tuple[Manifest, Path, dict[str, str]]) -> None:
    manifest, workdir, env = deployed
    w3 = connect(chain_node.url)
    payments = contract(w3, manifest, "ServicePayments")
    newcomer = a(40)
    stranger_env = {**env, "LEDGER_DEPLOYER_KEY": dev_account(41).key.hex()}
    refused = run_ledger("role", "grant", "registrar", newcomer, "--contract", "payments",
                         env=stranger_env, cwd=workdir)
    assert refused.returncode == 1
    assert "is not one of its proposers" in refused.stderr

    proposer_env = {**env, "LEDGER_DEPLOYER_KEY": dev_account(PROPOSERS[0]).key.hex()}
    scheduled = run_ledger("role", "grant", "registrar", newcomer, "--contract", "payments", "--json",
                           env=proposer_env, cwd=workdir)
    assert scheduled.returncode == 0, scheduled.stderr
    assert json.loads(scheduled.stdout)["results"][0]["status"] == "scheduled"
    assert not payments.functions.hasRole(role_id(payments, "REGISTRAR_ROLE"), newcomer).call()

    executor_env = {**env, "LEDGER_DEPLOYER_KEY": dev_account(EXECUTOR).key.hex()}
    early = run_ledger("role", "grant", "registrar", newcomer, "--contract", "payments", "--execute",
                       env=executor_env, cwd=workdir)
    assert early.returncode == 2
    assert "the timelock delay has not passed" in early.stderr
    assert not payments.functions.hasRole(role_id(payments, "REGISTRAR_ROLE"), newcomer).call()

    w3.provider.make_request("evm_increaseTime", [TIMELOCK_DELAY])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    done = run_ledger("role", "grant", "registrar", newcomer, "--contract", "payments", "--execute",
                      env=executor_env, cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert payments.functions.hasRole(role_id(payments, "REGISTRAR_ROLE"), newcomer).call()
    listed = run_ledger("role", "list", "--json", env=env, cwd=workdir)
    assert listed.returncode == 0, listed.stderr
    assert newcomer in json.loads(listed.stdout)["roles"]["ServicePayments"]["REGISTRAR_ROLE"]


@pytest.fixture
def off_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    """The node is taken for a production node (what `is_dev_node` says of a Besu or geth)."""
    monkeypatch.setattr(governance, "is_dev_node", lambda w3: False)


def plan(**admin: Any) -> Any:
    raw: dict[str, Any] = {"admin": {"delay_seconds": ADMIN_DELAY, **admin},
                           "roles": {"pauser": [a(22)]}}
    return parse_plan(raw)


@pytest.mark.parametrize(
    ("admin", "words"),
    [
        ({}, "the default admin cannot be a single key"),
        ({"delay_seconds": 0,
          "timelock": {"min_delay_seconds": 10, "proposers": [a(30)], "executors": [a(32)]}},
         "an admin delay of 0 is refused"),
        ({"timelock": {"min_delay_seconds": 0, "proposers": [a(30)], "executors": [a(32)]}},
         "a timelock delay of 0 is refused"),
        ({"safe": a(33)}, "is not a contract (it has no code)"),
    ],
)
def test_off_a_dev_chain_a_single_key_or_zero_delay_admin_is_refused_before_anything_is_sent(
        chain_node: DevNode, off_dev: None, admin: dict[str, Any], words: str) -> None:
    w3 = connect(chain_node.url)
    before = w3.eth.get_transaction_count(a(DEPLOYER))
    with pytest.raises(ConfigError) as refused:
        governance.deploy_with_plan(w3, dev_account(DEPLOYER), plan(**admin))
    assert words in str(refused.value)
    assert w3.eth.get_transaction_count(a(DEPLOYER)) == before


def test_off_a_dev_chain_the_deployer_may_not_hold_a_role(chain_node: DevNode, off_dev: None) -> None:
    w3 = connect(chain_node.url)
    raw = {"admin": {"delay_seconds": 10, "timelock": {"min_delay_seconds": 10, "proposers": [a(30)],
                                                       "executors": [a(32)]}},
           "roles": {"pauser": [a(DEPLOYER)]}}
    with pytest.raises(ConfigError, match="the key that deploys holds no role"):
        governance.deploy_with_plan(w3, dev_account(DEPLOYER), parse_plan(raw))


def test_a_safe_admin_must_be_a_contract_answering_as_a_safe(
        chain_node: DevNode, deployed: tuple[Manifest, Path, dict[str, str]], off_dev: None) -> None:
    manifest, _, _ = deployed
    w3 = connect(chain_node.url)
    not_a_safe = manifest.contracts["DistrictToken"].address  # a contract, but no getThreshold()
    with pytest.raises(ConfigError, match="it is not a Safe"):
        governance.deploy_with_plan(w3, dev_account(DEPLOYER), plan(safe=not_a_safe))


def test_without_a_file_off_a_dev_chain_deploy_refuses(
        chain_node: DevNode, off_dev: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.chain import deploy

    monkeypatch.setattr(deploy, "is_dev_node", lambda w3: False)
    with pytest.raises(ConfigError, match="deploy with a deployment file"):
        deploy.deploy_district(connect(chain_node.url), dev_account(DEPLOYER))


def view(chain_node: DevNode, manifest: Manifest, index: int) -> District:
    return District(connect(chain_node.url), dev_account(index), manifest)


def advance(w3: Web3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def test_a_treasurer_mints_within_its_daily_limit_and_allowance_then_is_refused_with_a_sentence(
        chain_node: DevNode, deployed: tuple[Manifest, Path, dict[str, str]]) -> None:
    manifest, workdir, env = deployed
    treasurer = view(chain_node, manifest, TREASURER)
    resident = a(50)
    treasurer.record_deposit("ALLOW-1", resident, 600 * M3E)
    with pytest.raises(ContractRuleError) as daily:
        treasurer.record_deposit("ALLOW-2", resident, 1)
    assert daily.value.error_name == "DistrictTokenMintAboveDailyLimit"
    assert str(daily.value).startswith("This treasurer key reached its daily mint limit")
    advance(treasurer.client.w3, 86_400)
    treasurer.record_deposit("ALLOW-2", resident, 400 * M3E)  # the whole allowance is now used
    with pytest.raises(ContractRuleError) as spent:
        treasurer.record_deposit("ALLOW-3", resident, 1)
    assert spent.value.error_name == "DistrictTokenMintAboveAllowance"
    assert str(spent.value).startswith("This treasurer key may not mint that much")
    assert treasurer.balance_of(resident) == 1000 * M3E
    assert treasurer.total_supply() <= treasurer.reserve()
    shown = run_ledger("minter", "show", a(TREASURER), "--json", env=env, cwd=workdir)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["allowance"] == 0
    # Only the admin (the timelock here) raises it: the treasurer's own key cannot.
    own = {**env, "LEDGER_DEPLOYER_KEY": dev_account(TREASURER).key.hex()}
    refused = run_ledger("minter", "set-allowance", a(TREASURER), "1000000", env=own, cwd=workdir)
    assert refused.returncode == 1
    assert "is not one of its proposers" in refused.stderr


def test_a_payout_change_waits_its_delay_and_signed_payments_wait_with_it(
        chain_node: DevNode, deployed: tuple[Manifest, Path, dict[str, str]]) -> None:
    manifest, workdir, env = deployed
    registrar = view(chain_node, manifest, ROLES["registrar"])
    shop, new_payout = dev_account(51), a(52)
    merchant_id, _ = registrar.register_merchant("Épicerie Délai", Category.FOOD, shop.address)
    payer = view(chain_node, manifest, 53)
    signed = payer.sign_payment(merchant_id, 1 * M3E, "BEFORE-CHANGE")

    stranger = {**env, "LEDGER_DEPLOYER_KEY": dev_account(54).key.hex()}
    refused = run_ledger("merchant", "set-payout", str(merchant_id), new_payout, env=stranger, cwd=workdir)
    assert refused.returncode == 1 and "does not hold REGISTRAR_ROLE" in refused.stderr

    as_registrar = {**env, "LEDGER_DEPLOYER_KEY": dev_account(ROLES["registrar"]).key.hex()}
    asked = run_ledger("merchant", "set-payout", str(merchant_id), new_payout, "--json",
                       env=as_registrar, cwd=workdir)
    assert asked.returncode == 0, asked.stderr
    effective_at = json.loads(asked.stdout)["effective_at"]
    assert registrar.payout_of(merchant_id) == shop.address  # nothing moved yet

    early = run_ledger("merchant", "complete-payout", str(merchant_id), env=env | stranger, cwd=workdir)
    assert early.returncode == 1
    assert "The payout change cannot take effect yet" in early.stderr
    with pytest.raises(ContractRuleError) as pending:
        registrar.as_(dev_account(54)).submit_signed_payment(signed)
    assert pending.value.error_name == "ServicePaymentsPayoutChangePending"
    assert "signed payments to it are refused" in str(pending.value)

    block_time = int(registrar.client.w3.eth.get_block("latest")["timestamp"])
    advance(registrar.client.w3, effective_at - block_time)
    done = run_ledger("merchant", "complete-payout", str(merchant_id), env=stranger, cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert registrar.payout_of(merchant_id) == new_payout


def test_a_frozen_account_can_neither_send_nor_receive_and_is_told_why(
        chain_node: DevNode, deployed: tuple[Manifest, Path, dict[str, str]]) -> None:
    manifest, workdir, env = deployed
    holder, other = view(chain_node, manifest, 50), a(55)  # 50 holds 1000 M3E (minted above)
    as_freezer = {**env, "LEDGER_DEPLOYER_KEY": dev_account(ROLES["freezer"]).key.hex()}
    as_pauser = {**env, "LEDGER_DEPLOYER_KEY": dev_account(ROLES["pauser"]).key.hex()}
    refused = run_ledger("freeze", holder.address, "--order", "TJ-LYON-2026-001", env=as_pauser, cwd=workdir)
    assert refused.returncode == 1 and "does not hold FREEZER_ROLE" in refused.stderr

    frozen = run_ledger("freeze", holder.address, "--order", "TJ-LYON-2026-001", env=as_freezer, cwd=workdir)
    assert frozen.returncode == 0, frozen.stderr
    with pytest.raises(ContractRuleError) as sending:
        holder.transfer(other, 1 * M3E)
    assert sending.value.error_name == "DistrictTokenAccountFrozen"
    assert str(sending.value).startswith("The account is frozen by a court or anti-money-laundering order")
    with pytest.raises(ContractRuleError) as receiving:
        view(chain_node, manifest, 53).transfer(holder.address, 1)
    assert receiving.value.error_name == "DistrictTokenAccountFrozen"

    lifted = run_ledger("unfreeze", holder.address, "--order", "TJ-LYON-2026-002", env=as_freezer,
                        cwd=workdir)
    assert lifted.returncode == 0, lifted.stderr
    holder.transfer(other, 1 * M3E)
    assert holder.balance_of(other) == 1 * M3E
