"""The sharing registry: operations, participants, meters, gateways."""

from __future__ import annotations

from fractions import Fraction

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.energy import registry
from ledger.energy.errors import KeyFormatError, RegistryError, UnknownEntityError
from ledger.energy.memory_store import MemoryEnergyStore

SALT = b"registry-test-salt-01234"
A = "0x" + "a" * 40
B = "0x" + "b" * 40
C = "0x" + "c" * 40


def test_static_shares_are_exact_and_sum_to_at_most_one() -> None:
    store = MemoryEnergyStore()
    registry.add_operation(store, "op", "Op", "static", 900)
    assert registry.add_participant(store, "op", A, "consumer", "1/3").share == Fraction(1, 3)
    assert registry.add_participant(store, "op", B, "both", "0.5").share == Fraction(1, 2)
    with pytest.raises(RegistryError, match="1/6"):
        registry.add_participant(store, "op", C, "consumer", "1/5")
    registry.add_participant(store, "op", C, "consumer", "1/6")


def test_a_priority_consumer_needs_a_level_and_producers_need_none() -> None:
    store = MemoryEnergyStore()
    registry.add_operation(store, "op", "Op", "priority", 1800)
    with pytest.raises(RegistryError):
        registry.add_participant(store, "op", A, "consumer")
    registry.add_participant(store, "op", A, "consumer", priority=1)
    with pytest.raises(RegistryError):
        registry.add_participant(store, "op", B, "producer", priority=2)
    registry.add_participant(store, "op", B, "producer")


@pytest.mark.parametrize(("key", "step"), [("prorata", 900), ("default", 600)])
def test_operations_refuse_unknown_keys_and_steps(key: str, step: int) -> None:
    with pytest.raises(RegistryError):
        registry.add_operation(MemoryEnergyStore(), "op", "Op", key, step)


def test_the_meter_serial_hash_is_salted_sha256_and_the_limit_per_step_rounds_down() -> None:
    store = MemoryEnergyStore()
    meter = registry.add_meter(store, SALT, "09123456789012", "electricity", 9_001)
    import hashlib

    assert meter.serial_hash == "0x" + hashlib.sha256(SALT + b"09123456789012").hexdigest()
    assert registry.serial_hash(b"another-salt-value-xx", "09123456789012") != meter.serial_hash
    assert (meter.max_per_step(900), meter.max_per_step(1800)) == (2250, 4500)
    with pytest.raises(RegistryError):
        registry.add_meter(store, SALT, "09123456789012", "electricity", 9_000)


def test_short_salts_are_refused() -> None:
    with pytest.raises(RegistryError):
        registry.parse_salt("abcd")
    assert registry.parse_salt("00" * 16) == bytes(16)


def test_meters_and_participants_refer_to_registered_things() -> None:
    store = MemoryEnergyStore()
    with pytest.raises(UnknownEntityError):
        registry.add_meter(store, SALT, "M", "electricity", 1000, device_id="nope")
    with pytest.raises(UnknownEntityError):
        registry.add_participant(store, "nope", A, "consumer")
    with pytest.raises(RegistryError):
        registry.add_participant(store, "nope", "0x123", "consumer")


def test_gateways_keep_a_der_key_and_refuse_duplicates_and_junk() -> None:
    store = MemoryEnergyStore()
    pub = ed25519.Ed25519PrivateKey.generate().public_key()
    gateway = registry.add_gateway(store, "gw-1", pub.public_bytes(Encoding.Raw, PublicFormat.Raw))
    assert gateway.public_key_der == pub.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(RegistryError):
        registry.add_gateway(store, "gw-1", pub.public_bytes(Encoding.Raw, PublicFormat.Raw))
    with pytest.raises(KeyFormatError):
        registry.add_gateway(store, "gw-2", b"junk")
    with pytest.raises(RegistryError):
        registry.add_gateway(store, "gw/evil", pub.public_bytes(Encoding.Raw, PublicFormat.Raw))
