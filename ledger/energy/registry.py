"""The registry of sharing operations, participants, meters, gateways and commodities.

- An *operation* groups producers and consumers; its allocation key is `default` (prorata of
  consumption), `static` (fixed shares) or `priority` (cascade by level); its step 900 or 1800 s.
- A *participant* is a wallet in an operation, producer, consumer or both. Under the static key a
  consumer has an exact share (text "1/3" or "0.25", kept as a fraction; the shares of an
  operation sum to at most 1); under the priority key a level (1 is served first).
- A *meter* has a serial that never leaves the ledger's database; what may go on chain is its
  salted hash `0x` + sha256(salt || serial) (the salt comes from settings, never printed). Its
  physical maximum per connection (W for electricity and gas energy, L/h for water) bounds every
  reading: at most `max_rate * step_s / 3600` per step (rounded down).
- A *gateway* is a home device with its own Ed25519 or ECDSA P-256 key; it reads the meters
  attached to it and signs what it sends.
- Commodities: electricity import and export (Wh), gas (Wh of energy) and water (L).

Service functions take a `RegistryStore` (the SQL adapter in `ledger.db.energy_store`, or a fake)
and raise `RegistryError` with a sentence the operator can act on.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Protocol

from ledger.energy.envelope import COMMODITIES, STEPS_S, UNITS, load_public_key, public_key_der
from ledger.energy.errors import RegistryError, UnknownEntityError

_WALLET = re.compile(r"0x[0-9a-fA-F]{40}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
MIN_SALT_BYTES = 16


class KeyKind(enum.StrEnum):
    DEFAULT = "default"
    STATIC = "static"
    PRIORITY = "priority"


class Role(enum.StrEnum):
    PRODUCER = "producer"
    CONSUMER = "consumer"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class Commodity:
    code: str
    commodity: str
    direction: str
    unit: str


COMMODITY_TABLE: tuple[Commodity, ...] = (
    Commodity("electricity_import", "electricity", "import", "Wh"),
    Commodity("electricity_export", "electricity", "export", "Wh"),
    Commodity("gas", "gas", "import", "Wh"),
    Commodity("water", "water", "import", "L"),
)


@dataclass(frozen=True, slots=True)
class Operation:
    operation_id: str
    name: str
    key: KeyKind
    step_s: int
    settle_on_gateway: bool = False
    """False (the default): only the distributor's (Enedis) data settle a day; gateway readings
    feed dashboards. True: gateway readings fill the steps the distributor has not sent."""


@dataclass(frozen=True, slots=True)
class Participant:
    operation_id: str
    wallet: str
    role: Role
    share: Fraction | None = None
    priority: int | None = None

    @property
    def share_text(self) -> str | None:
        return None if self.share is None else str(self.share)


@dataclass(frozen=True, slots=True)
class Meter:
    serial: str
    serial_hash: str
    commodity: str
    max_rate: int
    device_id: str | None = None
    operation_id: str | None = None
    wallet: str | None = None

    def max_per_step(self, step_s: int) -> int:
        """The most a step can hold (Wh or L), rounded down: physical limit of the connection."""
        return self.max_rate * step_s // 3600


@dataclass(frozen=True, slots=True)
class Gateway:
    device_id: str
    algorithm: str
    public_key_der: bytes


class RegistryStore(Protocol):
    def operation(self, operation_id: str) -> Operation | None: ...
    def participants(self, operation_id: str) -> Sequence[Participant]: ...
    def gateway(self, device_id: str) -> Gateway | None: ...
    def meter(self, serial: str) -> Meter | None: ...
    def add_operation(self, operation: Operation) -> None: ...
    def add_participant(self, participant: Participant) -> None: ...
    def add_meter(self, meter: Meter) -> None: ...
    def add_gateway(self, gateway: Gateway) -> None: ...


# --- pure helpers -----------------------------------------------------------------------------


def serial_hash(salt: bytes, serial: str) -> str:
    """`0x` + sha256(salt || serial UTF-8): the only form of a meter number that may go on chain."""
    if len(salt) < MIN_SALT_BYTES:
        raise RegistryError(f"the meter salt must be at least {MIN_SALT_BYTES} bytes")
    return "0x" + hashlib.sha256(salt + serial.encode("utf-8")).hexdigest()


def parse_salt(text: str) -> bytes:
    """The salt from settings: hex (preferred) or text; at least 16 bytes."""
    stripped = text.strip()
    try:
        salt = bytes.fromhex(stripped[2:] if stripped.startswith("0x") else stripped)
    except ValueError:
        salt = stripped.encode("utf-8")
    if len(salt) < MIN_SALT_BYTES:
        raise RegistryError(
            f"LEDGER_METER_SALT is too short: use at least {MIN_SALT_BYTES} random bytes, e.g. "
            "the output of `openssl rand -hex 32`"
        )
    return salt


def parse_share(text: str) -> Fraction:
    """An exact share in [0, 1] from "1/3", "0.25" or "1"; floats never enter."""
    try:
        share = Fraction(text.strip()) if "/" in text else Fraction(Decimal(text.strip()))
    except (ValueError, ZeroDivisionError, InvalidOperation):
        raise RegistryError(f"the share {text!r} is not a fraction like 1/3 or a decimal like 0.25") from None
    if not 0 <= share <= 1:
        raise RegistryError(f"the share {text} must be between 0 and 1")
    return share


def check_wallet(wallet: str) -> str:
    if not _WALLET.fullmatch(wallet):
        raise RegistryError(f"{wallet!r} is not a wallet address (0x followed by 40 hex digits)")
    return wallet.lower()


def check_id(value: str, what: str) -> str:
    if not _ID.fullmatch(value):
        raise RegistryError(
            f"the {what} {value!r} must be 1 to 64 letters, digits or . _ : - (starting with a "
            "letter or digit)"
        )
    return value


# --- services ---------------------------------------------------------------------------------


def add_operation(
    store: RegistryStore,
    operation_id: str,
    name: str,
    key: str,
    step_s: int,
    *,
    settle_on_gateway: bool = False,
) -> Operation:
    check_id(operation_id, "operation id")
    if key not in KeyKind.__members__.values():
        raise RegistryError(f"the key must be default, static or priority, not {key!r}")
    if step_s not in STEPS_S:
        raise RegistryError(f"the step must be 900 (15 min) or 1800 (30 min) seconds, not {step_s}")
    if store.operation(operation_id) is not None:
        raise RegistryError(f"the operation {operation_id} is already registered")
    operation = Operation(
        operation_id, name.strip() or operation_id, KeyKind(key), step_s, settle_on_gateway
    )
    store.add_operation(operation)
    return operation


def add_participant(
    store: RegistryStore,
    operation_id: str,
    wallet: str,
    role: str,
    share: str | None = None,
    priority: int | None = None,
) -> Participant:
    operation = store.operation(operation_id)
    if operation is None:
        raise UnknownEntityError(f"no operation {operation_id}: add it first with `ledger operation add`")
    wallet = check_wallet(wallet)
    if role not in Role.__members__.values():
        raise RegistryError(f"the role must be producer, consumer or both, not {role!r}")
    existing = list(store.participants(operation_id))
    if any(p.wallet == wallet for p in existing):
        raise RegistryError(f"{wallet} is already a participant of {operation_id}")
    consumes = role in (Role.CONSUMER, Role.BOTH)
    exact: Fraction | None = None
    if operation.key == KeyKind.STATIC and consumes:
        if share is None:
            raise RegistryError(f"{operation_id} uses the static key: give the consumer a --share")
        exact = parse_share(share)
        taken = sum((p.share or Fraction(0) for p in existing), Fraction(0))
        if taken + exact > 1:
            raise RegistryError(
                f"the shares of {operation_id} would sum to {taken + exact} (> 1): at most "
                f"{1 - taken} is left"
            )
    elif share is not None:
        raise RegistryError("a share only applies to a consumer of an operation with the static key")
    if operation.key == KeyKind.PRIORITY and consumes:
        if priority is None or priority < 1:
            raise RegistryError(f"{operation_id} uses the priority key: give a --priority of 1 or more")
    elif priority is not None:
        raise RegistryError("a priority level only applies to a consumer under the priority key")
    participant = Participant(operation_id, wallet, Role(role), exact, priority)
    store.add_participant(participant)
    return participant


def add_meter(
    store: RegistryStore,
    salt: bytes,
    serial: str,
    commodity: str,
    max_rate: int,
    device_id: str | None = None,
    operation_id: str | None = None,
    wallet: str | None = None,
) -> Meter:
    serial = serial.strip()
    if not 0 < len(serial) <= 128:
        raise RegistryError("the meter serial must be 1 to 128 characters")
    if commodity not in COMMODITIES:
        raise RegistryError(f"the commodity must be one of {', '.join(COMMODITIES)}")
    if max_rate <= 0:
        unit = "L/h" if commodity == "water" else "W"
        raise RegistryError(f"the physical maximum must be a positive number of {unit}")
    if store.meter(serial) is not None:
        raise RegistryError("this meter serial is already registered")
    if device_id is not None and store.gateway(device_id) is None:
        raise UnknownEntityError(f"no gateway {device_id}: add it first with `ledger gateway add`")
    if operation_id is not None:
        if wallet is None:
            raise RegistryError("a meter in an operation belongs to a participant: give --wallet")
        wallet = check_wallet(wallet)
        if not any(p.wallet == wallet for p in store.participants(operation_id)):
            raise UnknownEntityError(f"{wallet} is not a participant of {operation_id}")
    elif wallet is not None:
        wallet = check_wallet(wallet)
    meter = Meter(serial, serial_hash(salt, serial), commodity, max_rate, device_id, operation_id, wallet)
    store.add_meter(meter)
    return meter


def add_gateway(store: RegistryStore, device_id: str, public_key: bytes) -> Gateway:
    check_id(device_id, "device id")
    algorithm, key = load_public_key(public_key)
    if store.gateway(device_id) is not None:
        raise RegistryError(f"the gateway {device_id} is already registered")
    gateway = Gateway(device_id, algorithm.value, public_key_der(key))
    store.add_gateway(gateway)
    return gateway


def unit_of(commodity: str) -> str:
    return UNITS[commodity]
