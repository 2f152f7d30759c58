"""A payment signed offline by `wallet sign payment` is paid by a terminal once, never twice, never
after its cancellation; payments signed in any order all go through."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from ledger.chain.client import connect
from ledger.chain.devnode import DevNode
from ledger.chain.district import Category, District, SignedPayment
from ledger.chain.manifest import Manifest
from ledger.demo import dev_account
from ledger.errors import ContractRuleError

pytestmark = pytest.mark.chain

WALLET = Path(sys.executable).parent / "wallet"
NODE = {"url": ""}
"""The node the wallets talk to, set by the `deployed` fixture."""
M3E = 1_000_000


@pytest.fixture(scope="module")
def deployed(chain_node: DevNode, tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("wallet-deploy")
    env = {**os.environ, "LEDGER_RPC_URL": chain_node.url, "LEDGER_STATE_DIR": str(workdir)}
    env.pop("LEDGER_MANIFEST", None)
    result = subprocess.run([sys.executable, "-m", "ledger", "deploy", "--json"], env=env,
                            cwd=workdir, capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr
    NODE["url"] = chain_node.url
    return workdir / "deployment.json"


def wallet(home: Path, manifest: Path, *args: str, input: str | None = None,
           ok: bool = True) -> dict[str, object]:
    result = subprocess.run(
        [str(WALLET), *args, "--json"],
        env={**os.environ, "WALLET_HOME": str(home), "WALLET_MANIFEST": str(manifest),
             "WALLET_RPC_URL": NODE["url"]},
        input=input, capture_output=True, text=True, timeout=120, check=False,
    )
    if ok:
        assert result.returncode == 0, result.stderr
    return {"exit": result.returncode, **dict(json.loads(result.stdout or "{}"))}


@pytest.fixture(scope="module")
def district(chain_node: DevNode, deployed: Path) -> tuple[District, int, str]:
    operator = District(connect(chain_node.url), dev_account(0), Manifest.load(deployed))
    bakery = dev_account(22).address
    merchant_id, _ = operator.register_merchant("Fournil Wallet", Category.FOOD, bakery)
    operator.record_deposit("WALLET-SIGN-1", dev_account(21).address, 50 * M3E)
    return operator, merchant_id, bakery


@pytest.fixture
def homes(tmp_path: Path, deployed: Path) -> tuple[Path, Path, Path]:
    """The payer's wallet (dev account 21) and the terminal's (23), one password file."""
    password = tmp_path / "pw"
    password.write_text("a password\n")
    for name, index in (("resident", 21), ("terminal", 23)):
        wallet(tmp_path / name, deployed, "import", name, "--private-key", "--password-file",
               str(password), input=dev_account(index).key.hex())
    return tmp_path / "resident", tmp_path / "terminal", password


def sign(homes: tuple[Path, Path, Path], deployed: Path, merchant_id: int, amount: str, ref: str,
         out: Path) -> dict[str, object]:
    resident, _, password = homes
    return wallet(resident, deployed, "sign", "payment", "resident", "--merchant-id", str(merchant_id),
                  "--amount", amount, "--ref", ref, "--deadline", "30m", "--out", str(out), "--yes",
                  "--password-file", str(password))


def broadcast(homes: tuple[Path, Path, Path], deployed: Path, file: Path,
              ok: bool = True) -> dict[str, object]:
    _, terminal, password = homes
    return wallet(terminal, deployed, "broadcast", str(file), "--account", "terminal", "--yes",
                  "--password-file", str(password), ok=ok)


def loaded(file: Path) -> SignedPayment:
    d = json.loads(file.read_text())
    return SignedPayment(
        chain_id=d["chain_id"], token=d["token"], payments=d["service_payments"], payer=d["payer"],
        merchant_id=int(d["merchant_id"]), payout=d["payout"], amount=int(d["amount"]),
        ref=bytes.fromhex(d["ref"][2:]), valid_after=int(d["valid_after"]),
        valid_before=int(d["valid_before"]), payer_nonce=bytes.fromhex(d["payer_nonce"][2:]),
        signature=bytes.fromhex(d["signature"][2:]),
    )


def test_an_offline_signed_payment_is_paid_by_a_terminal_once_and_never_twice(
    district: tuple[District, int, str], deployed: Path, homes: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    operator, merchant_id, bakery = district
    payer = dev_account(21).address
    out = tmp_path / "payment.json"
    signed = sign(homes, deployed, merchant_id, "12.50", "TABLE-7", out)
    # the wallet's nonce is the contract's own witness of merchant, payout, reference
    on_chain = operator.client.call(operator.payments.functions.paymentAuthorizationNonce(
        merchant_id, bakery, bytes.fromhex(str(signed["ref"])[2:]),
        bytes.fromhex(str(signed["payer_nonce"])[2:])))
    assert "0x" + bytes(on_chain).hex() == signed["nonce"]

    before_bakery, before_payer = operator.balance_of(bakery), operator.balance_of(payer)
    paid = broadcast(homes, deployed, out)
    assert paid["nonce"] == signed["nonce"]
    assert operator.balance_of(bakery) == before_bakery + 12_500_000
    assert operator.balance_of(payer) == before_payer - 12_500_000
    assert operator.authorization_used(payer, bytes.fromhex(str(signed["nonce"])[2:]))

    again = broadcast(homes, deployed, out, ok=False)  # the wallet checks first ...
    assert again["exit"] == 1 and "already paid or cancelled" in str(again["message"])
    terminal = operator.as_(dev_account(23))
    with pytest.raises(ContractRuleError) as replay:  # ... and the contract refuses anyway
        terminal.submit_signed_payment(loaded(out))
    assert replay.value.error_name == "DistrictTokenAuthorizationUsedOrCanceled"
    assert str(replay.value).startswith("This signed authorization was already used or cancelled")
    assert operator.balance_of(bakery) == before_bakery + 12_500_000


def test_a_cancelled_payment_can_never_be_submitted(
    district: tuple[District, int, str], deployed: Path, homes: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    operator, merchant_id, bakery = district
    resident, _, password = homes
    out = tmp_path / "payment.json"
    sign(homes, deployed, merchant_id, "3", "CANCEL-ME", out)
    before = operator.balance_of(bakery)
    cancelled = wallet(resident, deployed, "cancel", str(out), "--account", "resident", "--yes",
                       "--password-file", str(password))
    assert cancelled["nonce"] == json.loads(out.read_text())["nonce"]
    refused = broadcast(homes, deployed, out, ok=False)
    assert refused["exit"] == 1 and "already paid or cancelled" in str(refused["message"])
    with pytest.raises(ContractRuleError) as on_chain:
        operator.as_(dev_account(23)).submit_signed_payment(loaded(out))
    assert on_chain.value.error_name == "DistrictTokenAuthorizationUsedOrCanceled"
    # cancelling again is refused with a sentence, nothing is sent
    twice = wallet(resident, deployed, "cancel", str(out), "--account", "resident", "--yes",
                   "--password-file", str(password), ok=False)
    assert twice["exit"] == 1 and "nothing to cancel" in str(twice["message"])
    assert operator.balance_of(bakery) == before


def test_payments_signed_offline_in_any_order_all_go_through(
    district: tuple[District, int, str], deployed: Path, homes: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    operator, merchant_id, bakery = district
    files = [tmp_path / f"p{i}.json" for i in range(3)]
    for i, file in enumerate(files):
        sign(homes, deployed, merchant_id, f"1.0{i}", f"ORDER-{i}", file)
    before = operator.balance_of(bakery)
    for file in reversed(files):  # the last signed is submitted first
        broadcast(homes, deployed, file)
    assert operator.balance_of(bakery) == before + 1_000_000 + 1_010_000 + 1_020_000


def test_a_signed_payment_with_a_changed_amount_is_refused_by_the_contract(
    district: tuple[District, int, str], deployed: Path, homes: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    operator, merchant_id, _ = district
    out = tmp_path / "payment.json"
    sign(homes, deployed, merchant_id, "2", "FORGE", out)
    original = loaded(out)
    terminal = operator.as_(dev_account(23))
    for forged in (replace(original, amount=20 * M3E), replace(original, ref=b"OTHER".ljust(32, b"\0")),
                   replace(original, valid_before=original.valid_before + 3600)):
        with pytest.raises(ContractRuleError) as refused:
            terminal.submit_signed_payment(forged)
        assert refused.value.error_name == "DistrictTokenInvalidSignature"
        assert str(refused.value).startswith("The signature does not match the authorization")
    terminal.submit_signed_payment(original)
