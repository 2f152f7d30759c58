"""Errors of the HTTP API, each mapped to a status and a code.

ApiError (ledger.errors.LedgerError)
├── BadRequest          400  the request is malformed (the message says what to fix)
├── NotSignedIn         401  no session, an expired one, or a refused sign-in
├── Forbidden           403  signed in, but this is someone else's data or needs a role
├── NotFound            404
├── PayloadTooLarge     413
├── IndexerBehind       425  `min_block` not reached within the wait bound
├── RateLimited         429  with Retry-After
└── Unavailable         503  the database, node or deployment is not there

Every error leaves the API as {"error": {"code": ..., "message": ...}}; other LedgerErrors are
mapped in api.app (InputError 400, ContractRuleError 422, chain/database down 503).
"""

from __future__ import annotations

from ledger.errors import LedgerError


class ApiError(LedgerError):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.retry_after = retry_after


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class NotSignedIn(ApiError):
    status = 401
    code = "not_signed_in"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    """Well-formed, but at odds with the ledger's state (another chain, an expired signature)."""

    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class IndexerBehind(ApiError):
    status = 425
    code = "indexer_behind"


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"


class Unavailable(ApiError):
    status = 503
    code = "unavailable"
