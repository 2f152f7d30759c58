"""Exact token amounts in SQL.

`U256` holds any integer in [0, 2^256 - 1] exactly:
- PostgreSQL: NUMERIC(78, 0);
- SQLite: a 32-byte big-endian BLOB (fixed width, so byte order is numeric order).
SQLAlchemy's Numeric on SQLite goes through float and rounds above 2^53: never use it for money.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import LargeBinary, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

U256_MAX = (1 << 256) - 1


def require_u256(value: object) -> int:
    """`value` when it is a uint256: TypeError for anything but an int (a bool included),
    ValueError outside [0, 2^256 - 1]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"U256 takes int, not {type(value).__name__}")
    if not 0 <= value <= U256_MAX:
        raise ValueError(f"{value} is not a uint256")
    return value


def u256_to_blob(value: int) -> bytes:
    """The SQLite form; raises ValueError outside [0, 2^256 - 1]."""
    return require_u256(value).to_bytes(32, "big")


def u256_from_blob(value: bytes) -> int:
    return int.from_bytes(value, "big")


class U256(TypeDecorator[int]):
    """An unsigned 256-bit integer stored exactly (see the module docstring)."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(LargeBinary(32))
        return dialect.type_descriptor(Numeric(78, 0, asdecimal=True))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = require_u256(value)
        return value.to_bytes(32, "big") if dialect.name == "sqlite" else Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, bytes | bytearray | memoryview):
            return int.from_bytes(bytes(value), "big")
        return int(value)
