"""Public energy figures: the district's aggregates (never a group of fewer than 5 homes) and the
settlement days (root, totals, version, transaction)."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Path, Query

from api import services_energy
from api.deps import Energy, Settlements, errors
from api.schemas import DAY_PATTERN, DistrictEnergyOut, SettlementDayOut, SettlementsOut

router = APIRouter(prefix="/v1", tags=["energy"])

DayQ = Annotated[
    str | None,
    Query(pattern=DAY_PATTERN, description="local day YYYY-MM-DD (Europe/Paris); today by default"),
]


@router.get("/energy/district", response_model=DistrictEnergyOut, responses=errors(400))
async def district(energy: Energy, day: DayQ = None) -> DistrictEnergyOut:
    """Per step: solar production, consumption, self-consumption, gas and water of the district.
    A figure built from fewer than 5 homes is null, with the reason in `withheld`."""
    the_day = services_energy.parse_day(day)
    return await anyio.to_thread.run_sync(services_energy.district, energy, the_day)


@router.get("/settlements", response_model=SettlementsOut, responses=errors())
async def settlements(
    source: Settlements, limit: Annotated[int, Query(ge=1, le=366, description="how many days")] = 31
) -> SettlementsOut:
    """The latest settled days, newest first: every version with its Merkle root, totals, and the
    on-chain commitment (transaction, paid, shortfall) once indexed."""
    return await anyio.to_thread.run_sync(services_energy.settlements, source, limit)


@router.get("/settlements/{day}", response_model=SettlementDayOut, responses=errors(400, 404))
async def settlement_day(
    source: Settlements, day: Annotated[str, Path(pattern=DAY_PATTERN, description="YYYY-MM-DD")]
) -> SettlementDayOut:
    the_day = services_energy.parse_day(day)
    return await anyio.to_thread.run_sync(services_energy.settlement_day, source, the_day)
