"""Turning a contract's custom error into a sentence that names the rule.

The sentences come from the contracts' own NatSpec (`@notice` on each error, emitted by solc in
the userdoc), so the rule is written once, next to the code that enforces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from ledger.domain.clock import is_plausible_time, paris_time
from ledger.domain.money import format_micro
from ledger.errors import ContractRuleError

# Errors of OpenZeppelin and Solidity whose NatSpec we do not compile in.
_EXTRA_NOTICES = {
    "AccessControlUnauthorizedAccount": "The account does not hold the role this action needs.",
    "EnforcedPause": "The contract is paused by the operator; try again later.",
    "ERC20InsufficientBalance": "The balance is too low for this payment.",
    "ERC20InsufficientAllowance": "The contract is not allowed to move that much of these tokens; "
    "approve it first.",
    "ERC2612ExpiredSignature": "The signed permit is past its deadline; sign a new one.",
    "ERC2612InvalidSigner": "The permit was not signed by the account that pays.",
    "ECDSAInvalidSignature": "The signature is not valid.",
    "ECDSAInvalidSignatureLength": "The signature has the wrong length.",
    "ECDSAInvalidSignatureS": "The signature is malleable and refused.",
    "ReentrancyGuardReentrantCall": "Re-entrant call refused.",
    "SafeERC20FailedOperation": "A token transfer failed.",
    "SafeCastOverflowedUintDowncast": "The number is too large for the contract to store.",
    "AccessControlBadConfirmation": "Only the account itself may renounce its role.",
    "AccessControlEnforcedDefaultAdminDelay": "The admin change must wait its delay; accept it after "
    "the scheduled time.",
    "AccessControlEnforcedDefaultAdminRules": "The admin role moves only by a two-step transfer with a "
    "delay (begin, then accept).",
    "AccessControlInvalidDefaultAdmin": "This account is not the pending admin and cannot accept.",
    "ERC20InvalidApprover": "The zero address cannot approve.",
    "ERC20InvalidReceiver": "Tokens cannot be sent to this address (the zero address).",
    "ERC20InvalidSender": "Tokens cannot be sent from this address (the zero address).",
    "ERC20InvalidSpender": "The zero address cannot be approved as a spender.",
    "ExpectedPause": "The contract is not paused.",
    "InvalidAccountNonce": "The permit nonce is not the account's current nonce.",
    "InvalidShortString": "The text is not a valid short string.",
    "StringTooLong": "The text is too long.",
    "FailedCall": "A call made through the timelock failed.",
    "TimelockInsufficientDelay": "The timelock operation must wait at least the timelock's delay.",
    "TimelockInvalidOperationLength": "The timelock batch has lists of different lengths.",
    "TimelockUnauthorizedCaller": "Only the timelock itself may change its delay.",
    "TimelockUnexecutedPredecessor": "The timelock operation this one depends on was not executed yet.",
    "TimelockUnexpectedOperationState": "The timelock operation is not in the state this needs: "
    "not scheduled, not ready yet, or already done.",
}
_AMOUNT_WORDS = (
    "amount", "deposit", "charge", "netpaid", "supply", "reserve", "balance", "needed",
    "allowance", "limit", "minted", "minimum", "excess",
)
# Arguments that hold a unix time: shown as a Paris date, which is how residents read them.
_TIME_NAMES = ("now", "latest", "eta", "validBefore", "validAfter")
_PANICS = {
    0x01: "an internal check failed",
    0x11: "an amount overflowed or went below zero",
    0x12: "a division by zero",
    0x32: "an index out of range",
}


@dataclass(frozen=True)
class _ErrorSpec:
    name: str
    types: list[str]
    names: list[str]
    notice: str


def _signature(item: dict[str, Any]) -> str:
    return f"{item['name']}({','.join(_type_of(i) for i in item['inputs'])})"


def _type_of(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_type_of(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return str(item["type"])


def notices_from_userdocs(userdocs: list[dict[str, Any]]) -> dict[str, str]:
    """`Name(types)` -> the @notice of each custom error, from solc's userdoc output."""
    notices: dict[str, str] = {}
    for doc in userdocs:
        for sig, entries in doc.get("errors", {}).items():
            if entries and "notice" in entries[0]:
                notices[sig] = " ".join(entries[0]["notice"].split())
    return notices


class ErrorDecoder:
    """Maps 4-byte selectors of every known error to a readable sentence."""

    def __init__(self, abis: list[list[dict[str, Any]]], notices: dict[str, str]) -> None:
        self._specs: dict[bytes, _ErrorSpec] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "error":
                    continue
                sig = _signature(item)
                notice = notices.get(sig) or _EXTRA_NOTICES.get(item["name"]) or item["name"]
                self._specs[keccak(text=sig)[:4]] = _ErrorSpec(
                    name=item["name"],
                    types=[_type_of(i) for i in item["inputs"]],
                    names=[i["name"] for i in item["inputs"]],
                    notice=notice,
                )

    def decode(self, data: bytes | str | None) -> ContractRuleError:
        raw = _as_bytes(data)
        if len(raw) < 4:
            return ContractRuleError("The contract refused the call without saying why.", "Unknown")
        selector, body = raw[:4], raw[4:]
        if selector == bytes.fromhex("4e487b71"):
            (code,) = abi_decode(["uint256"], body)
            reason = _PANICS.get(int(code), f"panic code {code:#x}")
            return ContractRuleError(f"The contract stopped: {reason}.", "Panic", {"code": code})
        if selector == bytes.fromhex("08c379a0"):
            (text,) = abi_decode(["string"], body)
            return ContractRuleError(f"The contract refused: {text}", "Error", {"message": text})
        spec = self._specs.get(selector)
        if spec is None:
            return ContractRuleError(
                f"The contract refused with an unknown error 0x{selector.hex()}.", "Unknown"
            )
        try:
            values = abi_decode(spec.types, body)
        except Exception:
            values = ()
        args = dict(zip(spec.names, values, strict=False))
        details = ", ".join(f"{k} {_show(k, v)}" for k, v in args.items())
        message = spec.notice if not details else f"{spec.notice} ({details})"
        return ContractRuleError(message, spec.name, args)


def _show(name: str, value: Any) -> str:
    if isinstance(value, bytes):
        text = value.rstrip(b"\0")
        if text and all(32 <= b < 127 for b in text):
            return repr(text.decode())
        return "0x" + value.hex()
    if isinstance(value, int) and (name in _TIME_NAMES or name.endswith("At")) and is_plausible_time(value):
        return paris_time(value)
    if isinstance(value, int) and any(w in name.lower() for w in _AMOUNT_WORDS):
        return format_micro(value, thousands=" ")
    return str(value)


def _as_bytes(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    text = data[2:] if data.startswith("0x") else data
    try:
        return bytes.fromhex(text)
    except ValueError:
        return b""
