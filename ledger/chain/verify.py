"""Checking that the deployed contracts are the published source.

Compile with py-solc-x (or take solc's output kept for the same sources, settings and
compiler: `ledger.chain.solc._compile`), read the code at each address (`eth_getCode`) and compare byte for
byte, except the immutable slots (constructor-set values such as the token address), which the
compiler leaves as zeros and reports in `immutableReferences`. The CBOR metadata at the end of
the code, which holds the hash of every source file, is compared too.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from ledger.chain.manifest import Manifest
from ledger.chain.solc import TIMELOCK_SOURCE, Compilation, compile_contracts, compile_entries


@dataclass(frozen=True)
class VerifyResult:
    name: str
    address: str
    matches: bool
    reason: str


def mask_immutables(code: bytes, references: dict[str, list[dict[str, int]]]) -> bytes:
    buf = bytearray(code)
    for ranges in references.values():
        for ref in ranges:
            start, length = ref["start"], ref["length"]
            if start + length <= len(buf):
                buf[start : start + length] = bytes(length)
    return bytes(buf)


def verify_deployment(
    w3: Web3, manifest: Manifest, compilation: Compilation | None = None, *, reuse: bool = True
) -> list[VerifyResult]:
    """`reuse` takes solc's kept output when the sources, settings and compiler are the same as
    when it was kept (the comparison is still with code built from the repository's sources);
    False compiles afresh."""
    compilation = compilation or compile_contracts(reuse=reuse)
    governance = compile_entries([TIMELOCK_SOURCE], reuse=reuse) if manifest.governance else None
    results = []
    everything = sorted(manifest.contracts.items()) + sorted(manifest.governance.items())
    for name, deployed in everything:
        source = governance if name in manifest.governance and governance is not None else compilation
        compiled = source.contracts.get(name)
        if compiled is None:
            results.append(VerifyResult(name, deployed.address, False, "no such contract in the sources"))
            continue
        onchain = bytes(w3.eth.get_code(Web3.to_checksum_address(deployed.address)))
        expected = bytes.fromhex(compiled.runtime_bytecode)
        if not onchain:
            results.append(VerifyResult(name, deployed.address, False, "no code at this address"))
            continue
        if len(onchain) != len(expected):
            reason = f"code length differs: {len(onchain)} bytes on chain, {len(expected)} from source"
            results.append(VerifyResult(name, deployed.address, False, reason))
            continue
        masked = mask_immutables(onchain, compiled.immutable_references)
        if masked != mask_immutables(expected, compiled.immutable_references):
            first = next(i for i, (a, b) in enumerate(zip(masked, expected, strict=True)) if a != b)
            reason = f"code differs from the source build at byte {first}"
            results.append(VerifyResult(name, deployed.address, False, reason))
            continue
        note = "" if manifest.source_hash == compilation.source_hash else " (manifest source hash is older)"
        if source is governance:
            note = " (OpenZeppelin, from node_modules)"
        results.append(VerifyResult(name, deployed.address, True, "runtime code matches the source" + note))
    return results
