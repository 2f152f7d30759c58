"""Settings of the wallet: RPC URL, API URL, deployment manifest, token, account.

One rule for every command, highest first: command-line flags (`wallet --rpc-url ...`,
`--api-url`, `--manifest`, a command's `--account`), environment variables (`WALLET_RPC_URL`,
`WALLET_API_URL`, `WALLET_MANIFEST`, `WALLET_TOKEN`, `WALLET_ACCOUNT`), the config file
`<wallet home>/config.toml`, then the defaults (a local node and API on 127.0.0.1; the only
account of the wallet). `wallet config show` prints what a command will use.

Built by the CLI entry when a command needs it, never at import time.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from wallet_cli.errors import ConfigError
from wallet_cli.home import atomic_write

CONFIG_FILE = "config.toml"
CONFIG_KEYS = (
    "rpc_url", "api_url", "manifest", "token", "account", "operator_iban", "operator_name",
)
# Where `ledger demo` and `ledger deploy` write the manifest by default.
LOCAL_MANIFEST = Path(".state") / "deployment.json"


def read_config_file(home: Path) -> dict[str, Any]:
    file = home / CONFIG_FILE
    try:
        with file.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"The config file {file} cannot be read: {exc}.") from exc
    unknown = sorted(set(data) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(
            f"The config file {file} has unknown keys: {', '.join(unknown)} "
            f"(known: {', '.join(CONFIG_KEYS)})."
        )
    return data


def write_config_value(home: Path, key: str, value: str | None) -> dict[str, Any]:
    """Set (or with None, remove) one key of config.toml, written atomically."""
    if key not in CONFIG_KEYS:
        raise ConfigError(f"Unknown setting '{key}' (known: {', '.join(CONFIG_KEYS)}).")
    data = read_config_file(home)
    if value is None:
        data.pop(key, None)
    else:
        data[key] = value
    # TOML basic strings accept JSON's escapes for these plain values
    text = "".join(f"{k} = {json.dumps(str(v))}\n" for k, v in sorted(data.items()))
    atomic_write(home / CONFIG_FILE, text.encode("utf-8"))
    return data


@dataclass(frozen=True)
class Settings:
    rpc_url: str
    api_url: str
    manifest: Path | None
    token: str | None
    chain_id: int
    account: str | None = None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["manifest"] = str(self.manifest) if self.manifest else None
        return data


DEFAULTS: dict[str, str] = {"rpc_url": "http://127.0.0.1:8545", "api_url": "http://127.0.0.1:8000"}
DEFAULT_CHAIN_ID = 69003
_WHERE = {"flag": "the command line", "env": "env WALLET_{}", "file": "config.toml"}


def _pick(key: str, flags: dict[str, Any], file_values: dict[str, Any]) -> tuple[str | None, str]:
    """The value of `key` and where it came from: flag, else env WALLET_<KEY>, else file."""
    flag = flags.get(key)
    if flag is not None and str(flag) != "":
        return str(flag), "flag"
    env = os.environ.get(f"WALLET_{key.upper()}")
    if env:
        return env, "env"
    value = file_values.get(key)
    if value is not None and str(value) != "":
        return str(value), "file"
    return DEFAULTS.get(key), "default"


def load_settings(home: Path, flags: dict[str, Any] | None = None) -> Settings:
    """The resolved settings, one rule for every key: flag > env WALLET_* > config.toml > default.

    Resolved by hand, not by pydantic-settings: importing pydantic costs more than `wallet
    balance` may take in all (bench/wallet.sh), and five strings need no model."""
    given = flags or {}
    file_values = read_config_file(home)
    values: dict[str, str | None] = {}
    for key in ("rpc_url", "api_url", "manifest", "token", "account"):
        value, source = _pick(key, given, file_values)
        if key.endswith("_url") and value is not None and not value.startswith(("http://", "https://")):
            where = _WHERE.get(source, "the defaults").format(key.upper())
            raise ConfigError(f"The {key} '{value}' (from {where}) is not an http:// or https:// URL: "
                              f"give one like {DEFAULTS[key]}.")
        values[key] = value
    chain_text = os.environ.get("WALLET_CHAIN_ID")
    chain_id = DEFAULT_CHAIN_ID
    if chain_text:
        if not (chain_text.isascii() and chain_text.isdigit()):
            raise ConfigError(f"WALLET_CHAIN_ID must be a whole number like {DEFAULT_CHAIN_ID} "
                              f"(not '{chain_text}').")
        chain_id = int(chain_text)
    manifest = Path(values["manifest"]) if values["manifest"] else None
    if manifest is None and LOCAL_MANIFEST.is_file():
        # Next to a `ledger demo` (or `ledger deploy`) run: its manifest in ./.state.
        manifest = LOCAL_MANIFEST.resolve()
    return Settings(
        rpc_url=str(values["rpc_url"]),
        api_url=str(values["api_url"]),
        manifest=manifest,
        token=values["token"],
        chain_id=chain_id,
        account=values["account"],
    )


def contract_from_manifest(manifest: Path, names: tuple[str, ...]) -> str:
    """A contract address from the deployment manifest written by `ledger deploy`.

    The manifest (ledger/chain/manifest.py) reads `{"chain_id": ..., "contracts": {"DistrictToken":
    {"address": ...}, "ServicePayments": {"address": ...}, ...}}`; a bare address string per
    contract is accepted too.
    """
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"The deployment manifest {manifest} does not exist.") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"The deployment manifest {manifest} cannot be read: {exc}.") from exc
    contracts = data.get("contracts", {}) if isinstance(data, dict) else {}
    if isinstance(contracts, dict):
        for key in names:
            candidate = contracts.get(key)
            if isinstance(candidate, dict):
                candidate = candidate.get("address")
            if isinstance(candidate, str) and candidate:
                return candidate
    raise ConfigError(f"The deployment manifest {manifest} does not name {names[0]}.")


def manifest_chain_id(manifest: Path) -> int | None:
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    value = data.get("chain_id") if isinstance(data, dict) else None
    return value if isinstance(value, int) else None


def token_from_manifest(manifest: Path) -> str:
    """The M3E token address from the deployment manifest."""
    return contract_from_manifest(manifest, ("DistrictToken", "token"))


def service_payments_from_manifest(manifest: Path) -> str:
    """The ServicePayments address from the deployment manifest."""
    return contract_from_manifest(manifest, ("ServicePayments", "servicePayments"))
