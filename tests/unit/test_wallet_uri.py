"""ERC-681 payment requests: building, reading, refusing, and the `ref` extension."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wallet_cli.errors import PaymentURIError, UsageError
from wallet_cli.payment_uri import (
    build_payment_uri,
    bytes32_to_ref,
    parse_erc681_number,
    parse_payment_uri,
    ref_to_bytes32,
)

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
OTHER_TOKEN = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
MERCHANT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_a_request_is_the_erc681_transfer_form_with_the_district_chain_id() -> None:
    uri = build_payment_uri(TOKEN, MERCHANT, 12_500_000, ref="INV-42")
    assert uri == (
        f"ethereum:{TOKEN}@69003/transfer?address={MERCHANT}&uint256=12500000&ref=INV-42"
    )


def test_a_built_request_reads_back_identically() -> None:
    uri = build_payment_uri(TOKEN, MERCHANT, 1, ref="Café n°42 / table 3")
    request = parse_payment_uri(uri, expected_token=TOKEN)
    assert (request.token, request.chain_id, request.to, request.amount, request.ref) == (
        TOKEN,
        69003,
        MERCHANT,
        1,
        "Café n°42 / table 3",
    )
    assert "%C3%A9" in uri and " " not in uri


def test_lowercase_addresses_are_accepted_and_checksummed() -> None:
    uri = f"ethereum:{TOKEN.lower()}@69003/transfer?address={MERCHANT.lower()}&uint256=5"
    request = parse_payment_uri(uri)
    assert request.token == TOKEN and request.to == MERCHANT


@pytest.mark.parametrize(
    ("number", "value"),
    [("12500000", 12_500_000), ("1.25e7", 12_500_000), ("1.25E7", 12_500_000),
     ("2.014e18", 2_014_000_000_000_000_000), ("1e6", 1_000_000), ("+7", 7)],
)
def test_scientific_notation_is_read_as_erc681_allows(number: str, value: int) -> None:
    assert parse_erc681_number(number, "amount") == value
    uri = f"ethereum:{TOKEN}@69003/transfer?address={MERCHANT}&uint256={number}"
    assert parse_payment_uri(uri).amount == value


@pytest.mark.parametrize("number", ["1.5", "1.2345e3", "-5", "abc", "e5", "1e", "0x10", ""])
def test_numbers_that_are_not_whole_base_units_are_refused(number: str) -> None:
    with pytest.raises(PaymentURIError):
        parse_erc681_number(number, "amount")


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        (f"ethereum:{TOKEN}@1/transfer?address={MERCHANT}&uint256=1", "chain 1, not"),
        (f"ethereum:{TOKEN}@137/transfer?address={MERCHANT}&uint256=1", "nothing was paid"),
        (f"ethereum:{TOKEN}/transfer?address={MERCHANT}&uint256=1", "which chain"),
        (f"ethereum:{OTHER_TOKEN}@69003/transfer?address={MERCHANT}&uint256=1", "not M3E"),
        (f"ethereum:{TOKEN}@69003/approve?address={MERCHANT}&uint256=1", "'approve'"),
        (f"ethereum:{MERCHANT}@69003?value=1e18", "plain ether transfer"),
        (f"ethereum:m3e.eth@69003/transfer?address={MERCHANT}&uint256=1", "ENS"),
        (f"bitcoin:{TOKEN}", "should start with 'ethereum:'"),
        (f"ethereum:{TOKEN}@69003/transfer?uint256=1", "who to pay"),
        (f"ethereum:{TOKEN}@69003/transfer?address={MERCHANT}", "how much"),
        (f"ethereum:{TOKEN}@69003/transfer?address={MERCHANT}&uint256=0", "zero"),
        (f"ethereum:{TOKEN}@69003/transfer?address=alice.eth&uint256=1", "recipient"),
        (
            f"ethereum:{TOKEN}@69003/transfer?address={MERCHANT}&uint256=1&uint256=2",
            "appears twice",
        ),
        (
            f"ethereum:{TOKEN}@69003/transfer?address={MERCHANT}&uint256=1&value=5",
            "ether",
        ),
        (f"ethereum:{TOKEN}@69003/transfer?address={MERCHANT}&uint256=1&ref=%FF", "UTF-8"),
        (f"ethereum:{TOKEN}@69003/transfer?address={MERCHANT}&uint256=1&ref=" + "x" * 40,
         "at most 32 bytes"),
        (
            f"ethereum:{TOKEN}@69003/transfer?address="
            "0x70997970c51812dc3a010c7d01b50e0d17dc79C8&uint256=1",
            "checksum",
        ),
    ],
)
def test_requests_for_another_chain_token_or_shape_are_refused_clearly(
    uri: str, fragment: str
) -> None:
    with pytest.raises(PaymentURIError, match=fragment):
        parse_payment_uri(uri, expected_token=TOKEN)


def test_the_pay_prefix_and_gas_hints_are_tolerated() -> None:
    uri = f"ethereum:pay-{TOKEN}@69003/transfer?address={MERCHANT}&uint256=1&gas=90000"
    assert parse_payment_uri(uri).amount == 1


def test_references_become_left_aligned_zero_padded_bytes32() -> None:
    raw = ref_to_bytes32("INV-42")
    assert raw == b"INV-42" + b"\0" * 26
    assert bytes32_to_ref(raw) == "INV-42"
    hex_ref = "0x" + "ab" * 32
    assert ref_to_bytes32(hex_ref) == bytes.fromhex("ab" * 32)
    assert bytes32_to_ref(bytes.fromhex("ab" * 32)) == hex_ref
    assert bytes32_to_ref(ref_to_bytes32("x" * 32)) == "x" * 32  # a full bytes32 of text


@pytest.mark.parametrize("bad", ["", "x" * 33, "é" * 17, "line\nbreak"])
def test_references_that_do_not_fit_or_are_not_printable_are_refused(bad: str) -> None:
    with pytest.raises(UsageError):
        ref_to_bytes32(bad)


@given(
    amount=st.integers(min_value=1, max_value=2**256 - 1),
    ref=st.text(min_size=1, max_size=10).filter(lambda t: t.isprintable()),
)
def test_any_request_round_trips(amount: int, ref: str) -> None:
    uri = build_payment_uri(TOKEN, MERCHANT, amount, ref=ref)
    request = parse_payment_uri(uri, expected_token=TOKEN)
    assert (request.amount, request.ref) == (amount, ref)
    assert bytes32_to_ref(ref_to_bytes32(ref)) == ref or ref.strip("\0") != ref
