"""Signed reading envelopes from home gateways: the wire format, canonical bytes, signatures.

Wire format (UTF-8 JSON, at most `MAX_ENVELOPE_BYTES`)::

    {"payload": {...}, "signature": "<base64 of the signature>"}

The payload is signed as its *canonical JSON*: keys sorted, no spaces, UTF-8 (not ASCII-escaped),
integers and strings only (no floats, so there is a single spelling of every value)::

    {"clock_status": "synced" | "drifting" | "unknown",
     "counter": 41,                              # per-device, strictly increasing
     "device_id": "gw-0001",
     "meter_serial": "09123456789012",
     "readings": [{"commodity": "electricity" | "gas" | "water",
                   "direction": "import" | "export",
                   "start": "2025-06-21T10:15:00Z",  # ISO 8601, UTC, at a step boundary
                   "step_s": 900 | 1800,
                   "value": 412,                     # int: Wh (electricity, gas energy) or L (water)
                   "version": "raw" | "corrected"}],
     "registers": {                               # optional: cumulative indexes instead of, or
        "step_s": 900 | 1800,                     # next to, interval readings ("readings" may
        "modulus": 1000000000,                    # then be []); modulus optional, default 10^9
        "samples": [{"at": "2025-06-21T10:15:00Z",  # on a step boundary, unless final/initial
                     "index": 41234567,              # the register, 0 <= index < modulus
                     "direction": "import",          # optional, default import
                     "device": "09123456789012",     # optional: the physical meter's serial,
                     "event": "" | "final" | "initial"}]}}  # which changes at a replacement

Register samples are turned into interval energy exactly as the `register-index` CSV is
(`ledger.energy.ingest.intervals_of`: rollover at the modulus, a meter replaced between its final
and initial index, a reset or a gap left missing), against the gateway's samples stored before.

Signatures: Ed25519 (64 bytes), or ECDSA P-256 with SHA-256, DER or raw r||s (exactly 64 bytes
is read as r||s). The algorithm is the one of the key registered for the gateway, never taken
from the message. Key files: PEM or DER (SubjectPublicKeyInfo), or raw bytes / hex (32 bytes
Ed25519, 33 or 65 bytes SEC1 P-256 point).
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ledger.energy.errors import EnergyIOError, KeyFormatError

MAX_ENVELOPE_BYTES = 64 * 1024
MAX_READINGS = 500
STEPS_S = (900, 1800)
CLOCK_STATUSES = ("synced", "drifting", "unknown")
VERSIONS = ("raw", "corrected")
DIRECTIONS = ("import", "export")
COMMODITIES = ("electricity", "gas", "water")
UNITS = {"electricity": "Wh", "gas": "Wh", "water": "L"}

_PAYLOAD_KEYS = frozenset({"device_id", "counter", "meter_serial", "clock_status", "readings"})
_OPTIONAL_PAYLOAD_KEYS = frozenset({"registers"})
_ANY_PAYLOAD_KEYS = _PAYLOAD_KEYS | _OPTIONAL_PAYLOAD_KEYS
_REGISTERS_KEYS = frozenset({"step_s", "samples"})
_OPTIONAL_REGISTERS_KEYS = frozenset({"modulus"})
_SAMPLE_KEYS = frozenset({"at", "index"})
_OPTIONAL_SAMPLE_KEYS = frozenset({"direction", "device", "event"})
REGISTER_EVENTS = ("", "final", "initial")
DEFAULT_REGISTER_MODULUS = 10**9
_READING_KEYS = frozenset({"start", "step_s", "commodity", "direction", "value", "version"})
_MAX_ID = 128

MAX_COUNTER = 2**63 - 1
"""The largest counter a gateway may send: it is stored in a signed 64-bit column."""
MAX_VALUE = 2**53 - 1
"""The largest Wh or L value accepted before the physical check (exact in every JSON reader)."""
MIN_START_TS = 946_684_800
"""2000-01-01T00:00:00Z: no interval of this ledger starts earlier (a zeroed gateway clock)."""


class Code(enum.StrEnum):
    """Machine-readable rejection codes (stable: senders may switch on them)."""

    TOO_LARGE = "too_large"
    TOO_MANY_READINGS = "too_many_readings"
    MALFORMED = "malformed"
    UNSIGNED = "unsigned"
    UNKNOWN_DEVICE = "unknown_device"
    DEVICE_MISMATCH = "device_mismatch"
    BAD_SIGNATURE = "bad_signature"
    REPLAYED_COUNTER = "replayed_counter"
    UNKNOWN_METER = "unknown_meter"
    METER_NOT_ON_DEVICE = "meter_not_on_device"
    WRONG_COMMODITY = "wrong_commodity"
    BAD_STEP = "bad_step"
    MISALIGNED = "misaligned"
    NEGATIVE_VALUE = "negative_value"
    ABOVE_PHYSICAL_MAX = "above_physical_max"
    FUTURE_TIMESTAMP = "future_timestamp"
    NON_INTEGER_ENERGY = "non_integer_energy"
    OUT_OF_RANGE = "out_of_range"
    INTERNAL = "internal_error"


class Algorithm(enum.StrEnum):
    ED25519 = "ed25519"
    P256 = "ecdsa-p256"


class Rejected(EnergyIOError):
    """Raised inside the pipeline when an input is refused; becomes a `Rejection` for the sender."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class IntervalReading:
    """Energy (or volume) of one meter over one step. `start_ts` is Unix seconds, UTC."""

    start_ts: int
    step_s: int
    commodity: str
    direction: str
    value: int
    version: str

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.start_ts, UTC)

    def to_json(self) -> dict[str, Any]:
        return {
            "start": format_utc(self.start_ts),
            "step_s": self.step_s,
            "commodity": self.commodity,
            "direction": self.direction,
            "value": self.value,
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class RegisterReading:
    """A cumulative register index read at `at_ts` (Unix s UTC) on the physical meter `device`."""

    at_ts: int
    index: int
    direction: str
    device: str
    event: str

    def to_json(self) -> dict[str, Any]:
        return {"at": format_utc(self.at_ts), "index": self.index, "direction": self.direction,
                "device": self.device, "event": self.event}


@dataclass(frozen=True, slots=True)
class RegisterBlock:
    """The register samples of an envelope, with the step they are read at and the modulus."""

    step_s: int
    modulus: int
    samples: tuple[RegisterReading, ...]

    def to_json(self) -> dict[str, Any]:
        return {"step_s": self.step_s, "modulus": self.modulus,
                "samples": [s.to_json() for s in self.samples]}


@dataclass(frozen=True, slots=True)
class Envelope:
    device_id: str
    counter: int
    meter_serial: str
    clock_status: str
    readings: tuple[IntervalReading, ...]
    registers: RegisterBlock | None = None

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "device_id": self.device_id,
            "counter": self.counter,
            "meter_serial": self.meter_serial,
            "clock_status": self.clock_status,
            "readings": [r.to_json() for r in self.readings],
        }
        if self.registers is not None:
            payload["registers"] = self.registers.to_json()
        return payload


def format_utc(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_bytes(payload: Mapping[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8; refuses floats (they have no single spelling)."""
    _refuse_floats(payload)
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)


def _refuse_floats(value: object) -> None:
    if isinstance(value, float):
        raise Rejected(Code.MALFORMED, "numbers must be integers (Wh or L), not decimals")
    if isinstance(value, Mapping):
        for v in value.values():
            _refuse_floats(v)
    elif isinstance(value, list):
        for v in value:
            _refuse_floats(v)


# --- keys and signatures -------------------------------------------------------------------

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


def load_public_key(data: bytes) -> tuple[Algorithm, PublicKey]:
    """A gateway key from PEM, DER, raw bytes or hex text (see the module docstring)."""
    text = data.strip()
    key: object
    try:
        if text.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(text)
        else:
            raw = _maybe_hex(text, data)
            if len(raw) == 32:
                key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
            elif len(raw) in (33, 65) and raw[0] in (2, 3, 4):
                key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
            else:
                key = serialization.load_der_public_key(raw)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError(
            "the public key is not a PEM or DER Ed25519 / P-256 key, nor a raw 32-byte Ed25519 "
            "or SEC1 P-256 point"
        ) from exc
    if isinstance(key, ed25519.Ed25519PublicKey):
        return Algorithm.ED25519, key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return Algorithm.P256, key
    raise KeyFormatError("only Ed25519 and ECDSA P-256 gateway keys are accepted")


def _maybe_hex(text: bytes, original: bytes) -> bytes:
    """Hex text (optionally 0x-prefixed) decoded; anything else is binary, kept as given."""
    stripped = text[2:] if text[:2] in (b"0x", b"0X") else text
    if stripped and len(stripped) % 2 == 0 and all(c in b"0123456789abcdefABCDEF" for c in stripped):
        return bytes.fromhex(stripped.decode("ascii"))
    return original


def public_key_der(key: PublicKey) -> bytes:
    """The stored form: DER SubjectPublicKeyInfo."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sign(private_key: PrivateKey, data: bytes, *, raw_ecdsa: bool = False) -> bytes:
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(data)
    der = private_key.sign(data, ec.ECDSA(hashes.SHA256()))
    if not raw_ecdsa:
        return der
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify_signature(key: PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            if len(signature) == 64:
                signature = encode_dss_signature(
                    int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
                )
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def seal(envelope: Envelope, private_key: PrivateKey, *, raw_ecdsa: bool = False) -> bytes:
    """The wire bytes of a signed envelope (what a gateway sends)."""
    payload = envelope.payload()
    signature = sign(private_key, canonical_bytes(payload), raw_ecdsa=raw_ecdsa)
    return orjson.dumps({"payload": payload, "signature": base64.b64encode(signature).decode()})


# --- parsing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedMessage:
    """A wire message split into the claimed device, the payload object and the signature."""

    device_id: str
    payload: dict[str, Any]
    signature: bytes

    def signed_bytes(self) -> bytes:
        return canonical_bytes(self.payload)

    def signed_bytes_of_parsed(self) -> bytes:
        """The canonical bytes of a payload `parse_payload` accepted: it holds integers and
        strings only (every field is type-checked and no other field is allowed), so the float
        scan of `canonical_bytes` is skipped (it cost a third of the pipeline's own time)."""
        return orjson.dumps(self.payload, option=orjson.OPT_SORT_KEYS)


def open_wire(body: bytes) -> SignedMessage:
    """Size, JSON and signature presence; raises `Rejected`."""
    if len(body) > MAX_ENVELOPE_BYTES:
        raise Rejected(
            Code.TOO_LARGE,
            f"the message is {len(body)} bytes; send at most {MAX_ENVELOPE_BYTES} bytes "
            f"(split the readings into several envelopes)",
        )
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "recursion" in str(exc).lower() or "depth" in str(exc).lower():
            why = "the message nests JSON deeper than 1024 levels; an envelope is a flat object"
        elif "utf-8" in str(exc).lower():
            why = "the message is not UTF-8 text"
        else:
            why = f"the message is not valid JSON ({str(exc).split(':')[0]})"
        raise Rejected(Code.MALFORMED, why) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("payload"), dict):
        raise Rejected(
            Code.MALFORMED, 'the message must be a JSON object {"payload": {...}, "signature": "..."}'
        )
    payload: dict[str, Any] = doc["payload"]
    device_id = payload.get("device_id")
    if not isinstance(device_id, str) or not 0 < len(device_id) <= _MAX_ID:
        raise Rejected(Code.MALFORMED, "payload.device_id must be a text of 1 to 128 characters")
    signature_text = doc.get("signature")
    if signature_text is None or signature_text == "":
        raise Rejected(Code.UNSIGNED, "the message has no signature: sign the canonical payload")
    if not isinstance(signature_text, str) or set(doc) != {"payload", "signature"}:
        raise Rejected(
            Code.MALFORMED, 'the message must have exactly "payload" and "signature" (base64 text)'
        )
    try:
        signature = binascii.a2b_base64(signature_text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise Rejected(Code.MALFORMED, "the signature is not base64") from None
    return SignedMessage(device_id, payload, signature)


def parse_payload(payload: Mapping[str, Any]) -> Envelope:
    """The typed envelope; raises `Rejected` (malformed, bad step, misaligned...)."""
    keys = payload.keys()
    if keys != _PAYLOAD_KEYS and not _PAYLOAD_KEYS <= keys <= _ANY_PAYLOAD_KEYS:
        missing = sorted(_PAYLOAD_KEYS - set(keys))
        extra = sorted(set(keys) - _ANY_PAYLOAD_KEYS)
        raise Rejected(
            Code.MALFORMED, f"payload fields do not match: missing {missing}, unexpected {extra}"
        )
    counter = payload["counter"]
    if type(counter) is not int or counter < 0:
        raise Rejected(Code.MALFORMED, "payload.counter must be a non-negative integer")
    if counter > MAX_COUNTER:
        raise Rejected(
            Code.OUT_OF_RANGE,
            f"payload.counter is {counter}, above the largest counter {MAX_COUNTER} (2^63 - 1): "
            "count from a smaller number and ask the operator to reset the gateway's counter",
        )
    serial = payload["meter_serial"]
    if not isinstance(serial, str) or not 0 < len(serial) <= _MAX_ID:
        raise Rejected(Code.MALFORMED, "payload.meter_serial must be a text of 1 to 128 characters")
    clock = payload["clock_status"]
    if clock not in CLOCK_STATUSES:
        raise Rejected(Code.MALFORMED, f"payload.clock_status must be one of {list(CLOCK_STATUSES)}")
    items = payload["readings"]
    registers = (
        parse_registers(payload["registers"], serial) if "registers" in payload else None
    )
    if not isinstance(items, list) or (not items and registers is None):
        raise Rejected(
            Code.MALFORMED,
            "payload.readings must be a non-empty list (or [] next to payload.registers)",
        )
    count = len(items) + (len(registers.samples) if registers is not None else 0)
    if count > MAX_READINGS:
        raise Rejected(
            Code.TOO_MANY_READINGS,
            f"{count} readings and register samples in one envelope; send at most "
            f"{MAX_READINGS} per envelope",
        )
    readings = tuple(parse_reading(item, n) for n, item in enumerate(items))
    return Envelope(payload["device_id"], counter, serial, clock, readings, registers)


def parse_registers(block: object, meter_serial: str) -> RegisterBlock:
    """`payload.registers`, every integer bounded; raises `Rejected` naming the field."""
    where = "payload.registers"
    if not isinstance(block, dict) or not (
        _REGISTERS_KEYS <= set(block) <= _REGISTERS_KEYS | _OPTIONAL_REGISTERS_KEYS
    ):
        raise Rejected(Code.MALFORMED, f"{where} must be an object with step_s, samples and "
                                       "optionally modulus")
    step = block["step_s"]
    if type(step) is not int or step not in STEPS_S:
        raise Rejected(Code.BAD_STEP, f"{where}.step_s is {step!r}; it must be 900 (15 min) or "
                                      "1800 (30 min)")
    modulus = block.get("modulus", DEFAULT_REGISTER_MODULUS)
    if type(modulus) is not int:
        raise Rejected(Code.MALFORMED, f"{where}.modulus must be a whole number, got {modulus!r}")
    if not 2 <= modulus <= MAX_VALUE + 1:
        raise Rejected(Code.OUT_OF_RANGE, f"{where}.modulus is {modulus}; a register counts "
                                          f"modulo 2 to {MAX_VALUE + 1} (2^53): send the "
                                          "register's real size")
    items = block["samples"]
    if not isinstance(items, list) or not items:
        raise Rejected(Code.MALFORMED, f"{where}.samples must be a non-empty list")
    if len(items) > MAX_READINGS:
        raise Rejected(Code.TOO_MANY_READINGS, f"{len(items)} register samples in one envelope; "
                                               f"send at most {MAX_READINGS} per envelope")
    samples = tuple(
        _parse_sample(item, f"{where}.samples[{n}]", step, modulus, meter_serial)
        for n, item in enumerate(items)
    )
    return RegisterBlock(step, modulus, samples)


def _parse_sample(item: object, where: str, step: int, modulus: int, serial: str) -> RegisterReading:
    if not isinstance(item, dict) or not (
        _SAMPLE_KEYS <= set(item) <= _SAMPLE_KEYS | _OPTIONAL_SAMPLE_KEYS
    ):
        raise Rejected(Code.MALFORMED, f"{where} must have at and index (optional: direction, "
                                       "device, event)")
    at = parse_utc(item["at"], f"{where}.at")
    if at < MIN_START_TS:
        raise Rejected(Code.OUT_OF_RANGE, f"{where}.at {item['at']} is before 2000-01-01: set the "
                                          "gateway clock")
    index = item["index"]
    if type(index) is not int:
        raise Rejected(Code.MALFORMED, f"{where}.index must be a whole number of Wh, got {index!r}")
    if not 0 <= index < modulus:
        raise Rejected(Code.OUT_OF_RANGE, f"{where}.index is {index}; a register index is 0 to "
                                          f"{modulus - 1} (below the modulus): send the "
                                          "register as the meter shows it")
    direction = item.get("direction", "import")
    if direction not in DIRECTIONS:
        raise Rejected(Code.MALFORMED, f"{where}.direction must be one of {list(DIRECTIONS)}")
    device = item.get("device", serial)
    if not isinstance(device, str) or not 0 < len(device) <= _MAX_ID:
        raise Rejected(Code.MALFORMED, f"{where}.device must be a text of 1 to 128 characters")
    event = item.get("event", "")
    if event not in REGISTER_EVENTS:
        raise Rejected(Code.MALFORMED, f"{where}.event must be empty, final or initial")
    if not event and at % step:
        raise Rejected(Code.MISALIGNED, f"{where}.at {item['at']} is not on a {step // 60}-minute "
                                        "boundary (only a final or initial index may fall inside "
                                        "a step)")
    return RegisterReading(at, index, direction, device, event)


def parse_reading(item: object, n: int) -> IntervalReading:
    if not isinstance(item, dict) or set(item) != _READING_KEYS:
        raise Rejected(
            Code.MALFORMED, f"readings[{n}] must have exactly the fields {sorted(_READING_KEYS)}"
        )
    step = item["step_s"]
    if type(step) is not int or step not in STEPS_S:
        raise Rejected(
            Code.BAD_STEP, f"readings[{n}].step_s is {step!r}; it must be 900 (15 min) or 1800 (30 min)"
        )
    start_ts = parse_utc(item["start"], f"readings[{n}].start")
    if start_ts < MIN_START_TS:
        raise Rejected(
            Code.OUT_OF_RANGE,
            f"readings[{n}].start {item['start']} is before 2000-01-01: set the gateway clock",
        )
    if start_ts % step:
        raise Rejected(
            Code.MISALIGNED,
            f"readings[{n}].start {item['start']} is not on a {step // 60}-minute boundary",
        )
    commodity, direction = item["commodity"], item["direction"]
    if commodity not in COMMODITIES:
        raise Rejected(Code.MALFORMED, f"readings[{n}].commodity must be one of {list(COMMODITIES)}")
    if direction not in DIRECTIONS:
        raise Rejected(Code.MALFORMED, f"readings[{n}].direction must be one of {list(DIRECTIONS)}")
    if commodity != "electricity" and direction != "import":
        raise Rejected(
            Code.WRONG_COMMODITY, f"readings[{n}]: {commodity} is only ever measured as import"
        )
    value = item["value"]
    if type(value) is not int:
        raise Rejected(
            Code.MALFORMED,
            f"readings[{n}].value must be a whole number of {UNITS[commodity]}, got {value!r}",
        )
    if value > MAX_VALUE:
        raise Rejected(
            Code.OUT_OF_RANGE,
            f"readings[{n}].value is {value}, above {MAX_VALUE}: send the energy of one step in "
            f"{UNITS[commodity]}",
        )
    if value < 0:
        raise Rejected(
            Code.NEGATIVE_VALUE,
            f"readings[{n}].value is negative ({value} {UNITS[commodity]}); send the energy of the "
            "step as a positive number and the direction as import or export",
        )
    version = item["version"]
    if version not in VERSIONS:
        raise Rejected(Code.MALFORMED, f"readings[{n}].version must be one of {list(VERSIONS)}")
    return IntervalReading(start_ts, step, commodity, direction, value, version)


def parse_utc(text: object, where: str) -> int:
    """Unix seconds of an ISO 8601 instant that is explicitly UTC (Z or +00:00), whole seconds."""
    if type(text) is str and len(text) <= 40:
        seconds = _seen_instants.get(text)
        if seconds is not None:  # the same step start arrives from every gateway
            return seconds
    if not isinstance(text, str) or not (text.endswith("Z") or text.endswith("+00:00")):
        raise Rejected(Code.MALFORMED, f"{where} must be ISO 8601 in UTC, like 2025-06-21T10:15:00Z")
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise Rejected(Code.MALFORMED, f"{where} is not ISO 8601: {text[:40]!r}") from None
    if instant.microsecond:
        raise Rejected(Code.MISALIGNED, f"{where} has fractions of a second")
    seconds = int(instant.timestamp())
    if len(text) <= 40:
        if len(_seen_instants) >= _SEEN_INSTANTS_MAX:
            _seen_instants.clear()
        _seen_instants[text] = seconds
    return seconds


_SEEN_INSTANTS_MAX = 4096
_seen_instants: dict[str, int] = {}
"""Valid UTC texts already parsed (bounded; a pure function of the text, so safe to reuse)."""
