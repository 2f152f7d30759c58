"""The operator commands end to end on a real anvil node: each is refused to a key without the
role (nothing sent), done with it, and its event reaches the index (`ledger index --once`).

Every command is a real `python -m ledger` process signing with a Web3 Secret Storage keystore;
the password comes from a 0600 file or standard input, never from argv.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from ledger.chain.client import connect
from ledger.chain.devnode import AnvilNode, anvil_binary, free_port
from ledger.chain.governance import deploy_with_plan
from ledger.demo import DEMO_ROLES, demo_plan, dev_account

RESIDENT = 4
PASSWORD = "correct horse battery staple"


@dataclass
class Stack:
    node: AnvilNode
    w3: Web3
    root: Path
    env: dict[str, str]


def keystore(root: Path, index: int) -> Path:
    """A keystore of dev account `index` (cheap KDF: a test key on a local chain)."""
    path = root / f"key-{index}.json"
    if not path.exists():
        encrypted = Account.encrypt(dev_account(index).key, PASSWORD, kdf="pbkdf2", iterations=1000)
        path.write_text(json.dumps(encrypted))
        path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if anvil_binary() is None:
        pytest.skip("anvil is not installed (./run.sh setup installs it)")
    root = tmp_path_factory.mktemp("operator")
    node = AnvilNode(free_port(), root / "chain" / "state.json", log_path=root / "anvil.log").start()
    try:
        w3 = connect(node.url)
        manifest = deploy_with_plan(w3, dev_account(0), demo_plan()).manifest
        manifest.save(root / "deployment.json")
        password_file = root / "password"
        password_file.write_text(PASSWORD + "\n")
        password_file.chmod(0o600)
        env = {
            **os.environ,
            "LEDGER_RPC_URL": node.url,
            "LEDGER_STATE_DIR": str(root),
            "LEDGER_MANIFEST": str(root / "deployment.json"),
            "LEDGER_KEYSTORE_PASSWORD_FILE": str(password_file),
            "LEDGER_CONFIRMATIONS": "0",
        }
        yield Stack(node, w3, root, env)
    finally:
        node.stop()


def ledger(stack: Stack, signer: int | None, *args: str, stdin: str | None = None,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**stack.env, **(env or {})}
    if signer is not None:
        environment["LEDGER_KEYSTORE"] = str(keystore(stack.root, signer))
    return subprocess.run([sys.executable, "-m", "ledger", *args], env=environment, input=stdin or "",
                          capture_output=True, text=True, timeout=300)


def indexed(stack: Stack, query: str, *params: object) -> list[tuple[object, ...]]:
    done = ledger(stack, None, "index", "--once")
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(stack.root / "ledger.db") as db:
        return db.execute(query, params).fetchall()


def topic(signature: str) -> str:
    return "0x" + Web3.keccak(text=signature).hex().removeprefix("0x")


def test_pause_is_refused_without_the_pauser_role_and_nothing_is_sent(stack: Stack) -> None:
    block = stack.w3.eth.block_number
    done = ledger(stack, RESIDENT, "pause")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "does not hold PAUSER_ROLE" in done.stderr and "ledger role list" in done.stderr
    assert "Traceback" not in done.stderr
    assert stack.w3.eth.block_number == block


def test_pause_then_unpause_with_the_pauser_key_and_both_are_indexed(stack: Stack) -> None:
    done = ledger(stack, DEMO_ROLES["pauser"], "pause")
    assert done.returncode == 0, done.stderr
    assert "DistrictToken is now paused" in done.stdout and "ServicePayments is now paused" in done.stdout
    again = ledger(stack, DEMO_ROLES["pauser"], "pause", "--contract", "token")
    assert again.returncode == 0 and "already paused: nothing sent" in again.stdout
    resumed = ledger(stack, DEMO_ROLES["pauser"], "unpause", "--json")
    assert resumed.returncode == 0, resumed.stderr
    contracts = {r["contract"] for r in json.loads(resumed.stdout)["results"]}
    assert contracts >= {"DistrictToken", "ServicePayments"}
    rows = indexed(stack, "SELECT topic0 FROM raw_logs WHERE topic0 IN (?, ?)",
                   topic("Paused(address)"), topic("Unpaused(address)"))
    assert len([r for r in rows if r[0] == topic("Paused(address)")]) >= 2
    assert len([r for r in rows if r[0] == topic("Unpaused(address)")]) >= 2


def test_a_deposit_is_refused_without_the_treasurer_role(stack: Stack) -> None:
    done = ledger(stack, DEMO_ROLES["registrar"], "deposit", dev_account(RESIDENT).address, "10.00",
                  "--bank-ref", "BANK-REFUSED-1")
    assert done.returncode == 1
    assert "does not hold TREASURER_ROLE" in done.stderr


def test_a_deposit_with_the_password_on_stdin_mints_once_and_is_indexed(stack: Stack) -> None:
    resident = dev_account(RESIDENT).address
    args = ("deposit", resident, "123.45", "--bank-ref", "BANK-2026-0001")
    stdin_env = {"LEDGER_KEYSTORE_PASSWORD_FILE": "-"}
    done = ledger(stack, DEMO_ROLES["treasurer"], *args, stdin=PASSWORD + "\n", env=stdin_env)
    assert done.returncode == 0, done.stderr
    assert "123.45 M3E minted to" in done.stdout
    twice = ledger(stack, DEMO_ROLES["treasurer"], *args, stdin=PASSWORD + "\n", env=stdin_env)
    assert twice.returncode == 2 and "already recorded" in twice.stderr
    too_much = ledger(stack, DEMO_ROLES["treasurer"], "deposit", resident, "99999999.00",
                      "--bank-ref", "BANK-BIG")
    assert too_much.returncode == 1 and "may still mint" in too_much.stderr
    over_the_day = ledger(stack, DEMO_ROLES["treasurer"], "deposit", resident, "19900.00",
                          "--bank-ref", "BANK-DAY")  # 123.45 minted today, 20,000 a day
    assert over_the_day.returncode == 1 and "record this deposit tomorrow" in over_the_day.stderr
    rows = indexed(stack, "SELECT beneficiary, amount FROM deposits")
    # SQLite keeps uint256 as 32 big-endian bytes (ledger/db/types.py)
    assert any(str(b).lower() == resident.lower() and isinstance(a, bytes)
               and int.from_bytes(a, "big") == 123_450_000 for b, a in rows)


def test_merchant_add_suspend_resume_need_the_registrar_and_are_indexed(stack: Stack) -> None:
    payout = dev_account(11).address
    refused = ledger(stack, RESIDENT, "merchant", "add", "Fromagerie Moncey", "--category", "food",
                     "--payout", payout)
    assert refused.returncode == 1 and "does not hold REGISTRAR_ROLE" in refused.stderr
    registrar = DEMO_ROLES["registrar"]
    added = ledger(stack, registrar, "merchant", "add", "Fromagerie Moncey", "--category", "food",
                   "--payout", payout, "--json")
    assert added.returncode == 0, added.stderr
    merchant_id = json.loads(added.stdout)["merchant_id"]
    lookalike = ledger(stack, registrar, "merchant", "add", "FROMAGERIE MONCEY", "--category", "food",
                       "--payout", payout)
    assert lookalike.returncode == 2 and "nothing was registered" in lookalike.stderr
    assert ledger(stack, RESIDENT, "merchant", "suspend", str(merchant_id)).returncode == 1
    suspended = ledger(stack, registrar, "merchant", "suspend", str(merchant_id))
    assert suspended.returncode == 0 and "is now suspended" in suspended.stdout, suspended.stderr
    resumed = ledger(stack, registrar, "merchant", "resume", str(merchant_id))
    assert resumed.returncode == 0 and "is now active" in resumed.stdout, resumed.stderr
    unknown = ledger(stack, registrar, "merchant", "suspend", "999")
    assert unknown.returncode == 2 and "there is no merchant #999" in unknown.stderr
    kinds = indexed(stack, "SELECT kind, active FROM merchant_events WHERE merchant_id = ? "
                    "ORDER BY block_number, log_index", merchant_id)
    assert kinds[0][0] == "registered"
    assert [bool(a) for k, a in kinds[1:]] == [False, True]


def test_merchant_set_payout_needs_the_registrar_and_is_indexed(stack: Stack) -> None:
    new_payout = dev_account(12).address
    assert ledger(stack, RESIDENT, "merchant", "set-payout", "1", new_payout).returncode == 1
    done = ledger(stack, DEMO_ROLES["registrar"], "merchant", "set-payout", "1", new_payout)
    assert done.returncode == 0 and "requested" in done.stdout, done.stderr
    rows = indexed(stack, "SELECT topic0 FROM raw_logs WHERE topic0 = ?",
                   topic("MerchantPayoutChangeRequested(uint256,address,address,uint64)"))
    assert rows


def test_role_grant_revoke_list_need_the_admin_and_are_indexed(stack: Stack) -> None:
    newcomer = dev_account(19).address
    refused = ledger(stack, RESIDENT, "role", "grant", "pauser", newcomer, "--contract", "token")
    assert refused.returncode == 1 and "the admin must make this change" in refused.stderr
    granted = ledger(stack, 0, "role", "grant", "pauser", newcomer, "--contract", "token")
    assert granted.returncode == 0 and "Done: grant PAUSER_ROLE" in granted.stdout, granted.stderr
    listed = ledger(stack, RESIDENT, "role", "list", "--json")
    assert newcomer in json.loads(listed.stdout)["roles"]["DistrictToken"]["PAUSER_ROLE"]
    revoked = ledger(stack, 0, "role", "revoke", "pauser", newcomer, "--contract", "token")
    assert revoked.returncode == 0, revoked.stderr
    listed = ledger(stack, RESIDENT, "role", "list", "--json")
    assert newcomer not in json.loads(listed.stdout)["roles"]["DistrictToken"]["PAUSER_ROLE"]
    rows = indexed(stack, "SELECT topic0, topic2 FROM raw_logs WHERE topic0 IN (?, ?)",
                   topic("RoleGranted(bytes32,address,address)"),
                   topic("RoleRevoked(bytes32,address,address)"))
    about_newcomer = [t for t, account in rows if str(account).lower().endswith(newcomer[2:].lower())]
    assert topic("RoleGranted(bytes32,address,address)") in about_newcomer
    assert topic("RoleRevoked(bytes32,address,address)") in about_newcomer


def test_a_password_file_others_can_read_is_refused(stack: Stack) -> None:
    loose = stack.root / "loose-password"
    loose.write_text(PASSWORD)
    loose.chmod(0o644)
    done = ledger(stack, DEMO_ROLES["pauser"], "pause", env={"LEDGER_KEYSTORE_PASSWORD_FILE": str(loose)})
    assert done.returncode == 2 and "chmod 600" in done.stderr


def _supply(stack: Stack) -> int:
    from ledger.chain.manifest import Manifest

    token = Manifest.load(stack.root / "deployment.json").contract("DistrictToken")
    return int(stack.w3.eth.contract(address=token.address, abi=token.abi).functions.totalSupply().call())


def test_attack_a_bank_reference_the_statement_import_minted_is_not_minted_again_by_hand(
    stack: Stack,
) -> None:
    from ledger.chain.client import ChainClient
    from ledger.chain.deploy import decoder_for_manifest
    from ledger.chain.manifest import Manifest
    from ledger.domain.treasury import bank_ref_bytes

    # the statement import (ledger/treasury) mints a bank entry under bank_ref_bytes(key)
    manifest = Manifest.load(stack.root / "deployment.json")
    treasurer = ChainClient(stack.w3, dev_account(DEMO_ROLES["treasurer"]), decoder_for_manifest(manifest))
    deployed = manifest.contract("DistrictToken")
    token = treasurer.contract(deployed.address, deployed.abi)
    resident = dev_account(RESIDENT).address
    key = "VIREMENT-ÉLISE-0001"  # a bank reference with an accent
    treasurer.transact(token.functions.recordDeposit(bank_ref_bytes(key), resident, 10_000_000))
    before = _supply(stack)
    by_hand = ledger(stack, DEMO_ROLES["treasurer"], "deposit", resident, "10.00", "--bank-ref", key)
    assert by_hand.returncode != 0, "the same bank deposit was minted a second time: " + by_hand.stdout
    assert _supply(stack) == before


def test_attack_a_bank_reference_with_a_stray_space_does_not_mint_again(stack: Stack) -> None:
    resident = dev_account(RESIDENT).address
    first = ledger(stack, DEMO_ROLES["treasurer"], "deposit", resident, "1.00", "--bank-ref", "BANK-WS-0001")
    assert first.returncode == 0, first.stderr
    before = _supply(stack)
    pasted = ledger(stack, DEMO_ROLES["treasurer"], "deposit", resident, "1.00",
                    "--bank-ref", "BANK-WS-0001 ")
    assert pasted.returncode == 2, "a copy-paste with a trailing space minted again: " + pasted.stdout
    assert "bank reference" in pasted.stderr and "Traceback" not in pasted.stderr
    assert _supply(stack) == before


def test_attack_revoking_the_last_pauser_is_refused_unless_asked_for(stack: Stack) -> None:
    pauser = dev_account(DEMO_ROLES["pauser"]).address
    block = stack.w3.eth.block_number
    last = ledger(stack, 0, "role", "revoke", "pauser", pauser, "--contract", "payments")
    assert last.returncode == 1, "the last pauser was revoked without a word: " + last.stdout
    assert "nobody" in last.stderr and "--leave-empty" in last.stderr
    assert stack.w3.eth.block_number == block
    listed = ledger(stack, RESIDENT, "role", "list", "--json")
    assert pauser in json.loads(listed.stdout)["roles"]["ServicePayments"]["PAUSER_ROLE"]


def test_attack_revoking_a_role_the_key_does_not_hold_sends_nothing_and_says_so(stack: Stack) -> None:
    resident = dev_account(RESIDENT).address
    block = stack.w3.eth.block_number
    done = ledger(stack, 0, "role", "revoke", "freezer", resident, "--contract", "token")
    assert done.returncode == 0, done.stderr
    assert "Done" not in done.stdout and "nothing sent" in done.stdout
    assert stack.w3.eth.block_number == block


def _api_operator(stack: Stack, signer: int) -> Any:
    """The API's operator port (what POST /v1/operator/deposits calls), signing with `signer`."""
    from api.chain_ops import ChainOperator
    from api.settings import ApiSettings

    return ChainOperator(ApiSettings(
        rpc_url=stack.node.url, manifest=stack.root / "deployment.json",
        keystore=keystore(stack.root, signer),
        keystore_password_file=Path(stack.env["LEDGER_KEYSTORE_PASSWORD_FILE"]),
    ))


def test_attack_a_bank_reference_the_statement_import_minted_is_not_minted_again_by_the_api(
    stack: Stack,
) -> None:
    from ledger.domain.treasury import bank_ref_bytes
    from ledger.errors import InputError

    resident = dev_account(RESIDENT).address
    key = "VIREMENT-ÉLISE-0002"  # an accent: the old raw encoding differs from the import's
    _mint_raw(stack, bank_ref_bytes(key), resident, 10_000_000)
    before = _supply(stack)
    with pytest.raises(InputError, match="already recorded"):
        _api_operator(stack, DEMO_ROLES["treasurer"]).record_deposit(key, resident, 10_000_000)
    assert _supply(stack) == before


def test_attack_a_bank_reference_the_api_minted_the_old_way_is_not_minted_again(stack: Stack) -> None:
    from ledger.errors import InputError

    resident = dev_account(RESIDENT).address
    key = "VIREMENT-ÉLISE-0003"
    # how the API (and `ledger deposit` before it) minted: the raw UTF-8 text zero padded
    _mint_raw(stack, key.encode("utf-8").ljust(32, b"\0"), resident, 10_000_000)
    before = _supply(stack)
    with pytest.raises(InputError, match="already recorded"):
        _api_operator(stack, DEMO_ROLES["treasurer"]).record_deposit(key, resident, 10_000_000)
    by_hand = ledger(stack, DEMO_ROLES["treasurer"], "deposit", resident, "10.00", "--bank-ref", key)
    assert by_hand.returncode != 0, "the same bank deposit was minted a second time: " + by_hand.stdout
    assert _supply(stack) == before


def test_the_api_and_the_command_mint_one_bank_reference_once_between_them(stack: Stack) -> None:
    from ledger.errors import InputError

    resident = dev_account(RESIDENT).address
    key = "VIREMENT-ÉLISE-0004"
    _api_operator(stack, DEMO_ROLES["treasurer"]).record_deposit(key, resident, 1_000_000)
    before = _supply(stack)
    by_hand = ledger(stack, DEMO_ROLES["treasurer"], "deposit", resident, "1.00", "--bank-ref", key)
    assert by_hand.returncode != 0, "the API's deposit was minted again by hand: " + by_hand.stdout
    with pytest.raises(InputError, match="already recorded"):
        _api_operator(stack, DEMO_ROLES["treasurer"]).record_deposit(key, resident, 1_000_000)
    assert _supply(stack) == before


def _mint_raw(stack: Stack, bank_ref: bytes, beneficiary: str, amount: int) -> None:
    """Mint under `bank_ref` as given, with the treasurer key (what another path once sent)."""
    from ledger.chain.client import ChainClient
    from ledger.chain.deploy import decoder_for_manifest
    from ledger.chain.manifest import Manifest

    manifest = Manifest.load(stack.root / "deployment.json")
    treasurer = dev_account(DEMO_ROLES["treasurer"])
    client = ChainClient(stack.w3, treasurer, decoder_for_manifest(manifest))
    deployed = manifest.contract("DistrictToken")
    token = client.contract(deployed.address, deployed.abi)
    client.transact(token.functions.recordDeposit(bank_ref, beneficiary, amount))
