"""Errors of the energy I/O side (registry, ingestion, brokers, imports).

EnergyIOError (ledger.errors.LedgerError)
├── RegistryError           an operation, participant, meter or gateway that cannot be registered
│   └── UnknownEntityError  it refers to something not registered
├── KeyFormatError          a public or private key that cannot be read
├── CsvImportError          a distributor file that cannot be read at all (bad header, format)
├── BrokerError             the MQTT broker cannot be reached or started
└── StoreConflictError      a concurrent writer stored the same reading first (retry the batch)

A *rejected reading* is not an exception: the pipeline returns `Rejection(code, message)` to the
sender and counts it. These errors are for operators and for the code around the pipeline.
"""

from __future__ import annotations

from ledger.errors import InputError, LedgerError


class EnergyIOError(LedgerError):
    """Root of the energy I/O side's errors."""


class RegistryError(EnergyIOError, InputError):
    """The registry refused an entry; the message says what to change."""


class UnknownEntityError(RegistryError):
    """An entry refers to an operation, participant, meter or gateway that is not registered."""


class KeyFormatError(EnergyIOError, InputError):
    """A key file is not PEM, DER or raw Ed25519 / P-256."""


class CsvImportError(EnergyIOError, InputError):
    """A distributor file cannot be read (header, format, encoding)."""


class BrokerError(EnergyIOError):
    """The MQTT broker cannot be reached, or the embedded one cannot start."""


class StoreConflictError(EnergyIOError):
    """Another writer stored the same reading key or counter first; the batch was rolled back."""
