"""Key material: BIP-39 mnemonics, BIP-32 derivation, raw keys and Web3 Secret Storage.

Everything here imports eth-account / eth-keyfile lazily (about 0.5 s): only the commands that
touch keys pay for it.

- Mnemonics: BIP-39 English, 12 or 24 words; accounts at m/44'/60'/0'/0/<index>.
- Keystores: version 3, scrypt with geth's standard cost (n=262144, r=8, p=1), aes-128-ctr.
  Any v3 keystore (scrypt or pbkdf2, from geth, ethers.js, eth-keyfile, cast...) can be read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from wallet_cli.errors import KeystoreError, UsageError, WrongPasswordError

SCRYPT_N = 262144  # geth's StandardScryptN; r=8, p=1 are eth-keyfile's fixed values
DEFAULT_PATH_PREFIX = "m/44'/60'/0'/0/"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class DerivedKey:
    """A private key with its address and, when derived from a mnemonic, its path."""

    private_key: bytes
    address: str
    path: str | None = None


def derivation_path(index: int) -> str:
    if not 0 <= index < 2**31:
        raise UsageError(f"The account index must be between 0 and {2**31 - 1} (got {index}).")
    return f"{DEFAULT_PATH_PREFIX}{index}"


def normalize_mnemonic(text: str) -> str:
    return " ".join(text.lower().split())


def new_mnemonic(words: int = 12) -> str:
    """A fresh BIP-39 English mnemonic from the OS random source."""
    if words not in (12, 15, 18, 21, 24):
        raise UsageError("A mnemonic has 12, 15, 18, 21 or 24 words.")
    from eth_account.hdaccount import generate_mnemonic
    from eth_account.types import Language

    return generate_mnemonic(words, Language.ENGLISH)


def seed_from_mnemonic(mnemonic: str, passphrase: str = "") -> bytes:
    """The BIP-39 seed (PBKDF2-HMAC-SHA512, 2048 rounds), after checking the words and checksum."""
    from eth_account.hdaccount import seed_from_mnemonic as _seed
    from eth_utils.exceptions import ValidationError

    words = normalize_mnemonic(mnemonic)
    try:
        return bytes(_seed(words, passphrase))
    except ValidationError as exc:
        raise UsageError(
            "These words are not a valid BIP-39 mnemonic (a word is misspelt, missing, or in "
            "the wrong order): check them against your paper copy."
        ) from exc


def key_from_mnemonic(mnemonic: str, index: int = 0, passphrase: str = "") -> DerivedKey:
    """The account at m/44'/60'/0'/0/<index> of a mnemonic."""
    from eth_account.hdaccount import key_from_seed

    path = derivation_path(index)
    seed = seed_from_mnemonic(mnemonic, passphrase)
    key = bytes(key_from_seed(seed, path))
    return DerivedKey(key, address_of(key), path)


def parse_private_key(text: str) -> bytes:
    """A raw secp256k1 private key in hex (64 digits, 0x optional)."""
    value = text.strip()
    if not _HEX_KEY.match(value):
        raise UsageError("A private key is 64 hexadecimal digits (0x optional).")
    key = bytes.fromhex(value.removeprefix("0x"))
    if not 0 < int.from_bytes(key, "big") < SECP256K1_N:
        raise UsageError("This is not a valid secp256k1 private key (out of range).")
    return key


def address_of(private_key: bytes) -> str:
    from eth_keys.datatypes import PrivateKey

    return str(PrivateKey(private_key).public_key.to_checksum_address())


def encrypt_key(private_key: bytes, password: str, *, path: str | None = None) -> dict[str, Any]:
    """A v3 keystore with scrypt at geth's standard cost (SCRYPT_N, r=8, p=1)."""
    from eth_account import Account

    keystore = dict(Account.encrypt(private_key, password, kdf="scrypt", iterations=SCRYPT_N))
    address = keystore.get("address", "")
    keystore["address"] = str(address).lower().removeprefix("0x")
    if path is not None:
        # Web3 Secret Storage allows extra members; this one only records where the key came from
        keystore["x-m3e"] = {"path": path}
    return keystore


def check_keystore_shape(data: Any) -> dict[str, Any]:
    """Refuse anything that is not a version 3 Web3 Secret Storage object."""
    if not isinstance(data, dict):
        raise KeystoreError("This is not a keystore: a keystore is a JSON object.")
    crypto = data.get("crypto", data.get("Crypto"))
    if data.get("version") != 3 or not isinstance(crypto, dict):
        raise KeystoreError(
            "This is not a Web3 Secret Storage keystore (version 3 with a 'crypto' section)."
        )
    if crypto.get("kdf") not in ("scrypt", "pbkdf2"):
        raise KeystoreError(f"Unsupported key derivation '{crypto.get('kdf')}'.")
    return data


def decrypt_keystore(data: dict[str, Any], password: str) -> DerivedKey:
    """Open a keystore; WrongPasswordError when the MAC does not match."""
    from eth_keyfile.keyfile import decode_keyfile_json

    check_keystore_shape(data)
    try:
        key = bytes(decode_keyfile_json(data, password.encode("utf-8")))
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise WrongPasswordError("Wrong password: the keystore did not open.") from exc
        raise KeystoreError(f"The keystore cannot be read: {exc}.") from exc
    except (KeyError, TypeError) as exc:
        raise KeystoreError(f"The keystore is malformed (missing {exc}).") from exc
    derived = DerivedKey(key, address_of(key), _recorded_path(data))
    recorded = str(data.get("address", "")).lower().removeprefix("0x")
    if recorded and recorded != derived.address.lower().removeprefix("0x"):
        raise KeystoreError(
            f"The keystore says it holds 0x{recorded} but its key is for {derived.address}: "
            "the file is corrupt or was tampered with."
        )
    return derived


def _recorded_path(data: dict[str, Any]) -> str | None:
    for member in ("x-m3e", "x-ethers"):
        extra = data.get(member)
        if isinstance(extra, dict) and isinstance(extra.get("path"), str):
            return str(extra["path"])
    return None


def kdf_summary(data: dict[str, Any]) -> str:
    """'scrypt n=262144 r=8 p=1' or 'pbkdf2 c=...' for display."""
    crypto = data.get("crypto", data.get("Crypto", {}))
    params = crypto.get("kdfparams", {})
    if crypto.get("kdf") == "scrypt":
        return f"scrypt n={params.get('n')} r={params.get('r')} p={params.get('p')}"
    return f"{crypto.get('kdf')} c={params.get('c')}"
