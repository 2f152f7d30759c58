"""The reading pipeline with the in-memory store: every bad input is refused with its reason and
stores nothing; duplicates are dropped, conflicts held, corrections supersede with history."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.domain.energy.steps import StepLength, day_step_starts
from ledger.energy import registry
from ledger.energy.envelope import MAX_ENVELOPE_BYTES, Envelope, IntervalReading, PrivateKey, seal
from ledger.energy.ingest import IngestPipeline
from ledger.energy.memory_store import MemoryEnergyStore

SALT = b"unit-test-salt-0123456789"
NOW = int(datetime(2025, 6, 21, 12, 0, tzinfo=UTC).timestamp())
T0 = NOW - 3600  # 11:00 UTC, an interval well over


@dataclass
class World:
    store: MemoryEnergyStore = field(default_factory=MemoryEnergyStore)
    key: PrivateKey = field(default_factory=ed25519.Ed25519PrivateKey.generate)
    counter: int = 0
    pipeline: IngestPipeline = field(init=False)

    def __post_init__(self) -> None:
        self.pipeline = IngestPipeline(self.store, clock=lambda: NOW)
        pem = self.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        registry.add_gateway(self.store, "gw-1", pem)
        registry.add_meter(self.store, SALT, "M1", "electricity", 12_000, device_id="gw-1")
        registry.add_meter(self.store, SALT, "W1", "water", 1_200, device_id="gw-1")

    def body(
        self,
        *readings: IntervalReading,
        counter: int | None = None,
        serial: str = "M1",
        device: str = "gw-1",
        key: PrivateKey | None = None,
    ) -> bytes:
        if counter is None:
            self.counter += 1
            counter = self.counter
        return seal(Envelope(device, counter, serial, "synced", readings), key or self.key)

    def send(self, *readings: IntervalReading, **kw: object):  # type: ignore[no-untyped-def]
        return self.pipeline.ingest_http(self.body(*readings, **kw))  # type: ignore[arg-type]


def r(
    value: int,
    start: int = T0,
    *,
    step: int = 900,
    direction: str = "import",
    version: str = "raw",
    commodity: str = "electricity",
) -> IntervalReading:
    return IntervalReading(start, step, commodity, direction, value, version)


def test_a_signed_envelope_is_stored_with_the_hash_of_its_raw_bytes() -> None:
    w = World()
    body = w.body(r(100), r(120, T0 + 900))
    result = w.pipeline.ingest_http(body, "gw-1")
    assert result.status == "accepted" and result.stored == 2
    rows = w.store.readings()
    assert [x.value for x in rows] == [100, 120]
    import hashlib

    assert {x.raw_sha256 for x in rows} == {hashlib.sha256(body).hexdigest()}
    assert [x.sha256 for x in w.store.raw_inputs()] == [hashlib.sha256(body).hexdigest()]
    assert w.store.last_counter("gw-1") == 1


def _tamper(body: bytes) -> bytes:
    doc = orjson.loads(body)
    doc["payload"]["readings"][0]["value"] += 1
    return orjson.dumps(doc)


def _unsigned(body: bytes) -> bytes:
    doc = orjson.loads(body)
    del doc["signature"]
    return orjson.dumps(doc)


BAD_INPUTS = {
    "malformed": lambda w: b"{not json",
    "not an object": lambda w: b"[1,2,3]",
    "unsigned": lambda w: _unsigned(w.body(r(1))),
    "tampered": lambda w: _tamper(w.body(r(1))),
    "wrong key": lambda w: w.body(r(1), key=ed25519.Ed25519PrivateKey.generate()),
    "unknown device": lambda w: w.body(r(1), device="gw-unknown"),
    "unknown meter": lambda w: w.body(r(1), serial="NOPE"),
    "future": lambda w: w.body(r(1, NOW)),
    "negative": lambda w: w.body(r(-5)),
    "above max": lambda w: w.body(r(3_001)),
    "wrong step": lambda w: w.body(r(1, step=600)),
    "misaligned": lambda w: w.body(r(1, T0 + 300)),
    "misaligned 30 min": lambda w: w.body(r(1, T0 + 900, step=1800)),
    "float": lambda w: orjson.dumps(
        {"payload": {**orjson.loads(w.body(r(1)))["payload"], "counter": 1.5}, "signature": "AA=="}
    ),
    "oversized batch": lambda w: w.body(*[r(1, T0 - 900 * n) for n in range(501)]),
    "oversized bytes": lambda w: b" " * (MAX_ENVELOPE_BYTES + 1),
    "wrong commodity": lambda w: w.body(r(1, commodity="gas")),
    "water export": lambda w: w.body(r(1, commodity="water", direction="export"), serial="W1"),
    "two values one interval": lambda w: w.body(r(1), r(2)),
}
EXPECTED_CODE = {
    "malformed": "malformed",
    "not an object": "malformed",
    "unsigned": "unsigned",
    "tampered": "bad_signature",
    "wrong key": "bad_signature",
    "unknown device": "unknown_device",
    "unknown meter": "unknown_meter",
    "future": "future_timestamp",
    "negative": "negative_value",
    "above max": "above_physical_max",
    "wrong step": "bad_step",
    "misaligned": "misaligned",
    "misaligned 30 min": "misaligned",
    "float": "malformed",
    "oversized batch": "too_many_readings",
    "oversized bytes": "too_large",
    "wrong commodity": "wrong_commodity",
    "water export": "wrong_commodity",
    "two values one interval": "malformed",
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_every_bad_input_is_rejected_with_its_reason_and_nothing_is_stored(kind: str) -> None:
    w = World()
    result = w.pipeline.ingest_http(BAD_INPUTS[kind](w))
    assert result.status == "rejected"
    assert result.code == EXPECTED_CODE[kind]
    assert result.message and len(result.message) > 15
    assert result.http_status >= 400
    assert w.store.readings() == [] and w.store.raw_inputs() == []
    assert w.store.last_counter("gw-1") is None
    assert w.pipeline.metrics() == {f"rejected.{result.code}": 1}
    assert w.store.counts() == {f"rejected.{result.code}": 1}


def test_a_replayed_or_decreasing_counter_is_rejected() -> None:
    w = World()
    assert w.send(r(1), counter=5).status == "accepted"
    replay = w.send(r(2, T0 + 900), counter=5)
    lower = w.send(r(2, T0 + 900), counter=4)
    assert (replay.code, lower.code) == ("replayed_counter", "replayed_counter")
    assert replay.http_status == 409
    assert [x.value for x in w.store.readings()] == [1]


def test_the_same_envelope_again_is_a_duplicate_not_a_replay() -> None:
    w = World()
    body = w.body(r(7))
    assert w.pipeline.ingest_http(body).status == "accepted"
    again = w.pipeline.ingest_http(body)
    assert again.status == "duplicate" and again.ok
    assert len(w.store.readings()) == 1


def test_the_envelope_must_come_from_the_gateway_it_claims() -> None:
    w = World()
    result = w.pipeline.ingest_http(w.body(r(1)), "gw-other")
    assert result.code == "device_mismatch"


def test_a_meter_read_by_another_gateway_is_refused() -> None:
    w = World()
    other = ed25519.Ed25519PrivateKey.generate()
    registry.add_gateway(w.store, "gw-2", other.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    result = w.pipeline.ingest_http(w.body(r(1), device="gw-2", key=other, counter=1))
    assert result.code == "meter_not_on_device"


def test_exact_duplicates_are_dropped_and_counted() -> None:
    w = World()
    w.send(r(10), r(11, T0 + 900))
    result = w.send(r(10), r(11, T0 + 900), r(12, T0 + 1800))
    assert (result.stored, result.duplicates) == (1, 2)
    assert len(w.store.readings()) == 3
    assert w.store.counts()["readings.duplicate"] == 2


def test_a_conflicting_value_is_held_for_review_with_a_reason() -> None:
    w = World()
    w.send(r(10))
    result = w.send(r(13))
    assert result.status == "accepted" and result.held == 1
    assert [x.value for x in w.store.readings()] == [10]
    [review] = w.store.reviews()
    assert (review.stored_value, review.proposed_value) == (10, 13)
    assert "stored 10, received 13" in review.reason


def test_a_correction_supersedes_the_raw_value_and_keeps_the_history() -> None:
    w = World()
    w.send(r(10))
    result = w.send(r(12, version="corrected"))
    assert result.superseded == 1
    rows = {x.version: x for x in w.store.readings()}
    assert rows["raw"].value == 10 and not rows["raw"].current
    assert rows["corrected"].value == 12 and rows["corrected"].current


def test_a_late_raw_value_under_a_correction_is_history_only() -> None:
    w = World()
    w.send(r(12, version="corrected"))
    w.send(r(10))
    rows = {x.version: x for x in w.store.readings()}
    assert rows["corrected"].current and not rows["raw"].current


def test_a_missing_interval_stays_missing() -> None:
    w = World()
    w.send(r(10, T0 - 1800), r(11, T0))  # T0 - 900 never sent
    starts = [x.start_ts for x in w.store.readings()]
    assert starts == [T0 - 1800, T0]


def test_a_batch_is_processed_in_order_with_counters() -> None:
    w = World()
    b1, b2 = w.body(r(1)), w.body(r(2, T0 + 900))
    results = w.pipeline.ingest_signed([(b2, None), (b1, None), (b"junk", None)])
    assert [x.status for x in results] == ["accepted", "rejected", "rejected"]
    assert [x.code for x in results[1:]] == ["replayed_counter", "malformed"]


def test_ecdsa_p256_gateways_sign_in_der_or_raw() -> None:
    w = World()
    key = ec.generate_private_key(ec.SECP256R1())
    registry.add_gateway(
        w.store, "gw-p256", key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    )
    registry.add_meter(w.store, SALT, "M2", "electricity", 6_000, device_id="gw-p256")
    der = seal(Envelope("gw-p256", 1, "M2", "drifting", (r(5),)), key)
    raw = seal(Envelope("gw-p256", 2, "M2", "unknown", (r(6, T0 + 900),)), key, raw_ecdsa=True)
    assert len(base64.b64decode(orjson.loads(raw)["signature"])) == 64
    assert w.pipeline.ingest_http(der).status == "accepted"
    assert w.pipeline.ingest_http(raw).status == "accepted"


@pytest.mark.parametrize(("day", "steps"), [(date(2025, 3, 30), 92), (date(2025, 10, 26), 100)])
def test_a_daylight_saving_day_is_stored_step_by_step(day: date, steps: int) -> None:
    w = World()
    w.pipeline = IngestPipeline(w.store, clock=lambda: NOW + 365 * 86400)
    starts = [int(s.timestamp()) for s in day_step_starts(day, StepLength.MIN15)]
    assert len(starts) == steps
    for n in range(0, steps, 50):
        result = w.send(*[r(n + k, s) for k, s in enumerate(starts[n : n + 50])])
        assert result.status == "accepted", result
    assert len(w.store.readings()) == steps


def test_water_is_in_litres_bounded_by_the_flow() -> None:
    w = World()
    ok = w.send(r(300, commodity="water"), serial="W1")
    too_much = w.send(r(301, T0 + 900, commodity="water"), serial="W1")
    assert ok.status == "accepted"
    assert too_much.code == "above_physical_max" and "300 L" in (too_much.message or "")


def test_the_result_json_is_what_the_sender_reads() -> None:
    w = World()
    rejected = w.pipeline.ingest_http(b"x").to_json()
    assert set(rejected) == {"status", "sha256", "code", "message"}
    accepted = w.send(r(1)).to_json()
    assert accepted["status"] == "accepted" and accepted["stored"] == 1
