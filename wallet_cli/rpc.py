"""Raw JSON-RPC to the district chain over httpx: fast reads without web3.

`import web3` alone costs about 0.8 s on this machine, and httpx a good part of a second under
load, more than `wallet balance` may take in all; the reads of the wallet (balance, nonces,
merchants, logs, receipts) and sending an already signed raw transaction need only a few
JSON-RPC calls, so they go through this small client over the standard library's http.client.
Writes that build and sign contract calls go through ledger.chain (web3), imported lazily.

Calldata is encoded by hand for the few static-argument calls used here (a 4-byte selector and
32-byte words); dynamic return values (a merchant's name) are decoded with eth_abi, imported
only when needed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wallet_cli.errors import ChainError

if TYPE_CHECKING:
    import httpx

# 4-byte selectors (keccak256 of the signature), checked in tests against eth_utils
SEL_BALANCE_OF = "0x70a08231"  # balanceOf(address)
SEL_NONCES = "0x7ecebe00"  # nonces(address)
SEL_TRANSFER = "0xa9059cbb"  # transfer(address,uint256)
SEL_MERCHANT_COUNT = "0x89105185"  # merchantCount()
SEL_MERCHANT = "0x020cdd36"  # merchant(uint256)
SEL_MERCHANT_NAME = "0xaa0b32f5"  # merchantName(uint256)
SEL_MERCHANT_ID_OF = "0x64d71a12"  # merchantIdOf(address)
SEL_BOOKING = "0x358dc19c"  # booking(uint256)
SEL_AUTHORIZATION_STATE = "0xe94a0102"  # authorizationState(address,bytes32)
SEL_FUND_COVER = "0x25bcf53a"  # fundCover(uint256,address,uint256)

CATEGORIES = ("co-working", "car-sharing", "parking", "concierge", "food", "retail", "other")


def word(value: int | str) -> str:
    """One 32-byte ABI word (hex, no 0x) for an unsigned integer or an address."""
    if isinstance(value, str):
        return value.lower().removeprefix("0x").rjust(64, "0")
    if value < 0 or value >= 2**256:
        raise ValueError("a uint256 is between 0 and 2**256 - 1")
    return f"{value:064x}"


def words(data: str) -> list[int]:
    raw = data.removeprefix("0x")
    return [int(raw[i : i + 64], 16) for i in range(0, len(raw) - len(raw) % 64, 64)]


def topic_address(address: str) -> str:
    return "0x" + word(address)


def topic_int(value: int) -> str:
    return "0x" + word(value)


def address_from_word(value: int | str) -> str:
    if isinstance(value, str):
        value = int(value, 16)
    return "0x" + f"{value:040x}"[-40:]


@dataclass(frozen=True)
class Merchant:
    id: int
    name: str
    category: str
    payout: str
    active: bool

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "category": self.category,
                "payout": self.payout, "active": self.active}


class RpcError(ChainError):
    """The node answered with a JSON-RPC error (or could not be reached)."""

    def __init__(self, message: str, data: str | None = None) -> None:
        super().__init__(message)
        self.data = data


class Rpc:
    """A JSON-RPC client of one node.

    Over the standard library's http.client (one kept-alive connection): httpx costs more to
    import than `wallet balance` may take in all. `transport` (an httpx transport) is the seam
    tests use to answer with httpx.MockTransport; then httpx carries the calls."""

    def __init__(
        self, url: str, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.url = url
        self._timeout = timeout
        self._ids = itertools.count(1)
        self._http: Any = None
        self._connection: Any = None
        if transport is not None:
            import httpx

            self._http = httpx.Client(timeout=timeout, transport=transport)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> Rpc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unreachable(self, exc: BaseException) -> ChainError:
        return ChainError(
            f"The district chain at {self.url} does not answer ({type(exc).__name__}): "
            "check the RPC URL (--rpc-url, WALLET_RPC_URL or `wallet config set rpc_url`).")

    def _post(self, body: bytes) -> bytes:
        if self._http is not None:
            import httpx

            try:
                reply = self._http.post(self.url, content=body,
                                        headers={"Content-Type": "application/json"})
                reply.raise_for_status()
            except httpx.HTTPError as exc:
                raise self._unreachable(exc) from exc
            return bytes(reply.content)
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ChainError(f"The RPC URL {self.url} is not an http:// or https:// URL.")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for attempt in (1, 2):  # a kept-alive connection the node closed is opened again once
            try:
                if self._connection is None:
                    kind = (http.client.HTTPSConnection if parts.scheme == "https"
                            else http.client.HTTPConnection)
                    self._connection = kind(parts.hostname, parts.port, timeout=self._timeout)
                self._connection.request("POST", path, body, {"Content-Type": "application/json"})
                reply = self._connection.getresponse()
                data = reply.read()
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if attempt == 2 or not isinstance(exc, http.client.RemoteDisconnected
                                                  | BrokenPipeError | ConnectionResetError):
                    raise self._unreachable(exc) from exc
                continue
            if reply.status >= 400:
                raise ChainError(f"The node at {self.url} answered HTTP {reply.status}: check the "
                                 "RPC URL (--rpc-url, WALLET_RPC_URL or `wallet config set rpc_url`).")
            return bytes(data)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def call(self, method: str, params: list[Any] | None = None) -> Any:
        import json

        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or []}
        raw = self._post(json.dumps(body).encode())
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ChainError(f"The node at {self.url} did not answer in JSON-RPC.") from exc
        if not isinstance(data, dict):
            raise ChainError(f"The node at {self.url} did not answer in JSON-RPC.")
        if "error" in data:
            error = data["error"] if isinstance(data["error"], dict) else {}
            raw_error = error.get("data")
            revert = raw_error if isinstance(raw_error, str) else (
                raw_error.get("data") if isinstance(raw_error, dict)
                and isinstance(raw_error.get("data"), str) else None)
            raise RpcError(f"The node refused {method}: {error.get('message', data['error'])}",
                           revert)
        return data.get("result")

    # ------------------------------------------------------------------ reads

    def chain_id(self) -> int:
        return int(str(self.call("eth_chainId")), 16)

    def block_number(self) -> int:
        return int(str(self.call("eth_blockNumber")), 16)

    def eth_call(self, to: str, data: str, block: str = "latest") -> str:
        return str(self.call("eth_call", [{"to": to, "data": data}, block]))

    def balance_of(self, token: str, owner: str) -> int:
        return int(self.eth_call(token, SEL_BALANCE_OF + word(owner)), 16)

    def permit_nonce(self, token: str, owner: str) -> int:
        return int(self.eth_call(token, SEL_NONCES + word(owner)), 16)

    def tx_count(self, address: str) -> int:
        return int(str(self.call("eth_getTransactionCount", [address, "pending"])), 16)

    def merchant_count(self, payments: str) -> int:
        return int(self.eth_call(payments, SEL_MERCHANT_COUNT), 16)

    def merchant_id_of(self, payments: str, payout: str) -> int:
        return int(self.eth_call(payments, SEL_MERCHANT_ID_OF + word(payout)), 16)

    def merchant(self, payments: str, merchant_id: int) -> Merchant:
        payout, category, active = words(self.eth_call(payments, SEL_MERCHANT + word(merchant_id)))[:3]
        from eth_abi.abi import decode

        raw = self.eth_call(payments, SEL_MERCHANT_NAME + word(merchant_id))
        (raw_name,) = decode(["bytes"], bytes.fromhex(raw.removeprefix("0x")))
        label = CATEGORIES[category] if category < len(CATEGORIES) else "other"
        from ledger.names import chain_text, printable

        name = chain_text(raw_name)
        from wallet_cli.names import to_checksum_address

        payout_address = to_checksum_address(address_from_word(payout))
        # The chain holds whatever was registered: escape sequences, bidi overrides and invisible
        # letters are printed as their code points (e.g. <U+202E>), never passed to the terminal.
        return Merchant(merchant_id, printable(str(name)), label, payout_address, bool(active))

    def merchants(self, payments: str) -> list[Merchant]:
        return [self.merchant(payments, i) for i in range(1, self.merchant_count(payments) + 1)]

    def fund_cover(self, payments: str, merchant_id: int, payer: str, amount: int) -> int | None:
        """What the commons fund would pay of `amount` (free basics); None when the deployed
        ServicePayments predates free tiers (the call reverts or answers nothing)."""
        try:
            raw = self.eth_call(payments, SEL_FUND_COVER + word(merchant_id) + word(payer) + word(amount))
        except RpcError:
            return None
        values = words(raw)
        return values[0] if values else None

    def booking(self, payments: str, booking_id: int) -> dict[str, Any]:
        payer, expires, is_open, merchant_id, deposit = words(
            self.eth_call(payments, SEL_BOOKING + word(booking_id)))[:5]
        return {"payer": address_from_word(payer), "expires_at": expires, "open": bool(is_open),
                "merchant_id": merchant_id, "deposit": deposit}

    def get_logs(self, address: str | list[str], topics: list[Any], from_block: int,
                 to_block: int | str = "latest") -> list[dict[str, Any]]:
        end = to_block if isinstance(to_block, str) else hex(to_block)
        result = self.call("eth_getLogs", [{"address": address, "topics": topics,
                                            "fromBlock": hex(from_block), "toBlock": end}])
        return list(result or [])

    def block_time(self, number: int) -> int | None:
        block = self.call("eth_getBlockByNumber", [hex(number), False])
        return int(block["timestamp"], 16) if isinstance(block, dict) else None

    def latest_block_time(self) -> int:
        """The timestamp of the latest block: the clock the contracts check windows against."""
        block = self.call("eth_getBlockByNumber", ["latest", False])
        if not isinstance(block, dict) or "timestamp" not in block:
            raise ChainError(f"The node at {self.url} did not give its latest block.")
        return int(str(block["timestamp"]), 16)

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        result = self.call("eth_getTransactionReceipt", [tx_hash])
        return result if isinstance(result, dict) else None

    # ------------------------------------------------------------------ writes

    def send_raw(self, raw_tx: str) -> str:
        return str(self.call("eth_sendRawTransaction", [raw_tx]))
