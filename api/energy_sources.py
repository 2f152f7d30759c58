"""The real settlement source: the versions `ledger settle` keeps in the ledger database (lines
and proofs, `ledger.db.settlement_store`) joined with the commitments and payments the indexer
stored as raw logs (read by ledger.db.queries_energy). Either side may be missing: a day
computed but not yet committed has lines only; a day committed elsewhere has the chain only."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date

from sqlalchemy.exc import SQLAlchemyError

from api.errors import Unavailable
from api.ports import SettledDay
from ledger.db.queries_api import CursorInfo
from ledger.db.queries_energy import EnergyQueries, OnChainSettlement, SettlementEvent
from ledger.db.settlement_store import SqlDayStore
from ledger.energy.settlement import SettlementError, day_number, day_of_number

log = logging.getLogger("api")


class SettlementRecords:
    def __init__(self, store: SqlDayStore, queries: EnergyQueries) -> None:
        self.store = store
        self.queries = queries

    @classmethod
    def from_url(cls, url: str, queries: EnergyQueries) -> SettlementRecords:
        from ledger.db.engine import make_engine

        # The API reads only: the tables are created by `ledger` commands (migrations).
        return cls(SqlDayStore(make_engine(url)), queries)

    def cursor(self) -> CursorInfo:
        return self.queries.cursor()

    def close(self) -> None:
        self.queries.close()
        self.store.engine.dispose()

    def _files(self) -> dict[date, list[int]]:
        """Operations that have stored versions, per day."""
        try:
            return self.store.days()
        except SQLAlchemyError as exc:
            log.error("settlement records unreadable: %s", exc)
            raise Unavailable(
                "The settlement records cannot be read right now; the operator has been told."
            ) from exc

    def _join(
        self, days: Iterable[date], files: dict[date, list[int]], chain: list[OnChainSettlement]
    ) -> list[SettledDay]:
        on_chain = {(c.operation_id, c.day_number, c.version): c for c in chain}
        out: list[SettledDay] = []
        for the_day in sorted(set(days), reverse=True):
            number = day_number(the_day)
            operations = set(files.get(the_day, []))
            operations |= {c.operation_id for c in chain if c.day_number == number}
            for op in sorted(operations):
                try:
                    stored = self.store.load(op, the_day) if op in files.get(the_day, []) else {}
                except SettlementError as exc:
                    log.error("settlement records unreadable: %s", exc)
                    raise Unavailable(
                        f"The settlement records of {the_day} cannot be read right now; the operator "
                        "has been told."
                    ) from exc
                versions = set(stored) | {v for (o, d, v) in on_chain if o == op and d == number}
                out += [
                    SettledDay(op, the_day, v, stored.get(v), on_chain.get((op, number, v)))
                    for v in sorted(versions)
                ]
        return out

    def recent(self, limit: int) -> list[SettledDay]:
        files = self._files()
        chain = self.queries.settlements()
        days = set(files) | {day_of_number(c.day_number) for c in chain if _valid_day(c.day_number)}
        latest = sorted(days, reverse=True)[:limit]
        wanted = {day_number(d) for d in latest}
        return self._join(latest, files, [c for c in chain if c.day_number in wanted])

    def events(
        self,
        *,
        after: tuple[int, int] | None = None,
        until_block: int | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[SettlementEvent]:
        return self.queries.settlement_events(
            after=after, until_block=until_block, limit=limit, newest_first=newest_first
        )

    def day(self, day: date) -> list[SettledDay]:
        files = self._files()
        files = {day: files[day]} if day in files else {}
        return self._join([day], files, self.queries.settlements([day_number(day)]))


def _valid_day(number: int) -> bool:
    try:
        day_of_number(number)
    except ValueError:
        return False
    return True
