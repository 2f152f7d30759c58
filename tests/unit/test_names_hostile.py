"""Names nobody can fake and references never in clear, against a hostile user: each test is
one attack on those promises (found by an outside review), written as the behaviour the promise
implies. Severity and reproduction of the original problem are in the docstrings.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ledger.names import foreign_lookalikes, resembles
from tests.unit.test_wallet_lookalikes import FakeRpc, registry
from tests.unit.test_wallet_money import (  # the wallet's in-memory chain and home
    BAKERY,
    NEIGHBOUR,
    TOKEN,
    FakeGateway,
    chain,
    home,
    signer,
)
from wallet_cli.contacts import Contacts, KnownName
from wallet_cli.main import app

__all__ = ["chain", "home", "registry"]  # fixtures used by name

runner = CliRunner()
OTHER = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"


# ---------------------------------------------------------------- 1. the names rule (HIGH)


@pytest.mark.parametrize(
    ("fake", "real"),
    [
        ("z0e-cIient", "zoe-client"),  # the docstring's two examples (b0b, zoe-cIient) together
        ("n0eI", "noel"),  # digit zero for o, capital I for l
        ("chI0e", "chloe"),
        ("B0uIangerie du Lac", "Boulangerie du Lac"),
        ("Bou1angerie du I_ac", "Boulangerie du Lac"),
    ],
)
def test_a_name_mixing_a_zero_and_a_capital_i_is_caught(
    fake: str, real: str
) -> None:
    """HIGH. `0` for `o` is caught only in the upper-case key, `I` for `l` only in the others
    (the confusable classes {0, O} and {o}, {l, I, 1} and {L} are kept apart and the three keys
    never mix them), so one name using both substitutions matches none of the real name's
    keys. Pure ASCII: check_contact_name, foreign_lookalikes and the registrar all accept it."""
    assert resembles(fake, real)


@pytest.mark.parametrize(
    ("fake", "real"),
    [
        ("alice\u3164", "alice"),  # HANGUL FILLER (Lo, invisible) after the name
        ("ali\uffa0ce", "alice"),  # HALFWIDTH HANGUL FILLER inside
        ("alice\u115f", "alice"),  # HANGUL CHOSEONG FILLER
        ("Boulangerie\u3164du\u3164Lac", "Boulangerie du Lac"),  # fillers as the spaces
        ("Boulangerie du Lac\u2800", "Boulangerie du Lac"),  # BRAILLE PATTERN BLANK
    ],
)
def test_an_invisible_letter_that_is_not_a_format_character_makes_no_new_name(
    fake: str, real: str
) -> None:
    """HIGH. fold drops category Cf and marks only; the Hangul fillers (Lo, Default_Ignorable,
    rendered blank) and U+2800 (So, rendered as a space) are kept, so a name with one of them
    is shown exactly like the real one but is "another name". U+3164 even passes the contact
    character rule (it is \\w)."""
    assert resembles(fake, real)


@pytest.mark.parametrize(
    ("fake", "shown_as", "real"),
    [
        ("ᎪᏞᎥᏟᎬ", "ALiCE", "alice"),  # all Cherokee: no mixed-script refusal either
        ("ᏞᎥᏞᎥ", "LiLi", "lili"),
    ],
)
def test_a_one_script_lookalike_of_a_mixed_case_spelling_is_caught(
    fake: str, shown_as: str, real: str
) -> None:
    """MEDIUM. The skeleton of `fake` is the mixed-case Latin spelling `shown_as`, which the
    rule does refuse (`ALiCE` is `alice`); but the key folds *after* the skeleton and never
    takes the skeleton again (Cherokee TLE -> `L` -> fold `l`, while `l` itself is keyed `1`),
    so the look-alike of a refused spelling is accepted. One script, so foreign_lookalikes
    says nothing and the contact is saved."""
    assert resembles(shown_as, real)  # the rule's own verdict on the spelling it shows
    assert foreign_lookalikes(fake) == []
    assert resembles(fake, real)


def test_a_lookalike_contact_of_an_own_account_or_contact_is_refused(tmp_path: Path) -> None:
    """HIGH (wallet, promise 1). Contacts.add with the own account `noel` and the contact
    `zoe-client` accepts `n0eI`, `noel<HANGUL FILLER>` and `z0e-cIient`."""
    book = Contacts(tmp_path)
    accounts = [KnownName("account", "noel", NEIGHBOUR)]
    book.add("zoe-client", OTHER, accounts=accounts)
    saved = []
    for name in ("n0eI", "noel\u3164", "z0e-cIient"):
        try:
            book.add(name, BAKERY, accounts=accounts)
            saved.append(name)
        except Exception:
            pass
    assert saved == [], f"look-alikes saved as contacts: {saved!r}"


def test_a_contact_looking_like_a_merchant_is_refused_and_never_paid(
    home: Path, registry: FakeRpc, chain: FakeGateway, tmp_path: Path
) -> None:
    """HIGH (wallet, promise 1). `wallet contacts add "B0uIangerie du Lac" <addr>` is saved
    although the registry holds 'Boulangerie du Lac' (#1), and `wallet send` pays it without
    the check-again refusal."""
    added = runner.invoke(app, ["contacts", "add", "B0uIangerie du Lac", NEIGHBOUR, "--json"])
    sent = runner.invoke(app, [*signer(tmp_path, "send", "B0uIangerie du Lac", "1"), "--json"])
    assert added.exit_code != 0, "a look-alike of merchant #1 was saved as a contact"
    assert "looks like" in added.output and "Boulangerie du Lac" in added.output
    # The review asserted that nothing is sent at all. Once the contact is refused, the name
    # typed is no contact: `send` reads it as a merchant name, and a name that looks like
    # merchant #1's is merchant #1 (the wallet folds look-alikes when finding a merchant), so
    # the right behaviour is that the look-alike contact's address is never paid: either
    # nothing is sent, or merchant #1's own payout is, with the never-seen-payout flag.
    assert all(NEIGHBOUR not in call for call in chain.sent), "paid as a contact"
    if sent.exit_code == 0:
        assert [c for c in chain.sent if c[0] == "transfer"] == [("transfer", BAKERY, 1_000_000)]
        assert f"never paid 'Boulangerie du Lac' at the payout address {BAKERY}" in sent.stderr
    else:
        assert chain.sent == []


# ---------------------------------------------------------------- 2. the registrar


class _FakeRegistryChain:
    """ServicePayments seen by District.register_merchant: reads, and a transaction that
    takes `delay` seconds to be mined (as on a real node)."""

    def __init__(self, names: list[str], delay: float = 0.0) -> None:
        self.names = list(names)
        self.delay = delay
        self.lock = threading.Lock()

    def merchants(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{"id": i + 1, "name": n, "payout": OTHER, "category": "food", "active": True}
                    for i, n in enumerate(self.names)]

    # the parts of District's client and contract that register_merchant touches
    def transact(self, call: tuple[str, str]) -> Any:
        time.sleep(self.delay)
        with self.lock:
            self.names.append(call[1])
            merchant_id = len(self.names)
        return type("Sent", (), {"receipt": {"id": merchant_id}})()

    def registerMerchant(self, name: str, category: int, payout: str) -> tuple[str, str]:
        return ("registerMerchant", name)

    def MerchantRegistered(self) -> _FakeRegistryChain:
        return self

    def process_receipt(self, receipt: dict[str, int], errors: Any = None) -> list[dict[str, Any]]:
        return [{"args": {"merchantId": receipt["id"]}}]


def _district(fake: _FakeRegistryChain) -> Any:
    from ledger.chain.district import District

    district = District.__new__(District)
    district.merchants = fake.merchants  # type: ignore[method-assign]
    district.client = fake  # type: ignore[assignment]
    district.payments = type("Payments", (), {"functions": fake, "events": fake})()
    return district


@pytest.mark.parametrize("name", ["B0uIangerie du Lac", "Boulangerie\u3164du\u3164Lac",
                                  "Boulangerie du Lac\u2800"])
def test_the_registrar_refuses_a_lookalike_of_an_existing_merchant(name: str) -> None:
    """HIGH (promise 2). District.register_merchant (the API operator route's path) registers
    these look-alikes of 'Boulangerie du Lac' (#1)."""
    from ledger.chain.district import Category
    from ledger.errors import InputError

    fake = _FakeRegistryChain(["Boulangerie du Lac"])
    with pytest.raises(InputError):
        _district(fake).register_merchant(name, Category.FOOD, BAKERY)


@pytest.mark.parametrize(
    "name",
    [
        "\u202ecaL ud eiregnaluoB",  # RIGHT-TO-LEFT OVERRIDE: displayed 'Boulangerie du Lac'
        "\u2067\u202ecaL ud eiregnaluoB\u202c\u2069",  # the same, isolated
        "Boulangerie du\x07 Lac",  # BEL: invisible in a terminal
        "Boulangerie du Lac\x1b[8m #1",  # ESC: terminal escape sequence (conceal) in the name
    ],
)
def test_the_registrar_refuses_names_with_bidi_overrides_and_control_characters(
    name: str,
) -> None:
    """HIGH for the bidi override, MEDIUM for controls (promise 2). The registrar has no
    character rule (a contact has one: `_CONTACT_CHARS`): fold drops the bidi controls and
    compares the *logical* text 'cal ud eiregnaluob', so a name that any bidi-aware display
    (the API's web page, most GUIs) shows exactly as 'Boulangerie du Lac' is registered; C0
    controls are kept by fold, so an invisible BEL makes a new name, and ESC sequences reach
    the wallet's terminal in every listing and confirmation line."""
    from ledger.chain.district import Category
    from ledger.errors import InputError

    fake = _FakeRegistryChain(["Boulangerie du Lac"])
    with pytest.raises(InputError):
        _district(fake).register_merchant(name, Category.FOOD, BAKERY)


def test_of_two_concurrent_registrations_of_one_name_only_one_goes_through() -> None:
    """LOW (promise 2; needs the registrar's key or two concurrent operator requests). The
    check reads the registry, then the transaction is mined: nothing serialises check and
    send (ChainOperator's lock only covers connecting; the API runs each request in a worker
    thread), so 'Boulangerie du Lac' and 'boulangerie du lac' sent together are both
    registered."""
    from ledger.chain.district import Category

    fake = _FakeRegistryChain([], delay=0.3)
    district = _district(fake)
    outcomes: list[str] = []

    def register(name: str) -> None:
        try:
            district.register_merchant(name, Category.FOOD, BAKERY)
            outcomes.append("registered")
        except Exception:
            outcomes.append("refused")

    threads = [threading.Thread(target=register, args=(n,))
               for n in ("Boulangerie du Lac", "boulangerie du lac")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "registered"], fake.names


@pytest.mark.parametrize("name", ["2", "#2"])
def test_the_registrar_refuses_a_merchant_named_like_a_merchant_number(name: str) -> None:
    """LOW. The wallet refuses a contact made of digits because `2` is read as merchant #2;
    the registrar registers a merchant named `2` or `#2`. `wallet pay 2` / `#2` then pays the
    merchant with id 2, and lists show `#3 #2`."""
    from ledger.chain.district import Category
    from ledger.errors import InputError

    fake = _FakeRegistryChain(["Boulangerie du Lac", "La Ruche"])
    with pytest.raises(InputError):
        _district(fake).register_merchant(name, Category.FOOD, BAKERY)


# ---------------------------------------------------------------- 2b. the payout flag


def test_a_booking_deposit_to_a_payout_never_seen_is_flagged(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    """MEDIUM (promise 2: "a payout address the wallet has not seen before for a merchant is
    flagged before paying"). `pay` and `send` call payout_check; `book` never does: a first
    deposit to 'Boulangerie du Lac' (or a look-alike merchant) shows no flag, and the payout
    is never remembered either."""
    result = runner.invoke(app, [*signer(tmp_path, "book", "Boulangerie du Lac", "5",
                                         "--hours", "2", "--ref", "TABLE-4"), "--json"])
    assert result.exit_code == 0, result.output
    assert f"never paid 'Boulangerie du Lac' at the payout address {BAKERY}" in result.stderr


# ---------------------------------------------------------------- 3. URIs and crashes


URI = f"ethereum:{TOKEN}@69003/transfer?address={BAKERY}&uint256=1000000"


def test_a_superscript_digit_in_the_chain_id_is_refused_with_a_sentence(home: Path) -> None:
    """MEDIUM (crash). '³'.isdigit() is True but int('6900³') raises ValueError, which
    `guarded` does not map: `wallet check-uri "ethereum:<token>@6900³/transfer?..."` (and
    `wallet pay` with it) ends in a Python traceback instead of a sentence."""
    result = runner.invoke(app, ["check-uri", URI.replace("@69003", "@6900\u00b3"), "--token",
                                 TOKEN])
    assert not isinstance(result.exception, ValueError), "a traceback, not a sentence"
    assert result.exit_code == 2


def test_a_superscript_digit_as_a_merchant_number_is_refused_with_a_sentence(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    """MEDIUM (crash). find_merchant: '²'.isdigit() then int('²') -> ValueError:
    `wallet pay ² 1 --ref R` (and `book ²`) crash with a traceback."""
    result = runner.invoke(app, [*signer(tmp_path, "pay", "\u00b2", "1", "--ref", "R"), "--json"])
    assert not isinstance(result.exception, ValueError), "a traceback, not a sentence"
    assert result.exit_code in (1, 2)


def test_a_huge_exponent_in_the_amount_is_refused_at_once() -> None:
    """MEDIUM (denial of service from a QR code). parse_erc681_number converts the Decimal to
    an int before comparing with 2**256: `uint256=1e9999999` (or `value=`) makes
    `wallet check-uri` / `wallet pay URI` compute a ten-million-digit integer (minutes of CPU;
    1e999999999 also gigabytes). Expected: 'too large' at once."""
    code = (
        "from wallet_cli.payment_uri import parse_payment_uri\n"
        "from wallet_cli.errors import PaymentURIError\n"
        f"uri = {URI.replace('uint256=1000000', 'uint256=1e9999999')!r}\n"
        "try:\n"
        "    parse_payment_uri(uri)\n"
        "except PaymentURIError as exc:\n"
        "    print(exc)\n"
    )
    root = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=5, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    except subprocess.TimeoutExpired:
        pytest.fail("parsing the URI was still running after 5 s (killed)")
    assert "too large" in done.stdout, done.stderr


def test_an_upper_case_scheme_is_read_by_check_uri_and_by_pay(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    """LOW. parse_payment_uri accepts `ETHEREUM:` (RFC 3986: schemes are case-insensitive) and
    `check-uri` shows the request, but `pay` tests `target.startswith("ethereum:")` and reads
    the URI as a merchant name ("How much?"). A QR scanner that upper-cases (alphanumeric QR
    mode) breaks payments."""
    upper = "ETHEREUM:" + URI.removeprefix("ethereum:")
    checked = runner.invoke(app, ["check-uri", upper, "--token", TOKEN, "--json"])
    assert checked.exit_code == 0, checked.output
    paid = runner.invoke(app, [*signer(tmp_path, "pay", upper), "--json"])
    assert paid.exit_code == 0, paid.output


# ---------------------------------------------------------------- 4. references in clear


def test_a_request_qr_file_with_the_reference_and_its_salt_is_private(
    home: Path, tmp_path: Path
) -> None:
    """MEDIUM (promise 3: reference and salt kept in 0600 files). `wallet request --ref R
    --qr-file F` saves the QR code (the URI with ref= and refsalt=) through segno with the
    process umask: 0644 under the usual umask, unlike every other file the wallet writes."""
    qr = tmp_path / "request.svg"
    old = os.umask(0o022)
    try:
        result = runner.invoke(app, ["request", "7.50", "--ref", "DESK-2026-11-CHLOE", "--to",
                                     BAKERY, "--token", TOKEN, "--qr-file", str(qr), "--json"])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert "refsalt" in json.loads(result.stdout)["uri"]
    assert stat.S_IMODE(qr.stat().st_mode) == 0o600


def test_a_raw_bytes32_reference_in_a_request_is_committed_not_put_on_chain(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    """LOW (promise 3). A request without refsalt whose ref is `0x` + 64 hex digits is sent
    as is ("a commitment the merchant computed itself"); nothing checks it is not padded
    text: `ref=0x4348...` (= 'CHLOE MARTIN LOYER NOV' zero-padded) goes on chain as readable
    UTF-8, the payer is shown only hex, and the public API's feed decodes it in clear."""
    from wallet_cli.payment_uri import bytes32_to_ref

    clear = b"CHLOE MARTIN LOYER NOV".ljust(32, b"\0")
    result = runner.invoke(app, [*signer(tmp_path, "pay", f"{URI}&ref=0x{clear.hex()}"),
                                 "--json"])
    assert result.exit_code == 0, result.output
    (_, _, _, on_chain), = [c for c in chain.sent if c[0] == "pay"]
    assert bytes32_to_ref(on_chain).startswith("0x"), (
        f"on chain in clear: {bytes32_to_ref(on_chain)!r}")


def test_the_service_never_puts_a_clear_text_reference_on_chain() -> None:
    """LOW (promise 3, the Python service). District.pay / refund / open_booking /
    sign_payment take `ref: str | bytes`, and ref_arg puts a str on chain as padded UTF-8
    (bench/gas_report.py does: "P-1", "T-1", "B-1"). Only the operator's bank references
    (record_deposit, redeem: ref32) are meant to be clear; a resident payment reference given
    as text should be refused (or committed), never written as is."""
    from ledger.chain.district import ref_arg
    from ledger.errors import InputError

    with pytest.raises(InputError):
        ref_arg("DESK-2026-11-CHLOE")



def test_a_superscript_digit_in_a_signing_deadline_is_refused_with_a_sentence() -> None:
    """LOW (crash, same root as the two above). `wallet sign payment ... --deadline ²h`:
    _parse_deadline tests str.isdigit() ('²' is a digit to Python) then int('²') raises
    ValueError, a traceback instead of the 'is not a deadline' sentence."""
    from wallet_cli.commands.offline import _parse_deadline
    from wallet_cli.errors import UsageError

    with pytest.raises(UsageError):
        _parse_deadline("\u00b2h", int(time.time()))


def test_check_uri_never_shows_the_clear_reference_as_what_goes_on_chain(home: Path) -> None:
    """LOW (promise 3, misleading output). For a request without refsalt, `wallet check-uri
    --json` reports `ref_bytes32` (documented by the tests as "what goes on chain") as the
    reference's clear UTF-8 bytes, while `wallet pay` would commit it under a fresh salt: a
    merchant's tooling that trusts this field expects, and matches, a clear reference."""
    result = runner.invoke(app, ["check-uri", f"{URI}&ref=TABLE-7", "--token", TOKEN, "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    # The review read `ref_bytes32` as hex and asserted it is not the clear text. Without a
    # salt in the request, what goes on chain is a commitment under a salt the paying wallet
    # draws when it pays: no value is known at check time, so the right output is no
    # commitment at all (null) and a sentence saying so, never the clear reference's bytes.
    assert shown["ref"] == "TABLE-7"
    assert shown["ref_bytes32"] is None, "a value shown as what goes on chain"
    assert "salt the paying wallet draws" in shown["ref_on_chain"]
    assert b"TABLE-7".hex() not in result.stdout


# ---------------------------------------------------------------- 5. names read from the chain


def test_a_merchant_name_with_escape_and_bidi_characters_is_shown_escaped() -> None:
    """HIGH (promise 2, the wallet's side). A name registered on chain outside the registrar
    (the contract cannot fold Unicode) with an ESC sequence or a bidi override reaches the
    terminal in every listing and confirmation line unless the wallet escapes it: the name
    read over JSON-RPC shows each such character as <U+XXXX>, never raw."""
    import httpx
    from eth_abi.abi import encode

    from wallet_cli import rpc
    from wallet_cli.rpc import Rpc

    hostile = "Boulangerie du Lac\x1b[8m #1\u202e"

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        data = body["params"][0]["data"]
        if data.startswith(rpc.SEL_MERCHANT_NAME):
            result = "0x" + encode(["string"], [hostile]).hex()
        elif data.startswith(rpc.SEL_MERCHANT):
            result = "0x" + rpc.word(BAKERY) + rpc.word(4) + rpc.word(1)
        else:
            result = "0x" + rpc.word(1)
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": result})

    with Rpc("http://node", transport=httpx.MockTransport(answer)) as node:
        (merchant,) = node.merchants(TOKEN)
    assert merchant.name == "Boulangerie du Lac<U+001B>[8m #1<U+202E>"
    assert "\x1b" not in merchant.name and "\u202e" not in merchant.name


def test_a_contact_name_with_an_invisible_letter_or_a_control_is_refused(tmp_path: Path) -> None:
    """HIGH. A contact name is refused, with a sentence naming the character by its code
    point, when it holds a blank letter (Hangul filler, which \\w accepts), a bidi override or
    an escape character, even when it resembles nothing."""
    from wallet_cli.errors import BadNameError
    from wallet_cli.names import check_contact_name

    for name, shown in (("Zaï\u3164", "U+3164 (HANGUL FILLER)"),
                        ("\u202eemaN", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
                        ("Yann\x1b[8m", "U+001B")):
        with pytest.raises(BadNameError) as refused:
            check_contact_name(name)
        assert shown in refused.value.message
        assert "\x1b" not in refused.value.message and "\u202e" not in refused.value.message
    assert check_contact_name("Zoé  Client") == "Zoé Client"


def test_the_service_commits_a_text_reference_and_keeps_its_salt() -> None:
    """LOW (promise 3, the Python service). District.pay and the others commit a text
    reference under a fresh salt (kept for the caller) and pass a 32-byte commitment as is."""
    from ledger.chain.district import commit_ref
    from ledger.chain.reference import matches

    on_chain, pair = commit_ref("DESK-2026-11-CHLOE")
    assert pair is not None and pair[0] == "DESK-2026-11-CHLOE"
    assert matches(on_chain, "DESK-2026-11-CHLOE", pair[1])
    assert b"DESK" not in on_chain
    again, _ = commit_ref("DESK-2026-11-CHLOE")
    assert again != on_chain, "a fresh salt each time: nobody can guess the commitment"
    assert commit_ref(on_chain) == (on_chain, None)
