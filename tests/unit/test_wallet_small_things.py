"""The small things a first trial of the wallet met, one test each: no terminal to confirm,
negative amounts, dates instead of unix times, the chain's clock for validity windows, advice
that fits the command, the zero address, and one decimal count per table."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger.chain.revert import ErrorDecoder
from ledger.domain.clock import paris_time
from tests.unit import test_wallet_money as money
from tests.unit.test_wallet_money import BAKERY, ME, TOKEN, FakeGateway, signer
from wallet_cli.amounts import format_amount
from wallet_cli.main import app

home = money.home  # the same wallet home and in-memory chain as the money commands' tests
chain = money.chain
runner = CliRunner()
ZERO = "0x" + "0" * 40


def test_without_a_terminal_the_terms_are_shown_with_a_whole_sentence(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["pay", "Boulangerie du Lac", "2.40", "--ref", "CROISSANT-1",
                                 "--password-file", str(tmp_path / "pw")])
    assert result.exit_code == 2 and chain.sent == []
    assert "Pay 2.40 M3E to Boulangerie du Lac" in result.stderr
    assert "run the same command again with --yes to sign them as shown" in result.stderr


def test_the_readme_payment_example_goes_through_with_yes(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["pay", "Boulangerie du Lac", "2.40", "--ref", "CROISSANT-1",
                                 "--account", "resident", "--yes", "--password-file",
                                 str(tmp_path / "pw")])
    assert result.exit_code == 0, result.output
    assert chain.sent[-1][0] == "pay"


@pytest.mark.parametrize("command", [
    ["send", BAKERY, "-1"],
    ["pay", "Boulangerie du Lac", "-1", "--ref", "R"],
    ["book", "Boulangerie du Lac", "-1", "--hours", "1", "--ref", "R"],
    ["redeem", "-1", "--ref", "R"],
    ["refund", "1", BAKERY, "-1", "--ref", "R"],
    ["request", "-1", "--to", BAKERY, "--token", TOKEN],
    ["sign", "tx", "resident", BAKERY, "-1", "--out", "x.json"],
])
def test_a_negative_amount_is_read_as_an_amount_and_refused_with_a_sentence(
    home: Path, chain: FakeGateway, tmp_path: Path, command: list[str]
) -> None:
    result = runner.invoke(app, [*command, "--yes", "--password-file", str(tmp_path / "pw")]
                           if command[0] != "request" else command)
    assert result.exit_code == 2, result.output
    assert "No such option" not in result.output
    assert "'-1' is negative" in result.stderr and "12.50" in result.stderr
    assert chain.sent == []


def test_a_contract_error_shows_its_times_as_paris_dates() -> None:
    abi = [{"type": "error", "name": "ServicePaymentsBookingNotExpired", "inputs": [
        {"name": "bookingId", "type": "uint256"}, {"name": "expiresAt", "type": "uint64"}]}]
    decoder = ErrorDecoder([abi], {"ServicePaymentsBookingNotExpired(uint256,uint64)":
                                   "The booking has not expired yet."})
    from eth_abi.abi import encode
    from eth_utils.crypto import keccak

    selector = keccak(text="ServicePaymentsBookingNotExpired(uint256,uint64)")[:4]
    error = decoder.decode(selector + encode(["uint256", "uint64"], [7, 1_796_167_956]))
    assert "1796167956" not in str(error)
    assert "expiresAt 2026-12-02 00:32:36 Europe/Paris" in str(error)
    assert "bookingId 7" in str(error)  # a count stays a number


def test_paris_time_follows_daylight_saving() -> None:
    assert paris_time(1_782_900_000) == "2026-07-01 12:00:00 Europe/Paris"  # CEST, UTC+2
    assert paris_time(1_796_166_000) == "2026-12-02 00:00:00 Europe/Paris"  # CET, UTC+1


def test_a_booking_window_starts_from_the_chain_clock_not_this_machine(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    chain.clock_ahead = 70  # the demo chain's block time ran ~70 s ahead
    before = int(time.time())
    result = runner.invoke(app, signer(tmp_path, "book", "Boulangerie du Lac", "5", "--hours",
                                       "0.01", "--ref", "R"))
    assert result.exit_code == 0, result.output
    assert chain.booked_until is not None
    # 0.01 h = 36 s after the chain's now (which is >= before + 70), not after the wall clock
    assert chain.booked_until >= before + 70 + 36


def test_a_refund_without_enough_m3e_gets_advice_for_a_refund(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    chain.balances[ME.lower()] = 1_000_000
    chain.merchant_list[0] = type(chain.merchant_list[0])(1, "Boulangerie du Lac", "food", ME, True)
    result = runner.invoke(app, signer(tmp_path, "refund", "1", BAKERY, "5", "--ref", "R"))
    assert result.exit_code != 0 and chain.sent == []
    assert "pay less" not in result.stderr and "Buy M3E" not in result.stderr
    assert "refund less" in result.stderr


def test_sending_to_the_zero_address_is_refused_before_anything_is_signed(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    result = runner.invoke(app, signer(tmp_path, "send", ZERO, "1"))
    assert result.exit_code == 2 and chain.sent == []
    assert "zero address" in result.stderr and "ERC20InvalidReceiver" not in result.output


def test_amounts_have_two_decimals_or_six_never_a_varying_count() -> None:
    assert format_amount(2_400_000) == "2.40 M3E"
    assert format_amount(247_998_010) == "247.998010 M3E"
    assert format_amount(2_400_000, full=True) == "2.400000 M3E"
    assert format_amount(125_000, full=False) == "0.125000 M3E"  # never rounded away
