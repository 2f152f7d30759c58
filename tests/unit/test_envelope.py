"""Canonical form and signatures of gateway envelopes."""

from __future__ import annotations

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from ledger.energy.envelope import (
    Envelope,
    IntervalReading,
    Rejected,
    canonical_bytes,
    load_public_key,
    open_wire,
    parse_payload,
    seal,
    verify_signature,
)
from ledger.energy.errors import KeyFormatError


def _envelope(value: int = 412, serial: str = "0912") -> Envelope:
    reading = IntervalReading(1750497300, 900, "electricity", "import", value, "raw")
    return Envelope("gw-1", 41, serial, "synced", (reading,))


def test_the_canonical_form_is_sorted_compact_utf8() -> None:
    assert canonical_bytes(_envelope(serial="compteur-é").payload()) == (
        '{"clock_status":"synced","counter":41,"device_id":"gw-1","meter_serial":"compteur-é",'
        '"readings":[{"commodity":"electricity","direction":"import","start":"2025-06-21T09:15:00Z",'
        '"step_s":900,"value":412,"version":"raw"}]}'
    ).encode()


def test_floats_have_no_canonical_form() -> None:
    with pytest.raises(Rejected) as info:
        canonical_bytes({"value": 1.5})
    assert info.value.code == "malformed"


@given(st.integers(min_value=0, max_value=10**12), st.text(min_size=1, max_size=40))
def test_the_canonical_form_survives_the_wire(value: int, serial: str) -> None:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(b"k" * 32)
    message = open_wire(seal(_envelope(value, serial), key))
    assert verify_signature(key.public_key(), message.signature, message.signed_bytes())
    assert parse_payload(message.payload) == _envelope(value, serial)


def test_key_order_or_spacing_on_the_wire_does_not_matter() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    doc = orjson.loads(seal(_envelope(), key))
    reordered = b'{"signature": "%s",  "payload": %s}' % (
        doc["signature"].encode(),
        orjson.dumps(dict(reversed(list(doc["payload"].items())))),
    )
    message = open_wire(reordered)
    assert verify_signature(key.public_key(), message.signature, message.signed_bytes())


@pytest.mark.parametrize("form", ["pem", "der", "raw", "hex"])
def test_ed25519_keys_load_in_every_form(form: str) -> None:
    pub = ed25519.Ed25519PrivateKey.generate().public_key()
    data = {
        "pem": pub.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        "der": pub.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo),
        "raw": pub.public_bytes(Encoding.Raw, PublicFormat.Raw),
        "hex": pub.public_bytes(Encoding.Raw, PublicFormat.Raw).hex().encode() + b"\n",
    }[form]
    algorithm, _ = load_public_key(data)
    assert algorithm == "ed25519"


@pytest.mark.parametrize("fmt", [PublicFormat.UncompressedPoint, PublicFormat.CompressedPoint])
def test_p256_points_load(fmt: PublicFormat) -> None:
    pub = ec.generate_private_key(ec.SECP256R1()).public_key()
    algorithm, _ = load_public_key(pub.public_bytes(Encoding.X962, fmt))
    assert algorithm == "ecdsa-p256"


def test_other_curves_and_junk_are_refused() -> None:
    k1 = ec.generate_private_key(ec.SECP256K1()).public_key()
    with pytest.raises(KeyFormatError):
        load_public_key(k1.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(KeyFormatError):
        load_public_key(b"not a key")
