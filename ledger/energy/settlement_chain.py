"""The EnergySettlement contract behind the `SettlementChain` port, through `ledger.chain`.

Only `ledger.chain` imports web3; this adapter drives the contract with its `ChainClient` (zero-fee
transactions, reverts decoded into the contract's NatSpec sentences) and decodes the contract's
own logs by topic.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from ledger.chain.client import ChainClient
from ledger.chain.manifest import Manifest
from ledger.domain.energy.pricing import Band, PriceBounds
from ledger.energy.settlement import (
    BatchReceipt,
    ChainTariff,
    DayLines,
    OnChainDay,
    SettlementError,
    Shortfall,
    Totals,
    Transfer,
    day_number,
    day_of_number,
)
from ledger.errors import ChainError

CONTRACT = "EnergySettlement"
ROLES = ("ORACLE_ROLE", "TARIFF_ROLE", "PAUSER_ROLE")


class ChainSettlement:
    """`SettlementChain` over a deployed EnergySettlement, for the client's signer."""

    def __init__(self, client: ChainClient, manifest: Manifest) -> None:
        deployed = manifest.contract(CONTRACT)
        self.client = client
        self.contract = client.contract(deployed.address, deployed.abi)
        self.address = str(self.contract.address)
        self._abi: list[dict[str, Any]] = list(deployed.abi)

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
        self, operation_id: int, effective_from: date, solar: int, peak: int, off_peak: int
    ) -> int:
        sent = self.client.transact(
            self.contract.functions.setTariff(operation_id, day_number(effective_from), solar, peak, off_peak)
        )
        logs = self._logs(sent.receipt, "EnergySettlementTariffSet")
        return int(logs[0]["args"]["scheduleId"])

    def tariffs(self, operation_id: int) -> list[ChainTariff]:
        count = int(self.client.call(self.contract.functions.tariffCount(operation_id)))
        out = []
        for schedule_id in range(1, count + 1):
            effective, solar, peak, off_peak = self.client.call(
                self.contract.functions.tariff(operation_id, schedule_id)
            )
            out.append(ChainTariff(day_of_number(int(effective)), int(solar), int(peak), int(off_peak)))
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
        root, totals, paid_up_to, paid, shortfall = self.client.call(
            self.contract.functions.commitment(operation_id, day_number(day), version)
        )
        return OnChainDay(
            bytes(root), Totals(*(int(v) for v in totals)), int(paid_up_to), int(paid), int(shortfall)
        )

    def send_commit(self, lines: DayLines) -> str:
        fn = self.contract.functions.commitDay(
            lines.operation_id,
            day_number(lines.day),
            lines.version,
            lines.root,
            lines.totals.as_tuple(),
            lines.transfers_hash,
        )
        return self.client.transact(fn, wait=False).tx_hash

    def wait_commit(self, tx_hash: str) -> None:
        self._wait(tx_hash)

    def send_pay(
        self, operation_id: int, day: date, version: int, from_index: int, transfers: Sequence[Transfer]
    ) -> str:
        fn = self.contract.functions.pay(
            operation_id,
            day_number(day),
            version,
            from_index,
            [(to_checksum_address(t.payer), to_checksum_address(t.payee), t.amount) for t in transfers],
        )
        return self.client.transact(fn, wait=False).tx_hash

    def wait_pay(self, tx_hash: str) -> BatchReceipt:
        receipt = self._wait(tx_hash)
        batches = self._logs(receipt, "EnergySettlementBatchPaid")
        if not batches:  # every line was already paid by an earlier call: nothing happened
            return BatchReceipt(tx_hash, int(receipt["gasUsed"]), -1, 0, ())
        args = batches[0]["args"]
        shortfalls = tuple(
            Shortfall(int(a["index"]), str(a["payer"]), str(a["payee"]), int(a["amount"]))
            for a in (log["args"] for log in self._logs(receipt, "EnergySettlementShortfall"))
        )
        return BatchReceipt(
            tx_hash, int(receipt["gasUsed"]), int(args["toIndex"]), int(args["paid"]), shortfalls
        )

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
