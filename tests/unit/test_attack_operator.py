"""Attacks on the operator commands and the demo's process handling, without a chain: a signal
while the local chain starts, a pause that fails half-way."""

from __future__ import annotations

import io
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

import ledger.chain.devnode as devnode
from ledger.chain.client import SentTx
from ledger.errors import ChainError, ConfigError
from tests.unit.test_cli_operator import FakeOperator, run


@pytest.fixture
def sleeper_node(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[devnode.AnvilNode]:
    """An AnvilNode whose process is a long `sleep` that never answers JSON-RPC."""
    node = devnode.AnvilNode(devnode.free_port(), tmp_path / "chain" / "state.json")
    monkeypatch.setattr(node, "command", lambda: ["sleep", "300"])
    yield node
    if node.process is not None and node.process.poll() is None:  # never leave it behind
        os.killpg(node.process.pid, signal.SIGKILL)
        node.process.wait()


def test_attack_a_signal_while_the_local_chain_starts_leaves_no_chain_running(
    monkeypatch: pytest.MonkeyPatch, sleeper_node: devnode.AnvilNode
) -> None:
    # `ledger demo` turns SIGINT/SIGTERM into KeyboardInterrupt; one arriving while the node is
    # awaited must not leave the node (in its own session, out of the terminal's reach) running.
    def interrupted(url: str, timeout: float = 1.0) -> bool:
        raise KeyboardInterrupt

    monkeypatch.setattr(devnode, "rpc_answers", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sleeper_node.start()
    assert sleeper_node.process is not None
    assert sleeper_node.process.poll() is not None, "the chain process was left running"


class FailingSecondPause(FakeOperator):
    """The first contract pauses; the second one's transaction fails (node gone, not mined)."""

    def set_paused(self, name: str, paused: bool) -> SentTx | None:
        if name == "ServicePayments":
            raise ChainError("transaction 0xfeed was sent but not mined in time; check it later")
        return super().set_paused(name, paused)


def test_attack_a_pause_failing_half_way_says_which_contracts_are_paused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FailingSecondPause({("DistrictToken", "pauser"), ("ServicePayments", "pauser")})
    code, out, err = run(monkeypatch, capsys, fake, "pause")
    assert code == 1
    assert fake.paused == {"DistrictToken": True, "ServicePayments": False}
    # the operator must learn the token IS paused and the payments contract is NOT
    assert "DistrictToken is now paused" in out + err
    assert "ServicePayments" in err and "not mined in time" in err


class TerminalInput(io.StringIO):
    """Standard input that is a terminal: what is typed there is echoed on the screen."""

    def isatty(self) -> bool:
        return True


def test_attack_the_password_dash_on_a_terminal_is_asked_hidden_not_echoed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from eth_account import Account

    from ledger.chain import client

    store = tmp_path / "key.json"
    store.write_text(json.dumps(Account.encrypt(bytes.fromhex("22" * 32), "typed", kdf="pbkdf2",
                                                iterations=10)))
    store.chmod(0o600)
    typed = TerminalInput("typed\n")
    monkeypatch.setattr("sys.stdin", typed)
    asked: list[str] = []

    def hidden(question: str) -> str:
        asked.append(question)
        return "typed"

    assert client._decrypt_keystore(store, Path("-"), hidden) == "0x" + "22" * 32
    assert asked, "the password was read from a terminal with echo on, not through the hidden prompt"
    assert typed.tell() == 0


def test_attack_a_password_file_swapped_after_its_check_is_not_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ledger.chain import client

    private = tmp_path / "private"
    private.write_text("private\n")
    private.chmod(0o600)
    public = tmp_path / "public"
    public.write_text("world-readable\n")
    public.chmod(0o644)
    link = tmp_path / "password"
    link.symlink_to(private)
    real_stat = Path.stat

    def stat_then_swap(self: Path, *args: object, **kwargs: object) -> os.stat_result:
        result = real_stat(self, *args, **kwargs)  # type: ignore[arg-type]
        if self == link:  # the link is pointed elsewhere between the check and the read
            link.unlink()
            link.symlink_to(public)
        return result

    monkeypatch.setattr(Path, "stat", stat_then_swap)
    try:
        read = client._read_password_file(link)
    except ConfigError as refused:
        assert "chmod 600" in str(refused)
    else:
        assert read != "world-readable", "a file other users can read was taken as the password"


def test_attack_a_bad_simulate_start_day_is_a_sentence_and_touches_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from ledger.cli import main

    monkeypatch.setenv("LEDGER_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    monkeypatch.setattr("sys.argv", ["ledger", "simulate", "--homes", "1", "--start", "2026-13-45"])
    with pytest.raises(SystemExit) as stopped:
        main()
    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert "--start '2026-13-45' is not a day" in err and "YYYY-MM-DD" in err
    assert list(tmp_path.iterdir()) == []  # no registry was created or written
