"""Merchant names are unique in the registry by the names rule (case, accents, look-alikes): the
registrar's path (District.register_merchant, used by the API's operator route and the demo)
refuses a second "Boulangerie du Lac" with a sentence naming the first, its #id and payout."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.chain.client import connect
from ledger.chain.deploy import deploy_district
from ledger.chain.devnode import DevNode
from ledger.chain.district import Category, District
from ledger.demo import dev_account
from ledger.errors import InputError

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def registrar(chain_node: DevNode, compilation: Any) -> District:
    w3 = connect(chain_node.url)
    manifest = deploy_district(w3, dev_account(0), compilation=compilation)
    district = District(w3, dev_account(0), manifest)
    district.register_merchant("Boulangerie du Lac", Category.FOOD, dev_account(51).address)
    return district


@pytest.mark.parametrize(
    "duplicate",
    ["Boulangerie du Lac", "boulangerie du lac", "BOULANGERIE-DU-LAC", "Boulangerie du Lâc",
     "Bou1angerie du Lac", "Воulangerie du Lac"],  # the last with a Cyrillic В and о
)
def test_a_second_merchant_under_the_same_folded_name_is_refused(
    registrar: District, duplicate: str
) -> None:
    before = registrar.merchant_count()
    payout = dev_account(51).address
    with pytest.raises(InputError) as refused:
        registrar.register_merchant(duplicate, Category.FOOD, dev_account(52).address)
    message = str(refused.value)
    assert f"merchant #1 'Boulangerie du Lac' (payout {payout})" in message
    assert "Choose a name residents cannot mistake" in message
    assert registrar.merchant_count() == before  # nothing was sent


def test_a_clearly_different_name_is_registered(registrar: District) -> None:
    merchant_id, _ = registrar.register_merchant("Boulangerie du Parc", Category.FOOD,
                                                 dev_account(53).address)
    assert registrar.merchants()[merchant_id - 1]["name"] == "Boulangerie du Parc"


def test_a_name_of_bytes_that_are_not_utf8_reads_with_a_replacement_character(
    registrar: District,
) -> None:
    """The contract stores whatever bytes the registrar's key sends (a raw call, not this path):
    web3 refused to read such a name, so every list of merchants, and the next registration's
    look-alike check, failed. It reads with U+FFFD, and registering goes on."""
    from eth_abi.abi import encode

    from tests.fixtures.districtchain import selector

    data = "0x" + selector("registerMerchant(string,uint8,address)") + encode(
        ["bytes", "uint8", "address"], [b"Boulangerie \xff", 4, dev_account(54).address]).hex()
    registrar.client.send_call(registrar.payments.address, data)
    merchant_id = registrar.merchant_count()
    assert registrar.merchants()[merchant_id - 1]["name"] == "Boulangerie \ufffd"
    registered, _ = registrar.register_merchant("Épicerie du Parc", Category.FOOD, dev_account(55).address)
    assert registered == merchant_id + 1
