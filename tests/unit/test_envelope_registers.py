"""Register samples in the signed envelope: every field bounded and named when refused, and the
pipeline turns them into interval energy with the samples stored before and those of earlier
envelopes of the same batch (in-memory store)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ledger.energy.envelope import (
    MAX_READINGS,
    Envelope,
    RegisterBlock,
    RegisterReading,
    Rejected,
    format_utc,
    parse_payload,
    seal,
)
from tests.unit.test_ingest_pipeline import NOW, T0, World, r

STEP = 900
START = T0 - 4 * STEP


def _payload(**registers: Any) -> dict[str, Any]:
    block = {"step_s": STEP, "samples": [{"at": format_utc(START), "index": 10}]} | registers
    return {"device_id": "gw-1", "counter": 1, "meter_serial": "M1", "clock_status": "synced",
            "readings": [], "registers": block}


def _sample(**fields: Any) -> dict[str, Any]:
    return _payload(samples=[{"at": format_utc(START), "index": 10} | fields])


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        (_payload(step_s=600), "bad_step", "payload.registers.step_s"),
        (_payload(modulus=1), "out_of_range", "payload.registers.modulus"),
        (_payload(modulus=2**53 + 1), "out_of_range", "payload.registers.modulus"),
        (_payload(modulus="1e9"), "malformed", "payload.registers.modulus"),
        (_payload(samples=[]), "malformed", "payload.registers.samples"),
        (_sample(index=2**53), "out_of_range", "payload.registers.samples[0].index"),
        (_sample(index=10**9), "out_of_range", "payload.registers.samples[0].index"),
        (_sample(index=-1), "out_of_range", "payload.registers.samples[0].index"),
        (_sample(index=1.5), "malformed", "payload.registers.samples[0].index"),
        (_sample(at="2025-06-21T10:07:00Z"), "misaligned", "payload.registers.samples[0].at"),
        (_sample(at="1999-12-31T23:45:00Z"), "out_of_range", "payload.registers.samples[0].at"),
        (_sample(event="swap"), "malformed", "payload.registers.samples[0].event"),
        (_sample(device=""), "malformed", "payload.registers.samples[0].device"),
        (_sample(direction="both"), "malformed", "payload.registers.samples[0].direction"),
        (_sample(extra=1), "malformed", "payload.registers.samples[0]"),
        (_payload(unknown=1), "malformed", "payload.registers"),
    ],
)
def test_a_bad_register_field_is_refused_by_name(payload: dict[str, Any], code: str, field: str) -> None:
    with pytest.raises(Rejected) as refused:
        parse_payload(payload)
    assert refused.value.code.value == code
    assert field in refused.value.message


def test_registers_and_readings_together_count_against_the_envelope_limit() -> None:
    payload = _payload(samples=[{"at": format_utc(START), "index": n} for n in range(MAX_READINGS)])
    payload["readings"] = [r(1).to_json()]
    with pytest.raises(Rejected) as refused:
        parse_payload(payload)
    assert refused.value.code.value == "too_many_readings"


def test_an_envelope_needs_readings_or_registers() -> None:
    payload = _payload()
    del payload["registers"]
    with pytest.raises(Rejected, match="non-empty list"):
        parse_payload(payload)


def test_a_replacement_index_may_fall_inside_a_step_and_fields_have_defaults() -> None:
    envelope = parse_payload(_sample(at=format_utc(START + 300), event="final"))
    assert envelope.registers is not None
    assert envelope.registers.modulus == 10**9
    assert envelope.registers.samples == (RegisterReading(START + 300, 10, "import", "M1", "final"),)


def _registers(world: World, *samples: tuple[int, int], device: str = "M1") -> bytes:
    world.counter += 1
    block = RegisterBlock(STEP, 1_000, tuple(
        RegisterReading(at, index, "import", device, "") for at, index in samples
    ))
    return _sealed(world, block)


def _sealed(world: World, block: RegisterBlock) -> bytes:
    return seal(Envelope("gw-1", world.counter, "M1", "synced", (), block), world.key)


def test_envelopes_of_one_batch_continue_each_other_and_the_store() -> None:
    world = World()
    first = world.pipeline.ingest_http(_registers(world, (START, 990)))
    assert (first.status, first.stored) == ("accepted", 0)  # one sample: nothing to subtract yet
    batch = [
        (_registers(world, (START + STEP, 20)), "gw-1"),  # rollover at 1,000 after the stored 990
        (_registers(world, (START + 2 * STEP, 70)), "gw-1"),  # continues the envelope before it
    ]
    results = world.pipeline.ingest_signed(batch)
    assert [(x.status, x.stored) for x in results] == [("accepted", 1), ("accepted", 1)]
    got = sorted((x.start_ts - START, x.value, x.source) for x in world.store.readings())
    assert got == [(0, 30, "gateway"), (STEP, 50, "gateway")]


def test_a_register_sample_in_the_future_is_refused_and_stores_nothing() -> None:
    world = World()
    late = NOW + 3600 - NOW % STEP
    result = world.pipeline.ingest_http(_registers(world, (START, 1), (late, 2)))
    assert result.code == "future_timestamp" and "payload.registers.samples[1].at" in (result.message or "")
    assert world.store.register_samples({"M1"}, 0, 2**40, source="gateway") == []


def test_a_register_and_a_reading_that_disagree_on_a_step_are_refused() -> None:
    world = World()
    world.counter += 1
    block = RegisterBlock(STEP, 1_000, (RegisterReading(START, 0, "import", "M1", ""),
                                        RegisterReading(START + STEP, 40, "import", "M1", "")))
    envelope = Envelope("gw-1", world.counter, "M1", "synced", (replace(r(41), start_ts=START),), block)
    result = world.pipeline.ingest_http(seal(envelope, world.key))
    assert result.code == "malformed" and "second, different value" in (result.message or "")
