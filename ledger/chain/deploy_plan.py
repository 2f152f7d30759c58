"""The deployment file: who administers the district contracts and who holds each role.

TOML or JSON with the same structure (the README shows a full example):

    chain_id = 69003                     # optional: refuse any other chain

    [token]                              # optional, these are the defaults
    name = "Monnaie du 3e"
    symbol = "M3E"
    redemption_fee_bps = 300
    commons_fund = "0x..."               # receives the conversion fees

    [admin]
    delay_seconds = 172800               # wait of an admin handover on each contract
    safe = "0x..."                       # either an existing Safe (a contract) ...
    [admin.timelock]                     # ... or an OpenZeppelin TimelockController deployed now
    min_delay_seconds = 172800
    proposers = ["0x...", "0x..."]
    executors = ["0x..."]

    [roles]                              # role name without _ROLE, lower case: its holders
    registrar = ["0x..."]
    pauser = ["0x..."]

    [[minters]]                          # each gets the minting role and a mint allowance
    address = "0x..."
    allowance = "50000.00"               # M3E, as text (never a float)
    daily_limit = "5000.00"              # optional

Rules checked here, before anything is sent: every address is a checksummable 20-byte address;
a role holder holds one role only (the operator's powers are split between distinct keys), and
is not the admin; amounts are exact. The chain-dependent rules (no single-key admin and no
admin delay of 0 off a local dev chain, the deployer holds no role) are checked by
`ledger.chain.deploy` against the node.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from eth_utils.address import is_address, to_checksum_address

from ledger.domain.money import format_micro, parse_m3e
from ledger.errors import ConfigError

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
MINTER_ROLE = "TREASURER_ROLE"
"""The role whose holders mint against recorded euro deposits, each within its allowance."""
AdminKind = Literal["deployer", "safe", "timelock"]
_UINT48_MAX = 2**48 - 1


@dataclass(frozen=True)
class TimelockPlan:
    min_delay_seconds: int
    proposers: tuple[str, ...]
    executors: tuple[str, ...]
    """The zero address as an executor means anyone may execute a ready operation (OpenZeppelin)."""


@dataclass(frozen=True)
class AdminPlan:
    kind: AdminKind
    delay_seconds: int
    safe: str | None = None
    timelock: TimelockPlan | None = None


@dataclass(frozen=True)
class MinterPlan:
    address: str
    allowance: int
    daily_limit: int | None = None


@dataclass(frozen=True)
class DeploymentPlan:
    admin: AdminPlan
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """`TREASURER_ROLE`-style constant -> holders (the minters included under MINTER_ROLE)."""
    minters: tuple[MinterPlan, ...] = ()
    token_name: str = "Monnaie du 3e"
    token_symbol: str = "M3E"
    redemption_fee_bps: int = 300
    commons_fund: str | None = None
    chain_id: int | None = None

    def holders(self) -> dict[str, str]:
        """address -> the one role constant it holds."""
        return {a: role for role, addresses in self.roles.items() for a in addresses}


def load_plan(path: Path) -> DeploymentPlan:
    """Read a deployment file (.toml or .json) into a checked plan; ConfigError says what to fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the deployment file {path}: {exc.strerror or exc}") from exc
    try:
        raw: Any = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise ConfigError(f"the deployment file {path} is not valid {kind}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"the deployment file {path} must hold a table (an object) at the top")
    return parse_plan(raw)


def parse_plan(raw: Mapping[str, Any]) -> DeploymentPlan:
    _only_keys(raw, {"chain_id", "token", "admin", "roles", "minters"}, "the deployment file")
    chain_id = raw.get("chain_id")
    if chain_id is not None and (not isinstance(chain_id, int) or isinstance(chain_id, bool)):
        raise ConfigError("chain_id must be a whole number, e.g. chain_id = 69003")
    token = _table(raw, "token")
    _only_keys(token, {"name", "symbol", "redemption_fee_bps", "commons_fund"}, "[token]")
    fee = _int(token.get("redemption_fee_bps", 300), "token.redemption_fee_bps")
    if not 0 <= fee <= 1000:
        raise ConfigError("token.redemption_fee_bps must be between 0 and 1000 basis points")
    fund = token.get("commons_fund")
    admin = _admin(_table(raw, "admin"))
    roles: dict[str, list[str]] = {}
    for key, holders in _table(raw, "roles").items():
        role = _role_constant(key)
        roles.setdefault(role, []).extend(_addresses(holders, f"roles.{key}"))
    minters = tuple(_minter(entry, i) for i, entry in enumerate(_list(raw, "minters")))
    for minter in minters:
        listed = roles.setdefault(MINTER_ROLE, [])
        if minter.address not in listed:
            listed.append(minter.address)
    plan = DeploymentPlan(
        admin=admin,
        roles={role: tuple(addresses) for role, addresses in roles.items() if addresses},
        minters=minters,
        token_name=_text(token.get("name", "Monnaie du 3e"), "token.name"),
        token_symbol=_text(token.get("symbol", "M3E"), "token.symbol"),
        redemption_fee_bps=fee,
        commons_fund=_address(fund, "token.commons_fund") if fund is not None else None,
        chain_id=chain_id,
    )
    check_plan(plan)
    return plan


def check_plan(plan: DeploymentPlan) -> None:
    """The rules that need no chain: one role per address, no role for the admin, allowances."""
    seen: dict[str, str] = {}
    for role, addresses in plan.roles.items():
        if len(set(addresses)) != len(addresses):
            raise ConfigError(f"{_role_key(role)} lists the same address twice")
        for address in addresses:
            if address == ZERO_ADDRESS:
                raise ConfigError(f"{_role_key(role)}: the zero address cannot hold a role")
            if address in seen and seen[address] != role:
                raise ConfigError(
                    f"{address} is given both {_role_key(seen[address])} and {_role_key(role)}: "
                    "each role goes to its own key, so that no single key holds two powers"
                )
            seen[address] = role
    admin = plan.admin
    if admin.safe is not None and admin.safe in seen:
        raise ConfigError(f"the admin Safe {admin.safe} cannot also hold {_role_key(seen[admin.safe])}")
    treasurers = set(plan.roles.get(MINTER_ROLE, ()))
    with_allowance = {m.address for m in plan.minters}
    if len(with_allowance) != len(plan.minters):
        raise ConfigError("[[minters]] lists the same address twice")
    missing = sorted(treasurers - with_allowance)
    if missing:
        raise ConfigError(
            f"{', '.join(missing)} would mint without an allowance: give each treasurer a "
            '[[minters]] entry with address and allowance (e.g. allowance = "50000.00")'
        )
    for minter in plan.minters:
        if minter.daily_limit is not None and minter.daily_limit > minter.allowance:
            raise ConfigError(
                f"the daily limit of {minter.address} ({format_micro(minter.daily_limit)}) is above "
                f"its allowance ({format_micro(minter.allowance)})"
            )


def _admin(table: Mapping[str, Any]) -> AdminPlan:
    _only_keys(table, {"delay_seconds", "safe", "timelock"}, "[admin]")
    delay = _int(table.get("delay_seconds", 0), "admin.delay_seconds")
    if not 0 <= delay <= _UINT48_MAX:
        raise ConfigError("admin.delay_seconds must be between 0 and 2^48 - 1 seconds")
    safe, timelock = table.get("safe"), table.get("timelock")
    if safe is not None and timelock is not None:
        raise ConfigError('[admin] takes either safe = "0x..." or [admin.timelock], not both')
    if safe is not None:
        return AdminPlan("safe", delay, safe=_address(safe, "admin.safe"))
    if timelock is not None:
        if not isinstance(timelock, dict):
            raise ConfigError("[admin.timelock] must be a table with min_delay_seconds, proposers, executors")
        _only_keys(timelock, {"min_delay_seconds", "proposers", "executors"}, "[admin.timelock]")
        min_delay = _int(timelock.get("min_delay_seconds", -1), "admin.timelock.min_delay_seconds")
        if min_delay < 0:
            raise ConfigError("[admin.timelock] needs min_delay_seconds, e.g. 172800 for two days")
        proposers = _addresses(timelock.get("proposers"), "admin.timelock.proposers")
        executors = _addresses(timelock.get("executors"), "admin.timelock.executors", zero_ok=True)
        if not proposers:
            raise ConfigError("[admin.timelock] needs at least one proposer address")
        if not executors:
            raise ConfigError(
                "[admin.timelock] needs at least one executor (the zero address lets anyone execute)"
            )
        if ZERO_ADDRESS in proposers:
            raise ConfigError("the zero address cannot propose to the timelock")
        return AdminPlan(
            "timelock", delay, timelock=TimelockPlan(min_delay, tuple(proposers), tuple(executors))
        )
    return AdminPlan("deployer", delay)


def _minter(entry: Any, index: int) -> MinterPlan:
    where = f"minters[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table with address and allowance")
    _only_keys(entry, {"address", "allowance", "daily_limit"}, where)
    if "address" not in entry or "allowance" not in entry:
        raise ConfigError(f'{where} needs address = "0x..." and allowance = "50000.00"')
    daily = entry.get("daily_limit")
    return MinterPlan(
        address=_address(entry["address"], f"{where}.address"),
        allowance=_amount(entry["allowance"], f"{where}.allowance"),
        daily_limit=_amount(daily, f"{where}.daily_limit") if daily is not None else None,
    )


def _amount(value: Any, where: str) -> int:
    if not isinstance(value, str):
        raise ConfigError(f'{where}: write the amount in M3E as text, e.g. "50000.00" (never a float)')
    try:
        micro = parse_m3e(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if micro >= 2**256:
        raise ConfigError(f"{where}: the amount is too large")
    return micro


def _role_constant(key: str) -> str:
    name = key.strip().upper().replace("-", "_")
    name = name if name.endswith("_ROLE") else f"{name}_ROLE"
    if not name[:-5] or not name.replace("_", "").isalnum() or name == "DEFAULT_ADMIN_ROLE":
        raise ConfigError(
            f"[roles] {key!r} is not a role name: use treasurer, pauser, registrar, ... "
            "(the default admin is set in [admin])"
        )
    return name


def _role_key(role: str) -> str:
    return f"roles.{role.removesuffix('_ROLE').lower()}"


def _addresses(value: Any, where: str, *, zero_ok: bool = False) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f'{where} must be a list of addresses, e.g. ["0x..."]')
    out = [_address(v, where) for v in value]
    if not zero_ok and ZERO_ADDRESS in out:
        raise ConfigError(f"{where}: the zero address is not an account")
    if len(set(out)) != len(out):
        raise ConfigError(f"{where} lists the same address twice")
    return out


def _address(value: Any, where: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise ConfigError(f"{where}: {value!r} is not an address (0x and 40 hex digits)")
    if value != value.lower() and value[2:] != value[2:].upper() and to_checksum_address(value) != value:
        raise ConfigError(f"{where}: {value} has a wrong checksum (mixed case): check for a typo")
    return to_checksum_address(value)


def _table(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}] must be a table")
    return value


def _list(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{key} must be a list ([[{key}]] tables in TOML)")
    return value


def _int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{where} must be a whole number, got {value!r}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty text")
    return value


def _only_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"{where} has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
