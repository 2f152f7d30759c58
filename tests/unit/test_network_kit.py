"""`ledger network init`: the QBFT extraData is Besu's encoding, the kit's files agree with each
other, validator keys are 0600 and never printed, bad options change nothing."""

from __future__ import annotations

import json
import random
import stat
import tomllib
from pathlib import Path

import pytest
import rlp  # an independent RLP implementation (pyrlp), to check ours
from eth_keys import keys
from typer.testing import CliRunner

from ledger.chain.network import CHAIN_ID, qbft_extra_data, rlp_encode
from ledger.cli import app

# Besu docs, "Configure QBFT consensus" (hyperledger/besu-docs,
# docs/private-networks/how-to/configure/consensus/qbft.md): the toEncode.json example of the
# "Extra data" section and the extraData it prints for `besu rlp encode --type=QBFT_EXTRA_DATA`.
BESU_TO_ENCODE = [
    "0x4592c8e45706cc08b8f44b11e43cba0cfc5892cb",
    "0x06e23768a0f59cf365e18c2e0c89e151bcdedc70",
    "0xc5327f96ee02d7bcbc1bf1236b8c15148971e1de",
    "0xab5e7f4061c605820d3744227eed91ff8e2c8908",
]
BESU_ENCODED = (
    "0xf87aa00000000000000000000000000000000000000000000000000000000000000000f854944592c8e45706"
    "cc08b8f44b11e43cba0cfc5892cb9406e23768a0f59cf365e18c2e0c89e151bcdedc7094c5327f96ee02d7bcbc1b"
    "f1236b8c15148971e1de94ab5e7f4061c605820d3744227eed91ff8e2c8908c080c0"
)
# The same page's genesis examples: block header validator selection (four validators) and
# contract validator selection (no validator in extraData).
BESU_GENESIS_VALIDATORS = [
    "0x64a702e6263b7297a96638cac6ae65e6541f4169",
    "0x3923390ad55e90c237593b3b0e401f3b08a03185",
    "0xaefdb9a738c9f433e5b6b212a6d62f6370c2f692",
    "0xc7eeb9a4e00ce683cf93039b212648e01c6c6b78",
]
BESU_GENESIS_EXTRA = (
    "0xf87aa00000000000000000000000000000000000000000000000000000000000000000f8549464a702e6263b"
    "7297a96638cac6ae65e6541f4169943923390ad55e90c237593b3b0e401f3b08a0318594aefdb9a738c9f433e5b6"
    "b212a6d62f6370c2f69294c7eeb9a4e00ce683cf93039b212648e01c6c6b78c080c0"
)
BESU_CONTRACT_EXTRA = "0xe5a00000000000000000000000000000000000000000000000000000000000000000c0c080c0"


@pytest.mark.parametrize(("validators", "expected"), [
    (BESU_TO_ENCODE, BESU_ENCODED),
    (BESU_GENESIS_VALIDATORS, BESU_GENESIS_EXTRA),
    ([], BESU_CONTRACT_EXTRA),
])
def test_extra_data_is_the_encoding_besu_documents(validators: list[str], expected: str) -> None:
    assert qbft_extra_data(validators) == expected


def test_extra_data_matches_an_independent_rlp_encoding_for_any_validator_count() -> None:
    rng = random.Random(69003)
    for count in (1, 2, 3, 4, 5, 7, 16, 64):  # 3 and more cross the 56-byte long-list form
        validators = [bytes(rng.getrandbits(8) for _ in range(20)) for _ in range(count)]
        expected = rlp.encode([bytes(32), validators, [], 0, []])
        assert qbft_extra_data(["0x" + v.hex() for v in validators]) == "0x" + expected.hex()


@pytest.mark.parametrize("item", [b"", b"\x00", b"\x7f", b"\x80", b"a" * 55, b"a" * 56,
                                  b"b" * 1024, [], [b"", [b"\x01", [[]]]], [b"x" * 60] * 5])
def test_rlp_encoding_matches_pyrlp(item: bytes | list[object]) -> None:
    assert rlp_encode(item) == rlp.encode(item)  # type: ignore[arg-type]


def test_a_validator_that_is_not_an_address_is_refused() -> None:
    from ledger.errors import InputError

    with pytest.raises(InputError, match="20-byte address"):
        qbft_extra_data(["0x1234"])


def _init(tmp_path: Path, *args: str) -> tuple[int, str, Path]:
    out = tmp_path / "kit"
    result = CliRunner().invoke(app, ["network", "init", "--out", str(out), *args])
    return result.exit_code, result.output, out


def test_the_kit_of_four_validators_is_consistent_and_keeps_keys_private(tmp_path: Path) -> None:
    code, output, out = _init(tmp_path, "--validators", "4", "--json")
    assert code == 0, output
    printed = json.loads(output)
    names = [v["name"] for v in printed["validators"]]
    assert names == ["townhall", "cee3", "bank", "energy-coop"]

    genesis = json.loads((out / "genesis.json").read_text())
    config = genesis["config"]
    assert config["chainId"] == CHAIN_ID == 69003
    assert config["zeroBaseFee"] is True and config["londonBlock"] == 0
    assert set(config["qbft"]) == {"blockperiodseconds", "epochlength", "requesttimeoutseconds"}
    # extraData decodes (with pyrlp) to the vanity, the validators in order, no vote, round 0.
    vanity, validators, votes, round_, seals = rlp.decode(bytes.fromhex(genesis["extraData"][2:]))
    assert vanity == bytes(32) and votes == [] and round_ == b"" and seals == []
    addresses = [v["address"] for v in printed["validators"]]
    assert ["0x" + v.hex() for v in validators] == [a.lower() for a in addresses]

    enodes = json.loads((out / "static-nodes.json").read_text())
    allowlist = tomllib.loads((out / "permissions_config.toml").read_text())["nodes-allowlist"]
    assert enodes == allowlist == [v["enode"] for v in printed["validators"]]
    for name, address, enode in zip(names, addresses, enodes, strict=True):
        folder = out / "nodes" / name
        key_file = folder / "key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        secret = key_file.read_text()
        private = keys.PrivateKey(bytes.fromhex(secret[2:]))
        # The key file is the validator named in the genesis and in the enode URL.
        assert private.public_key.to_checksum_address() == address
        assert enode == f"enode://{private.public_key.to_bytes().hex()}@{name}:30303"
        assert secret[2:] not in output and secret[2:].upper() not in output
        node = tomllib.loads((folder / "config.toml").read_text())
        assert node["min-gas-price"] == 0 and node["node-private-key-file"] == "key"
        assert node["rpc-http-host"] == "127.0.0.1" and node["discovery-enabled"] is False
        assert node["permissions-nodes-config-file-enabled"] is True
        for shared in ("genesis.json", "static-nodes.json", "permissions_config.toml"):
            assert (folder / shared).read_bytes() == (out / shared).read_bytes()
        others = [p for p in (out / "nodes").iterdir() if p.name != name]
        assert all((p / "key").read_text() != secret for p in others)  # a key per validator
    assert genesis["extraData"] in (out / "README.md").read_text()
    assert not list(tmp_path.glob(".kit.partial-*"))  # the staging folder was renamed


def test_hosts_and_names_are_taken_as_given(tmp_path: Path) -> None:
    code, output, out = _init(tmp_path, "--validators", "2", "--names", "a,b",
                              "--hosts", "10.0.0.1,node-b.example.org", "--json")
    assert code == 0, output
    enodes = json.loads((out / "static-nodes.json").read_text())
    assert enodes[0].endswith("@10.0.0.1:30303") and enodes[1].endswith("@node-b.example.org:30303")


@pytest.mark.parametrize(("args", "said"), [
    (["--validators", "0"], "between 1 and 64"),
    (["--validators", "2", "--names", "a"], "one name per validator"),
    (["--validators", "2", "--names", "a,a"], "the same name"),
    (["--validators", "1", "--names", "../x"], "not a valid name"),
    (["--validators", "1", "--hosts", "bad host;rm"], "not a host name"),
])
def test_bad_options_are_refused_with_a_sentence_and_write_nothing(
    tmp_path: Path, args: list[str], said: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ledger.cli import main

    monkeypatch.setattr("sys.argv", ["ledger", "network", "init", "--out",
                                     str(tmp_path / "kit"), *args])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert said in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_an_existing_kit_is_never_overwritten(tmp_path: Path) -> None:
    code, output, out = _init(tmp_path, "--validators", "1")
    assert code == 0, output
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code, output, _ = _init(tmp_path, "--validators", "1")
    assert code != 0 and not list(tmp_path.glob(".kit.partial-*"))
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
