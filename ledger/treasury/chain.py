"""The treasury's chain adapter: DistrictToken's deposits, reserve, supply and redemptions."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from ledger.chain.district import District
from ledger.chain.manifest import Manifest
from ledger.treasury.ports import Redemption

LOG_RANGE = 5_000


class ChainTreasury:
    def __init__(self, w3: Web3, account: LocalAccount, manifest: Manifest) -> None:
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
        return self.district.reserve("latest" if day is None else self.block_at_end_of(day))

    def total_supply(self, day: date | None = None) -> int:
        return self.district.total_supply("latest" if day is None else self.block_at_end_of(day))

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
