"""Settings of the HTTP API process (environment prefix LEDGER_API_).

Created by `ledger serve` or a test, then handed to `create_app(settings)`: never at import time.
Values that the other ledger commands share (database, node, manifest, operator key) are filled
from `ledger.settings.LedgerSettings` by `ApiSettings.from_env()` when not set here.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.errors import ConfigError
from ledger.settings import DISTRICT_CHAIN_ID, LedgerSettings

M3E = 1_000_000
DECLARATION_THRESHOLD_EUR = 1_000_000


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_API_", env_file=None, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    database_url: str = "sqlite:///.state/ledger.db"
    chain_id: int = DISTRICT_CHAIN_ID
    # The node and deployment (payment requests need the token address; operator actions the node).
    rpc_url: str = "http://127.0.0.1:8545"
    manifest: Path | None = None
    # Where `ledger settle` keeps the lines and proofs of each day (STATE_DIR/settlement).
    settlement_dir: Path = Path(".state/settlement")
    token_address: str | None = None
    # Operator key for operator actions (else LEDGER_KEYSTORE / dev key on a dev node only).
    operator_key: SecretStr | None = None
    keystore: Path | None = None
    keystore_password_file: Path | None = None
    # Sign-In with Ethereum: the domain (host[:port]) and origin residents sign for.
    siwe_domain: str | None = None
    siwe_origin: str | None = None
    nonce_ttl_seconds: int = Field(default=300, ge=1)
    session_ttl_seconds: int = Field(default=8 * 3600, ge=1)
    clock_skew_seconds: int = Field(default=60, ge=0)
    cookie_secure: bool = False
    # The server key (HMAC of sign-in nonces, buyer pseudonyms): hex, 32 bytes or more. Unset: a
    # 0600 file api-server.key in `state_dir`, generated on first start. Never logged.
    server_key: SecretStr | None = None
    state_dir: Path = Path(".state")
    # Where the workers share sessions, spent nonces, rate limits, payment requests and naming
    # choices: a SQLAlchemy URL (default: the ledger database itself).
    state_url: str | None = None
    # Optional: sessions, spent nonces and rate windows in Redis (redis://host:6379/0; a secret, as
    # it may hold a password); payment requests and naming choices stay in the database.
    redis_url: SecretStr | None = None
    # Per-client caps on the sign-in routes (requests per minute and client address).
    nonce_per_minute: int = Field(default=30, ge=1)
    signin_per_minute: int = Field(default=20, ge=1)
    # Protections.
    max_body_bytes: int = Field(default=64 * 1024, ge=1)
    rate_per_second: float = Field(default=20.0, gt=0)
    rate_burst: int = Field(default=60, ge=1)
    gateway_rate_per_second: float = Field(default=1.0, gt=0)
    gateway_burst: int = Field(default=10, ge=1)
    rate_limit_enabled: bool = True
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated addresses
    # or networks, LEDGER_API_TRUSTED_PROXIES); empty: forwarded headers are ignored, so no client
    # names its own address to the per-client caps.
    trusted_proxies: str = ""
    # Freshness.
    min_block_wait_seconds: float = Field(default=5.0, ge=0, le=60)
    feed_poll_seconds: float = Field(default=0.5, gt=0)
    feed_heartbeat_seconds: float = Field(default=15.0, gt=0)
    feed_replay: int = Field(default=10, ge=0, le=100)
    # The web page's chart library, installed by npm (resolved at app start when unset).
    chartjs_path: Path | None = None
    declaration_threshold_eur: int = DECLARATION_THRESHOLD_EUR
    # /readyz fails when the index is more blocks behind the node's head than this.
    ready_max_lag_blocks: int = Field(default=10, ge=0)

    @property
    def shared_state_url(self) -> str:
        return self.state_url or self.database_url

    @property
    def domain(self) -> str:
        return self.siwe_domain or f"{self.host}:{self.port}"

    @property
    def origin(self) -> str:
        return (self.siwe_origin or f"http://{self.domain}").rstrip("/")

    @classmethod
    def from_env(cls) -> ApiSettings:
        """LEDGER_API_* first, then the shared LEDGER_* settings for what they also define."""
        shared = LedgerSettings()
        api = cls()
        fill: dict[str, object] = {}
        explicit = api.model_fields_set
        if "database_url" not in explicit:
            fill["database_url"] = shared.db_url
        if "state_dir" not in explicit:
            fill["state_dir"] = shared.state_dir
        if "settlement_dir" not in explicit:
            fill["settlement_dir"] = shared.state_dir / "settlement"
        if "rpc_url" not in explicit:
            fill["rpc_url"] = shared.rpc_url
        if "chain_id" not in explicit:
            fill["chain_id"] = shared.chain_id
        if "manifest" not in explicit:
            fill["manifest"] = shared.manifest_path
        if "operator_key" not in explicit and shared.deployer_key is not None:
            fill["operator_key"] = shared.deployer_key
        if "keystore" not in explicit and shared.keystore is not None:
            fill["keystore"] = shared.keystore
            fill["keystore_password_file"] = shared.keystore_password_file
        if "host" not in explicit:
            fill["host"] = shared.api_host
        if "port" not in explicit:
            fill["port"] = shared.api_port
        merged = api.model_copy(update=fill)
        merged.check()
        return merged

    def check(self) -> None:
        """Refuse unsafe combinations."""
        if self.cookie_secure is False and self.origin.startswith("https://"):
            raise ConfigError("the site is served over https: set LEDGER_API_COOKIE_SECURE=true")
        if self.host not in ("127.0.0.1", "localhost", "::1") and not self.origin.startswith("https://"):
            raise ConfigError(
                f"the API listens on {self.host}, beyond this machine, without https: sign-in "
                "sessions would travel in clear. Put it behind https and set LEDGER_API_SIWE_ORIGIN"
            )
