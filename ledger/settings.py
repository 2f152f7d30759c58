"""Settings of the ledger service and operator commands (environment prefix LEDGER_).

Created by the CLI entry or the app factory, never at import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Hardhat's first development account: its key is public, fine for the local chain only.
DEV_ACCOUNT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DISTRICT_CHAIN_ID = 69003


class LedgerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", env_file=None, extra="ignore")

    rpc_url: str = "http://127.0.0.1:8545"
    chain_id: int = DISTRICT_CHAIN_ID
    state_dir: Path = Path(".state")
    manifest: Path | None = None
    database_url: str | None = None
    # Deployer / operator key: a keystore file (password from LEDGER_KEYSTORE_PASSWORD_FILE or a
    # hidden prompt) or LEDGER_DEPLOYER_KEY in the environment. Never on the command line.
    keystore: Path | None = None
    keystore_password_file: Path | None = None
    deployer_key: SecretStr | None = None
    # The social service's key (SOCIAL_SERVICE_ROLE on the commons fund), which approves the fund's
    # part of each settled day: LEDGER_SOCIAL_SERVICE_KEY, never on the command line.
    social_service_key: SecretStr | None = None
    admin_delay_seconds: int = 0
    redemption_fee_bps: int = 300
    commons_fund: str | None = None
    confirmations: int = 2
    mqtt_url: str | None = None
    # Salt of the meter-serial hashes that may go on chain: secret, stable, never printed.
    meter_salt: SecretStr | None = None
    api_host: str = "127.0.0.1"
    api_port: int = 8000

    @property
    def manifest_path(self) -> Path:
        return self.manifest or self.state_dir / "deployment.json"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'ledger.db'}"
