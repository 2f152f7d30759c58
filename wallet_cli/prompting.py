"""Where secrets may come from: a hidden prompt, standard input, or a password file. Never argv.

- Passwords: `--password-file PATH` (its first line), else a hidden prompt on the terminal.
- A mnemonic or a private key: standard input when it is not a terminal (a pipe or a file),
  else a hidden prompt.
- With no terminal and no other source the wallet refuses (exit 2) instead of hanging or
  reading a secret from somewhere it should not.

Prompts go to standard error so that standard output stays one JSON object with `--json`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from wallet_cli.errors import NoTerminalError, UsageError

MIN_PASSWORD_LENGTH = 8


def is_interactive() -> bool:
    """True when a person sits at a terminal (standard input is a TTY)."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def require_terminal(what: str, alternative: str) -> None:
    if not is_interactive():
        raise NoTerminalError(f"There is no terminal to ask for {what}: {alternative}.")


def hidden_prompt(text: str, *, confirm: bool = False) -> str:
    """Ask without echo (getpass under the hood); Ctrl-C or end of input aborts."""
    value = typer.prompt(
        text,
        hide_input=True,
        confirmation_prompt="Repeat it" if confirm else False,
        err=True,
    )
    return str(value)


def visible_prompt(text: str) -> str:
    return str(typer.prompt(text, err=True))


def read_password_file(path: Path) -> str:
    try:
        content = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"Cannot read the password file {path}: {exc.strerror}.") from exc
    try:
        if path.stat().st_mode & 0o077:
            typer.echo(
                f"Warning: {path} can be read by other users; make it private (chmod 600).",
                err=True,
            )
    except OSError:  # pragma: no cover - it was just read
        pass
    lines = content.splitlines()
    password = lines[0] if lines else ""
    if not password:
        raise UsageError(f"The password file {path} is empty.")
    return password


def read_password(
    password_file: Path | None,
    *,
    prompt: str = "Password",
    new: bool = False,
) -> str:
    """A password from `--password-file` or a hidden prompt (asked twice when `new`)."""
    if password_file is not None:
        password = read_password_file(password_file)
    else:
        require_terminal("the password", "give it with --password-file PATH")
        password = hidden_prompt(prompt, confirm=new)
    if new and len(password) < MIN_PASSWORD_LENGTH:
        raise UsageError(
            f"The password must have at least {MIN_PASSWORD_LENGTH} characters: it is all that "
            "protects the key if the file is copied."
        )
    return password


def read_secret(what: str) -> str:
    """A mnemonic or private key: piped standard input, else a hidden prompt."""
    if not is_interactive():
        value = sys.stdin.read().strip()
        if not value:
            raise NoTerminalError(
                f"No {what} on standard input, and no terminal to ask for it: pipe it in "
                f"(for example `wallet import ... < file`)."
            )
        return value
    return hidden_prompt(f"Enter the {what} (not shown)").strip()
