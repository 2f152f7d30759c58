"""How uvicorn is told about proxies: the one place `ledger serve` (1 or N workers) and the
tests that serve the app over HTTP take the options from."""

from __future__ import annotations

from api.settings import ApiSettings


def proxy_options(settings: ApiSettings) -> dict[str, object]:
    """uvicorn's proxy options: forwarded headers are read only from the configured trusted
    proxies (LEDGER_API_TRUSTED_PROXIES); with none configured they are ignored (uvicorn's own
    default trusts 127.0.0.1, which lets any local client or pass-through proxy pick its address
    for the per-client caps)."""
    trusted = [part.strip() for part in settings.trusted_proxies.split(",") if part.strip()]
    if not trusted:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(trusted)}
