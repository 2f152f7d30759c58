"""A payment signed offline by `wallet sign payment` is accepted by the deployed contracts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.chain.client import connect
from ledger.chain.devnode import DevNode
from ledger.chain.district import Category, District
from ledger.chain.manifest import Manifest
from ledger.demo import dev_account

pytestmark = pytest.mark.chain

WALLET = Path(sys.executable).parent / "wallet"
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
    return workdir / "deployment.json"


def wallet(home: Path, manifest: Path, *args: str, input: str | None = None) -> dict[str, object]:
    result = subprocess.run(
        [str(WALLET), *args, "--json"],
        env={**os.environ, "WALLET_HOME": str(home), "WALLET_MANIFEST": str(manifest)},
        input=input, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_an_offline_signed_payment_is_paid_by_a_terminal_once(
    chain_node: DevNode, deployed: Path, tmp_path: Path
) -> None:
    manifest = Manifest.load(deployed)
    w3 = connect(chain_node.url)
    operator = District(w3, dev_account(0), manifest)
    payer_key, bakery_key, terminal_key = dev_account(21), dev_account(22), dev_account(23)
    merchant_id, _ = operator.register_merchant("Fournil Wallet", Category.FOOD,
                                                bakery_key.address)
    operator.record_deposit("WALLET-SIGN-1", payer_key.address, 50 * M3E)
    payer = operator.as_(payer_key)
    nonce = payer.permit_nonce(payer_key.address)

    home = tmp_path / "home"
    password = tmp_path / "pw"
    password.write_text("resident password\n")
    wallet(home, deployed, "import", "resident", "--private-key", "--password-file",
           str(password), input=payer_key.key.hex())
    out = tmp_path / "payment.json"
    signed = wallet(home, deployed, "sign", "payment", "resident", "--merchant-id",
                    str(merchant_id), "--amount", "12.50", "--ref", "TABLE-7", "--nonce",
                    str(nonce), "--deadline", "30m", "--out", str(out), "--yes",
                    "--password-file", str(password))
    # the wallet's digest is the contract's own paymentIntentDigest
    on_chain = operator.client.call(operator.payments.functions.paymentIntentDigest(
        payer_key.address, merchant_id, 12_500_000, bytes.fromhex(str(signed["ref"])[2:]),
        nonce, int(str(signed["deadline"])),
    ))
    assert "0x" + bytes(on_chain).hex() == signed["intent"]["digest"]  # type: ignore[index]

    checked = wallet(home, deployed, "sign", "check", str(out))
    args = checked["args"]
    assert isinstance(args, list)
    terminal = operator.as_(terminal_key)
    before = payer.balance_of(bakery_key.address)
    terminal.client.transact(terminal.payments.functions.payWithPermit(*args))
    assert payer.balance_of(bakery_key.address) == before + 12_500_000
    assert payer.balance_of(payer_key.address) == 50 * M3E - 12_500_000
    from ledger.errors import LedgerError

    with pytest.raises(LedgerError):  # used once: the nonce is spent
        terminal.client.transact(terminal.payments.functions.payWithPermit(*args))
