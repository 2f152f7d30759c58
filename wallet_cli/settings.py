"""Settings of the wallet: RPC URL, API URL, deployment manifest, token.

Precedence, highest first: command-line flags (`wallet --rpc-url ...`), environment variables
(`WALLET_RPC_URL`, `WALLET_API_URL`, `WALLET_MANIFEST`, `WALLET_TOKEN`), the config file
`<wallet home>/config.toml`, then the defaults (a local node and API on 127.0.0.1).

Built by the CLI entry when a command needs it, never at import time; pydantic-settings is
imported lazily (it costs about 0.2 s).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from wallet_cli.errors import ConfigError
from wallet_cli.home import atomic_write

CONFIG_FILE = "config.toml"
CONFIG_KEYS = ("rpc_url", "api_url", "manifest", "token", "operator_iban", "operator_name")
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

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["manifest"] = str(self.manifest) if self.manifest else None
        return data


def load_settings(home: Path, flags: dict[str, Any] | None = None) -> Settings:
    """The resolved settings (flags > env WALLET_* > config.toml > defaults)."""
    from pydantic import ValidationError
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class WalletSettings(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="WALLET_", extra="forbid")

        rpc_url: str = "http://127.0.0.1:8545"
        api_url: str = "http://127.0.0.1:8000"
        manifest: Path | None = None
        token: str | None = None
        chain_id: int = 69003

    file_values = read_config_file(home)

    class _WithFile(WalletSettings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: Any,
            env_settings: Any,
            dotenv_settings: Any,
            file_secret_settings: Any,
        ) -> tuple[Any, ...]:
            def config_file_source() -> dict[str, Any]:
                return dict(file_values)

            return (init_settings, env_settings, config_file_source)

    explicit = {k: v for k, v in (flags or {}).items() if v is not None}
    try:
        loaded = _WithFile(**explicit)
    except ValidationError as exc:
        raise ConfigError(f"The settings are not valid: {exc.errors()[0]['msg']}.") from exc
    manifest = loaded.manifest
    if manifest is None and LOCAL_MANIFEST.is_file():
        # Next to a `ledger demo` (or `ledger deploy`) run: its manifest in ./.state.
        manifest = LOCAL_MANIFEST.resolve()
    return Settings(
        rpc_url=loaded.rpc_url,
        api_url=loaded.api_url,
        manifest=manifest,
        token=loaded.token,
        chain_id=loaded.chain_id,
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
