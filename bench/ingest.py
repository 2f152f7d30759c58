"""Benchmark: signed readings ingested per second (verify + validate + store into SQLite, batched)
against the raw Ed25519 verification rate measured in the same run.

    .venv/bin/python bench/ingest.py [--envelopes 20000] [--per-envelope 1] [--batch 500]

The strict figure is one reading per envelope (one signature per reading): the pipeline must
then reach 10,000 readings/s or at least half the raw verification rate. With several readings
per envelope (a gateway sending its last hour) the signature cost is shared.

The raw rate is measured batch by batch just before the pipeline ingests the same batch, so
both figures see the same load on a shared machine (their ratio is what is compared). Rates are
given in CPU seconds of this process (`time.process_time`: what other jobs on a shared machine
take is not counted) and in wall-clock seconds; the goal is judged on CPU time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.db import make_engine, migrate
from ledger.db.energy_store import SqlEnergyStore
from ledger.energy import registry
from ledger.energy.envelope import Envelope, IntervalReading, open_wire, seal
from ledger.energy.ingest import IngestPipeline

GOAL_PER_S = 10_000
START = 1_735_686_000  # 2024-12-31T23:00:00Z, local midnight of 1 January 2025 in Lyon


Built = tuple[list[bytes], list[tuple[str, str]], list[tuple[str, bytes]]]


def build(envelopes: int, per_envelope: int, devices: int) -> Built:
    keys = [
        ed25519.Ed25519PrivateKey.from_private_bytes(bytes([n % 256, n // 256]) * 16)
        for n in range(devices)
    ]
    gateways = [
        (f"gw-{n:05d}", k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
        for n, k in enumerate(keys)
    ]
    meters = [(f"PRM{n:011d}", f"gw-{n:05d}") for n in range(devices)]
    bodies: list[bytes] = []
    counters = [0] * devices
    slot = [0] * devices
    for e in range(envelopes):
        d = e % devices
        counters[d] += 1
        readings = []
        for _ in range(per_envelope):
            readings.append(
                IntervalReading(START + 900 * slot[d], 900, "electricity", "import", 100 + (e % 500), "raw")
            )
            slot[d] += 1
        env = Envelope(f"gw-{d:05d}", counters[d], f"PRM{d:011d}", "synced", tuple(readings))
        bodies.append(seal(env, keys[d]))
    return bodies, meters, gateways


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--envelopes", type=int, default=20_000)
    parser.add_argument("--per-envelope", type=int, default=1)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--devices", type=int, default=2_000)
    args = parser.parse_args()

    bodies, meters, gateways = build(args.envelopes, args.per_envelope, args.devices)
    readings = args.envelopes * args.per_envelope

    # Raw verification: parse once beforehand, then only Ed25519 verify of the canonical bytes.
    pub = {g: ed25519.Ed25519PublicKey.from_public_bytes(k) for g, k in gateways}
    opened = [open_wire(b) for b in bodies]
    signed = [(pub[m.device_id], m.signature, m.signed_bytes()) for m in opened]

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate(engine)
        store = SqlEnergyStore(engine)
        for device_id, key in gateways:
            registry.add_gateway(store, device_id, key)
        salt = b"bench-salt-0123456789"
        for serial, device_id in meters:
            registry.add_meter(store, salt, serial, "electricity", 36_000, device_id=device_id)
        pipeline = IngestPipeline(store, clock=lambda: START + 10**9)
        raw_s = pipe_s = raw_wall = pipe_wall = 0.0
        for n in range(0, len(bodies), args.batch):
            t0, w0 = time.process_time(), time.perf_counter()
            for key, sig, data in signed[n : n + args.batch]:
                key.verify(sig, data)
            raw_s += time.process_time() - t0
            raw_wall += time.perf_counter() - w0
            t0, w0 = time.process_time(), time.perf_counter()
            results = pipeline.ingest_signed([(b, None) for b in bodies[n : n + args.batch]])
            pipe_s += time.process_time() - t0
            pipe_wall += time.perf_counter() - w0
            bad = [r for r in results if r.status != "accepted"]
            if bad:
                raise SystemExit(f"unexpected rejection: {bad[0]}")
        stored = len(store.readings())
        engine.dispose()
    if stored != readings:
        raise SystemExit(f"stored {stored} readings, expected {readings}")
    raw_rate = len(signed) / raw_s

    env_rate = args.envelopes / pipe_s
    reading_rate = readings / pipe_s
    ratio = reading_rate / raw_rate
    overhead = env_rate / raw_rate
    print(f"envelopes: {args.envelopes}, readings per envelope: {args.per_envelope}, "
          f"batch: {args.batch}, gateways: {args.devices}")
    print(f"raw Ed25519 verification:            {raw_rate:>10,.0f} signatures/s (CPU time)")
    print(f"pipeline (verify+validate+store):    {env_rate:>10,.0f} envelopes/s")
    print(f"signed readings ingested:            {reading_rate:>10,.0f} readings/s  "
          f"(goal >= {GOAL_PER_S:,}, or:)")
    print(f"ratio readings/s / raw signatures/s: {ratio:>10.3f}        (goal >= 0.50)")
    print(f"ratio envelopes/s / raw signatures/s:{overhead:>10.2f}        (pipeline cost per signature)")
    wall_ratio = raw_wall / pipe_wall * readings / len(signed)
    print(f"wall clock: raw {len(signed) / raw_wall:,.0f} signatures/s, pipeline "
          f"{readings / pipe_wall:,.0f} readings/s, ratio {wall_ratio:.2f}")
    ok = reading_rate >= GOAL_PER_S or ratio >= 0.5
    print("GOAL MET (>= 10,000/s or >= 0.5 x raw verification)" if ok else "GOAL NOT MET")


if __name__ == "__main__":
    main()
