"""Deploying the district under a deployment file: split roles, a timelock or a Safe as admin.

What happens, in order:
1. the plan is checked against the node: off a local dev chain, no single-key (EOA) admin, no
   admin delay of 0, no timelock delay of 0, a Safe must be a contract with a threshold of at
   least 2, and the deployer holds no role;
2. with `[admin.timelock]`, an OpenZeppelin TimelockController is deployed with a delay of 0 and
   the deployer as its only proposer and executor (no timelock admin);
3. the district contracts are deployed with the admin (the timelock, the Safe, or on a dev chain
   the deployer) as their default admin and the given admin delay;
4. the admin's set-up calls (the merchant directory, every role grant, every minter allowance)
   are made: by the deployer when it is the (dev-only) admin; through the timelock as one batch
   scheduled and executed at delay 0, whose last calls give the timelock its proposers and
   executors, raise its delay to the plan's and revoke every power of the deployer; for a Safe,
   written to a Safe Transaction Builder file for its owners to sign (nothing is granted until
   they do);
5. every role, the admin and the delays are read back on chain into the manifest, and anything
   that differs from the plan stops the deployment with a sentence.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from ledger.chain.client import ChainClient, SentTx, is_dev_node
from ledger.chain.deploy import decoder_for, notices_of, token_constructor_args
from ledger.chain.deploy_plan import ZERO_ADDRESS, DeploymentPlan, TimelockPlan
from ledger.chain.manifest import DeployedContract, Manifest
from ledger.chain.revert import ErrorDecoder
from ledger.chain.solc import TIMELOCK_SOURCE, Compilation, compile_contracts, compile_entries
from ledger.domain.money import format_micro
from ledger.errors import ConfigError, DeploymentError

DISTRICT = ("DistrictToken", "ServicePayments", "EnergySettlement", "CommonsFund")
TIMELOCK = "TimelockController"
_TIMELOCK_ROLES = ("PROPOSER_ROLE", "EXECUTOR_ROLE", "CANCELLER_ROLE")
_SAFE_THRESHOLD = "0xe75235b8"  # getThreshold()
_SAFE_OWNERS = "0xa0e67e2b"  # getOwners()
MINTER_ALLOWANCE_FUNCTIONS = ("configureMinter", "setMinterAllowance")
"""Token functions an admin calls to set a minter's allowance, first found wins."""


@dataclass(frozen=True)
class AdminCall:
    """One call the admin must make: `contract.function(args)` as raw calldata for `target`."""

    contract: str
    target: str
    description: str
    data: str


@dataclass(frozen=True)
class DeployOutcome:
    manifest: Manifest
    warnings: tuple[str, ...]
    safe_batch: Path | None = None


def check_plan_on_chain(w3: Web3, deployer: str, plan: DeploymentPlan) -> list[str]:
    """Refuse what is unsafe on this node; return warnings for what is merely unusual."""
    chain_id = int(w3.eth.chain_id)
    if plan.chain_id is not None and plan.chain_id != chain_id:
        raise ConfigError(
            f"the deployment file is for chain {plan.chain_id} but the node runs chain {chain_id}"
        )
    dev = is_dev_node(w3)
    admin = plan.admin
    warnings: list[str] = []
    if not dev:
        if admin.kind == "deployer":
            raise ConfigError(
                "off a local dev chain the default admin cannot be a single key: give "
                "[admin.timelock] (a TimelockController is deployed) or admin.safe (a Safe address)"
            )
        if admin.delay_seconds == 0:
            raise ConfigError(
                "off a local dev chain an admin delay of 0 is refused: set admin.delay_seconds "
                "(e.g. 172800 for two days) so an admin handover can be seen and stopped"
            )
        if admin.timelock is not None and admin.timelock.min_delay_seconds == 0:
            raise ConfigError(
                "off a local dev chain a timelock delay of 0 is refused: set "
                "admin.timelock.min_delay_seconds (e.g. 172800)"
            )
        holders = plan.holders()
        if deployer in holders:
            raise ConfigError(
                f"the deployer {deployer} is given {holders[deployer]}: off a local dev chain the key "
                "that deploys holds no role; give the role to another address"
            )
    if admin.safe is not None:
        _check_safe(w3, admin.safe, dev, warnings)
    if admin.timelock is not None and ZERO_ADDRESS in admin.timelock.executors:
        warnings.append("anyone may execute a ready timelock operation (the zero address is an executor)")
    return warnings


def _check_safe(w3: Web3, safe: str, dev: bool, warnings: list[str]) -> None:
    if not w3.eth.get_code(Web3.to_checksum_address(safe)):
        raise ConfigError(
            f"admin.safe {safe} is not a contract (it has no code): a single key cannot be the "
            "admin; deploy the Safe first or use [admin.timelock]"
        )
    try:
        threshold = int.from_bytes(bytes(w3.eth.call({"to": safe, "data": _SAFE_THRESHOLD})), "big")  # type: ignore[typeddict-item]
    except Exception:
        threshold = -1
    if threshold < 0:
        raise ConfigError(f"admin.safe {safe} does not answer getThreshold(): it is not a Safe")
    if threshold < 2:
        message = f"the Safe {safe} needs only {threshold} signature(s): that is a single key"
        if not dev:
            raise ConfigError(message + "; raise its threshold to 2 or more")
        warnings.append(message + " (accepted on a local dev chain only)")


def deploy_with_plan(
    w3: Web3,
    account: LocalAccount,
    plan: DeploymentPlan,
    compilation: Compilation | None = None,
    timelock_compilation: Compilation | None = None,
    safe_batch_path: Path | None = None,
) -> DeployOutcome:
    deployer = str(account.address)
    warnings = check_plan_on_chain(w3, deployer, plan)
    compilation = compilation or compile_contracts()
    warnings += _check_plan_fits(compilation, plan)
    client = ChainClient(w3, account, decoder_for(compilation))
    governance: dict[str, DeployedContract] = {}
    timelock: Contract | None = None
    if plan.admin.timelock is not None:
        tl_compiled = (timelock_compilation or compile_entries([TIMELOCK_SOURCE])).contracts[TIMELOCK]
        client = ChainClient(
            w3,
            account,
            ErrorDecoder(
                [c.abi for c in compilation.contracts.values()] + [tl_compiled.abi], notices_of(compilation)
            ),
        )
        # Delay 0 and the deployer as sole proposer/executor only until the set-up batch below,
        # which ends by handing both to the plan's addresses and raising the delay.
        args: list[Any] = [0, [deployer], [deployer], ZERO_ADDRESS]
        sent = client.deploy(tl_compiled.abi, tl_compiled.bytecode, *args)
        governance[TIMELOCK] = _described(sent, tl_compiled.abi, args)
        timelock = client.contract(governance[TIMELOCK].address, tl_compiled.abi)
        admin_address = governance[TIMELOCK].address
    elif plan.admin.safe is not None:
        admin_address = plan.admin.safe
    else:
        admin_address = deployer

    deployed: dict[str, DeployedContract] = {}
    fund = plan.commons_fund or admin_address
    delay = plan.admin.delay_seconds

    def put(name: str, *args: Any) -> Contract:
        compiled = compilation.contracts[name]
        sent = client.deploy(compiled.abi, compiled.bytecode, *args)
        deployed[name] = _described(sent, compiled.abi, list(args))
        return client.contract(deployed[name].address, compiled.abi)

    token = put(
        "DistrictToken",
        *token_constructor_args(
            compilation, plan.token_name, plan.token_symbol, admin_address, delay, fund,
            plan.redemption_fee_bps,
        ),
    )
    payments = put("ServicePayments", token.address, admin_address, delay)
    contracts = {"DistrictToken": token, "ServicePayments": payments}
    if "EnergySettlement" in compilation.contracts:
        contracts["EnergySettlement"] = put("EnergySettlement", token.address, admin_address, delay)
    if "CommonsFund" in compilation.contracts:
        # The council is the same admin (timelock or Safe); the set-up batch then makes the fund
        # the token's fee recipient, unless the file names another one.
        contracts["CommonsFund"] = put("CommonsFund", token.address, admin_address, delay)

    calls = setup_calls(contracts, plan)
    safe_batch: Path | None = None
    if timelock is not None and plan.admin.timelock is not None:
        calls += _timelock_handover(timelock, deployer, plan.admin.timelock)
        _run_through_timelock(client, timelock, calls)
    elif plan.admin.kind == "safe":
        safe_batch = safe_batch_path or Path("safe-setup-batch.json")
        write_safe_batch(safe_batch, client.chain_id, calls, admin_address)
        warnings.append(
            f"the Safe {admin_address} must execute the {len(calls)} set-up calls written to "
            f"{safe_batch} before any role is held (Safe Transaction Builder format)"
        )
    else:
        for call in calls:
            _send_raw(client, call)

    admin_record = _admin_record(client, contracts, plan, admin_address, timelock)
    roles = read_roles(client, contracts, plan, deployer)
    if plan.admin.kind != "safe":
        _check_roles(roles, plan, deployer, admin_record)
    genesis = w3.eth.get_block(0)["hash"]
    manifest = Manifest(
        chain_id=client.chain_id,
        compiler=compilation.compiler_version,
        source_hash=compilation.source_hash,
        contracts=deployed,
        deployer=deployer,
        genesis_hash=genesis.to_0x_hex() if genesis is not None else "",
        error_notices=notices_of(compilation),
        admin=admin_record,
        roles=roles,
        governance=governance,
    )
    return DeployOutcome(manifest, tuple(warnings), safe_batch)


def _check_plan_fits(compilation: Compilation, plan: DeploymentPlan) -> list[str]:
    """Role names and minter allowances the contracts of this version know, before any deploy."""
    known = {
        str(i["name"])
        for name in DISTRICT if name in compilation.contracts
        for i in compilation.contracts[name].abi
        if i.get("type") == "function" and str(i.get("name", "")).endswith("_ROLE") and not i.get("inputs")
    } - {"DEFAULT_ADMIN_ROLE"}
    for role in plan.roles:
        if role not in known:
            raise ConfigError(
                f"no district contract has {role}: check the role names in [roles] "
                f"(known: {', '.join(sorted(known))})"
            )
    token_functions = {i.get("name") for i in compilation.contracts["DistrictToken"].abi}
    if plan.minters and not token_functions & set(MINTER_ALLOWANCE_FUNCTIONS):
        raise ConfigError(
            "this DistrictToken has no minter allowances: [[minters]] needs the contracts of this version"
        )
    # A role nobody holds is allowed (the admin can grant it later), and said.
    return [f"nobody holds {role}: the admin can grant it later" for role in sorted(known - set(plan.roles))]


def role_constants(contract: Contract) -> list[str]:
    """The `*_ROLE` constants a contract declares (DEFAULT_ADMIN_ROLE left out)."""
    return sorted(
        str(item["name"])
        for item in abi_items(contract)
        if item.get("type") == "function"
        and str(item.get("name", "")).endswith("_ROLE")
        and not item.get("inputs")
        and item["name"] != "DEFAULT_ADMIN_ROLE"
    )


def abi_items(contract: Contract) -> list[dict[str, Any]]:
    return [dict(item) for item in contract.abi]


def setup_calls(contracts: dict[str, Contract], plan: DeploymentPlan) -> list[AdminCall]:
    """The admin's set-up: merchant directory, every role grant, every minter allowance."""
    token, payments = contracts["DistrictToken"], contracts["ServicePayments"]
    calls = [_call("DistrictToken", token, "setMerchantDirectory", [payments.address])]
    fund = contracts.get("CommonsFund")
    if fund is not None and plan.commons_fund is None:
        calls.append(_call("DistrictToken", token, "setCommonsFund", [fund.address],
                           f"send the conversion fees to the commons fund {fund.address}"))
    for role, holders in sorted(plan.roles.items()):
        owners = [name for name, c in contracts.items() if role in role_constants(c)]
        if not owners:
            raise ConfigError(
                f"no district contract has {role}: check the role names in [roles] "
                f"(known: {', '.join(sorted({r for c in contracts.values() for r in role_constants(c)}))})"
            )
        for name in owners:
            role_id = _role_id(contracts[name], role)
            for holder in holders:
                calls.append(
                    _call(name, contracts[name], "grantRole", [role_id, holder], f"grant {role} to {holder}")
                )
    for minter in plan.minters:
        calls.append(minter_allowance_call(token, minter.address, minter.allowance, minter.daily_limit))
    return calls


def minter_allowance_call(token: Contract, minter: str, allowance: int, daily_limit: int | None) -> AdminCall:
    for name in MINTER_ALLOWANCE_FUNCTIONS:
        item = next(
            (i for i in abi_items(token) if i.get("type") == "function" and i.get("name") == name), None
        )
        if item is None:
            continue
        inputs = list(item.get("inputs", []))
        args: list[Any] = [minter, allowance]
        if len(inputs) == 3:
            args.append(daily_limit or 0)
        elif daily_limit is not None:
            raise ConfigError("this DistrictToken has no per-day mint limit: remove daily_limit")
        text = f"allow {minter} to mint {format_micro(allowance)}"
        if daily_limit:
            text += f", at most {format_micro(daily_limit)} a day"
        return _call("DistrictToken", token, name, args, text)
    raise ConfigError(
        "this DistrictToken has no minter allowances: [[minters]] needs the contracts of this version"
    )


def _timelock_handover(timelock: Contract, deployer: str, tl: TimelockPlan) -> list[AdminCall]:
    ids = {r: _role_id(timelock, r) for r in _TIMELOCK_ROLES}
    calls: list[AdminCall] = []
    for proposer in tl.proposers:
        for role in ("PROPOSER_ROLE", "CANCELLER_ROLE"):
            calls.append(
                _call(TIMELOCK, timelock, "grantRole", [ids[role], proposer], f"grant {role} to {proposer}")
            )
    for executor in tl.executors:
        calls.append(
            _call(
                TIMELOCK,
                timelock,
                "grantRole",
                [ids["EXECUTOR_ROLE"], executor],
                f"grant EXECUTOR_ROLE to {executor}",
            )
        )
    calls.append(
        _call(
            TIMELOCK,
            timelock,
            "updateDelay",
            [tl.min_delay_seconds],
            f"set the timelock delay to {tl.min_delay_seconds} s",
        )
    )
    for role in _TIMELOCK_ROLES:
        if (
            not (role == "PROPOSER_ROLE" and deployer in tl.proposers)
            and not (role == "CANCELLER_ROLE" and deployer in tl.proposers)
            and not (role == "EXECUTOR_ROLE" and deployer in tl.executors)
        ):
            calls.append(
                _call(
                    TIMELOCK,
                    timelock,
                    "revokeRole",
                    [ids[role], deployer],
                    f"revoke {role} from the deployer",
                )
            )
    return calls


def _run_through_timelock(client: ChainClient, timelock: Contract, calls: Sequence[AdminCall]) -> None:
    targets = [Web3.to_checksum_address(c.target) for c in calls]
    values = [0] * len(calls)
    payloads = [bytes.fromhex(c.data[2:]) for c in calls]
    predecessor, salt = b"\0" * 32, os.urandom(32)
    client.transact(timelock.functions.scheduleBatch(targets, values, payloads, predecessor, salt, 0))
    client.transact(timelock.functions.executeBatch(targets, values, payloads, predecessor, salt))


def write_safe_batch(path: Path, chain_id: int, calls: Sequence[AdminCall], safe: str) -> None:
    """The calls as a Safe Transaction Builder batch (version 1.0), written 0600 atomically."""
    batch = {
        "version": "1.0",
        "chainId": str(chain_id),
        "createdAt": int(time.time() * 1000),
        "meta": {
            "name": "District ledger set-up",
            "description": "Merchant directory, role grants and minter allowances of the district contracts",
            "createdFromSafeAddress": safe,
        },
        "transactions": [
            {
                "to": Web3.to_checksum_address(c.target),
                "value": "0",
                "data": c.data,
                "contractMethod": None,
                "contractInputsValues": None,
            }
            for c in calls
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".safe-batch-")
    with os.fdopen(fd, "w") as handle:
        json.dump(batch, handle, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_roles(
    client: ChainClient, contracts: dict[str, Contract], plan: DeploymentPlan, deployer: str
) -> dict[str, dict[str, list[str]]]:
    """Who holds each role, read on chain, among the plan's holders and the deployer."""
    candidates = sorted({a for holders in plan.roles.values() for a in holders} | {deployer})
    out: dict[str, dict[str, list[str]]] = {}
    for name, contract in contracts.items():
        out[name] = {}
        for role in [*role_constants(contract), "DEFAULT_ADMIN_ROLE"]:
            role_id = _role_id(contract, role)
            out[name][role] = [a for a in candidates if client.call(contract.functions.hasRole(role_id, a))]
        out[name]["DEFAULT_ADMIN_ROLE"] = [str(client.call(contract.functions.defaultAdmin()))]
    return out


def _admin_record(
    client: ChainClient,
    contracts: dict[str, Contract],
    plan: DeploymentPlan,
    admin: str,
    timelock: Contract | None,
) -> dict[str, Any]:
    delays = {n: int(client.call(c.functions.defaultAdminDelay())) for n, c in contracts.items()}
    record: dict[str, Any] = {
        "kind": plan.admin.kind,
        "address": admin,
        "delay_seconds": plan.admin.delay_seconds,
        "delay_on_chain": delays,
        "dev_only": plan.admin.kind == "deployer",
    }
    tl = plan.admin.timelock
    if timelock is not None and tl is not None:
        ids = {r: _role_id(timelock, r) for r in _TIMELOCK_ROLES}
        everyone = sorted(set(tl.proposers) | set(tl.executors) | {client.address})
        record["timelock"] = {
            "min_delay_seconds": int(client.call(timelock.functions.getMinDelay())),
            **{
                role.removesuffix("_ROLE").lower() + "s": [
                    a for a in everyone if client.call(timelock.functions.hasRole(ids[role], a))
                ]
                for role in _TIMELOCK_ROLES
            },
        }
    if plan.admin.kind == "safe":
        record["safe_setup_pending"] = True
    return record


def _check_roles(
    roles: dict[str, dict[str, list[str]]], plan: DeploymentPlan, deployer: str, admin: dict[str, Any]
) -> None:
    problems: list[str] = []
    for name, held in roles.items():
        if held["DEFAULT_ADMIN_ROLE"] != [admin["address"]]:
            problems.append(f"{name}'s admin is {held['DEFAULT_ADMIN_ROLE']}, not {admin['address']}")
        if admin["delay_on_chain"][name] != plan.admin.delay_seconds:
            problems.append(f"{name}'s admin delay is {admin['delay_on_chain'][name]} s")
        for role, holders in held.items():
            expected = set(plan.roles.get(role, ()))
            if role != "DEFAULT_ADMIN_ROLE" and set(holders) != expected:
                problems.append(f"{name} {role} is held by {sorted(holders)}, expected {sorted(expected)}")
    tl = admin.get("timelock")
    if tl is not None and plan.admin.timelock is not None:
        want = plan.admin.timelock
        if tl["min_delay_seconds"] != want.min_delay_seconds:
            problems.append(f"the timelock delay is {tl['min_delay_seconds']} s")
        if set(tl["proposers"]) != set(want.proposers) or set(tl["executors"]) != set(want.executors):
            problems.append("the timelock's proposers or executors differ from the file")
    if problems:
        raise DeploymentError("the roles read back on chain differ from the plan: " + "; ".join(problems))
    if plan.admin.kind != "deployer" and any(deployer in h for c in roles.values() for h in c.values()):
        raise DeploymentError(f"the deployer {deployer} still holds a role after the deployment")


def _role_id(contract: Contract, role: str) -> bytes:
    return bytes(getattr(contract.functions, role)().call())


def _call(
    contract_name: str, contract: Contract, function: str, args: list[Any], text: str | None = None
) -> AdminCall:
    data = contract.encode_abi(function, args=args)
    return AdminCall(
        contract_name, str(contract.address), text or f"{function}({', '.join(map(str, args))})", str(data)
    )


def _send_raw(client: ChainClient, call: AdminCall) -> SentTx:
    return client.send_call(call.target, call.data)


def _described(sent: SentTx, abi: list[dict[str, Any]], args: list[Any]) -> DeployedContract:
    return DeployedContract(
        address=str(sent.receipt["contractAddress"]),
        deploy_block=sent.block_number,
        deploy_tx=sent.tx_hash,
        abi=abi,
        constructor_args=[a if isinstance(a, str | int | list) else str(a) for a in args],
    )
