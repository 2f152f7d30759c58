"""The treasury's chain adapter: DistrictToken's deposits, reserve, supply and redemptions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy.engine import Engine
from web3 import Web3
from web3.exceptions import Web3RPCError

from ledger.chain.district import District
from ledger.chain.manifest import Manifest
from ledger.errors import ChainError
from ledger.treasury.ports import Redemption

LOG_RANGE = 5_000


class ChainTreasury:
    """`index`: the ledger's database, read for a past day's reserve and supply when the node no
    longer keeps the state of that day's last block (the indexer's supply history, which
    `ledger reconcile` checks against the chain)."""

    def __init__(
        self, w3: Web3, account: LocalAccount, manifest: Manifest, index: Engine | None = None
    ) -> None:
        self.index = index
        self.w3 = w3
        self.district = District(w3, account, manifest)
        self.token = self.district.token
        self.deploy_block = manifest.contract("DistrictToken").deploy_block

    def deposit_recorded(self, bank_ref: bytes) -> bool:
        return bool(self.district.client.call(self.token.functions.depositRecorded(bank_ref)))

    def record_deposit(self, bank_ref: bytes, beneficiary: str, amount: int) -> str:
        sent = self.district.client.transact(
            self.token.functions.recordDeposit(bank_ref, Web3.to_checksum_address(beneficiary), amount)
        )
        return sent.tx_hash

    def today(self) -> date:
        block = self.w3.eth.get_block("latest")
        return datetime.fromtimestamp(int(block["timestamp"]), UTC).date()

    def block_at_end_of(self, day: date) -> int:
        """The last block whose timestamp falls on or before `day` (UTC); binary search."""
        limit = int(datetime.combine(day + timedelta(days=1), time(0), UTC).timestamp())
        high = int(self.w3.eth.block_number)
        if int(self.w3.eth.get_block(high)["timestamp"]) < limit:
            return high
        low = 0
        while low < high:  # invariant: block `high` is at or after the limit
            mid = (low + high) // 2
            if int(self.w3.eth.get_block(mid)["timestamp"]) < limit:
                low = mid + 1
            else:
                high = mid
        return max(low - 1, 0)

    def reserve(self, day: date | None = None) -> int:
        return self._at_end_of(day, self.district.reserve, "reserve", column=1)

    def total_supply(self, day: date | None = None) -> int:
        return self._at_end_of(day, self.district.total_supply, "total supply", column=0)

    def _at_end_of(
        self, day: date | None, read: Callable[[int | str], int], what: str, column: int
    ) -> int:
        """`read` at the latest block, or at the last block of a past `day`, whose state a node
        keeps only if it is an archive node (Besu keeps 512 blocks by default, the local chain
        16): then from the index when it reaches that block (`column` of its supply history:
        0 total supply, 1 reserve)."""
        if day is None:
            return read("latest")
        block = self.block_at_end_of(day)
        try:
            return read(block)
        except Web3RPCError as exc:
            indexed = self._indexed_supply(block)
            if indexed is not None:
                return indexed[column]
            raise ChainError(
                f"the node could not read the {what} at block {block}, the last of {day.isoformat()} "
                f"({exc}): it keeps the state of recent blocks only, and the index has not reached "
                "that block (run `ledger index`). Otherwise a past day's figures need an archive "
                "node (--rpc-url; Besu with --data-storage-format=FOREST and --sync-mode=FULL)"
            ) from exc

    def _indexed_supply(self, block: int) -> tuple[int, int] | None:
        """(total supply, reserve) after `block` from the index, None when it has not reached it."""
        if self.index is None:
            return None
        from ledger.db.store import Store

        store = Store(self.index)
        chain_id = int(self.w3.eth.chain_id)
        cursor = store.cursor(chain_id)
        if cursor is None or cursor.block_number < block:
            return None
        return store.supply(chain_id, block)

    def redemptions(self) -> list[Redemption]:
        event = self.token.events.Redeemed()
        out: list[Redemption] = []
        latest = int(self.w3.eth.block_number)
        start = self.deploy_block
        days: dict[int, date] = {}
        while start <= latest:
            end = min(start + LOG_RANGE - 1, latest)
            logs: list[Any] = event.get_logs(from_block=start, to_block=end)
            for log in logs:
                number = int(log["blockNumber"])
                if number not in days:
                    ts = int(self.w3.eth.get_block(number)["timestamp"])
                    days[number] = datetime.fromtimestamp(ts, UTC).date()
                args = log["args"]
                out.append(
                    Redemption(
                        redemption_id=int(args["redemptionId"]),
                        merchant=str(args["merchant"]),
                        amount=int(args["amount"]),
                        fee=int(args["fee"]),
                        euros=int(args["euros"]),
                        payout_ref="0x" + bytes(args["payoutRef"]).hex(),
                        block_number=number,
                        block_day=days[number],
                        tx_hash=log["transactionHash"].to_0x_hex(),
                    )
                )
            start = end + 1
        return out
