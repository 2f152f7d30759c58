"""Finding a Solidity compiler offline and compiling the district contracts with py-solc-x.

Resolution order: an explicit path (argument or LEDGER_SOLC), a native `solc` on PATH of the
pinned version, else the npm `solc` (wasm) through `solc_npm.cjs`, a small solc-compatible
wrapper. Sources are handed to solc with their content (imports resolved here), so the same
input compiles byte-for-byte alike on any of the three.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.errors import CompilerError

SOLC_VERSION = "0.8.28"
CONTRACT_NAMES = ("DistrictToken", "ServicePayments", "EnergySettlement", "CommonsFund")
# Governance building blocks deployed from OpenZeppelin's npm package, unchanged.
TIMELOCK_SOURCE = "@openzeppelin/contracts/governance/TimelockController.sol"
# Must match hardhat.config.js so that Hardhat and Python build the same bytecode.
COMPILER_SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 10000},
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "ipfs"},
    "outputSelection": {
        "*": {
            "*": [
                "abi",
                "evm.bytecode.object",
                "evm.deployedBytecode.object",
                "evm.deployedBytecode.immutableReferences",
                "userdoc",
                "devdoc",
            ]
        }
    },
}
# EnergySettlement is compiled with fewer optimizer runs (less inlining) to stay under the 24,576
# bytes of deployed code a chain accepts (EIP-170); hardhat.config.js has the same override.
RUNS_OVERRIDES: dict[str, int] = {"EnergySettlement": 700}
_IMPORT = re.compile(r'^\s*import\s+(?:[^"\']*\s+from\s+)?["\']([^"\']+)["\']\s*;', re.MULTILINE)


def project_root() -> Path:
    """The repository root (the ledger package is installed from it in editable mode)."""
    env = os.environ.get("LEDGER_PROJECT_ROOT")
    return Path(env) if env else Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class CompiledContract:
    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: str
    runtime_bytecode: str
    immutable_references: dict[str, list[dict[str, int]]]
    userdoc: dict[str, Any]


@dataclass(frozen=True)
class Compilation:
    compiler_version: str
    source_hash: str
    contracts: dict[str, CompiledContract]


def find_solc(explicit: str | None = None, root: Path | None = None) -> Path:
    """Return a solc-compatible executable, without touching the network."""
    root = root or project_root()
    candidate = explicit or os.environ.get("LEDGER_SOLC")
    if candidate:
        path = Path(candidate)
        if not path.exists():
            raise CompilerError(f"solc not found at {candidate} (LEDGER_SOLC or --solc)")
        return path
    native = shutil.which("solc")
    if native and _version_of(Path(native)).startswith(SOLC_VERSION):
        return Path(native)
    return _npm_wrapper(root)


def _version_of(binary: Path) -> str:
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    match = re.search(r"Version: (\d+\.\d+\.\d+)", out)
    return match.group(1) if match else ""


def _npm_wrapper(root: Path) -> Path:
    modules = root / "node_modules"
    if not (modules / "solc" / "soljson.js").exists():
        raise CompilerError(
            "no Solidity compiler found: run `npm install` at the project root "
            "(it brings the official npm solc), or set LEDGER_SOLC to a solc binary"
        )
    node = modules / ".bin" / "node"
    node_cmd = str(node) if node.exists() else (shutil.which("node") or "node")
    cache = root / ".state" / "solc"
    cache.mkdir(parents=True, exist_ok=True)
    launcher = cache / "solc"
    script = (
        "#!/bin/sh\n"
        f'LEDGER_NODE_MODULES="{modules}" exec "{node_cmd}" '
        f'"{Path(__file__).with_name("solc_npm.cjs")}" "$@"\n'
    )
    if not launcher.exists() or launcher.read_text() != script:
        tmp = launcher.with_suffix(".tmp")
        tmp.write_text(script)
        tmp.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        os.replace(tmp, launcher)
    return launcher


def collect_sources(root: Path, entry_points: list[str]) -> dict[str, str]:
    """Read the entry sources and, transitively, everything they import."""
    sources: dict[str, str] = {}
    pending = list(entry_points)
    while pending:
        key = pending.pop()
        if key in sources:
            continue
        path = root / key if not key.startswith("@") else root / "node_modules" / key
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CompilerError(f"cannot read Solidity source {key}: {exc}") from exc
        sources[key] = text
        for target in _IMPORT.findall(text):
            if target.startswith("."):
                resolved = os.path.normpath(os.path.join(os.path.dirname(key), target))
                pending.append(resolved)
            else:
                pending.append(target)
    return sources


def source_hash(sources: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for key in sorted(sources):
        digest.update(key.encode() + b"\0" + sources[key].encode() + b"\0")
    return digest.hexdigest()


def _compile(
    binary: Path, sources: dict[str, str], settings: dict[str, Any], cache: Path | None = None
) -> tuple[Any, str]:
    """solc's standard-JSON output for these sources and settings, and the compiler's version.

    With `cache`, an output kept from an earlier run is reused when the whole input (every
    source's content, the settings) and the compiler's version are the same: it is what solc
    would print again (a compile is deterministic), without the ~40 s the wasm compiler takes."""
    import solcx
    import solcx.exceptions
    import solcx.wrapper

    standard_input = {
        "language": "Solidity",
        "sources": {key: {"content": text} for key, text in sorted(sources.items())},
        "settings": settings,
    }
    try:
        version = _full_version(binary)
        key = hashlib.sha256(
            json.dumps({"compiler": version, "input": standard_input}, sort_keys=True).encode()
        ).hexdigest()
        kept = _read_kept_output(cache / f"{key}.json") if cache is not None else None
        if kept is not None:
            return kept, version
        output = solcx.compile_standard(standard_input, solc_binary=binary)
    except solcx.exceptions.SolcError as exc:
        raise CompilerError(f"solc failed: {exc}") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise CompilerError(f"solc at {binary} could not run: {exc}") from exc
    if cache is not None:
        _keep_output(cache / f"{key}.json", output)
    return output, version


@functools.cache
def _full_version(binary: Path) -> str:
    """Asked once per process: each ask starts the compiler (node loading the wasm: ~2 s)."""
    import solcx.wrapper

    return str(solcx.wrapper.get_solc_version(binary, with_commit_hash=True))


def _read_kept_output(path: Path) -> Any:
    try:
        output = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # none kept, or a torn write: compile again
    return output if isinstance(output, dict) and "contracts" in output else None


def _keep_output(path: Path, output: Any) -> None:
    """Atomically, so a crash never leaves half an output to be read as a build."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(output), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only checkout still compiles, only slower next time


def compile_cache_dir(root: Path) -> Path:
    return root / ".state" / "solc" / "outputs"


def compile_contracts(
    solc: str | None = None, root: Path | None = None, *, reuse: bool = True
) -> Compilation:
    """Compile the district contracts (those present in contracts/) with py-solc-x; `reuse`
    takes solc's kept output for the very same input and compiler (see `_compile`)."""
    root = root or project_root()
    entries = [
        f"contracts/{name}.sol" for name in CONTRACT_NAMES if (root / "contracts" / f"{name}.sol").exists()
    ]
    if not entries:
        raise CompilerError(f"no contracts found under {root / 'contracts'}")
    return compile_entries(entries, solc, root, reuse=reuse)


def compile_entries(
    entries: list[str], solc: str | None = None, root: Path | None = None, *, reuse: bool = True
) -> Compilation:
    """Compile the given source files (paths under the root, or `@openzeppelin/...` from
    node_modules) and return the contract named after each file; a contract listed in
    RUNS_OVERRIDES is compiled with its own optimizer runs (as hardhat.config.js does)."""
    root = root or project_root()
    binary = find_solc(solc, root)
    groups: dict[int, list[str]] = {}
    for entry in entries:
        runs = RUNS_OVERRIDES.get(Path(entry).stem, COMPILER_SETTINGS["optimizer"]["runs"])
        groups.setdefault(runs, []).append(entry)
    contracts: dict[str, CompiledContract] = {}
    all_sources: dict[str, str] = {}
    version = ""
    for runs, group in sorted(groups.items()):
        sources = collect_sources(root, group)
        all_sources.update(sources)
        settings = {**COMPILER_SETTINGS, "optimizer": {"enabled": True, "runs": runs}}
        output, version = _compile(binary, sources, settings, compile_cache_dir(root) if reuse else None)
        for entry in group:
            name = Path(entry).stem
            out = output["contracts"][entry][name]
            contracts[name] = CompiledContract(
                name=name,
                source=entry,
                abi=out["abi"],
                bytecode=out["evm"]["bytecode"]["object"],
                runtime_bytecode=out["evm"]["deployedBytecode"]["object"],
                immutable_references=out["evm"]["deployedBytecode"].get("immutableReferences", {}),
                userdoc=out.get("userdoc", {}),
            )
    return Compilation(
        compiler_version=version, source_hash=source_hash(all_sources), contracts=contracts
    )
