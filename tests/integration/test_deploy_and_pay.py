"""`ledger deploy` to a real Hardhat node, then the money rules from Python."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from web3 import Web3

from ledger.chain.client import connect
from ledger.chain.devnode import DevNode
from ledger.chain.district import Category, District, deposit_reference
from ledger.chain.manifest import DeployedContract, Manifest
from ledger.demo import dev_account
from ledger.errors import ContractRuleError, InputError

M3E = 1_000_000


def run_ledger(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180
    )


@pytest.fixture(scope="module")
def deployed(
    chain_node: DevNode, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Manifest, Path, dict[str, str]]:
    workdir = tmp_path_factory.mktemp("deploy")
    env = {**os.environ, "LEDGER_RPC_URL": chain_node.url, "LEDGER_STATE_DIR": str(workdir)}
    env.pop("LEDGER_MANIFEST", None)
    result = run_ledger("deploy", "--json", env=env, cwd=workdir)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["chain_id"] == 69003
    manifest = Manifest.load(workdir / "deployment.json")
    assert set(summary["contracts"]) >= {"DistrictToken", "ServicePayments"}
    return manifest, workdir, env


def test_deploy_writes_a_manifest_with_blocks_compiler_and_source_hash(deployed) -> None:  # type: ignore[no-untyped-def]
    manifest, _, _ = deployed
    assert manifest.compiler.startswith("0.8.28")
    assert len(manifest.source_hash) == 64
    for contract in manifest.contracts.values():
        assert Web3.is_checksum_address(contract.address)
        assert contract.deploy_block >= 1
        assert contract.abi


def test_deploy_again_reuses_the_live_contracts(deployed) -> None:  # type: ignore[no-untyped-def]
    manifest, workdir, env = deployed
    result = run_ledger("deploy", "--json", env=env, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["reused"] is True
    assert Manifest.load(workdir / "deployment.json") == manifest


def test_the_whole_money_path_moves_balances_exactly(chain_node: DevNode, deployed) -> None:  # type: ignore[no-untyped-def]
    manifest, _, _ = deployed
    w3 = connect(chain_node.url)
    operator = District(w3, dev_account(0), manifest)
    bakery_key, resident_key, terminal_key = dev_account(11), dev_account(12), dev_account(13)
    bakery_id, _ = operator.register_merchant("Fournil Test", Category.FOOD, bakery_key.address)
    resident, bakery, terminal = (
        operator.as_(resident_key),
        operator.as_(bakery_key),
        operator.as_(terminal_key),
    )
    supply0, reserve0 = operator.total_supply(), operator.reserve()

    operator.record_deposit("PYTEST-DEP-1", resident.address, 100 * M3E)
    assert resident.balance_of(resident.address) == 100 * M3E
    assert operator.reserve() == reserve0 + 100 * M3E

    resident.pay(bakery_id, 10 * M3E, "INV-1")
    assert bakery.balance_of(bakery.address) == 10 * M3E
    assert operator.net_paid(bakery_id, resident.address) == 10 * M3E

    # Signed offline by the resident, submitted by a terminal that holds no tokens and no ether.
    assert w3.eth.get_balance(terminal.address) >= 0
    signed = resident.sign_payment(bakery_id, 2_500_000, "TERMINAL-1")
    sent = terminal.submit_signed_payment(signed)
    assert sent.gas_used < 110_000
    assert bakery.balance_of(bakery.address) == 12_500_000
    with pytest.raises(ContractRuleError) as replay:
        terminal.submit_signed_payment(signed)
    assert replay.value.error_name == "DistrictTokenAuthorizationUsedOrCanceled"
    assert "already used or cancelled" in str(replay.value)

    bakery.refund(bakery_id, resident.address, 1 * M3E, "INV-1")
    assert resident.balance_of(resident.address) == 100 * M3E - 12_500_000 + 1 * M3E

    booking_id, _ = resident.open_booking(bakery_id, 5 * M3E, int(time.time()) + 3600, "CAKE-ORDER")
    assert operator.booking(booking_id)["open"] is True
    bakery.close_booking(booking_id, 2 * M3E)
    assert operator.booking(booking_id)["open"] is False
    assert resident.balance_of(resident.address) == 100 * M3E - 12_500_000 + 1 * M3E - 2 * M3E

    before = bakery.balance_of(bakery.address)
    # The deploy makes the CommonsFund contract the token's fee recipient.
    fund = operator.client.call(operator.token.functions.commonsFund())
    assert fund == manifest.contract("CommonsFund").address
    fund_before = operator.balance_of(str(fund))
    bakery.redeem(10 * M3E, "PAYOUT-1")
    fee = 10 * M3E * 300 // 10_000
    assert bakery.balance_of(bakery.address) == before - 10 * M3E
    assert operator.balance_of(str(fund)) == fund_before + fee
    assert operator.total_supply() == supply0 + 100 * M3E - (10 * M3E - fee)
    assert operator.reserve() == reserve0 + 100 * M3E - (10 * M3E - fee)
    assert operator.total_supply() <= operator.reserve()


def test_contract_errors_reach_python_as_sentences_naming_the_rule(chain_node: DevNode, deployed) -> None:  # type: ignore[no-untyped-def]
    manifest, _, _ = deployed
    w3 = connect(chain_node.url)
    operator = District(w3, dev_account(0), manifest)
    stranger = operator.as_(dev_account(14))
    with pytest.raises(ContractRuleError) as unknown:
        stranger.pay(999, 1, "X")
    assert unknown.value.error_name == "ServicePaymentsUnknownMerchant"
    assert str(unknown.value).startswith("No merchant has this id")
    assert "999" in str(unknown.value)
    with pytest.raises(ContractRuleError) as below_minimum:
        stranger.redeem(1, "X")
    assert str(below_minimum.value).startswith("The amount is below the smallest conversion to euros")
    assert "minimum 10.00 M3E" in str(below_minimum.value)
    with pytest.raises(ContractRuleError) as not_merchant:
        stranger.redeem(10 * M3E, "X")
    assert "Only an active registered merchant may convert tokens to euros" in str(not_merchant.value)
    with pytest.raises(ContractRuleError) as no_role:
        stranger.record_deposit("STRANGER", stranger.address, 1)
    assert no_role.value.error_name == "AccessControlUnauthorizedAccount"
    operator.record_deposit("PYTEST-DUP", stranger.address, 1)
    with pytest.raises(InputError) as twice:  # refused before sending
        operator.record_deposit("PYTEST-DUP", stranger.address, 1)
    assert "mints once" in str(twice.value) and "'PYTEST-DUP'" in str(twice.value)
    with pytest.raises(ContractRuleError) as sent_anyway:  # and by the contract, in its words
        operator.client.transact(
            operator.token.functions.recordDeposit(deposit_reference("PYTEST-DUP"), stranger.address, 1)
        )
    assert "mints once" in str(sent_anyway.value) and "'PYTEST-DUP'" in str(sent_anyway.value)


def test_verify_reports_a_match_then_a_mismatch_when_an_address_holds_other_code(deployed) -> None:  # type: ignore[no-untyped-def]
    manifest, workdir, env = deployed
    ok = run_ledger("verify", "--json", env=env, cwd=workdir)
    assert ok.returncode == 0, ok.stderr
    assert all(c["matches"] for c in json.loads(ok.stdout)["contracts"])

    token = manifest.contract("DistrictToken")
    payments = manifest.contract("ServicePayments")
    swapped = Manifest(
        manifest.chain_id,
        manifest.compiler,
        manifest.source_hash,
        {
            "DistrictToken": token,
            "ServicePayments": DeployedContract(
                token.address, payments.deploy_block, payments.deploy_tx, payments.abi
            ),
        },
        manifest.deployer,
        manifest.genesis_hash,
    )
    bad = workdir / "swapped.json"
    swapped.save(bad)
    result = run_ledger("verify", "--manifest", str(bad), env=env, cwd=workdir)
    assert result.returncode == 1
    assert "MISMATCH ServicePayments" in result.stdout
    assert "MATCH    DistrictToken" in result.stdout
