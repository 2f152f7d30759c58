"""Sentences for requests the schema refuses: what is wrong and what to write instead.

FastAPI refuses a value that does not fit the OpenAPI schema (pattern, length, range) before a
route runs; its own words ("String should match pattern '^[1-9]...'") tell a resident nothing.
`explain(errors)` turns each refusal on a field this API knows into a sentence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_DAY = "The day must be a real date written YYYY-MM-DD between the years 2000 and 2199, like 2026-06-21."
_MONTH = "The month must be written YYYY-MM, like 2026-11."
_ADDRESS = "must be an Ethereum address: 0x followed by 40 hexadecimal digits."
_AMOUNT_MAX_DIGITS = 77


def _amount(value: Any) -> str:
    text = str(value) if value is not None else ""
    if "." in text or "," in text:
        return (
            f"The amount {text[:40]!r} has a decimal point: amounts are whole micro-M3E (1 M3E = 1,000,000 "
            "micro-M3E, so 2.40 M3E is 2400000); M3E have at most 6 decimals and nothing is rounded."
        )
    digits = text.lstrip("0")
    if text and text.isascii() and text.isdigit() and not digits:
        return "The amount must be above zero (in micro-M3E: 2.40 M3E is 2400000)."
    if text.isascii() and text.isdigit() and len(text) > _AMOUNT_MAX_DIGITS:
        return (
            f"The amount has {len(text)} digits: at most {_AMOUNT_MAX_DIGITS} digits of micro-M3E are "
            "taken (every amount must fit a uint256); nothing is cut."
        )
    if text.isascii() and text.isdigit():
        return "Write the amount without leading zeros, in micro-M3E (2.40 M3E is 2400000)."
    return (
        "An amount is written in digits only, in micro-M3E above zero (2.40 M3E is 2400000): "
        "no sign, no unit."
    )


def _sentence(field: str, error: dict[str, Any]) -> str | None:
    value = error.get("input")
    if field == "amount":
        return _amount(value)
    if field == "day":
        return _DAY
    if field == "month":
        return _MONTH
    if field in ("account", "to", "payout", "beneficiary", "address"):
        return f"The {field} {_ADDRESS}"
    if field == "reference":
        return "The reference must be 1 to 140 printable ASCII characters (for example INV-2025-042)."
    if field == "bank_ref":
        return (
            "The bank_ref must be the transfer's reference exactly as the bank statement prints it: "
            "1 to 32 bytes, no blanks around it, no control characters."
        )
    if field == "cursor":
        return "The cursor must be the next_cursor of a previous page, like 123.4."
    return None


def explain(errors: Sequence[Any]) -> str:
    """One sentence per refused field (at most three), ending with a period."""
    sentences: list[str] = []
    problems: list[str] = []
    for error in list(errors)[:3]:
        location = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = location[-1] if location else ""
        known = _sentence(field, error)
        if known is not None:
            if known not in sentences:
                sentences.append(known)
        else:
            problems.append(f"{'.'.join(location) or 'request'}: {error.get('msg', 'invalid')}")
    if problems:
        sentences.append("The request is not valid (" + "; ".join(problems) + ").")
    return " ".join(sentences) or "The request is not valid."
