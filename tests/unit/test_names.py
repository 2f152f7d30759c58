"""The names rule (ledger.names): case, accents and Unicode look-alikes are one name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.names import fold, foreign_lookalikes, name_keys, resembles, skeleton


@pytest.mark.parametrize(
    ("fake", "real"),
    [
        ("аlice", "alice"),  # Cyrillic а (U+0430)
        ("zoe-cIient", "zoe-client"),  # capital I for small l
        ("zoé-client", "zoe-client"),  # an accent
        ("ALICE", "alice"),
        ("Alice", "alice"),
        ("b0b", "bob"),  # digit zero for o
        ("Bou1angerie du Lac", "Boulangerie du Lac"),  # digit one for l
        ("boulangerie-du-lac", "Boulangerie du Lac"),  # separators
        ("Boulangerie  du   Lac", "Boulangerie du Lac"),  # spacing
        ("Воulangerie du Lac", "Boulangerie du Lac"),  # Cyrillic В and о
        ("ｂｏｕｌａｎｇｅｒｉｅ du Lac", "Boulangerie du Lac"),  # full-width letters
        ("a\u200blice", "alice"),  # a zero-width space inside
        ("Élise", "elise"),
        ("ﬁlou", "filou"),  # a ligature
        ("раураl", "paypal"),  # all look-alikes but one
    ],
)
def test_a_look_alike_resembles_the_real_name(fake: str, real: str) -> None:
    assert resembles(fake, real)
    assert resembles(real, fake)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("alice", "bob"),
        ("alice", "aiice"),
        ("La Ruche", "La Ruche Part-Dieu"),
        ("Boulangerie du Lac", "Boulangerie du Parc"),
        ("Lili", "Liii"),
        ("Chloé", "Chloë Martin"),
    ],
)
def test_different_names_do_not_resemble(a: str, b: str) -> None:
    assert not resembles(a, b)


def test_folding_keeps_letters_and_drops_case_accents_and_separators() -> None:
    assert fold("  Zoé-Client ") == "zoe client"
    assert fold("L'Épicerie & Co") == "l epicerie co"


def test_the_skeleton_maps_look_alikes_together_and_is_idempotent() -> None:
    assert skeleton("аlice") == skeleton("alice")
    assert skeleton(skeleton("zoe-cIient")) == skeleton("zoe-cIient")


@given(st.text(min_size=1, max_size=24))
def test_any_name_resembles_itself_its_case_variants_and_its_fold(name: str) -> None:
    if not name_keys(name) or not fold(name):
        return
    assert resembles(name, name)
    assert resembles(name, name.upper()) or not fold(name.upper())
    assert resembles(name, fold(name))


def test_a_name_mixing_scripts_with_look_alike_letters_is_pointed_out() -> None:
    assert foreign_lookalikes("аlice") == [("а", "Cyrillic")]
    assert foreign_lookalikes("Chloé") == []
    assert foreign_lookalikes("Алиса") == []  # one script: a Russian name is fine
