"""References never in clear on chain: `wallet request` puts a fresh salt in the URI, `pay`,
`refund`, `book` and `sign payment` send only the salted commitment, and the wallet keeps the
clear reference and salt (0600) to show them in its history."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from ledger.chain.reference import reference_commitment
from tests.unit.test_wallet_money import BAKERY, ME, TOKEN, FakeGateway, chain, home, signer
from wallet_cli.errors import PaymentURIError
from wallet_cli.history import Entry
from wallet_cli.main import app
from wallet_cli.payment_uri import build_payment_uri, parse_payment_uri
from wallet_cli.references import ReferenceBook, reveal

__all__ = ["chain", "home"]  # fixtures used by name

runner = CliRunner()
LONG_REF = "FACTURE 2026-11-0042 / Coworking La Ruche, bureau 3, semaine 48, Chloé Martin (TVA incluse)"


def run_json(*args: str) -> dict[str, object]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_a_request_carries_a_fresh_salt_and_the_wallet_keeps_the_reference(home: Path) -> None:
    first = run_json("request", "7.50", "--ref", "TABLE-7", "--to", BAKERY, "--token", TOKEN)
    second = run_json("request", "7.50", "--ref", "TABLE-7", "--to", BAKERY, "--token", TOKEN)
    uri = str(first["uri"])
    assert "&ref=TABLE-7&refsalt=0x" in uri
    salt = bytes.fromhex(str(first["ref_salt"])[2:])
    assert first["ref_salt"] != second["ref_salt"]  # unlinkable requests
    commitment = reference_commitment("TABLE-7", salt)
    assert first["ref_bytes32"] == "0x" + commitment.hex()
    assert ReferenceBook(home).lookup(commitment) == "TABLE-7"
    assert stat.S_IMODE((home / "references.json").stat().st_mode) == 0o600


def test_paying_a_request_sends_only_the_commitment_of_its_salt(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    salt = bytes(range(32))
    uri = build_payment_uri(TOKEN, BAKERY, 7_500_000, ref=LONG_REF, ref_salt=salt)
    data = run_json(*signer(tmp_path, "pay", uri))
    commitment = reference_commitment(LONG_REF, salt)
    assert chain.sent == [("pay", 1, 7_500_000, commitment)]
    assert LONG_REF.encode()[:16] not in chain.sent[0][3]
    assert data["ref"] == LONG_REF and data["ref_commitment"] == "0x" + commitment.hex()
    assert ReferenceBook(home).lookup(commitment) == LONG_REF


def test_a_typed_reference_gets_a_salt_and_is_kept_by_the_payer(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    data = run_json(*signer(tmp_path, "pay", "Boulangerie du Lac", "4.20", "--ref", "B-1"))
    salt = bytes.fromhex(str(data["ref_salt"])[2:])
    commitment = reference_commitment("B-1", salt)
    assert chain.sent == [("pay", 1, 4_200_000, commitment)]
    assert b"B-1" not in commitment
    assert ReferenceBook(home).lookup(commitment) == "B-1"


def test_a_request_without_a_salt_is_paid_with_a_fresh_one_that_is_printed(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    legacy = f"ethereum:{TOKEN}@69003/transfer?address={BAKERY}&uint256=1000000&ref=OLD-1"
    result = runner.invoke(app, [*signer(tmp_path, "pay", legacy), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert "carries no reference salt" in result.stderr and data["ref_salt"] in result.stderr
    sent_ref = chain.sent[0][3]
    assert sent_ref == reference_commitment("OLD-1", bytes.fromhex(data["ref_salt"][2:]))
    assert b"OLD-1" not in sent_ref


def test_a_refund_reuses_the_salt_of_the_reference_the_merchant_requested(
    home: Path, chain: FakeGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = run_json("request", "7.50", "--ref", "TABLE-7", "--to", BAKERY, "--token", TOKEN)
    chain.merchant_list[0] = chain.merchant_list[0].__class__(1, "Boulangerie du Lac", "food", ME,
                                                              True)
    data = run_json(*signer(tmp_path, "refund", "1", BAKERY, "1", "--ref", "TABLE-7"))
    assert data["ref_salt"] == request["ref_salt"]
    assert chain.sent[-1][4] == bytes.fromhex(str(request["ref_bytes32"])[2:])


def test_a_booking_sends_a_commitment(home: Path, chain: FakeGateway, tmp_path: Path) -> None:
    data = run_json(*signer(tmp_path, "book", "La Ruche", "5", "--hours", "2", "--ref", "ROOM-1"))
    commitment = chain.sent[-1][3]
    assert commitment == reference_commitment("ROOM-1", bytes.fromhex(str(data["ref_salt"])[2:]))
    assert ReferenceBook(home).lookup(commitment) == "ROOM-1"


def test_an_offline_signed_payment_carries_the_commitment(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "signed.json"
    result = runner.invoke(app, ["sign", "payment", "resident", "--merchant-id", "1", "--amount",
                                 "3.10", "--ref", "TERMINAL-1", "--out", str(out), "--payout", BAKERY,
                                 "--token", TOKEN, "--service-payments", BAKERY, "--yes",
                                 "--password-file", str(tmp_path / "pw")])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "TERMINAL-1" not in text and "5445524d494e414c" not in text.lower()  # nor its hex
    assert ReferenceBook(home).lookup(str(json.loads(text)["ref"])) == "TERMINAL-1"


def test_the_history_shows_the_clear_reference_of_commitments_the_wallet_holds(home: Path) -> None:
    run_json("request", "2", "--ref", "TABLE-9", "--to", BAKERY, "--token", TOKEN)
    (commitment,) = json.loads((home / "references.json").read_text())["references"]
    entries = [Entry("food", "payment", -1, "0x1", 1, 0, ref=commitment),
               Entry("food", "payment", -1, "0x2", 2, 0, ref="0x" + "ab" * 32)]
    assert reveal(entries, ReferenceBook(home)) == 1
    assert [e.ref for e in entries] == ["TABLE-9", "0x" + "ab" * 32]


def test_a_tampered_book_entry_is_not_shown_as_the_reference(home: Path) -> None:
    run_json("request", "2", "--ref", "TABLE-9", "--to", BAKERY, "--token", TOKEN)
    data = json.loads((home / "references.json").read_text())
    (commitment,) = data["references"]
    data["references"][commitment]["ref"] = "TABLE-10"
    (home / "references.json").write_text(json.dumps(data))
    assert ReferenceBook(home).lookup(commitment) is None


def test_the_merchant_keeps_a_typed_reference_the_payer_gave_with_its_salt(
    home: Path, chain: FakeGateway, tmp_path: Path
) -> None:
    paid = run_json(*signer(tmp_path, "pay", "Boulangerie du Lac", "1", "--ref", "B-7"))
    commitment = str(paid["ref_commitment"])
    (home / "references.json").unlink()  # the merchant's wallet does not hold it
    assert ReferenceBook(home).lookup(commitment) is None
    kept = run_json("references", "add", "B-7", "--salt", str(paid["ref_salt"]))
    assert kept["ref_commitment"] == commitment
    assert ReferenceBook(home).lookup(commitment) == "B-7"
    listed = run_json("references", "list")
    assert listed["references"] == [{"commitment": commitment, "ref": "B-7", "role": "received",
                                     "at": listed["references"][0]["at"]}]
    bad = runner.invoke(app, ["references", "add", "B-7", "--salt", "0x12", "--json"])
    assert bad.exit_code == 2 and "64 hexadecimal digits" in json.loads(bad.stdout)["message"]


@pytest.mark.parametrize(
    ("query", "message"),
    [("&refsalt=0x" + "00" * 32, "no 'ref'"),
     ("&ref=A&refsalt=" + "00" * 32, "0x and 64 hex"),
     ("&ref=A&refsalt=0x" + "00" * 31, "32 bytes"),
     ("&ref=" + quote("x" * 141) + "&refsalt=0x" + "00" * 32, "at most 140 bytes")],
)
def test_a_bad_reference_salt_in_a_request_is_refused(query: str, message: str) -> None:
    with pytest.raises(PaymentURIError, match=message):
        parse_payment_uri(f"ethereum:{TOKEN}@69003/transfer?address={BAKERY}&uint256=1{query}")
