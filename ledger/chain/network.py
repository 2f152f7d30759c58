"""The permissioned network kit: the files an operator needs to start a Hyperledger Besu QBFT
network for the district (chain id 69003, zero base fee), built and checked here without Besu.

What QBFT needs in the genesis `extraData` (Besu docs, "Configure QBFT consensus", section
"Extra data", docs/private-networks/how-to/configure/consensus/qbft.md in hyperledger/besu-docs):
the RLP list [32 bytes of vanity (zeros), [validator addresses], [] votes, 0 round, [] seals].
`besu rlp encode --type=QBFT_EXTRA_DATA` produces the same bytes from a JSON list of addresses;
the unit tests check this encoder against the examples printed on that page.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_keys.datatypes import PrivateKey

from ledger.errors import InputError

CHAIN_ID = 69003
# The mix hash Besu requires of BFT block headers ("ctical byzantine fault tolerance" in ASCII),
# as in the genesis examples of the QBFT page cited above.
BFT_MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
BLOCK_PERIOD_SECONDS = 2  # the pace the demo's local chain imitates
REQUEST_TIMEOUT_SECONDS = 4  # twice the block period, the docs' starting point for tuning
EPOCH_LENGTH = 30_000
GAS_LIMIT = "0x29b92700"  # 700M: the docs' example; gas is free, the limit only bounds a block
P2P_PORT = 30303
RPC_PORT = 8545
# The four institutions the district's pilot names as validators, in the order of the kit.
DISTRICT_VALIDATORS = ("townhall", "cee3", "bank", "energy-coop")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$")
MAX_VALIDATORS = 64


# -- RLP (only what extraData needs: byte strings and lists) -----------------------------------


def rlp_encode(item: bytes | list[Any]) -> bytes:
    """Recursive Length Prefix encoding of a byte string or a (nested) list of them."""
    if isinstance(item, bytes):
        data = item
        if len(data) == 1 and data[0] < 0x80:
            return data
        return _length_prefix(len(data), 0x80) + data
    payload = b"".join([rlp_encode(x) for x in item])
    return _length_prefix(len(payload), 0xC0) + payload


def _length_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(size)]) + size


def qbft_extra_data(validators: Sequence[str]) -> str:
    """The genesis extraData of a QBFT network whose validators are `validators` (addresses,
    in this order): RLP([vanity, [validators], [] votes, 0 round, [] seals]). The round 0 is the
    empty byte string, as RLP writes the integer zero."""
    addresses = []
    for v in validators:
        raw = bytes.fromhex(v[2:] if v.startswith(("0x", "0X")) else v)
        if len(raw) != 20:
            raise InputError(f"{v} is not a 20-byte address; give each validator as 0x + 40 hex")
        addresses.append(raw)
    return "0x" + rlp_encode([bytes(32), addresses, [], b"", []]).hex()


# -- keys and files ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Validator:
    name: str
    host: str
    private_key: bytes
    public_key: bytes  # 64 bytes, uncompressed without the 0x04 prefix (the enode id)
    address: str  # checksummed

    @classmethod
    def generate(cls, name: str, host: str) -> Validator:
        private = PrivateKey(os.urandom(32))
        public = private.public_key
        return cls(name, host, private.to_bytes(), public.to_bytes(),
                   public.to_checksum_address())

    def enode(self, port: int = P2P_PORT) -> str:
        return f"enode://{self.public_key.hex()}@{self.host}:{port}"


def genesis(validators: Sequence[str], chain_id: int = CHAIN_ID) -> dict[str, Any]:
    """A Besu QBFT genesis: zero base fee (`zeroBaseFee`), validators in extraData (block header
    validator selection), forks up to Cancun from block 0 (the contracts are compiled for it)."""
    return {
        "config": {
            "chainId": chain_id,
            "berlinBlock": 0,
            "londonBlock": 0,
            "shanghaiTime": 0,
            "cancunTime": 0,
            "zeroBaseFee": True,
            "qbft": {
                "blockperiodseconds": BLOCK_PERIOD_SECONDS,
                "epochlength": EPOCH_LENGTH,
                "requesttimeoutseconds": REQUEST_TIMEOUT_SECONDS,
            },
        },
        "nonce": "0x0",
        "timestamp": "0x0",
        "gasLimit": GAS_LIMIT,
        "difficulty": "0x1",
        "mixHash": BFT_MIX_HASH,
        "coinbase": "0x0000000000000000000000000000000000000000",
        "alloc": {},
        "extraData": qbft_extra_data(validators),
    }


def node_config(validator: Validator) -> str:
    """Besu's TOML configuration of one validator, run from its own folder."""
    return "\n".join([
        f"# Besu configuration of validator {validator.name} ({validator.address}), chain "
        f"{CHAIN_ID}, QBFT.",
        "# Start from this folder: besu --config-file=config.toml",
        'data-path="data"',
        'genesis-file="genesis.json"',
        'node-private-key-file="key"',
        "# Zero gas price: the district pays no fee to its validators.",
        "min-gas-price=0",
        'p2p-host="0.0.0.0"',
        f"p2p-port={P2P_PORT}",
        "# Peers are the validators listed in static-nodes.json and nobody else.",
        "discovery-enabled=false",
        'static-nodes-file="static-nodes.json"',
        "permissions-nodes-config-file-enabled=true",
        'permissions-nodes-config-file="permissions_config.toml"',
        "# JSON-RPC for the ledger's services on the same machine only.",
        "rpc-http-enabled=true",
        'rpc-http-host="127.0.0.1"',
        f"rpc-http-port={RPC_PORT}",
        'rpc-http-api=["ETH","NET","WEB3","QBFT"]',
        'host-allowlist=["localhost","127.0.0.1"]',
        'sync-mode="FULL"',
        "",
    ])


def permissions_config(enodes: Sequence[str]) -> str:
    quoted = ",\n  ".join(json.dumps(e) for e in enodes)
    return ("# Local node permissioning: only these validators may connect.\n"
            f"nodes-allowlist=[\n  {quoted}\n]\n")


@dataclass(frozen=True)
class NetworkKit:
    out: Path
    validators: tuple[Validator, ...]
    extra_data: str


def plan_validators(count: int, names: Sequence[str] | None, hosts: Sequence[str] | None
                    ) -> list[tuple[str, str]]:
    """(name, host) of each validator, checked; InputError with what to change otherwise."""
    if not 1 <= count <= MAX_VALIDATORS:
        raise InputError(f"--validators {count}: give between 1 and {MAX_VALIDATORS} "
                         "(4 for the district: QBFT tolerates one faulty validator in four)")
    if names is None:
        names = list(DISTRICT_VALIDATORS) if count == len(DISTRICT_VALIDATORS) else [
            f"validator-{i + 1}" for i in range(count)]
    if len(names) != count:
        raise InputError(f"--names lists {len(names)} names for {count} validators; "
                         "give one name per validator")
    for name in names:
        if not _NAME.match(name):
            raise InputError(f"--names: {name!r} is not a valid name; use 1 to 32 lower-case "
                             "letters, digits or dashes, starting with a letter or digit")
    if len(set(names)) != len(names):
        raise InputError("--names: two validators have the same name; give each its own")
    hosts = list(hosts) if hosts is not None else list(names)
    if len(hosts) != count:
        raise InputError(f"--hosts lists {len(hosts)} hosts for {count} validators; "
                         "give one host (DNS name or IP address) per validator")
    for host in hosts:
        if not _HOST.match(host):
            raise InputError(f"--hosts: {host!r} is not a host name or IPv4 address; give the "
                             "name or address the other validators reach it at")
    return list(zip(names, hosts, strict=True))


def write_network(out: Path, planned: Sequence[tuple[str, str]]) -> NetworkKit:
    """Generate a key per validator and write the kit into `out` (new or empty)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} already exists and is not an empty folder; nothing was written. "
                         "Give --out a new or empty folder (a kit's keys are never overwritten)")
    validators = tuple(Validator.generate(name, host) for name, host in planned)
    extra = qbft_extra_data([v.address for v in validators])
    genesis_text = json.dumps(genesis([v.address for v in validators]), indent=2) + "\n"
    enodes = [v.enode() for v in validators]
    static_text = json.dumps(enodes, indent=2) + "\n"
    permissions_text = permissions_config(enodes)
    # Written beside `out`, then renamed into place: a kit is whole or absent, never half
    # (a rerun after a crash is not refused for a folder holding some keys).
    out.parent.mkdir(parents=True, exist_ok=True)
    final = out
    out = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        _write_files(out, validators, genesis_text, static_text, permissions_text, extra)
        out.chmod(0o755)
        os.rename(out, final)  # replaces an empty folder on POSIX
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return NetworkKit(final, validators, extra)


def _write_files(out: Path, validators: Sequence[Validator], genesis_text: str,
                 static_text: str, permissions_text: str, extra: str) -> None:
    _write(out / "genesis.json", genesis_text)
    _write(out / "static-nodes.json", static_text)
    _write(out / "permissions_config.toml", permissions_text)
    _write(out / "validators.json", json.dumps(
        [{"name": v.name, "host": v.host, "address": v.address, "enode": v.enode()}
         for v in validators], indent=2) + "\n")
    for v in validators:
        folder = out / "nodes" / v.name
        folder.mkdir(parents=True, mode=0o700)
        folder.chmod(0o700)
        _write(folder / "key", "0x" + v.private_key.hex(), secret=True)
        _write(folder / "key.pub", "0x" + v.public_key.hex() + "\n")
        _write(folder / "address", v.address + "\n")
        _write(folder / "config.toml", node_config(v))
        _write(folder / "genesis.json", genesis_text)
        _write(folder / "static-nodes.json", static_text)
        _write(folder / "permissions_config.toml", permissions_text)
    _write(out / "README.md", kit_readme(validators, extra))


def _write(path: Path, text: str, *, secret: bool = False) -> None:
    """Create `path` (never replace one): a key file is 0600 from its first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if secret else 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        if secret:
            os.fchmod(handle.fileno(), 0o600)  # whatever the umask
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def kit_readme(validators: Sequence[Validator], extra: str) -> str:
    rows = "\n".join(f"| {v.name} | {v.host} | `{v.address}` |" for v in validators)
    faulty = (len(validators) - 1) // 3
    return f"""# The district's QBFT network (chain id {CHAIN_ID})

Generated by `ledger network init`. Hyperledger Besu, QBFT consensus, zero base fee and a
minimum gas price of 0 (nobody pays gas), a block every {BLOCK_PERIOD_SECONDS} s. With
{len(validators)} validators the network keeps making blocks while at most {faulty} of them
{"is" if faulty == 1 else "are"} down or misbehaving; QBFT needs 4 to tolerate one.

| validator | host | address |
|---|---|---|
{rows}

## What is here

- `genesis.json`: the chain's first block. `extraData` lists the validators (RLP of
  [32 zero bytes, [validators], [] votes, 0 round, [] seals], as `besu rlp encode
  --type=QBFT_EXTRA_DATA` writes it; see Besu's "Configure QBFT consensus" page):
  `{extra}`
- `static-nodes.json`, `permissions_config.toml`: each node connects to the validators listed
  (enode URLs, port {P2P_PORT}) and accepts no other node.
- `validators.json`: names, hosts, addresses and enode URLs (public).
- `nodes/<name>/`: everything one validator's machine needs, and only its own key:
  `key` (the node's private key, mode 0600: it signs blocks, keep it on that machine only and
  back it up offline), `key.pub`, `address`, `config.toml` and copies of the shared files.

## Start a validator

Copy `nodes/<name>/` to that validator's machine (ports {P2P_PORT} TCP and UDP open to the
other validators only), then from inside it:

```bash
besu --config-file=config.toml
```

JSON-RPC listens on 127.0.0.1:{RPC_PORT} for the ledger's services on the same machine. Once
more than two thirds of the validators run, blocks follow; check with
`qbft_getValidatorsByBlockNumber` ("latest"). Then deploy the contracts (`ledger deploy
--config ...` with the district's multisig admin) and point the services' `LEDGER_RPC_URL` at
the local node.

Not checked by running Besu: the kit was generated and tested without a Besu binary (the
encoding against Besu's documented examples, the files by reading them back). Start one
validator on a test machine first and read its log before handing out the folders.
"""
