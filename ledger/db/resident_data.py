"""A resident's data in SQL: consents, the export's collections, erasure.

The rules (purposes, defaults, the archive format, what erasure keeps and why) are in
`ledger.domain.data_ownership`; this module reads and writes them, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar, cast

from sqlalchemy import ColumnElement, Table, and_, delete, func, or_, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from ledger.db import api_models, models, settlement_models
from ledger.db import energy_models as em
from ledger.db.errors import DatabaseUnavailable
from ledger.domain.data_ownership import AGGREGATES, Consent, check_consent, every_consent
from ledger.treasury import models as treasury_models

Rows = list[dict[str, Any]]
P = ParamSpec("P")
T = TypeVar("T")


def _database(func: Callable[P, T]) -> Callable[P, T]:
    """A database that went away (or lacks its tables) is a sentence, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.ProgrammingError) as exc:
            raise DatabaseUnavailable(
                f"the residents' data cannot be reached right now ({type(exc.orig).__name__})"
            ) from exc

    return wrapper


def open_engine(database_url: str) -> Engine:
    """A read-write engine on the ledger database, migrated; an in-memory SQLite database is
    one database shared by the threads of the process (tests, demos)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import StaticPool

    from ledger.db import make_engine, migrate

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        engine = make_engine(database_url)
    migrate(engine)
    return engine


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def _is(column: Any, account: str) -> ColumnElement[bool]:
    result: ColumnElement[bool] = func.lower(column) == account.lower()
    return result


@_database
def consents(engine: Engine, account: str) -> list[Consent]:
    """Every purpose's current choice for `account` (the default where never changed)."""
    t = _table(em.ResidentConsent)
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.purpose, t.c.party, t.c.granted, t.c.changed_ts).where(t.c.account == account.lower())
        ).all()
    return every_consent([Consent(str(p), str(q), bool(g), int(ts)) for p, q, g, ts in rows])


@_database
def set_consent(
    engine: Engine, account: str, purpose: str, party: str | None, granted: bool, now: int
) -> Consent:
    """Record a choice; it applies to every figure and export computed from now on."""
    purpose, party_name = check_consent(purpose, party)
    t = _table(em.ResidentConsent)
    key = and_(t.c.account == account.lower(), t.c.purpose == purpose, t.c.party == party_name)
    with engine.begin() as conn:
        changed = conn.execute(update(t).where(key).values(granted=granted, changed_ts=now)).rowcount
        if not changed:
            conn.execute(
                t.insert().values(
                    account=account.lower(),
                    purpose=purpose,
                    party=party_name,
                    granted=granted,
                    changed_ts=now,
                )
            )
    return Consent(purpose, party_name, granted, now)


def aggregates_refused() -> Any:
    """The accounts (lower case) whose readings must not count in the district figures."""
    t = _table(em.ResidentConsent)
    return select(t.c.account).where(t.c.purpose == AGGREGATES, t.c.party == "", t.c.granted.is_(False))


def _rows(conn: Connection, table: Table, where: ColumnElement[bool]) -> Rows:
    # A session's token hash is a credential, not data about the resident: only when it ends.
    shown = [table.c.address, table.c.expires_at] if table.name == "api_sessions" else [table]
    return [dict(row._mapping) for row in conn.execute(select(*shown).where(where))]


def _meters(conn: Connection, account: str) -> tuple[list[int], list[str]]:
    """The ids and serials of the meters of `account`."""
    m = _table(em.EnergyMeter)
    rows = conn.execute(select(m.c.meter_id, m.c.serial).where(_is(m.c.wallet, account))).all()
    return [int(i) for i, _ in rows], [str(s) for _, s in rows]


# (collection, table, rows of `account`): everything the database keeps about a resident.
def _collections(
    account: str, meters: Sequence[int], serials: Sequence[str]
) -> list[tuple[str, Table, ColumnElement[bool]]]:
    t = _table
    r = t(em.EnergyReading)
    lines, residues = t(settlement_models.SettleLine), t(settlement_models.SettleResidue)
    return [
        ("balance", t(models.Balance), _is(t(models.Balance).c.account, account)),
        ("balance_history", t(models.BalanceHistory), _is(t(models.BalanceHistory).c.account, account)),
        (
            "transfers",
            t(models.Transfer),
            or_(
                _is(t(models.Transfer).c.from_address, account), _is(t(models.Transfer).c.to_address, account)
            ),
        ),
        ("payments", t(models.Payment), _is(t(models.Payment).c.payer, account)),
        ("refunds", t(models.Refund), _is(t(models.Refund).c.payer, account)),
        ("bookings", t(models.Booking), _is(t(models.Booking).c.payer, account)),
        ("deposits", t(models.Deposit), _is(t(models.Deposit).c.beneficiary, account)),
        (
            "settlement_shortfalls",
            t(models.SettlementShortfall),
            or_(
                _is(t(models.SettlementShortfall).c.payer, account),
                _is(t(models.SettlementShortfall).c.payee, account),
            ),
        ),
        ("settlement_lines", lines, or_(_is(lines.c.payer, account), _is(lines.c.payee, account))),
        (
            "settlement_residues",
            residues,
            or_(residues.c.producer.in_(serials), residues.c.consumer.in_(serials)),
        ),
        (
            "authorizations",
            t(models.TokenAuthorization),
            _is(t(models.TokenAuthorization).c.authorizer, account),
        ),
        ("freezes", t(models.AccountFreeze), _is(t(models.AccountFreeze).c.account, account)),
        ("sessions", t(api_models.ApiSession), _is(t(api_models.ApiSession).c.address, account)),
        ("energy_meters", t(em.EnergyMeter), t(em.EnergyMeter).c.meter_id.in_(meters)),
        ("energy_meter_sites", t(em.EnergyMeterSite), t(em.EnergyMeterSite).c.meter_id.in_(meters)),
        ("energy_readings", r, r.c.meter_id.in_(meters)),
        (
            "energy_register_samples",
            t(em.EnergyRegisterSample),
            t(em.EnergyRegisterSample).c.meter_id.in_(meters),
        ),
        ("energy_half_wh_carries", t(em.EnergyHalfWhCarry), t(em.EnergyHalfWhCarry).c.meter_id.in_(meters)),
        (
            "energy_reading_reviews",
            t(em.EnergyReadingReview),
            t(em.EnergyReadingReview).c.meter_id.in_(meters),
        ),
        ("energy_memberships", t(em.EnergyMembership), _is(t(em.EnergyMembership).c.wallet, account)),
        ("energy_participants", t(em.EnergyParticipant), _is(t(em.EnergyParticipant).c.wallet, account)),
        ("energy_operation_consents", t(em.EnergyConsent), _is(t(em.EnergyConsent).c.wallet, account)),
        (
            "energy_supply_contracts",
            t(em.EnergySupplyContract),
            _is(t(em.EnergySupplyContract).c.wallet, account),
        ),
        ("consents", t(em.ResidentConsent), _is(t(em.ResidentConsent).c.account, account)),
        ("naming", t(api_models.ApiNamedAccount), _is(t(api_models.ApiNamedAccount).c.address, account)),
        (
            "topup_references",
            t(treasury_models.TreasuryAccountRef),
            _is(t(treasury_models.TreasuryAccountRef).c.account, account),
        ),
        (
            "bank_credits",
            t(treasury_models.TreasuryEntry),
            _is(t(treasury_models.TreasuryEntry).c.account, account),
        ),
    ]


def collection_tables() -> dict[str, str]:
    """{table name: the export collection that holds its rows of a resident}."""
    return {table.name: name for name, table, _ in _collections("0x", [], [])}


@_database
def export(engine: Engine, account: str) -> dict[str, Rows]:
    """Every collection of `account`, read in one transaction (a consistent snapshot)."""
    with engine.connect() as conn, conn.begin():
        meters, serials = _meters(conn, account)
        found = {
            name: _rows(conn, table, where) for name, table, where in _collections(account, meters, serials)
        }
    found["consents"] = [
        {"purpose": c.purpose, "party": c.party, "granted": c.granted, "changed_ts": c.changed_ts}
        for c in every_consent(
            [
                Consent(r["purpose"], r["party"], bool(r["granted"]), int(r["changed_ts"]))
                for r in found["consents"]
            ]
        )
    ]
    return found


@_database
def erase(engine: Engine, account: str, now: int) -> dict[str, int]:
    """Delete what the district keeps about `account` off chain, except what the law or the
    settlements require (ledger.domain.data_ownership.KEPT_AFTER_ERASURE). One transaction:
    all of it or nothing. Returns the rows deleted per table."""
    t = _table
    m, r = t(em.EnergyMeter), t(em.EnergyReading)
    deleted: dict[str, int] = {}

    def drop(table: Table, where: ColumnElement[bool]) -> None:
        count = conn.execute(delete(table).where(where)).rowcount
        if count:
            deleted[table.name] = deleted.get(table.name, 0) + count

    with engine.begin() as conn:
        # Meters outside any solar-sharing operation (gas, water, a home's own electricity
        # meter) settle nothing: they go with all they measured.
        loose = [
            int(i)
            for i in conn.execute(
                select(m.c.meter_id).where(_is(m.c.wallet, account), m.c.operation_id.is_(None))
            ).scalars()
        ]
        raw_of_loose = set(conn.execute(select(r.c.raw_sha256).where(r.c.meter_id.in_(loose))).scalars())
        for model in (
            em.EnergyReading,
            em.EnergyReadingReview,
            em.EnergyRegisterSample,
            em.EnergyHalfWhCarry,
            em.EnergyMeterSite,
        ):
            drop(t(model), t(model).c.meter_id.in_(loose))
        drop(m, m.c.meter_id.in_(loose))
        _drop_orphan_raw_inputs(conn, raw_of_loose, drop)
        drop(t(api_models.ApiNamedAccount), _is(t(api_models.ApiNamedAccount).c.address, account))
        drop(t(api_models.ApiSession), _is(t(api_models.ApiSession).c.address, account))
        drop(
            t(treasury_models.TreasuryAccountRef),
            _is(t(treasury_models.TreasuryAccountRef).c.account, account),
        )
        drop(t(em.ResidentConsent), _is(t(em.ResidentConsent).c.account, account))
        # Kept readings (an operation's) must never count in a public figure again.
        conn.execute(
            t(em.ResidentConsent)
            .insert()
            .values(account=account.lower(), purpose=AGGREGATES, party="", granted=False, changed_ts=now)
        )
    return deleted


def _drop_orphan_raw_inputs(
    conn: Connection, candidates: set[str], drop: Callable[[Table, ColumnElement[bool]], None]
) -> None:
    """The raw inputs of erased readings that nothing kept still points to."""
    if not candidates:
        return
    still: set[str] = set()
    for model in (em.EnergyReading, em.EnergyReadingReview, em.EnergyRegisterSample, em.EnergyHalfWhCarry):
        table = _table(model)
        still |= set(
            conn.execute(select(table.c.raw_sha256).where(table.c.raw_sha256.in_(candidates))).scalars()
        )
    raw = _table(em.EnergyRawInput)
    drop(raw, raw.c.sha256.in_(sorted(candidates - still)))
