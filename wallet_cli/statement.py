"""The monthly statement: the API's payments and refunds, plus the month's solar energy.

The API's `statement.csv` lists payments (negative) and refunds (positive) to merchants; the
energy settled for the account comes from `GET /v1/accounts/{address}/energy` (per day: `earned`,
what its production sold for, and `owed`, what its consumption of the neighbours' production
cost). This module joins them into one CSV with a unit in every column name: each day with
energy gives an `energy sold` line (positive, with the Wh) and an `energy bought` line
(negative), and the total line sums everything. Integers throughout; the M3E column has the same
number of decimals on every line (two, or six when one amount is not a whole cent).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from wallet_cli.amounts import format_amount, needs_six_decimals
from wallet_cli.errors import ApiError

COLUMNS = ("day", "kind", "merchant_id", "merchant", "reference", "energy_wh",
           "amount_micro_m3e", "amount_m3e", "block", "tx_hash")
ENERGY_LABEL = "solar sharing"


@dataclass(frozen=True)
class Statement:
    csv: str
    payments_micro: int  # payments and refunds to merchants, net (negative: money out)
    energy_earned_micro: int
    energy_paid_micro: int
    energy_sold_wh: int
    energy_bought_wh: int
    lines: int

    @property
    def total_micro(self) -> int:
        return self.payments_micro + self.energy_earned_micro - self.energy_paid_micro

    def as_json(self) -> dict[str, Any]:
        return {"lines": self.lines, "payments": str(self.payments_micro),
                "energy_earned": str(self.energy_earned_micro),
                "energy_paid": str(self.energy_paid_micro),
                "energy_sold_wh": self.energy_sold_wh, "energy_bought_wh": self.energy_bought_wh,
                "total": str(self.total_micro)}


def _micro(raw: Any) -> int:
    return int(raw["micro"] if isinstance(raw, dict) else raw)


def build_statement(api_csv: str, energy_days: list[dict[str, Any]], indexed_block: str | None,
                    api_url: str) -> Statement:
    """One CSV from the API's payment lines and the energy days of the month."""
    try:
        reader = csv.DictReader(io.StringIO(api_csv))
        payment_rows = [r for r in reader if r.get("kind") != "total"]
        rows: list[dict[str, Any]] = [{
            "day": r["day"], "kind": r["kind"], "merchant_id": r.get("merchant_id", ""),
            "merchant": r.get("merchant", ""), "reference": r.get("reference", ""),
            "energy_wh": "", "amount": int(r["amount_micro_m3e"]), "block": r.get("block", ""),
            "tx_hash": r.get("tx_hash", "")} for r in payment_rows]
    except (KeyError, ValueError, csv.Error) as exc:
        raise ApiError(f"The API at {api_url} gave a statement this wallet cannot read ({exc}).") \
            from exc
    payments = sum(r["amount"] for r in rows)
    earned = paid = sold_wh = bought_wh = 0
    try:
        for d in energy_days:
            day_earned, day_paid = _micro(d.get("earned", "0")), _micro(d.get("owed", "0"))
            day_sold = int(d.get("allocated_wh") or sum(int(a["wh"]) for a in d.get("allocated", [])))
            day_bought = int(d.get("bought_wh") or 0)
            if day_earned or day_sold:
                rows.append({"day": str(d["day"]), "kind": "energy sold", "merchant_id": "",
                             "merchant": ENERGY_LABEL, "reference": "", "energy_wh": day_sold,
                             "amount": day_earned, "block": "", "tx_hash": ""})
            if day_paid or day_bought:
                rows.append({"day": str(d["day"]), "kind": "energy bought", "merchant_id": "",
                             "merchant": ENERGY_LABEL, "reference": "", "energy_wh": day_bought,
                             "amount": -day_paid, "block": "", "tx_hash": ""})
            earned, paid = earned + day_earned, paid + day_paid
            sold_wh, bought_wh = sold_wh + day_sold, bought_wh + day_bought
    except (KeyError, TypeError, ValueError) as exc:
        raise ApiError(f"The API at {api_url} gave energy data this wallet cannot read ({exc}).") \
            from exc
    rows.sort(key=lambda r: (r["day"], r["kind"]))
    total = payments + earned - paid
    six = needs_six_decimals([r["amount"] for r in rows] + [total])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([r["day"], r["kind"], r["merchant_id"], r["merchant"], r["reference"],
                         r["energy_wh"], r["amount"], format_amount(r["amount"], symbol=False, full=six),
                         r["block"], r["tx_hash"]])
    writer.writerow(["", "total", "", "", "", "", total, format_amount(total, symbol=False, full=six),
                     indexed_block or "", ""])
    return Statement(csv=out.getvalue(), payments_micro=payments, energy_earned_micro=earned,
                     energy_paid_micro=paid, energy_sold_wh=sold_wh, energy_bought_wh=bought_wh,
                     lines=len(rows))


def month_days(month: str) -> tuple[str, int]:
    """("2026-11-30", 30): the last day of `month` (YYYY-MM) and its number of days."""
    import calendar

    year, number = int(month[:4]), int(month[5:7])
    count = calendar.monthrange(year, number)[1]
    return f"{month}-{count:02d}", count
