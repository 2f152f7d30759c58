"""Operator commands: deployment under a deployment file, roles, freezes, payouts, minters.

    ledger deploy --config deployment.toml        (the deployment file: see the README)
    ledger role list
    ledger role grant|revoke ROLE ADDRESS [--contract token|payments|settlement] [--execute]
    ledger freeze|unfreeze ACCOUNT --order REF
    ledger merchant add NAME --category C --payout ADDRESS | suspend ID | resume ID | list
    ledger merchant set-payout ID ADDRESS | complete-payout ID | cancel-payout ID
    ledger minter set-allowance ADDRESS AMOUNT [--daily-limit AMOUNT] [--execute] | show ADDRESS
    ledger pause|unpause [--contract token|payments|settlement]
    ledger deposit BENEFICIARY AMOUNT --bank-ref REF

Every command signs with the operator key (LEDGER_KEYSTORE and its password: a 0600 file named
by LEDGER_KEYSTORE_PASSWORD_FILE, `-` for standard input, or a hidden prompt; LEDGER_DEPLOYER_KEY;
the dev key on a local dev chain only) and checks, before sending,
that this key holds the role the action needs. Admin changes (roles, allowances) go straight to
the contract when the key is the admin (a local dev chain); when the admin is the timelock, a
proposer's command schedules the change and the same command with `--execute` sends it once
the delay has passed.
Exit codes: 0 done; 1 refused by a rule or the chain (the sentence says why); 2 usage or settings.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ledger.errors import ChainError, ConfigError, InputError, LedgerError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3 import Web3

    from ledger.chain.operator import AdminOutcome, Operator

JsonOption = Annotated[bool, typer.Option("--json", help="one JSON object on stdout")]
ExecuteOption = Annotated[
    bool, typer.Option("--execute", help="send a change the timelock has scheduled, once its delay passed")
]

role_app = typer.Typer(help="Who holds each role; grant or revoke one (admin).", no_args_is_help=True)
merchant_app = typer.Typer(
    help="The merchant registry: add, suspend, resume, list; payout changes (they wait a delay).",
    no_args_is_help=True,
)
minter_app = typer.Typer(help="Treasurer keys and their mint allowances.", no_args_is_help=True)


def _emit(as_json: bool, payload: dict[str, object], text: str) -> None:
    typer.echo(json.dumps(payload, sort_keys=True) if as_json else text)


def deploy_with_file(
    w3: Web3, account: LocalAccount, config: Path | None, manifest_path: Path, as_json: bool
) -> None:
    """`ledger deploy --config FILE`: split roles, a timelock or a Safe as admin."""
    from ledger.chain.deploy_plan import load_plan
    from ledger.chain.governance import deploy_with_plan

    if config is None:
        raise ConfigError(
            "off a local dev chain `ledger deploy` needs a deployment file: --config deployment.toml "
            "(admin, roles and minters; see the README)"
        )
    plan = load_plan(config)
    outcome = deploy_with_plan(
        w3, account, plan, safe_batch_path=manifest_path.with_name("safe-setup-batch.json")
    )
    manifest = outcome.manifest
    manifest.save(manifest_path)
    admin = manifest.admin
    lines = [f"Deployed on chain {manifest.chain_id} with solc {manifest.compiler}:"]
    for name, c in {**manifest.governance, **manifest.contracts}.items():
        lines.append(f"  {name:<18} {c.address}  (block {c.deploy_block})")
    lines.append(
        f"Admin: {admin['kind']} {admin['address']}, admin delay {admin['delay_seconds']} s"
        + (" (local dev chain only)" if admin.get("dev_only") else "")
    )
    if "timelock" in admin:
        tl = admin["timelock"]
        lines.append(
            f"  timelock delay {tl['min_delay_seconds']} s; proposers {', '.join(tl['proposers'])}; "
            f"executors {', '.join(tl['executors'])}"
        )
    for contract, roles in manifest.roles.items():
        for role, holders in roles.items():
            lines.append(f"  {contract:<18} {role:<20} {', '.join(holders) or '(nobody)'}")
    lines += [f"warning: {w}" for w in outcome.warnings]
    lines.append(f"Manifest written to {manifest_path}")
    _emit(
        as_json,
        {
            "reused": False,
            "manifest": str(manifest_path),
            "chain_id": manifest.chain_id,
            "contracts": {n: c.address for n, c in manifest.contracts.items()},
            "governance": {n: c.address for n, c in manifest.governance.items()},
            "admin": admin,
            "roles": manifest.roles,
            "warnings": list(outcome.warnings),
            "safe_batch": str(outcome.safe_batch) if outcome.safe_batch else None,
        },
        "\n".join(lines),
    )


def _operator(rpc_url: str | None = None, manifest: Path | None = None) -> Operator:
    from ledger.chain.client import connect, load_signer
    from ledger.chain.manifest import Manifest
    from ledger.chain.operator import Operator
    from ledger.cli.base import _hidden_prompt, load_settings

    settings = load_settings(rpc_url, manifest)
    w3 = connect(settings.rpc_url)
    if int(w3.eth.chain_id) != settings.chain_id:
        raise ConfigError(
            f"the node at {settings.rpc_url} runs chain {w3.eth.chain_id}, expected {settings.chain_id}"
        )
    loaded = Manifest.load(settings.manifest_path)
    return Operator(w3, load_signer(settings, w3, prompt=_hidden_prompt), loaded)


def _outcome_text(what: str, outcome: AdminOutcome) -> str:
    if outcome.status == "unchanged":
        return f"{what}: nothing sent."
    if outcome.status == "scheduled":
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(outcome.ready_at or 0))
        return (
            f"Proposed to the timelock: {what}. It can be executed from {when}; then run the same "
            f"command with --execute (operation {outcome.operation_id})."
        )
    verb = "Done through the timelock" if outcome.status == "executed" else "Done"
    return f"{verb}: {what} (tx {outcome.tx_hash})."


def _outcome_json(outcome: AdminOutcome, **extra: Any) -> dict[str, object]:
    return {
        "status": outcome.status,
        "tx_hash": outcome.tx_hash,
        "operation_id": outcome.operation_id,
        "ready_at": outcome.ready_at,
        **extra,
    }


@role_app.command("list")
def role_list(as_json: JsonOption = False) -> None:
    """Who holds each role of each contract, read on chain; the admin and its delay."""
    op = _operator()
    roles = op.roles()
    lines = []
    for contract, held in roles.items():
        for role, holders in held.items():
            lines.append(f"{contract:<18} {role:<20} {', '.join(holders) or '(nobody)'}")
    _emit(as_json, {"roles": roles, "admin": op.manifest.admin}, "\n".join(lines))


def _grant(
    role: str, address: str, contract: str | None, execute: bool, as_json: bool, revoke: bool,
    leave_empty: bool = False,
) -> None:
    from ledger.chain.operator import CONTRACT_ALIASES, AdminOutcome, checksum, role_constant

    op = _operator()
    constant = role_constant(role)
    targets = (
        [contract]
        if contract
        else [
            name
            for name, c in op.contracts.items()
            if any(i.get("name") == constant for i in c.abi) or constant == "DEFAULT_ADMIN_ROLE"
        ]
    )
    if not targets:
        raise InputError(f"no district contract has {constant}")
    if constant == "DEFAULT_ADMIN_ROLE":
        raise InputError(
            "the default admin changes by a delayed two-step transfer, not a grant: "
            "use the contracts' beginDefaultAdminTransfer through the admin"
        )
    if revoke and not leave_empty:
        # checked on every contract before the first transaction: nothing is half-revoked
        account = checksum(address, "the account")
        held = op.roles()
        for target in targets:
            name = CONTRACT_ALIASES.get(target, target)
            if held.get(name, {}).get(constant) == [account]:
                raise LedgerError(
                    f"{account} is the last holder of {constant} on {name}: revoking it leaves nobody "
                    f"able to use that power. Grant it to another key first, or add --leave-empty if "
                    "nobody should hold it; nothing was sent"
                )
    results = []
    for target in targets:
        what_it_is = "does not hold" if revoke else "already holds"
        if op.has_role(op.contract(target), constant, checksum(address, "the account")) != revoke:
            # OpenZeppelin would accept the call and change nothing: a transaction for nothing
            unchanged = AdminOutcome("unchanged", "")
            results.append((target, unchanged, f"{address} {what_it_is} {constant} on {target}"))
            continue
        outcome = op.grant(target, constant, address, revoke=revoke, execute=execute)
        what = (
            f"{'revoke' if revoke else 'grant'} {constant} {'from' if revoke else 'to'} {address} on {target}"
        )
        results.append((target, outcome, what))
    _emit(
        as_json,
        {"results": [_outcome_json(o, contract=t) for t, o, _ in results]},
        "\n".join(_outcome_text(w, o) for _, o, w in results),
    )


@role_app.command("grant")
def role_grant(
    role: Annotated[str, typer.Argument(help="treasurer, pauser, freezer, registrar, oracle, tariff")],
    address: Annotated[str, typer.Argument(help="the key that receives the role")],
    contract: Annotated[
        str | None,
        typer.Option(help="token, payments or settlement (default: every contract that has the role)"),
    ] = None,
    execute: ExecuteOption = False,
    as_json: JsonOption = False,
) -> None:
    """Grant a role (the admin; through the timelock when it is the admin)."""
    _grant(role, address, contract, execute, as_json, revoke=False)


@role_app.command("revoke")
def role_revoke(
    role: Annotated[str, typer.Argument(help="treasurer, pauser, freezer, registrar, oracle, tariff")],
    address: Annotated[str, typer.Argument(help="the key that loses the role")],
    contract: Annotated[str | None, typer.Option(help="token, payments or settlement")] = None,
    execute: ExecuteOption = False,
    leave_empty: Annotated[
        bool, typer.Option("--leave-empty", help="revoke even from the last holder of the role")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Revoke a role (the admin; through the timelock when it is the admin); the last holder of a
    role keeps it unless --leave-empty."""
    _grant(role, address, contract, execute, as_json, revoke=True, leave_empty=leave_empty)


def _freeze(account: str, order: str, as_json: bool, unfreeze: bool) -> None:
    op = _operator()
    sent = op.freeze(account, order, unfreeze=unfreeze)
    verb = "unfrozen" if unfreeze else "frozen"
    _emit(
        as_json,
        {"account": account, "order": order, "frozen": not unfreeze, "tx_hash": sent.tx_hash},
        f"{account} is {verb} under order {order} (tx {sent.tx_hash}).",
    )


def freeze(
    account: Annotated[str, typer.Argument(help="the account named in the order")],
    order: Annotated[str, typer.Option("--order", help="the court or AML order reference (≤ 32 bytes)")],
    as_json: JsonOption = False,
) -> None:
    """Freeze an account under a court or anti-money-laundering order (FREEZER_ROLE)."""
    _freeze(account, order, as_json, unfreeze=False)


def unfreeze(
    account: Annotated[str, typer.Argument(help="the frozen account")],
    order: Annotated[str, typer.Option("--order", help="the order lifting the freeze (≤ 32 bytes)")],
    as_json: JsonOption = False,
) -> None:
    """Lift the freeze of an account under an order (FREEZER_ROLE)."""
    _freeze(account, order, as_json, unfreeze=True)


def _pause(contract: str | None, as_json: bool, paused: bool) -> None:
    from ledger.chain.operator import CONTRACT_ALIASES

    op = _operator()
    if contract is not None and CONTRACT_ALIASES.get(contract, contract) not in op.pausable():
        raise InputError(f"{contract!r} cannot be paused: use token, payments or settlement")
    names = [CONTRACT_ALIASES.get(contract, contract)] if contract else op.pausable()
    # every role is checked before the first transaction, so a refusal leaves nothing half-paused
    for name in names:
        op.require_role(op.contract(name), "pauser")
    state = "paused" if paused else "running"
    results: list[dict[str, object]] = []
    lines = []
    failures: list[str] = []
    for name in names:
        try:
            sent = op.set_paused(name, paused)
        except LedgerError as exc:
            # the others are still tried (in an emergency, pause what can be paused) and the
            # operator is told exactly which contract is in which state
            failures.append(f"{name} was NOT {'paused' if paused else 'unpaused'}: {exc}")
            results.append({"contract": name, "paused": None, "error": str(exc)})
            continue
        results.append({"contract": name, "paused": paused, "tx_hash": sent.tx_hash if sent else None})
        lines.append(
            f"{name} is now {state} (tx {sent.tx_hash})."
            if sent
            else f"{name} was already {state}: nothing sent."
        )
    _emit(as_json, {"results": results}, "\n".join(lines))
    if failures:
        raise ChainError("; ".join(failures) + "; run the same command again once the cause is fixed")


ContractOption = Annotated[
    str | None,
    typer.Option("--contract", help="token, payments or settlement (default: every contract that pauses)"),
]


def pause(contract: ContractOption = None, as_json: JsonOption = False) -> None:
    """Stop transfers, payments and settlement at once (PAUSER_ROLE); `ledger unpause` resumes."""
    _pause(contract, as_json, paused=True)


def unpause(contract: ContractOption = None, as_json: JsonOption = False) -> None:
    """Let the paused contracts run again (PAUSER_ROLE); a retired token stays paused."""
    _pause(contract, as_json, paused=False)


def deposit(
    beneficiary: Annotated[str, typer.Argument(help="the account credited")],
    amount: Annotated[str, typer.Argument(help='the euros received, in M3E one for one, e.g. "200.00"')],
    bank_ref: Annotated[str, typer.Option("--bank-ref", help="the bank transfer's reference (≤ 32 bytes)")],
    as_json: JsonOption = False,
) -> None:
    """Record a euro deposit seen on the bank statement and mint it (TREASURER_ROLE, within the
    key's allowance); a bank reference mints once, ever."""
    from ledger.domain.money import format_micro, parse_m3e

    try:
        micro = parse_m3e(amount)
    except ValueError as exc:
        raise InputError(f"amount: {exc}") from None
    if micro <= 0:
        raise InputError("amount: a deposit is more than 0 M3E; give the euros received, e.g. \"200.00\"")
    op = _operator()
    sent = op.record_deposit(bank_ref, beneficiary, micro)
    allowance, _, _ = op.minter(op.address)
    _emit(
        as_json,
        {"beneficiary": beneficiary, "amount": micro, "bank_ref": bank_ref, "tx_hash": sent.tx_hash,
         "allowance_left": allowance},
        f"Deposit {bank_ref} recorded: {format_micro(micro)} minted to {beneficiary} (tx {sent.tx_hash}); "
        f"this key may still mint {format_micro(allowance)}.",
    )


@merchant_app.command("add")
def merchant_add(
    name: Annotated[str, typer.Argument(help="the name residents see (unique, look-alikes refused)")],
    category: Annotated[
        str, typer.Option(help="co-working, car-sharing, parking, concierge, food, retail or other")
    ],
    payout: Annotated[str, typer.Option(help="the address that receives its payments")],
    as_json: JsonOption = False,
) -> None:
    """Register a merchant or shared service (REGISTRAR_ROLE)."""
    from ledger.chain.district import Category

    labels = {c.label: c for c in Category}
    chosen = labels.get(category.strip().lower().replace("_", "-"))
    if chosen is None:
        raise InputError(f"category {category!r} is not one of: {', '.join(labels)}")
    merchant_id, sent = _operator().register_merchant(name, int(chosen), payout)
    _emit(
        as_json,
        {"merchant_id": merchant_id, "name": name, "category": chosen.label, "payout": payout,
         "tx_hash": sent.tx_hash},
        f"Merchant #{merchant_id} {name} ({chosen.label}) registered, paid at {payout} (tx {sent.tx_hash}).",
    )


def _set_active(merchant_id: int, active: bool, as_json: bool) -> None:
    op = _operator()
    sent = op.set_merchant_active(merchant_id, active)
    name = op.merchant(merchant_id)["name"]
    state = "active" if active else "suspended"
    _emit(
        as_json,
        {"merchant_id": merchant_id, "active": active, "tx_hash": sent.tx_hash if sent else None},
        f"Merchant #{merchant_id} {name} is now {state} (tx {sent.tx_hash})."
        if sent
        else f"Merchant #{merchant_id} {name} was already {state}: nothing sent.",
    )


@merchant_app.command("suspend")
def merchant_suspend(
    merchant_id: Annotated[int, typer.Argument(help="the merchant's id", min=1)],
    as_json: JsonOption = False,
) -> None:
    """Suspend a merchant: it can neither be paid nor redeem until resumed (REGISTRAR_ROLE)."""
    _set_active(merchant_id, False, as_json)


@merchant_app.command("resume")
def merchant_resume(
    merchant_id: Annotated[int, typer.Argument(help="the merchant's id", min=1)],
    as_json: JsonOption = False,
) -> None:
    """Let a suspended merchant be paid again (REGISTRAR_ROLE)."""
    _set_active(merchant_id, True, as_json)


@merchant_app.command("list")
def merchant_list(as_json: JsonOption = False) -> None:
    """Every registered merchant, read on chain: id, name, category, payout, state."""
    from ledger.chain.district import District

    op = _operator()
    merchants = District(op.client.w3, op.client.account, op.manifest).merchants()
    lines = [
        f"#{m['id']:<4} {m['name']} ({m['category']}) paid at {m['payout']}"
        + ("" if m["active"] else " [suspended]")
        for m in merchants
    ]
    _emit(as_json, {"merchants": merchants}, "\n".join(lines) or "No merchant is registered yet.")


@merchant_app.command("set-payout")
def merchant_set_payout(
    merchant_id: Annotated[int, typer.Argument(help="the merchant's id", min=1)],
    payout: Annotated[str, typer.Argument(help="the new payout address")],
    as_json: JsonOption = False,
) -> None:
    """Ask to move a merchant's payouts (REGISTRAR_ROLE); it takes effect after the delay."""
    op = _operator()
    effective_at, sent = op.request_payout_change(merchant_id, payout)
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(effective_at))
    _emit(
        as_json,
        {"merchant_id": merchant_id, "payout": payout, "effective_at": effective_at, "tx_hash": sent.tx_hash},
        f"Payout change of merchant #{merchant_id} to {payout} requested; it can take effect from "
        f"{when} (`ledger merchant complete-payout {merchant_id}`). Signed payments to this "
        "merchant are refused until then.",
    )


@merchant_app.command("complete-payout")
def merchant_complete_payout(
    merchant_id: Annotated[int, typer.Argument(help="the merchant's id", min=1)],
    as_json: JsonOption = False,
) -> None:
    """Apply a requested payout change once its delay has passed (anyone)."""
    op = _operator()
    payout, _ = op.pending_payout(merchant_id)
    sent = op.complete_payout_change(merchant_id)
    _emit(
        as_json,
        {"merchant_id": merchant_id, "payout": payout, "tx_hash": sent.tx_hash},
        f"Merchant #{merchant_id} is now paid at {payout} (tx {sent.tx_hash}).",
    )


@merchant_app.command("cancel-payout")
def merchant_cancel_payout(
    merchant_id: Annotated[int, typer.Argument(help="the merchant's id", min=1)],
    as_json: JsonOption = False,
) -> None:
    """Cancel a pending payout change (REGISTRAR_ROLE or the admin)."""
    op = _operator()
    sent = op.cancel_payout_change(merchant_id)
    _emit(
        as_json,
        {"merchant_id": merchant_id, "tx_hash": sent.tx_hash},
        f"The payout change of merchant #{merchant_id} is cancelled (tx {sent.tx_hash}).",
    )


@minter_app.command("set-allowance")
def minter_set_allowance(
    address: Annotated[str, typer.Argument(help="the treasurer key")],
    amount: Annotated[str, typer.Argument(help='what it may still mint, in M3E, e.g. "50000.00"')],
    daily_limit: Annotated[str | None, typer.Option(help="at most this much per UTC day (M3E)")] = None,
    execute: ExecuteOption = False,
    as_json: JsonOption = False,
) -> None:
    """Set a treasurer key's mint allowance (the admin; through the timelock when it is the admin)."""
    from ledger.domain.money import format_micro, parse_m3e

    try:
        allowance = parse_m3e(amount)
    except ValueError as exc:
        raise InputError(f"amount: {exc}") from None
    try:
        daily = parse_m3e(daily_limit) if daily_limit is not None else 0
    except ValueError as exc:
        raise InputError(f"--daily-limit: {exc}") from None
    outcome = _operator().set_minter_allowance(address, allowance, daily, execute=execute)
    what = f"{address} may mint {format_micro(allowance)}" + (
        f", at most {format_micro(daily)} a day" if daily else ""
    )
    _emit(
        as_json,
        _outcome_json(outcome, minter=address, allowance=allowance, daily_limit=daily),
        _outcome_text(what, outcome),
    )


@minter_app.command("show")
def minter_show(
    address: Annotated[str, typer.Argument(help="the treasurer key")],
    as_json: JsonOption = False,
) -> None:
    """What a treasurer key may still mint, its daily limit and what it minted today."""
    from ledger.domain.money import format_micro

    op = _operator()
    allowance, daily, today = op.minter(address)
    treasurer = op.has_role(op.contract("token"), "treasurer", address)
    _emit(
        as_json,
        {
            "minter": address,
            "allowance": allowance,
            "daily_limit": daily,
            "minted_today": today,
            "treasurer": treasurer,
        },
        f"{address}: may still mint {format_micro(allowance)}"
        + (f", {format_micro(daily)} a day ({format_micro(today)} today)" if daily else "")
        + ("" if treasurer else " (but it does not hold TREASURER_ROLE)"),
    )


def register(app: typer.Typer) -> None:
    app.add_typer(role_app, name="role")
    app.add_typer(merchant_app, name="merchant")
    app.add_typer(minter_app, name="minter")
    app.command("freeze")(freeze)
    app.command("unfreeze")(unfreeze)
    app.command("pause")(pause)
    app.command("unpause")(unpause)
    # a negative amount reaches the amount check (and its sentence), not "No such option: -1"
    app.command("deposit", context_settings={"ignore_unknown_options": True})(deposit)
