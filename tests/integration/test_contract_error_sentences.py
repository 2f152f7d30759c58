"""Every custom error of the token and the payments contract reaches a Python user as a sentence."""

from __future__ import annotations

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from ledger.chain.deploy import decoder_for

NEW_ERRORS = {
    "DistrictTokenMintAboveAllowance",
    "DistrictTokenMintAboveDailyLimit",
    "DistrictTokenAccountFrozen",
    "DistrictTokenFreezeUnchanged",
    "DistrictTokenAuthorizationNotYetValid",
    "DistrictTokenAuthorizationExpired",
    "DistrictTokenAuthorizationUsedOrCanceled",
    "DistrictTokenInvalidSignature",
    "DistrictTokenCallerNotPayee",
    "DistrictTokenRedemptionBelowMinimum",
    "DistrictTokenMinRedemptionAboveCap",
    "DistrictTokenRescueAboveBalance",
    "DistrictTokenIsRetired",
    "DistrictTokenEscrowNotEmpty",
    "DistrictTokenNoPredecessor",
    "DistrictTokenPredecessorNotRetired",
    "DistrictTokenAlreadyCarriedOver",
    "DistrictTokenCarryOverUnfinished",
    "DistrictTokenMinterAllowanceChanged",
    "ServicePaymentsPayoutChangePending",
    "ServicePaymentsNoPayoutChange",
    "ServicePaymentsPayoutChangeNotDue",
    "ServicePaymentsCannotCancelPayoutChange",
    "ServicePaymentsBookingExpired",
    "ServicePaymentsRescueAboveExcess",
    "ServicePaymentsExpiryTooFar",
}


def _sample(kind: str) -> object:
    if kind == "address":
        return "0x" + "11" * 20
    if kind.startswith("bytes"):
        return b"\x22" * 32
    if kind == "bool":
        return True
    if kind == "string":
        return "text"
    if kind == "uint8":
        return 7
    return 12_345_678


def test_every_error_of_the_token_and_payments_decodes_to_its_notice(compilation) -> None:  # type: ignore[no-untyped-def]
    decoder = decoder_for(compilation)
    seen: set[str] = set()
    for name in ("DistrictToken", "ServicePayments"):
        for item in compilation.contracts[name].abi:
            if item.get("type") != "error":
                continue
            types = [i["type"] for i in item["inputs"]]
            signature = f"{item['name']}({','.join(types)})"
            data = keccak(text=signature)[:4] + encode(types, [_sample(t) for t in types])
            error = decoder.decode(data)
            message = str(error)
            assert error.error_name == item["name"]
            assert not message.startswith(item["name"]), f"{signature} has no sentence"
            assert message[0].isupper() and "." in message, message
            seen.add(item["name"])
    assert NEW_ERRORS <= seen, NEW_ERRORS - seen


def test_a_minter_allowance_error_shows_amounts_in_m3e(compilation) -> None:  # type: ignore[no-untyped-def]
    decoder = decoder_for(compilation)
    types = ["address", "uint256", "uint256"]
    data = keccak(text="DistrictTokenMintAboveAllowance(address,uint256,uint256)")[:4] + encode(
        types, ["0x" + "11" * 20, 5_000_000, 1_250_000]
    )
    message = str(decoder.decode(data))
    assert message.startswith("This treasurer key may not mint that much: ask the admin")
    assert "amount 5.00 M3E" in message and "allowance 1.25 M3E" in message


def test_an_unfinished_carry_over_says_what_to_do_and_how_much_is_missing(compilation) -> None:  # type: ignore[no-untyped-def]
    decoder = decoder_for(compilation)
    types = ["address", "uint256", "uint256"]
    data = keccak(text="DistrictTokenCarryOverUnfinished(address,uint256,uint256)")[:4] + encode(
        types, ["0x" + "11" * 20, 900_000_000, 1_050_000_000]
    )
    message = str(decoder.decode(data))
    assert message.startswith("This token cannot be retired before every balance of its retired predecessor")
    assert "call carryOver for the remaining holders first" in message
    assert "carriedAmount 900.00 M3E" in message and "predecessorSupply 1 050.00 M3E" in message


def test_a_booking_expiry_too_far_names_the_ninety_days(compilation) -> None:  # type: ignore[no-untyped-def]
    decoder = decoder_for(compilation)
    types = ["uint64", "uint256"]
    data = keccak(text="ServicePaymentsExpiryTooFar(uint64,uint256)")[:4] + encode(
        types, [2**64 - 1, 1_757_776_000]
    )
    message = str(decoder.decode(data))
    assert message.startswith("A booking may last at most MAX_BOOKING_DURATION (90 days) from its opening")
    assert "latest 2025-09-13 17:06:40 Europe/Paris" in message  # 1757776000, in Paris time
