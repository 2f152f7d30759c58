"""Errors of the energy-sharing core.

EnergyError                     every energy rule the core refuses on purpose (a LedgerError)
├── MissingReadingError         a step lacks a value for a participant: missing is never zero
├── InvalidReadingError         a reading that cannot be energy (negative Wh, not an integer)
├── AllocationKeyError          shares sum > 1, a consumer without share or level
├── StepError                   a time step that does not fit the day or the resolution
│   └── ResolutionError         30-minute data cannot be split into 15-minute steps
└── TariffError                 a tariff schedule the operator may not set or that does not apply
    ├── RetroactiveTariffError  a schedule effective on or before a day already settled
    ├── PriceOutOfBoundsError   a price below the feed-in floor or above the avoided price
    └── NoTariffError           no schedule in force for the step being priced

Each message is a sentence the operator understands; the CLI maps them to exit code 2.
"""

from ledger.errors import LedgerError


class EnergyError(LedgerError):
    """Root of the energy-sharing core's errors."""


class MissingReadingError(EnergyError):
    """A step has no value for one or more participants; the step cannot be allocated."""

    def __init__(self, message: str, meters: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.meters = meters


class InvalidReadingError(EnergyError):
    """A reading is not a non-negative integer number of Wh."""


class AllocationKeyError(EnergyError):
    """The allocation key does not fit: shares above 1, a consumer without share or level..."""


class StepError(EnergyError):
    """A time step does not fit the day grid or the resolution."""


class ResolutionError(StepError):
    """Data cannot be brought to the requested resolution (30 minutes is never split into 15)."""


class TariffError(EnergyError):
    """A tariff schedule is malformed, refused, or absent."""


class RetroactiveTariffError(TariffError):
    """A schedule would change the price of a day already settled."""


class PriceOutOfBoundsError(TariffError):
    """A price is outside [feed-in floor, avoided-price ceiling]."""


class NoTariffError(TariffError):
    """No schedule is in force for the day being priced."""
