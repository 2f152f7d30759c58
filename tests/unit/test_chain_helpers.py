"""Pure helpers of the chain adapter: revert sentences, references, manifests, source collection."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from pydantic import SecretStr

from ledger.chain.client import load_signer
from ledger.chain.district import ref32, ref_text
from ledger.chain.manifest import DeployedContract, Manifest
from ledger.chain.revert import ErrorDecoder
from ledger.chain.solc import collect_sources, source_hash
from ledger.chain.verify import mask_immutables
from ledger.domain.money import format_micro, parse_m3e
from ledger.errors import ConfigError, InputError, ManifestError
from ledger.settings import DEV_ACCOUNT_KEY, LedgerSettings

ABI = [
    {
        "type": "error",
        "name": "ServicePaymentsRefundAboveNetPaid",
        "inputs": [
            {"name": "merchantId", "type": "uint256"},
            {"name": "payer", "type": "address"},
            {"name": "amount", "type": "uint256"},
            {"name": "netPaid", "type": "uint256"},
        ],
    },
    {
        "type": "error",
        "name": "DistrictTokenDepositAlreadyRecorded",
        "inputs": [{"name": "bankRef", "type": "bytes32"}],
    },
]
NOTICES = {
    "ServicePaymentsRefundAboveNetPaid(uint256,address,uint256,uint256)": (
        "A merchant cannot refund more than the payer paid it."
    ),
}


def selector(sig: str) -> bytes:
    return keccak(text=sig)[:4]


def test_a_custom_error_becomes_its_notice_with_amounts_in_m3e() -> None:
    payer = "0x" + "11" * 20
    data = selector("ServicePaymentsRefundAboveNetPaid(uint256,address,uint256,uint256)") + encode(
        ["uint256", "address", "uint256", "uint256"], [3, payer, 5_000_000, 4_250_000]
    )
    error = ErrorDecoder([ABI], NOTICES).decode("0x" + data.hex())
    assert error.error_name == "ServicePaymentsRefundAboveNetPaid"
    assert str(error).startswith("A merchant cannot refund more than the payer paid it.")
    assert "amount 5.00 M3E" in str(error) and "netPaid 4.25 M3E" in str(error)
    assert "merchantId 3" in str(error)


def test_an_error_without_notice_falls_back_to_its_name_and_shows_text_references() -> None:
    data = selector("DistrictTokenDepositAlreadyRecorded(bytes32)") + encode(
        ["bytes32"], [b"BANK-1".ljust(32, b"\0")]
    )
    error = ErrorDecoder([ABI], {}).decode(data)
    assert str(error) == "DistrictTokenDepositAlreadyRecorded (bankRef 'BANK-1')"


def test_panics_plain_reverts_unknown_and_empty_data_all_give_sentences() -> None:
    decoder = ErrorDecoder([ABI], NOTICES)
    panic = bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])
    assert "overflowed" in str(decoder.decode(panic))
    plain = bytes.fromhex("08c379a0") + encode(["string"], ["nope"])
    assert str(decoder.decode(plain)) == "The contract refused: nope"
    assert "unknown error 0xdeadbeef" in str(decoder.decode("0xdeadbeef"))
    assert "without saying why" in str(decoder.decode(None))
    assert "without saying why" in str(decoder.decode("0xzz"))


@pytest.mark.parametrize(
    ("micro", "text"),
    [
        (0, "0.00 M3E"),
        (12_500_000, "12.50 M3E"),
        (1_234_567, "1.234567 M3E"),
        (-50_000, "-0.05 M3E"),
        (1_000_000_000_000, "1 000 000.00 M3E"),
    ],
)
def test_amounts_show_two_decimals_unless_cents_do_not_say_it_all(micro: int, text: str) -> None:
    assert format_micro(micro, thousands=" ") == text


@pytest.mark.parametrize("text", ["1.0000001", "0.1234567", "12.50000000 M3E"])
def test_an_amount_with_more_than_six_decimals_says_what_to_write_instead(text: str) -> None:
    with pytest.raises(ValueError, match="more than 6 decimals") as refused:
        parse_m3e(text)
    message = str(refused.value)
    assert "the smallest amount is 0.000001 M3E" in message and "round it" in message


def test_references_are_1_to_32_bytes_of_text() -> None:
    assert ref_text(ref32("INV-1")) == "INV-1"
    assert ref_text(ref32("é" * 16)) == "é" * 16
    for bad in ("", "x" * 33, "é" * 17):
        with pytest.raises(InputError, match="1 to 32 bytes"):
            ref32(bad)


def test_the_manifest_round_trips_and_a_broken_one_says_what_to_do(tmp_path: Path) -> None:
    manifest = Manifest(
        69003,
        "0.8.28",
        "ab" * 32,
        {"DistrictToken": DeployedContract("0x" + "22" * 20, 3, "0x01", [])},
        error_notices={"X()": "x"},
    )
    path = tmp_path / "m.json"
    manifest.save(path)
    assert Manifest.load(path) == manifest
    with pytest.raises(ManifestError, match="run `ledger deploy`"):
        Manifest.load(tmp_path / "missing.json")
    path.write_text("{not json")
    with pytest.raises(ManifestError, match="unreadable"):
        Manifest.load(path)
    path.write_text('{"chain_id": 1}')
    with pytest.raises(ManifestError, match="malformed"):
        Manifest.load(path)


def test_sources_are_collected_with_their_imports(tmp_path: Path) -> None:
    (tmp_path / "contracts" / "lib").mkdir(parents=True)
    (tmp_path / "node_modules" / "@oz" / "x").mkdir(parents=True)
    (tmp_path / "contracts" / "A.sol").write_text('import {B} from "./lib/B.sol";\nimport "@oz/x/C.sol";\n')
    (tmp_path / "contracts" / "lib" / "B.sol").write_text('import "../A.sol";\n')
    (tmp_path / "node_modules" / "@oz" / "x" / "C.sol").write_text("// c\n")
    sources = collect_sources(tmp_path, ["contracts/A.sol"])
    assert set(sources) == {"contracts/A.sol", "contracts/lib/B.sol", "@oz/x/C.sol"}
    changed = dict(sources, **{"@oz/x/C.sol": "// changed\n"})
    assert source_hash(sources) != source_hash(changed)


def test_immutable_slots_are_masked_and_nothing_else() -> None:
    code = bytes(range(40))
    masked = mask_immutables(code, {"7": [{"start": 2, "length": 3}, {"start": 30, "length": 2}]})
    assert masked[2:5] == b"\0\0\0" and masked[30:32] == b"\0\0"
    assert masked[:2] == code[:2] and masked[5:30] == code[5:30] and masked[32:] == code[32:]


class _FakeWeb3:
    def __init__(self, version: str) -> None:
        self.client_version = version


def test_the_public_dev_key_is_refused_on_a_node_that_is_not_a_dev_node() -> None:
    settings = LedgerSettings(deployer_key=SecretStr(DEV_ACCOUNT_KEY))
    with pytest.raises(ConfigError, match="development key"):
        load_signer(settings, _FakeWeb3("besu/v24.1.0/linux-x86_64"))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no operator key"):
        load_signer(LedgerSettings(), _FakeWeb3("Geth/v1.14"))  # type: ignore[arg-type]
    account = load_signer(LedgerSettings(), _FakeWeb3("HardhatNetwork/3.18.0/@nomicfoundation/edr/0.3.8"))  # type: ignore[arg-type]
    assert account.address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
