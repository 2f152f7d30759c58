"""Sign-In with Ethereum sessions kept by the wallet, and the calls to the API's private routes.

`wallet login` keeps the session token the API gave, one file per account and API::

    <home>/sessions/                                 0700
    └── <address>@<host>_<port>-<hash>.json          0600, written atomically

holding `{"account", "address", "api_url", "token", "expires_at", "domain", "chain_id"}`.
The token is a bearer secret: it is never printed, never put in argv or logs, and the file
is removed by `wallet logout`. A session past its `expires_at` is never sent: the commands
say "sign in first: wallet login" instead.

`PrivateApi` sends the token (`Authorization: Bearer`) and maps the API's answers to the
wallet's errors: 401 -> NotSignedInError, 403 -> NotYourDataError, other 4xx/5xx -> ApiError
with the API's own sentence (`{"error": {"code", "message"}}`).
"""

from __future__ import annotations

import hashlib
import re
import stat
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wallet_cli.errors import ApiError, NotSignedInError, NotYourDataError, WalletError
from wallet_cli.home import read_json, write_json

SESSIONS_DIR = "sessions"
SIGN_IN_FIRST = "sign in first: wallet login"


def now() -> float:
    """The clock (tests replace it)."""
    return time.time()


def normalize_api_url(api_url: str) -> str:
    return api_url.strip().rstrip("/")


def _api_slug(api_url: str) -> str:
    url = normalize_api_url(api_url)
    parts = urlsplit(url)
    readable = re.sub(r"[^A-Za-z0-9.-]+", "_", parts.netloc or "api")[:60]
    digest = hashlib.sha256(url.lower().encode()).hexdigest()[:12]
    return f"{readable}-{digest}"


def session_path(home: Path, address: str, api_url: str) -> Path:
    return home / SESSIONS_DIR / f"{address.lower()}@{_api_slug(api_url)}.json"


@dataclass(frozen=True)
class StoredSession:
    account: str
    address: str
    api_url: str
    token: str
    expires_at: int
    domain: str
    chain_id: int

    def expired(self, at: float | None = None) -> bool:
        return self.expires_at <= (now() if at is None else at)

    def public_json(self) -> dict[str, Any]:
        """Everything but the token (for output)."""
        data = asdict(self)
        del data["token"]
        return data


def save_session(home: Path, session: StoredSession) -> Path:
    path = session_path(home, session.address, session.api_url)
    write_json(path, asdict(session))
    return path


def load_session(home: Path, address: str, api_url: str) -> StoredSession | None:
    """The session kept for `address` on this API, or None (also for an unreadable file)."""
    path = session_path(home, address, api_url)
    try:
        data = read_json(path, {})
    except WalletError:
        return None
    if not data:
        return None
    try:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o600)
        session = StoredSession(
            account=str(data["account"]), address=str(data["address"]),
            api_url=str(data["api_url"]), token=str(data["token"]),
            expires_at=int(data["expires_at"]), domain=str(data.get("domain", "")),
            chain_id=int(data.get("chain_id", 0)))
    except (KeyError, TypeError, ValueError, OSError):
        return None
    if session.address.lower() != address.lower() or not session.token:
        return None
    return session


def forget_session(home: Path, address: str, api_url: str) -> bool:
    """Remove the session file; True when there was one."""
    path = session_path(home, address, api_url)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise WalletError(f"Cannot remove the session file {path}: {exc.strerror}.") from exc
    return True


def live_session(home: Path, address: str, api_url: str) -> StoredSession:
    """The unexpired session for `address` on this API, else NotSignedInError."""
    session = load_session(home, address, api_url)
    if session is None:
        raise NotSignedInError(
            f"You are not signed in to {normalize_api_url(api_url)} as {address}: "
            f"{SIGN_IN_FIRST}.")
    if session.expired():
        from wallet_cli.siwe import format_time

        raise NotSignedInError(
            f"Your session with {session.api_url} ended at {format_time(session.expires_at)}: "
            f"{SIGN_IN_FIRST} --account {session.account}.")
    return session


def api_message(reply: Any) -> str | None:
    try:
        body = reply.json()
    except ValueError:
        return None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(body.get("detail"), str):
            return str(body["detail"])
    return None


def check_reply(reply: Any, api_url: str, what: str) -> None:
    """Raise the wallet's error for a refused answer (401, 403, other 4xx/5xx)."""
    status = int(reply.status_code)
    if status < 400:
        return
    said = api_message(reply)
    if status == 401:
        raise NotSignedInError(
            f"The API at {api_url} wants a signed-in session for {what}"
            + (f" ({said.rstrip('.')})" if said else "") + f": {SIGN_IN_FIRST}.")
    if status == 403:
        raise NotYourDataError(
            f"The API at {api_url} refused {what}: "
            + (said or "you can only read your own data."))
    raise ApiError(f"The API at {api_url} could not give {what} (HTTP {status}"
                   + (f": {said}" if said else "") + ").")


def not_answered(api_url: str, what: str, exc: Exception) -> ApiError:
    """The sentence for an API that could not be reached or took too long."""
    import httpx

    if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError):
        return ApiError(f"The district API at {api_url} cannot be reached ({type(exc).__name__}): "
                        "check the API URL (--api-url, env WALLET_API_URL or `wallet config set "
                        "api_url URL`) and that the API is running.")
    if isinstance(exc, httpx.TimeoutException):
        return ApiError(f"The district API at {api_url} did not send {what} within its time limit "
                        f"({type(exc).__name__}): it may be busy, try again in a minute.")
    return ApiError(f"The district API at {api_url} did not answer ({type(exc).__name__}).")


class PrivateApi:
    """GET on the API with the session's bearer token (when there is one)."""

    def __init__(self, http: Any, api_url: str, session: StoredSession | None) -> None:
        self.http = http
        self.api_url = normalize_api_url(api_url)
        self.session = session

    def _headers(self) -> dict[str, str]:
        if self.session is None:
            return {}
        return {"Authorization": f"Bearer {self.session.token}"}

    def get(self, path: str, what: str, params: dict[str, Any] | None = None) -> Any:
        """The raw reply after `check_reply` (network errors become ApiError)."""
        import httpx

        try:
            reply = self.http.get(f"{self.api_url}{path}", params=params or {},
                                  headers=self._headers())
        except httpx.HTTPError as exc:
            raise not_answered(self.api_url, what, exc) from exc
        check_reply(reply, self.api_url, what)
        return reply

    def get_json(self, path: str, what: str, params: dict[str, Any] | None = None) -> Any:
        reply = self.get(path, what, params)
        try:
            return reply.json()
        except ValueError as exc:
            raise ApiError(f"The API at {self.api_url} gave {what} this wallet cannot read.") \
                from exc

