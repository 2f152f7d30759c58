"""Settings of the operator's bank account (environment prefix LEDGER_TREASURY_).

Created by the CLI entry or the app factory, never at import time.
"""

from __future__ import annotations

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class TreasurySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_TREASURY_", env_file=None, extra="ignore")

    iban: str | None = None  # the operator's account: statements of another account are refused
    bic: str | None = None
    name: str = "Association Monnaie du 3e"
    # the day payouts are executed: 0 = the next business day is left to the bank (today's date)
    execution_days: int = 0

    @field_validator("iban")
    @classmethod
    def _valid_iban(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from schwifty import IBAN

        try:
            return str(IBAN(value).compact)
        except ValueError as exc:
            raise ValueError(f"LEDGER_TREASURY_IBAN is not a valid IBAN: {exc}") from exc
