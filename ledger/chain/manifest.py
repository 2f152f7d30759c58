"""The deployment manifest: where the district contracts live and what built them."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ledger.errors import ManifestError


@dataclass(frozen=True)
class DeployedContract:
    address: str
    deploy_block: int
    deploy_tx: str
    abi: list[dict[str, Any]]
    constructor_args: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Manifest:
    chain_id: int
    compiler: str
    source_hash: str
    contracts: dict[str, DeployedContract]
    deployer: str = ""
    genesis_hash: str = ""
    # The sentence of each custom error (`Name(types)` -> NatSpec @notice), so that clients
    # without a compiler explain a refusal in words.
    error_notices: dict[str, str] = field(default_factory=dict)
    # Who administers the contracts: {"kind": "timelock"|"safe"|"deployer", "address", "delay_seconds",
    # ...} and who holds each role, read back on chain after the deployment:
    # {"DistrictToken": {"TREASURER_ROLE": ["0x..."], ...}, ...}.
    admin: dict[str, Any] = field(default_factory=dict)
    roles: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # Governance contracts deployed with the district (an OpenZeppelin TimelockController).
    governance: dict[str, DeployedContract] = field(default_factory=dict)

    def contract(self, name: str) -> DeployedContract:
        try:
            return self.contracts[name]
        except KeyError:
            raise ManifestError(
                f"the manifest has no {name}; run `ledger deploy` again with this version"
            ) from None

    @property
    def first_block(self) -> int:
        return min(c.deploy_block for c in self.contracts.values())

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def save(self, path: Path) -> None:
        """Write atomically: a crash never leaves half a manifest."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".manifest-")
        with os.fdopen(fd, "w") as handle:
            handle.write(self.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path | str) -> Manifest:
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise ManifestError(
                f"no deployment manifest at {path}: run `ledger deploy` (or `ledger demo`) first"
            ) from None
        except (OSError, json.JSONDecodeError) as exc:
            raise ManifestError(f"the deployment manifest {path} is unreadable: {exc}") from exc
        try:
            contracts = {name: DeployedContract(**c) for name, c in raw["contracts"].items()}
            return cls(
                chain_id=int(raw["chain_id"]),
                compiler=raw["compiler"],
                source_hash=raw["source_hash"],
                contracts=contracts,
                deployer=raw.get("deployer", ""),
                genesis_hash=raw.get("genesis_hash", ""),
                error_notices=dict(raw.get("error_notices", {})),
                admin=dict(raw.get("admin", {})),
                roles={c: {r: list(h) for r, h in rs.items()} for c, rs in raw.get("roles", {}).items()},
                governance={n: DeployedContract(**c) for n, c in raw.get("governance", {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"the deployment manifest {path} is malformed: {exc}") from exc
