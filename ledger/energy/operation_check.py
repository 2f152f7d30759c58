"""`ledger operation check`: the operation's registry against the rules (pure checks in
ledger.domain.energy.perimeter), and the commands that record the facts they need."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Protocol

from ledger.domain.energy.perimeter import PERIMETERS_M, POWER_CAPS_W, Check, Site, check_operation
from ledger.energy.errors import RegistryError, UnknownEntityError
from ledger.energy.registry import Meter, Operation, Participant, Role, check_wallet


@dataclass(frozen=True, slots=True)
class Rules:
    perimeter_m: int = 2_000
    power_cap_w: int = 3_000_000


class FactStore(Protocol):
    def operation(self, operation_id: str) -> Operation | None: ...
    def participants(self, operation_id: str) -> Sequence[Participant]: ...
    def operation_meters(self, operation_id: str) -> Sequence[Meter]: ...
    def meter(self, serial: str) -> Meter | None: ...
    def operation_rules(self, operation_id: str) -> Rules | None: ...
    def set_operation_rules(self, operation_id: str, rules: Rules) -> None: ...
    def meter_sites(self, serials: Sequence[str]) -> dict[str, tuple[int, int, int | None]]: ...
    def set_meter_site(self, serial: str, lat_e6: int, lon_e6: int, installed_w: int | None) -> None: ...
    def supply_contracts(self, operation_id: str) -> dict[str, tuple[str, str]]: ...
    def set_supply_contract(self, operation_id: str, wallet: str, supplier: str, ref: str) -> None: ...


def micro_degrees(text: str, what: str, limit: int) -> int:
    """Decimal degrees text into integer micro-degrees (never through a float)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise RegistryError(f"{what} must be decimal degrees, like 45.7597") from None
    if not value.is_finite() or abs(value) > limit:
        raise RegistryError(f"{what} must be between -{limit} and {limit} degrees")
    micro = value * 1_000_000
    if micro != micro.to_integral_value():
        raise RegistryError(f"{what}: give at most 6 decimals (about 0.1 m)")
    return int(micro)


def set_rules(store: FactStore, operation_id: str, perimeter_km: int, power_cap_mw: int) -> Rules:
    if store.operation(operation_id) is None:
        raise UnknownEntityError(f"no operation {operation_id}: add it with `ledger operation add`")
    rules = Rules(perimeter_km * 1_000, power_cap_mw * 1_000_000)
    if rules.perimeter_m not in PERIMETERS_M:
        raise RegistryError("the perimeter is 2 km, or 10 or 20 km by derogation")
    if rules.power_cap_w not in POWER_CAPS_W:
        raise RegistryError("the producer power cap is 3 MW, or 5 MW where that cap applies")
    store.set_operation_rules(operation_id, rules)
    return rules


def set_site(store: FactStore, serial: str, lat: str, lon: str, installed_w: int | None) -> None:
    if store.meter(serial) is None:
        raise UnknownEntityError("this meter is not registered: add it with `ledger meter add`")
    if installed_w is not None and not 0 <= installed_w <= 10**10:
        raise RegistryError("the installed power is a whole number of W, 0 to 10 GW")
    store.set_meter_site(serial, micro_degrees(lat, "the latitude", 90),
                         micro_degrees(lon, "the longitude", 180), installed_w)


def set_contract(store: FactStore, operation_id: str, wallet: str, supplier: str, ref: str) -> None:
    wallet = check_wallet(wallet)
    if not any(p.wallet.lower() == wallet.lower() for p in store.participants(operation_id)):
        raise UnknownEntityError(f"{wallet} is not a participant of {operation_id}")
    if not supplier.strip() or not ref.strip() or len(supplier) > 200 or len(ref) > 200:
        raise RegistryError("give the supplier and the contract reference (1 to 200 characters)")
    store.set_supply_contract(operation_id, wallet, supplier.strip(), ref.strip())


def check(store: FactStore, operation_id: str) -> list[Check]:
    if store.operation(operation_id) is None:
        raise UnknownEntityError(f"no operation {operation_id}: add it with `ledger operation add`")
    rules = store.operation_rules(operation_id) or Rules()
    roles = {p.wallet.lower(): p.role for p in store.participants(operation_id)}
    meters = [m for m in store.operation_meters(operation_id)
              if m.commodity == "electricity" and m.wallet is not None]
    placed = store.meter_sites([m.serial for m in meters])
    sites = []
    for m in meters:
        lat, lon, installed = placed.get(m.serial, (None, None, None))
        role = roles.get((m.wallet or "").lower())
        sites.append(Site(m.serial, lat, lon, role in (Role.PRODUCER, Role.BOTH), installed))
    contracts = store.supply_contracts(operation_id)
    consumers = {w: w in {c.lower() for c in contracts} for w, r in roles.items()
                 if r in (Role.CONSUMER, Role.BOTH)}
    return check_operation(sites, consumers, perimeter_m=rules.perimeter_m,
                           power_cap_w=rules.power_cap_w)
