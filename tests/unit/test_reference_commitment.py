"""Payment references travel as salted commitments: matched by who holds the salt, by nobody else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.chain.reference import (
    ReferenceError,
    matches,
    new_salt,
    parse_salt,
    reference_commitment,
)


def test_a_commitment_matches_its_reference_and_salt_only() -> None:
    salt = new_salt()
    commitment = reference_commitment("DESK-2026-11-CHLOE", salt)
    assert len(commitment) == 32
    assert matches(commitment, "DESK-2026-11-CHLOE", salt)
    assert not matches(commitment, "DESK-2026-11-CHLOF", salt)
    assert not matches(commitment, "DESK-2026-11-CHLOE", new_salt())


def test_the_same_reference_under_two_salts_gives_unlinkable_commitments() -> None:
    assert reference_commitment("CROISSANT-1", new_salt()) != reference_commitment("CROISSANT-1", new_salt())


@given(st.text(min_size=1, max_size=40).filter(str.isprintable), st.binary(min_size=32, max_size=32))
def test_a_salt_round_trips_through_its_hex_form(reference: str, salt: bytes) -> None:
    assert parse_salt("0x" + salt.hex()) == salt
    assert matches(reference_commitment(reference, salt), reference, parse_salt(salt.hex()))


@pytest.mark.parametrize("bad", ["", "tab\there", "x" * 141])
def test_an_unusable_reference_is_refused_with_a_sentence(bad: str) -> None:
    with pytest.raises(ReferenceError, match="reference"):
        reference_commitment(bad, new_salt())


@pytest.mark.parametrize("bad", ["", "0x12", "zz" * 32, "00" * 31])
def test_a_malformed_salt_is_refused(bad: str) -> None:
    with pytest.raises(ReferenceError, match="salt"):
        parse_salt(bad)
