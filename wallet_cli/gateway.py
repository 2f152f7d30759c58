"""The chain as the money commands see it: one small interface, one real adapter, one fake.

`ChainGateway` is what `wallet send/pay/refund/book/close/reclaim/redeem/broadcast` need: reads
(cheap, raw JSON-RPC) and writes that *submit* a transaction and return its hash without
waiting; `receipt` polls, so the command can draw a spinner and give up after `--timeout`
(exit 3). The real adapter, `DistrictGateway`, reads with `wallet_cli.rpc.Rpc` and builds and
signs contract calls with ledger.chain (web3, imported only when a transaction is sent); the
unit tests use `tests.unit.test_wallet_money.FakeGateway`.

Errors of ledger.chain are translated here into the wallet's own (`translate_errors`): a
contract rule becomes ContractRefusedError with the NatSpec sentence of its custom error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from wallet_cli.errors import (
    ChainError,
    ConfigError,
    ContractRefusedError,
    UsageError,
    WalletError,
)
from wallet_cli.rpc import Merchant, Rpc, RpcError

if TYPE_CHECKING:
    from ledger.chain.district import District


class ChainGateway(Protocol):
    chain_id: int
    token: str
    payments: str

    def use_key(self, private_key: bytes) -> None: ...
    def node_chain_id(self) -> int: ...
    def chain_time(self) -> int: ...
    def balance_of(self, owner: str) -> int: ...
    def permit_nonce(self, owner: str) -> int: ...
    def merchants(self) -> list[Merchant]: ...
    def booking(self, booking_id: int) -> dict[str, Any]: ...
    def fund_cover(self, merchant_id: int, payer: str, amount: int) -> int | None: ...
    def approve_if_needed(self, amount: int) -> str | None: ...
    def transfer(self, to: str, amount: int) -> str: ...
    def pay(self, merchant_id: int, amount: int, ref: bytes) -> str: ...
    def refund(self, merchant_id: int, payer: str, amount: int, ref: bytes) -> str: ...
    def open_booking(self, merchant_id: int, deposit: int, expires_at: int, ref: bytes) -> str: ...
    def close_booking(self, booking_id: int, charge: int) -> str: ...
    def reclaim_booking(self, booking_id: int) -> str: ...
    def redeem(self, amount: int, ref: bytes) -> str: ...
    def pay_with_authorization(self, args: list[Any]) -> str: ...
    def cancel_authorization(self, authorizer: str, nonce: bytes, signature: bytes) -> str: ...
    def authorization_used(self, authorizer: str, nonce: bytes) -> bool: ...
    def is_contract(self, address: str) -> bool: ...
    def send_raw(self, raw_tx: str) -> str: ...
    def receipt(self, tx_hash: str) -> dict[str, Any] | None: ...


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """ledger.chain's errors (and web3's) as the wallet's, with the same sentence."""
    try:
        yield
    except WalletError:
        raise
    except Exception as exc:
        from ledger.errors import (
            ChainError as LedgerChainError,
        )
        from ledger.errors import (
            ConfigError as LedgerConfigError,
        )
        from ledger.errors import (
            ContractRuleError,
            InputError,
            ManifestError,
        )

        if isinstance(exc, ContractRuleError):
            raise ContractRefusedError(str(exc), exc.error_name, exc.error_args) from exc
        if isinstance(exc, LedgerChainError):
            raise ChainError(_sentence(str(exc))) from exc
        if isinstance(exc, ManifestError | LedgerConfigError):
            raise ConfigError(_sentence(str(exc))) from exc
        if isinstance(exc, InputError):
            raise UsageError(_sentence(str(exc))) from exc
        raise


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


class DistrictGateway:
    """The deployed district contracts, through raw JSON-RPC reads and ledger.chain writes."""

    def __init__(
        self, rpc_url: str, manifest_path: Path, private_key: bytes | None = None,
        *, rpc: Rpc | None = None,
    ) -> None:
        from wallet_cli.settings import (
            manifest_chain_id,
            service_payments_from_manifest,
            token_from_manifest,
        )

        self.rpc_url = rpc_url
        self.manifest_path = manifest_path
        self.rpc = rpc or Rpc(rpc_url, timeout=30.0)
        self.token = token_from_manifest(manifest_path)
        self.payments = service_payments_from_manifest(manifest_path)
        recorded = manifest_chain_id(manifest_path)
        self.chain_id = recorded if recorded is not None else self.node_chain_id()
        self._key = private_key
        self._district: District | None = None

    def use_key(self, private_key: bytes) -> None:
        """The key that signs the writes (decrypted after the person confirmed)."""
        self._key = private_key
        self._district = None

    # ------------------------------------------------------------------ reads (raw JSON-RPC)

    def chain_time(self) -> int:
        return self.rpc.latest_block_time()

    def node_chain_id(self) -> int:
        return self.rpc.chain_id()

    def balance_of(self, owner: str) -> int:
        return self.rpc.balance_of(self.token, owner)

    def permit_nonce(self, owner: str) -> int:
        return self.rpc.permit_nonce(self.token, owner)

    def merchants(self) -> list[Merchant]:
        return self.rpc.merchants(self.payments)

    def booking(self, booking_id: int) -> dict[str, Any]:
        return self.rpc.booking(self.payments, booking_id)

    def fund_cover(self, merchant_id: int, payer: str, amount: int) -> int | None:
        return self.rpc.fund_cover(self.payments, merchant_id, payer, amount)

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        return self.rpc.receipt(tx_hash)

    def send_raw(self, raw_tx: str) -> str:
        try:
            return self.rpc.send_raw(raw_tx)
        except RpcError as exc:
            if exc.data:
                raise self._decode(exc.data) from exc
            raise

    def _decode(self, data: str) -> WalletError:
        from ledger.chain.deploy import decoder_for_manifest
        from ledger.chain.manifest import Manifest

        with translate_errors():
            rule = decoder_for_manifest(Manifest.load(self.manifest_path)).decode(data)
        return ContractRefusedError(str(rule), rule.error_name, rule.error_args)

    # ------------------------------------------------------------------ writes (web3)

    @property
    def district(self) -> District:
        if self._district is None:
            if self._key is None:
                raise WalletError("This needs an account to sign with: pass --account NAME.")
            with translate_errors():
                from eth_account import Account

                from ledger.chain.client import connect
                from ledger.chain.district import District
                from ledger.chain.manifest import Manifest

                manifest = Manifest.load(self.manifest_path)
                self._district = District(connect(self.rpc_url), Account.from_key(self._key),
                                          manifest)
        return self._district

    def _submit(self, fn: Any) -> str:
        with translate_errors():
            return self.district.client.transact(fn, wait=False).tx_hash

    def approve_if_needed(self, amount: int) -> str | None:
        d = self.district
        with translate_errors():
            allowance = int(d.client.call(d.token.functions.allowance(d.address, d.payments.address)))
        if allowance >= amount:
            return None
        return self._submit(d.token.functions.approve(d.payments.address, 2**256 - 1))

    def transfer(self, to: str, amount: int) -> str:
        from web3 import Web3

        return self._submit(self.district.token.functions.transfer(Web3.to_checksum_address(to), amount))

    def pay(self, merchant_id: int, amount: int, ref: bytes) -> str:
        return self._submit(self.district.payments.functions.pay(merchant_id, amount, ref))

    def refund(self, merchant_id: int, payer: str, amount: int, ref: bytes) -> str:
        from web3 import Web3

        return self._submit(self.district.payments.functions.refund(
            merchant_id, Web3.to_checksum_address(payer), amount, ref))

    def open_booking(self, merchant_id: int, deposit: int, expires_at: int, ref: bytes) -> str:
        return self._submit(self.district.payments.functions.openBooking(
            merchant_id, deposit, expires_at, ref))

    def close_booking(self, booking_id: int, charge: int) -> str:
        return self._submit(self.district.payments.functions.closeBooking(booking_id, charge))

    def reclaim_booking(self, booking_id: int) -> str:
        return self._submit(self.district.payments.functions.reclaimBooking(booking_id))

    def redeem(self, amount: int, ref: bytes) -> str:
        return self._submit(self.district.token.functions.redeem(amount, ref))

    def pay_with_authorization(self, args: list[Any]) -> str:
        converted = list(args)
        for i in (3, 6, 7):  # ref, payer nonce, signature: hex text -> bytes
            converted[i] = bytes.fromhex(str(converted[i]).removeprefix("0x"))
        return self._submit(self.district.payments.functions.payWithAuthorization(*converted))

    def cancel_authorization(self, authorizer: str, nonce: bytes, signature: bytes) -> str:
        from web3 import Web3

        return self._submit(self.district.token.functions.cancelAuthorization(
            Web3.to_checksum_address(authorizer), nonce, signature))

    def authorization_used(self, authorizer: str, nonce: bytes) -> bool:
        """ERC-3009 authorizationState: the nonce was used or cancelled (raw JSON-RPC)."""
        from wallet_cli.rpc import SEL_AUTHORIZATION_STATE, word

        data = SEL_AUTHORIZATION_STATE + word(authorizer) + nonce.hex()
        return int(self.rpc.eth_call(self.token, data), 16) != 0

    def is_contract(self, address: str) -> bool:
        """True when code lives at the address (a contract wallet signs with EIP-1271)."""
        code = str(self.rpc.call("eth_getCode", [address, "latest"]))
        return code not in ("0x", "0x0", "")
