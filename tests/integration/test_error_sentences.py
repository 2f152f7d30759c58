"""Every custom error the contracts (and the OpenZeppelin timelock) can revert with reaches a
Python user as a sentence, not a bare name or a hex selector."""

from __future__ import annotations

from typing import Any

from ledger.chain.revert import _EXTRA_NOTICES, ErrorDecoder, _signature, notices_from_userdocs
from ledger.chain.solc import TIMELOCK_SOURCE, compile_entries


def test_every_error_of_the_district_contracts_and_the_timelock_has_a_sentence(compilation: Any) -> None:
    timelock = compile_entries([TIMELOCK_SOURCE])
    notices = notices_from_userdocs([c.userdoc for c in compilation.contracts.values()])
    missing = []
    errors = 0
    for contract in [*compilation.contracts.values(), *timelock.contracts.values()]:
        for item in contract.abi:
            if item["type"] != "error":
                continue
            errors += 1
            sentence = notices.get(_signature(item)) or _EXTRA_NOTICES.get(item["name"])
            if not sentence or not sentence.endswith((".", ")")) or sentence == item["name"]:
                missing.append(f"{contract.name}.{_signature(item)}")
    assert errors > 60
    assert missing == []


def test_the_new_refusals_decode_with_their_arguments(compilation: Any) -> None:
    from eth_abi.abi import encode
    from eth_utils.crypto import keccak

    decoder = ErrorDecoder([c.abi for c in compilation.contracts.values()],
                           notices_from_userdocs([c.userdoc for c in compilation.contracts.values()]))
    minter = "0x" + "ab" * 20
    data = keccak(text="DistrictTokenMintAboveAllowance(address,uint256,uint256)")[:4] + encode(
        ["address", "uint256", "uint256"], [minter, 2_500_000, 1_000_000])
    refusal = decoder.decode(data)
    assert refusal.error_name == "DistrictTokenMintAboveAllowance"
    assert str(refusal).startswith("This treasurer key may not mint that much: ask the admin")
    assert "amount 2.50 M3E" in str(refusal) and "allowance 1.00 M3E" in str(refusal)
