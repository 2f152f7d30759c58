"""The EnergySettlement contract behind the `SettlementChain` port, through `ledger.chain`.

Only `ledger.chain` imports web3; this adapter drives the contract with its `ChainClient` (zero-fee
transactions, reverts decoded into the contract's NatSpec sentences) and decodes the contract's
own logs by topic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from ledger.chain.client import ChainClient
from ledger.chain.manifest import Manifest
from ledger.domain.energy.pricing import Band, PriceBounds
from ledger.domain.energy.solidarity import SocialPrice
from ledger.domain.energy.steps import day_bounds
from ledger.energy.settlement import (
    BatchReceipt,
    ChainTariff,
    DayLines,
    DayLogs,
    LineKind,
    OnChainDay,
    PaidBatch,
    SettlementError,
    Shortfall,
    Totals,
    day_number,
    day_of_number,
    fund_debit_to_approve,
    tariff_book,
)
from ledger.errors import ChainError

CONTRACT = "EnergySettlement"
ROLES = ("ORACLE_ROLE", "TARIFF_ROLE", "PAUSER_ROLE")


@dataclass(frozen=True)
class SocialService:
    """The social service's key (SOCIAL_SERVICE_ROLE on the commons fund) and the discount it
    approves: the second key without which the fund pays no day."""

    client: ChainClient
    discount_bps: int


class ChainSettlement:
    """`SettlementChain` over a deployed EnergySettlement, for the client's signer; with
    `social_service`, it also has the fund's part of each day approved before paying it."""

    def __init__(
        self, client: ChainClient, manifest: Manifest, social_service: SocialService | None = None
    ) -> None:
        deployed = manifest.contract(CONTRACT)
        self.client = client
        self.contract = client.contract(deployed.address, deployed.abi)
        self.address = str(self.contract.address)
        self._abi: list[dict[str, Any]] = list(deployed.abi)
        self._deploy_block = deployed.deploy_block
        fund = manifest.contracts.get("CommonsFund")
        self.fund = client.contract(fund.address, fund.abi) if fund is not None else None
        self._token = manifest.contracts.get("DistrictToken")
        self._fund_abi = fund.abi if fund is not None else None
        self.social_service = social_service

    # --- the social price (the commons fund as a paying member) --------------------------------
    def social_price(self, accounts: Iterable[str], discount_bps: int, day: date) -> SocialPrice | None:
        """The social price for `day`: the accounts the fund found eligible at the day's end (not
        now: a household recorded after the day was not eligible on it), and what the fund can
        pay this settlement: its allowance, set again first to what is left of the programme's
        month, but never more than the fund holds (a budget above the balance would leave the
        producers paid short). None when the fund granted no programme to this settlement."""
        if self.fund is None or self._token is None:
            return None
        granted, _ = self.client.call(self.fund.functions.settlementGrant())
        if str(granted).lower() != self.address.lower():
            return None
        self.client.transact(self.fund.functions.refreshSettlementAllowance())
        token = self.client.contract(self._token.address, self._token.abi)
        allowance = int(self.client.call(token.functions.allowance(self.fund.address, self.address)))
        held = int(self.client.call(token.functions.balanceOf(self.fund.address)))
        day_end = int(day_bounds(day)[1].timestamp())
        last_block = self._last_block_before(day_end)
        eligible = frozenset(
            a for a in {to_checksum_address(x) for x in accounts}
            if self._eligible_until_as_of(str(self.fund.address), a, last_block) >= day_end
        )
        return SocialPrice(str(self.fund.address), eligible, discount_bps, min(allowance, held))

    def _last_block_before(self, moment: int) -> int:
        """The last block mined before the Unix time `moment` (the latest while it is to come)."""
        w3 = self.client.w3
        high = int(w3.eth.block_number)
        if int(w3.eth.get_block(high)["timestamp"]) < moment:
            return high
        low = 0  # invariant: block `low` is before `moment` (genesis is), block `high` is not
        while high - low > 1:
            middle = (low + high) // 2
            if int(w3.eth.get_block(middle)["timestamp"]) < moment:
                low = middle
            else:
                high = middle
        return low

    def _eligible_until_as_of(self, fund: str, household: str, block: int) -> int:
        """`household`'s eligibility expiry as the fund's events had set it by `block` (0: none).
        From the logs, not a historical call, so that a node keeping no old state answers too."""
        topic = keccak(text="EligibilitySet(address,uint64)")
        logs = self.client.w3.eth.get_logs(
            {
                "address": to_checksum_address(fund),
                "fromBlock": 0,
                "toBlock": block,
                "topics": ["0x" + topic.hex(), "0x" + bytes.fromhex(household[2:]).rjust(32, b"\0").hex()],
            }
        )
        if not logs:
            return 0
        last = max(logs, key=lambda log: (int(log["blockNumber"]), int(log["logIndex"])))
        return int.from_bytes(bytes(last["data"])[-32:], "big")

    # --- roles and tariffs (operator) ----------------------------------------------------------
    def has_role(self, role_name: str, account: str | None = None) -> bool:
        role = self.client.call(getattr(self.contract.functions, role_name)())
        who = to_checksum_address(account or self.client.address)
        return bool(self.client.call(self.contract.functions.hasRole(role, who)))

    def ensure_roles(self, names: Sequence[str] = ROLES) -> None:
        """Grant the signer the roles it lacks (it must be the contract's admin to do so)."""
        for name in names:
            if self.has_role(name):
                continue
            role = self.client.call(getattr(self.contract.functions, name)())
            self.client.transact(self.contract.functions.grantRole(role, self.client.address))

    def set_tariff(
        self,
        operation_id: int,
        effective_from: date,
        solar: int,
        peak: int,
        off_peak: int,
        peak_surcharge: int = 0,
        off_peak_discount: int = 0,
    ) -> int:
        """Register a schedule; with a surcharge or a discount, its solidarity component too."""
        number = day_number(effective_from)
        functions = self.contract.functions
        fn = (
            functions.setTariffWithSolidarity(
                operation_id, number, solar, peak, off_peak, peak_surcharge, off_peak_discount
            )
            if peak_surcharge or off_peak_discount
            else functions.setTariff(operation_id, number, solar, peak, off_peak)
        )
        sent = self.client.transact(fn)
        logs = self._logs(sent.receipt, "EnergySettlementTariffSet")
        return int(logs[0]["args"]["scheduleId"])

    def tariffs(self, operation_id: int) -> list[ChainTariff]:
        count = int(self.client.call(self.contract.functions.tariffCount(operation_id)))
        out = []
        for schedule_id in range(1, count + 1):
            effective, solar, peak, off_peak = self.client.call(
                self.contract.functions.tariff(operation_id, schedule_id)
            )
            surcharge, discount = self.client.call(
                self.contract.functions.tariffSolidarity(operation_id, schedule_id)
            )
            out.append(
                ChainTariff(
                    day_of_number(int(effective)),
                    int(solar),
                    int(peak),
                    int(off_peak),
                    int(surcharge),
                    int(discount),
                )
            )
        return out

    def price_bounds(self) -> PriceBounds:
        floor, solar, peak, off_peak = self.client.call(self.contract.functions.priceBounds())
        return PriceBounds(
            int(floor), {Band.SOLAR: int(solar), Band.PEAK: int(peak), Band.OFF_PEAK: int(off_peak)}
        )

    # --- SettlementChain -----------------------------------------------------------------------
    def latest_version(self, operation_id: int, day: date) -> int:
        return int(self.client.call(self.contract.functions.latestVersion(operation_id, day_number(day))))

    def commitment(self, operation_id: int, day: date, version: int) -> OnChainDay:
        root, totals, batch_size, next_batch, debits, credits, voided = self.client.call(
            self.contract.functions.commitment(operation_id, day_number(day), version)
        )
        return OnChainDay(
            bytes(root),
            Totals(*(int(v) for v in totals)),
            int(batch_size),
            int(next_batch),
            int(debits),
            int(credits),
            bool(voided),
        )

    def send_commit(self, lines: DayLines) -> str:
        fn = self.contract.functions.commitDay(
            lines.operation_id,
            day_number(lines.day),
            lines.version,
            lines.root,
            lines.totals.as_tuple(),
            lines.batch_size if lines.totals.transfers else 0,
        )
        return self.client.transact(fn, wait=False).tx_hash

    def wait_commit(self, tx_hash: str) -> None:
        self._wait(tx_hash)

    def approve_fund_day(self, lines: DayLines, from_batch: int = 0) -> None:
        """Has the social service approve what the commons fund's member line of this committed
        version still takes (from batch `from_batch` on), after checking its SOLIDARITY lines
        against the households eligible at the end of the day and the discount. Nothing when the
        fund pays nothing there or already approved it; SettlementError when no social-service
        key was given or a line fails its check."""
        if self.fund is None or self._fund_abi is None:
            return
        fund = str(self.fund.address)
        if not any(t.member == fund and t.amount > 0 for t in lines.transfers):
            return
        number = day_number(lines.day)
        args = (lines.operation_id, fund, number, lines.version)
        approved = int(self.client.call(self.contract.functions.dayApproval(*args)))
        social = self.social_service
        if social is None:
            needed = sum(t.amount for t in lines.transfers[from_batch * lines.batch_size :]
                         if t.member == fund and t.amount > 0)
            if approved >= needed:
                return
            raise SettlementError(
                f"the commons fund pays {needed} µM3E of {lines.day} v{lines.version} and the social "
                f"service approved {approved}: run with the social service's key "
                "(LEDGER_SOCIAL_SERVICE_KEY) or have it approve the day"
            )
        # Eligibility as the fund's events had it at the end of the day, as `social_price` reads it.
        day_end = int(day_bounds(lines.day)[1].timestamp())
        last_block = self._last_block_before(day_end)
        helped = {ln.payee for ln in lines.lines if ln.kind is LineKind.SOLIDARITY}
        eligible = frozenset(
            who for who in helped if self._eligible_until_as_of(fund, who, last_block) >= day_end
        )
        book = tariff_book(self.tariffs(lines.operation_id), self.price_bounds())
        needed = fund_debit_to_approve(lines, fund, eligible, social.discount_bps, from_batch, book)
        if approved >= needed:
            return
        fund_as_social = social.client.contract(fund, self._fund_abi)
        social.client.transact(
            fund_as_social.functions.approveSettlementDay(number, lines.version, lines.root, needed)
        )

    def send_pay(self, lines: DayLines, batch: int) -> str:
        # The fund's line reverts the batch unless the social service approved the day.
        self.approve_fund_day(lines, batch)
        members, proof = lines.batch(batch)
        fn = self.contract.functions.pay(
            lines.operation_id,
            day_number(lines.day),
            lines.version,
            batch,
            [(to_checksum_address(t.member), t.amount) for t in members],
            proof,
        )
        return self.client.transact(fn, wait=False).tx_hash

    def wait_pay(self, tx_hash: str) -> BatchReceipt:
        receipt = self._wait(tx_hash)
        batches = self._logs(receipt, "EnergySettlementBatchPaid")
        if not batches:  # the batch was already processed by an earlier call: nothing happened
            return BatchReceipt(
                tx_hash, int(receipt["gasUsed"]), -1, 0, (), int(receipt["blockNumber"]), processed=False
            )
        args = batches[0]["args"]
        self._record_fund_pull(receipt)
        shortfalls = tuple(
            Shortfall(int(a["index"]), str(a["payer"]), str(a["payee"]), int(a["amount"]))
            for a in (log["args"] for log in self._logs(receipt, "EnergySettlementShortfall"))
        )
        return BatchReceipt(
            tx_hash, int(receipt["gasUsed"]), -1, int(args["paid"]), shortfalls, int(receipt["blockNumber"])
        )

    def _record_fund_pull(self, receipt: Any) -> None:
        """Has the fund book a pull this batch took from it, or a credit it left due to it, at
        once: the fund learns of a pull only when it next looks, and counts it in that month (a
        pull on the month's last day would otherwise be the next month's outflow, paid from the
        next month's budget); a credit (the day's surcharges beyond its discounts) reaches the fund
        only when it records it."""
        if self.fund is None or self._token is None:
            return
        transfer = keccak(text="Transfer(address,address,uint256)")
        fund_topic = bytes.fromhex(str(self.fund.address)[2:]).rjust(32, b"\0")
        pulled = any(
            str(log["address"]).lower() == self._token.address.lower()
            and len(log["topics"]) == 3
            and bytes(log["topics"][0]) == transfer
            and bytes(log["topics"][1]) == fund_topic
            for log in receipt["logs"]
        )
        fund = str(self.fund.address)
        credited = any(
            str(log["args"]["member"]) == fund for log in self._logs(receipt, "EnergySettlementCredited")
        )
        if pulled:
            self.client.transact(self.fund.functions.recordReceived())
        if credited:
            self.client.transact(self.fund.functions.recordSettlementCredits())

    # --- mandates and what members owe ---------------------------------------------------------
    def set_mandate(self, operation_id: int, per_day: int, per_month: int) -> str:
        """The signer's energy mandate (a member's own transaction)."""
        sent = self.client.transact(self.contract.functions.setMandate(operation_id, per_day, per_month))
        return sent.tx_hash

    def revoke_mandate(self, operation_id: int) -> str:
        return self.client.transact(self.contract.functions.revokeMandate(operation_id)).tx_hash

    def mandate(self, operation_id: int, member: str) -> tuple[int, int, bool]:
        per_day, per_month, active, _approves_days = self.client.call(
            self.contract.functions.mandate(operation_id, to_checksum_address(member))
        )
        return int(per_day), int(per_month), bool(active)

    def member_account(self, operation_id: int, member: str) -> tuple[int, int, int, int]:
        """(window day YYYYMMDD, pulled that day, pulled that month, owed: > 0 owes, < 0 is due)."""
        day, spent_day, spent_month, owed, _holds_credits = self.client.call(
            self.contract.functions.memberAccount(operation_id, to_checksum_address(member))
        )
        return int(day), int(spent_day), int(spent_month), int(owed)

    def pool(self, operation_id: int) -> int:
        return int(self.client.call(self.contract.functions.pool(operation_id)))

    def shortfall_members(self, operation_id: int, from_block: int = 0) -> list[str]:
        """Every member a shortfall was ever reported for in this operation (from the logs)."""
        event = "EnergySettlementShortfall"
        abi = next(i for i in self._abi if i.get("type") == "event" and i.get("name") == event)
        topic = keccak(text=f"{event}({','.join(_type(i) for i in abi['inputs'])})")
        logs = self.client.w3.eth.get_logs(
            {
                "address": self.contract.address,
                "fromBlock": from_block,
                "toBlock": "latest",
                "topics": ["0x" + topic.hex(), "0x" + operation_id.to_bytes(32, "big").hex()],
            }
        )
        return sorted({to_checksum_address("0x" + bytes(log["topics"][3])[-20:].hex()) for log in logs})

    def committed_days(self, operation_id: int, from_block: int = 0) -> list[date]:
        """Every day of the operation with a committed version (from the DayCommitted logs)."""
        days = {int.from_bytes(bytes(log["topics"][2]), "big")
                for log in self._event_logs("EnergySettlementDayCommitted", operation_id, from_block)}
        return sorted(day_of_number(d) for d in days)

    def day_logs(self, operation_id: int, day: date, from_block: int = 0) -> DayLogs:
        """The commit transaction of each version of the day, and each batch paid (tx, block)."""
        topics = [day_number(day)]
        commits: dict[int, str] = {}
        for log in self._event_logs("EnergySettlementDayCommitted", operation_id, from_block, topics):
            version = int.from_bytes(bytes(log["topics"][3]), "big")
            commits[version] = "0x" + bytes(log["transactionHash"]).hex()
        paid: list[PaidBatch] = []
        for log in self._event_logs("EnergySettlementBatchPaid", operation_id, from_block, topics):
            from_index = int.from_bytes(bytes(log["data"])[:32], "big")
            paid.append(PaidBatch(
                int.from_bytes(bytes(log["topics"][3]), "big"), from_index,
                "0x" + bytes(log["transactionHash"]).hex(), int(log["blockNumber"]),
            ))
        return DayLogs(commits, paid)

    def _event_logs(
        self, event: str, operation_id: int, from_block: int, more: Sequence[int] = ()
    ) -> list[Any]:
        abi = next(i for i in self._abi if i.get("type") == "event" and i.get("name") == event)
        topic = keccak(text=f"{event}({','.join(_type(i) for i in abi['inputs'])})")
        words = [operation_id, *more]
        return list(self.client.w3.eth.get_logs(
            {
                "address": self.contract.address,
                # no log precedes the contract: each settle run reads its day's logs from there
                "fromBlock": max(from_block, self._deploy_block),
                "toBlock": "latest",
                "topics": ["0x" + topic.hex(), *("0x" + w.to_bytes(32, "big").hex() for w in words)],
            }
        ))

    def verify_line(self, lines: DayLines, line_number: int) -> bool:
        line = lines.lines[line_number]
        return bool(
            self.client.call(
                self.contract.functions.verifyLine(
                    lines.operation_id,
                    day_number(lines.day),
                    lines.version,
                    int(line.kind),
                    line.index,
                    line.time,
                    to_checksum_address(line.payer),
                    to_checksum_address(line.payee),
                    line.wh,
                    line.value,
                    lines.proof(line_number),
                )
            )
        )

    # --- internals -----------------------------------------------------------------------------
    def _wait(self, tx_hash: str) -> Any:
        w3 = self.client.w3
        try:
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.client.receipt_timeout)  # type: ignore[arg-type]
        except Exception as exc:
            raise ChainError(
                f"transaction {tx_hash} was sent but not mined in time; run again later"
            ) from exc
        if receipt["status"] != 1:
            raise ChainError(f"transaction {tx_hash} reverted on chain; run again to continue")
        return receipt

    def _logs(self, receipt: Any, event: str) -> list[Any]:
        """This contract's logs of `event` in a receipt (other contracts' logs are left out)."""
        decoder = getattr(self.contract.events, event)()
        abi = next(i for i in self._abi if i.get("type") == "event" and i.get("name") == event)
        signature = f"{event}({','.join(_type(i) for i in abi['inputs'])})"
        topic = keccak(text=signature)
        out = []
        for log in receipt["logs"]:
            if str(log["address"]).lower() != self.address.lower() or not log["topics"]:
                continue
            if bytes(log["topics"][0]) == topic:
                out.append(decoder.process_log(log))
        return out


def _type(item: dict[str, Any]) -> str:
    if str(item["type"]).startswith("tuple"):
        return "(" + ",".join(_type(c) for c in item["components"]) + ")" + str(item["type"])[5:]
    return str(item["type"])


def require_settlement(manifest: Manifest) -> None:
    if CONTRACT not in manifest.contracts:
        raise SettlementError(
            "the deployment has no EnergySettlement contract: run `ledger deploy --force` with this version"
        )
