"""A small web3 client for the district chain: zero-fee EIP-1559 transactions, readable reverts.

Only this package imports web3. Every transaction is type 2 with a zero fee cap (the district
chain runs with a zero base fee, so residents never need ether).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError, TimeExhausted, Web3RPCError
from web3.types import TxReceipt

from ledger.chain.revert import ErrorDecoder
from ledger.errors import ChainError, ChainUnavailable, ConfigError
from ledger.settings import DEV_ACCOUNT_KEY, LedgerSettings

T = TypeVar("T")
_DEV_NODES = ("hardhat", "edr", "anvil", "ganache")


@dataclass(frozen=True)
class SentTx:
    tx_hash: str
    block_number: int
    gas_used: int
    receipt: TxReceipt


def connect(rpc_url: str, timeout: float = 30.0) -> Web3:
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        w3.eth.chain_id  # noqa: B018 - a round trip proves the node answers
    except Exception as exc:
        raise ChainUnavailable(
            f"the chain node at {rpc_url} does not answer ({type(exc).__name__}); "
            "start it (`ledger demo` starts a local one) or set LEDGER_RPC_URL"
        ) from exc
    return w3


def is_dev_node(w3: Web3) -> bool:
    try:
        version = str(w3.client_version).lower()
    except Exception:
        return False
    return any(name in version for name in _DEV_NODES)


def load_signer(
    settings: LedgerSettings, w3: Web3, prompt: Callable[[str], str] | None = None
) -> LocalAccount:
    """The operator's key: keystore, environment, or (on a dev node only) Hardhat's account #0."""
    key: str | None = None
    if settings.keystore is not None:
        key = _decrypt_keystore(settings.keystore, settings.keystore_password_file, prompt)
    elif settings.deployer_key is not None and settings.deployer_key.get_secret_value():
        key = settings.deployer_key.get_secret_value()
    dev = is_dev_node(w3)
    if key is None:
        if not dev:
            raise ConfigError(
                "no operator key: set LEDGER_KEYSTORE (a Web3 Secret Storage file) or "
                "LEDGER_DEPLOYER_KEY; the development key is only used on a local dev node"
            )
        key = DEV_ACCOUNT_KEY
    try:
        account: LocalAccount = Account.from_key(key)
    except ValueError:
        raise ConfigError("the operator key is not a valid private key (64 hex digits)") from None
    if account.key.hex().removeprefix("0x") == DEV_ACCOUNT_KEY[2:] and not dev:
        raise ConfigError(
            "refusing the public Hardhat development key on a chain that is not a local dev node"
        )
    return account


def _read_password_file(path: Path) -> str:
    """A password file only its owner can read (one others can read is refused: chmod 600)."""
    try:
        # the mode is checked on the file opened, not on the path: a link swapped between a
        # check and a read cannot hand over another file
        with open(path, encoding="utf-8") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if mode & 0o077:
                raise ConfigError(
                    f"the password file {path} can be read by other users (mode {mode & 0o777:o}): "
                    f"run `chmod 600 {path}` and try again"
                )
            return handle.read().rstrip("\n")
    except OSError as exc:
        raise ConfigError(f"cannot read the password file {path}: {exc.strerror}") from None


def _decrypt_keystore(path: Path, password_file: Path | None, prompt: Callable[[str], str] | None) -> str:
    import json

    try:
        # the mode is checked on the file opened (like the password file): a keystore others can
        # read lets them try passwords offline
        with open(path, encoding="utf-8") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if mode & 0o077:
                raise ConfigError(
                    f"the keystore {path} can be read by other users (mode {mode & 0o777:o}): "
                    f"run `chmod 600 {path}` and try again"
                )
            keyfile = json.loads(handle.read())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the keystore {path}: {exc}") from exc
    if password_file is not None and str(password_file) == "-":
        if sys.stdin.isatty() and prompt is not None:
            # typed on a terminal: a plain read would echo it on the screen
            password = prompt(f"Password for {path.name}: ")
        else:
            # the password piped on standard input (one line), never on the command line
            password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise ConfigError("LEDGER_KEYSTORE_PASSWORD_FILE is '-' but standard input held no password line")
    elif password_file is not None:
        password = _read_password_file(password_file)
    elif prompt is not None and os.isatty(0):
        password = prompt(f"Password for {path.name}: ")
    else:
        raise ConfigError(
            "the keystore needs a password: set LEDGER_KEYSTORE_PASSWORD_FILE to a 0600 file, or to '-' "
            "and pipe it on standard input, or run in a terminal"
        )
    try:
        return "0x" + bytes(Account.decrypt(keyfile, password)).hex()
    except ValueError as exc:
        raise ConfigError(f"the keystore {path} did not open: wrong password?") from exc


class ChainClient:
    """Sends zero-fee transactions for one account and decodes reverts into sentences."""

    def __init__(
        self, w3: Web3, account: LocalAccount, decoder: ErrorDecoder, receipt_timeout: float = 60.0
    ) -> None:
        self.w3 = w3
        self.account = account
        self.decoder = decoder
        self.receipt_timeout = receipt_timeout
        self.chain_id = int(w3.eth.chain_id)

    @property
    def address(self) -> str:
        return str(self.account.address)

    def contract(self, address: str, abi: Sequence[dict[str, Any]]) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=list(abi))

    def call(self, fn: ContractFunction, block: int | str = "latest") -> Any:
        try:
            return fn.call(block_identifier=block)  # type: ignore[arg-type]
        except ContractLogicError as exc:
            raise self.decoder.decode(exc.data if isinstance(exc.data, str) else None) from exc

    def call_text(self, fn: ContractFunction, block: int | str = "latest") -> str:
        """A view returning one `string`, as `ledger.names.chain_text` reads it: web3 refuses
        bytes that are not UTF-8, which a raw call can store (one such merchant name made every
        list of merchants fail)."""
        from eth_abi.abi import decode

        from ledger.names import chain_text

        try:
            raw = self.w3.eth.call(
                {"to": fn.address, "data": fn._encode_transaction_data()}, block  # type: ignore[arg-type]
            )
        except ContractLogicError as exc:
            raise self.decoder.decode(exc.data if isinstance(exc.data, str) else None) from exc
        (text,) = decode(["bytes"], bytes(raw))
        return chain_text(text)

    def transact(self, fn: ContractFunction, wait: bool = True) -> SentTx:
        tx = self._prepare(fn.build_transaction, {"from": self.address})  # type: ignore[arg-type]
        return self._send(tx, wait)

    def send_call(self, to: str, data: str, wait: bool = True) -> SentTx:
        """Send prepared calldata to a contract (gas estimated by the node, reverts decoded)."""
        base = {"from": self.address, "to": Web3.to_checksum_address(to), "data": data}

        def build(params: dict[str, Any]) -> dict[str, Any]:
            return {**params, "gas": int(self.w3.eth.estimate_gas(params))}  # type: ignore[arg-type]

        return self._send(self._prepare(build, base), wait)

    def deploy(self, abi: list[dict[str, Any]], bytecode: str, *args: Any) -> SentTx:
        factory = self.w3.eth.contract(abi=abi, bytecode=bytecode)
        tx = self._prepare(factory.constructor(*args).build_transaction, {"from": self.address})
        return self._send(tx, wait=True)

    def _prepare(self, build: Callable[[Any], dict[str, Any]], base: dict[str, Any]) -> dict[str, Any]:
        params = {
            **base,
            "chainId": self.chain_id,
            "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
            "maxFeePerGas": 0,
            "maxPriorityFeePerGas": 0,
        }
        try:
            return build(params)
        except ContractLogicError as exc:
            raise self.decoder.decode(exc.data if isinstance(exc.data, str) else None) from exc
        except Web3RPCError as exc:
            raise ChainError(f"the node refused the transaction: {exc}") from exc

    def _send(self, tx: dict[str, Any], wait: bool) -> SentTx:
        signed = self.account.sign_transaction(tx)
        try:
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Web3RPCError as exc:
            raise ChainError(f"the node refused the transaction: {exc}") from exc
        if not wait:
            return SentTx(tx_hash.to_0x_hex(), -1, 0, TxReceipt({}))  # type: ignore[typeddict-item]
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.receipt_timeout)
        except TimeExhausted as exc:
            raise ChainError(
                f"transaction {tx_hash.to_0x_hex()} was sent but not mined in time; check it later"
            ) from exc
        if receipt["status"] != 1:
            raise ChainError(f"transaction {tx_hash.to_0x_hex()} reverted on chain")
        return SentTx(tx_hash.to_0x_hex(), int(receipt["blockNumber"]), int(receipt["gasUsed"]), receipt)
