"""The real review desk: the review queue of ledger.db.energy_store.SqlEnergyStore, connected on
first use (the app factory builds no engine for a route nobody calls)."""

from __future__ import annotations

from ledger.db.energy_store import SqlEnergyStore
from ledger.energy.reviews import Keep, ReviewItem


class LazyReviewDesk:
    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._store: SqlEnergyStore | None = None

    def _open(self) -> SqlEnergyStore:
        if self._store is None:
            from ledger.db.engine import make_engine

            self._store = SqlEnergyStore(make_engine(self._url))
        return self._store

    def review_queue(self, status: str | None = "open") -> list[ReviewItem]:
        return self._open().review_queue(status)

    def resolve_review(self, review_id: int, keep: Keep, by: str) -> ReviewItem:
        return self._open().resolve_review(review_id, keep, by)
