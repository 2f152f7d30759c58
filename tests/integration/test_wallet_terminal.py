"""The hidden prompts in a real terminal (a pty driven by pexpect).

Checks: nothing typed as a secret is echoed, the secrets land neither in the shell history nor in
any file under the wallet home, the keystore is 0600 in a 0700 directory.
"""

from __future__ import annotations

import io
import os
import re
import stat
import sys
from pathlib import Path

import pexpect
import pytest

WALLET_BIN = Path(sys.executable).parent
KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ACCOUNT_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
PASSWORD = "Sesame-ouvre-toi 3e"


def env_for(home: Path, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{WALLET_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "WALLET_HOME": str(home),
        "HISTFILE": str(tmp_path / "bash_history"),
        "HISTSIZE": "100",
        "PS1": "PROMPT$ ",
        "TERM": "dumb",
    }


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def assert_secret_nowhere(secret: str, home: Path, transcript: str) -> None:
    assert secret not in transcript
    for file in files_under(home):
        assert secret.encode() not in file.read_bytes(), file


def test_importing_a_key_in_a_shell_echoes_nothing_and_keeps_no_secret(tmp_path: Path) -> None:
    home = tmp_path / "home"
    transcript = io.StringIO()
    shell = pexpect.spawn(
        "bash", ["--norc", "--noprofile", "-i"], env=env_for(home, tmp_path),
        encoding="utf-8", timeout=60, dimensions=(40, 200),
    )
    shell.logfile_read = transcript
    shell.expect_exact("PROMPT$ ")
    shell.sendline("wallet import alice --private-key")
    shell.expect_exact("Enter the private key (not shown):")
    shell.sendline(KEY_1)
    shell.expect_exact(f"Address {ACCOUNT_1}")
    shell.expect_exact("New password:")
    shell.sendline(PASSWORD)
    shell.expect_exact("Repeat it:")
    shell.sendline(PASSWORD)
    shell.expect_exact("Imported 'alice'")
    shell.expect_exact("PROMPT$ ")
    shell.sendline("wallet address alice")
    shell.expect_exact(ACCOUNT_1)
    shell.expect_exact("PROMPT$ ")
    shell.sendline("exit")
    shell.expect(pexpect.EOF)

    text = transcript.getvalue()
    assert_secret_nowhere(PASSWORD, home, text)
    assert_secret_nowhere(KEY_1[2:], home, text)
    history = (tmp_path / "bash_history").read_text()
    assert "wallet import alice --private-key" in history
    assert PASSWORD not in history and KEY_1[2:] not in history
    keystore = home / "keystore" / "alice.json"
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "keystore").stat().st_mode) == 0o700
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_new_in_a_terminal_checks_two_words_and_hides_the_password(tmp_path: Path) -> None:
    home = tmp_path / "home"
    transcript = io.StringIO()
    child = pexpect.spawn(
        str(WALLET_BIN / "wallet"), ["new", "bob"], env=env_for(home, tmp_path),
        encoding="utf-8", timeout=60, dimensions=(40, 200),
    )
    child.logfile_read = transcript
    child.expect_exact("They will not be shown again.")
    child.expect_exact("To check that you wrote the words down")
    words = dict(re.findall(r"^\s+(\d+)\. ([a-z]+)\r?$", transcript.getvalue(), re.M))
    assert len(words) == 12
    for _ in range(2):
        child.expect(r"Word #(\d+): ")
        child.sendline(words[child.match.group(1)])
    child.expect_exact("New password:")
    child.sendline(PASSWORD)
    child.expect_exact("Repeat it:")
    child.sendline(PASSWORD)
    child.expect(r"Created 'bob': (0x[0-9a-fA-F]{40})")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    mnemonic = " ".join(words[str(i)] for i in range(1, 13))
    assert_secret_nowhere(PASSWORD, home, transcript.getvalue())
    for file in files_under(home):
        assert mnemonic.encode() not in file.read_bytes()
    assert stat.S_IMODE((home / "keystore" / "bob.json").stat().st_mode) == 0o600


def test_without_a_terminal_the_wallet_refuses_instead_of_prompting(tmp_path: Path) -> None:
    import subprocess

    result = subprocess.run(
        [str(WALLET_BIN / "wallet"), "passwd", "nobody"],
        env=env_for(tmp_path / "home", tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode in (1, 2)  # no such account, or no terminal: never a hang
    home = tmp_path / "home2"
    home.mkdir()
    result = subprocess.run(
        [str(WALLET_BIN / "wallet"), "import", "x", "--mnemonic"],
        env=env_for(home, tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "no terminal" in result.stderr.lower()


@pytest.mark.parametrize("command", [["passwd", "alice"], ["export", "alice",
                                                            "--unsafe-show-private-key"]])
def test_password_prompts_for_existing_accounts_are_hidden_too(
    tmp_path: Path, command: list[str]
) -> None:
    from eth_keyfile import create_keyfile_json

    home = tmp_path / "home"
    (home / "keystore").mkdir(parents=True, mode=0o700)
    keystore = create_keyfile_json(bytes.fromhex(KEY_1[2:]), PASSWORD.encode(), kdf="pbkdf2",
                                   iterations=1000)
    import json

    (home / "keystore" / "alice.json").write_text(json.dumps(keystore))
    (home / "keystore" / "alice.json").chmod(0o600)
    transcript = io.StringIO()
    child = pexpect.spawn(str(WALLET_BIN / "wallet"), command, env=env_for(home, tmp_path),
                          encoding="utf-8", timeout=60)
    child.logfile_read = transcript
    child.expect("assword of 'alice':")
    child.sendline(PASSWORD)
    if command[0] == "passwd":
        child.expect_exact("New password:")
        child.sendline(PASSWORD + "!")
        child.expect_exact("Repeat it:")
        child.sendline(PASSWORD + "!")
        child.expect_exact("Changed the password")
    else:
        child.expect_exact("to show its private key:")
        child.sendline("alice")
        child.expect_exact(KEY_1)
    child.expect(pexpect.EOF)
    assert PASSWORD not in transcript.getvalue()
