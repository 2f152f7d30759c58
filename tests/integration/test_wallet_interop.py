"""Keystores travel between the wallet and other tools: ethers.js v6 (npm) and eth-keyfile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NODE = REPO / "node_modules" / ".bin" / "node"
ETHERS = REPO / "node_modules" / "ethers" / "package.json"
WALLET = Path(sys.executable).parent / "wallet"
KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ACCOUNT_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
PASSWORD = "ethers interop password"

pytestmark = pytest.mark.skipif(
    not (NODE.exists() and ETHERS.exists()) and os.environ.get("CI") != "true",
    reason="node_modules with ethers@6 is missing (run `npm install` in the repository)",
)


def node(script: str, **env: str) -> str:
    """Run an ES module with the repository's Node 22 and ethers; return its stdout."""
    result = subprocess.run(
        [str(NODE), "--input-type=module", "-e", script],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def wallet(home: Path, *args: str, input: str | None = None) -> dict[str, object]:
    result = subprocess.run(
        [str(WALLET), *args, "--json"],
        env={**os.environ, "WALLET_HOME": str(home)},
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    file = tmp_path / "password"
    file.write_text(PASSWORD + "\n")
    return file


def test_a_keystore_made_by_ethers_imports_with_the_right_address(
    tmp_path: Path, password_file: Path
) -> None:
    keystore = node(
        """
        import { Wallet } from "ethers";
        const wallet = new Wallet(process.env.KEY);
        process.stdout.write(await wallet.encrypt(process.env.PASSWORD));
        """,
        KEY=KEY_0,
        PASSWORD=PASSWORD,
    )
    assert json.loads(keystore)["Crypto"]["kdf"] == "scrypt"  # ethers' own spelling
    source = tmp_path / "ethers-keystore.json"
    source.write_text(keystore)
    data = wallet(tmp_path / "home", "import", "alice", "--keystore", str(source),
                  "--password-file", str(password_file))
    assert data["address"] == ACCOUNT_0


def test_a_keystore_written_by_the_wallet_decrypts_in_ethers(
    tmp_path: Path, password_file: Path
) -> None:
    home = tmp_path / "home"
    created = wallet(home, "new", "bob", "--no-backup-check", "--password-file",
                     str(password_file))
    keystore_file = Path(str(created["keystore"]))
    out = node(
        """
        import { readFileSync } from "node:fs";
        import { Wallet, HDNodeWallet } from "ethers";
        const json = readFileSync(process.env.KEYSTORE, "utf8");
        const wallet = await Wallet.fromEncryptedJson(json, process.env.PASSWORD);
        const fromWords = HDNodeWallet.fromPhrase(process.env.MNEMONIC);
        console.log(JSON.stringify({
          address: wallet.address, fromWords: fromWords.address, path: fromWords.path,
        }));
        """,
        KEYSTORE=str(keystore_file),
        PASSWORD=PASSWORD,
        MNEMONIC=str(created["mnemonic"]),
    )
    decoded = json.loads(out)
    assert decoded["address"] == created["address"]
    # ethers derives the same account from the same words at the same default path
    assert decoded["fromWords"] == created["address"]
    assert decoded["path"] == created["path"] == "m/44'/60'/0'/0/0"


def test_ethers_and_the_wallet_agree_on_the_standard_test_mnemonic(
    tmp_path: Path, password_file: Path
) -> None:
    mnemonic = "test test test test test test test test test test test junk"
    out = node(
        """
        import { HDNodeWallet } from "ethers";
        const root = HDNodeWallet.fromPhrase(process.env.MNEMONIC, "", "m/44'/60'/0'/0/1");
        console.log(root.address);
        """,
        MNEMONIC=mnemonic,
    )
    data = wallet(tmp_path / "home", "import", "bob", "--mnemonic", "--index", "1",
                  "--password-file", str(password_file), input=mnemonic)
    assert data["address"] == out.strip() == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_a_pbkdf2_keystore_from_eth_keyfile_imports_through_the_installed_command(
    tmp_path: Path, password_file: Path
) -> None:
    from eth_keyfile import create_keyfile_json

    source = tmp_path / "pbkdf2.json"
    source.write_text(json.dumps(create_keyfile_json(
        bytes.fromhex(KEY_0[2:]), PASSWORD.encode(), kdf="pbkdf2", iterations=10_000
    )))
    data = wallet(tmp_path / "home", "import", "carol", "--keystore", str(source),
                  "--password-file", str(password_file))
    assert data["address"] == ACCOUNT_0
