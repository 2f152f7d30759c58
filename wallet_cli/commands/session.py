"""`wallet login`, `wallet logout` and `wallet sign message`: Sign-In with Ethereum.

`wallet login` asks the API (the configured API URL) for a prepared EIP-4361 message
(`GET /v1/auth/nonce?address=`), shows what is being signed (domain, URI, chain id, expiry)
and refuses a message made for another site, address or chain; it then unlocks the keystore
(hidden prompt or `--password-file`, never argv), signs with EIP-191 `personal_sign`, posts
the message and signature (`POST /v1/auth/siwe`) and keeps the session token in the wallet
home (wallet_cli.session: 0600, atomic). `wallet history`, `wallet energy` and `wallet
statement` then send it.

`wallet sign message` signs any text (standard input or `--file`) with `personal_sign` and
prints the signature, so a resident can sign in on the web page by pasting it. A sign-in
message is read first and shown like `wallet login` does.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from wallet_cli import context
from wallet_cli.context import (
    AccountOpt,
    JsonOpt,
    PasswordFileOpt,
    emit,
    guarded,
    home_of,
    load,
    note,
    pick_account,
    unlock,
)
from wallet_cli.errors import ApiError, NoTerminalError, NotSignedInError, UsageError


def _show(lines: list[str]) -> None:
    for line in lines:
        typer.echo(f"  {line}", err=True)


def _need_password_source(password_file: Path | None) -> None:
    from wallet_cli.prompting import is_interactive

    if password_file is None and not is_interactive():
        raise NoTerminalError(
            "There is no terminal to ask for the password: give it with --password-file PATH.")


def login(
    ctx: typer.Context,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign in to the district API with your key (Sign-In with Ethereum, EIP-4361).

    Shows the site, URI, chain id and expiry of the message before signing it; the session
    is kept in the wallet home (0600) for `wallet history`, `wallet energy` and `wallet
    statement`. Nothing is sent on chain and nothing costs anything.
    """
    import httpx

    from wallet_cli.session import (
        StoredSession,
        api_message,
        check_reply,
        normalize_api_url,
        now,
        save_session,
    )
    from wallet_cli.siwe import check_sign_in, format_time, parse_sign_in, personal_sign

    settings = load(ctx)
    name, address = pick_account(ctx, account)
    api_url = normalize_api_url(settings.api_url)
    _need_password_source(password_file)
    try:
        with context.make_http() as http:
            reply = http.get(f"{api_url}/v1/auth/nonce", params={"address": address})
            check_reply(reply, api_url, "a sign-in message")
            body = reply.json()
            text = body.get("message") if isinstance(body, dict) else None
            if not isinstance(text, str) or not text:
                raise ApiError(f"The API at {api_url} did not prepare a sign-in message.")
            request = parse_sign_in(text)
            check_sign_in(request, api_url=api_url, address=address,
                          chain_id=settings.chain_id, now=now())
            if str(body.get("nonce", request.nonce)) != request.nonce:
                raise ApiError(f"The API at {api_url} gave a message with another nonce than "
                               "the one it issued: nothing was signed.")
            typer.echo(f"Signing in as '{name}' with this message:", err=True)
            _show(request.describe())
            private_key = unlock(ctx, name, password_file)
            signature = personal_sign(private_key, text)
            reply = http.post(f"{api_url}/v1/auth/siwe",
                              json={"message": text, "signature": signature})
            if reply.status_code in (400, 401):
                said = api_message(reply) or f"HTTP {reply.status_code}"
                raise NotSignedInError(f"The API at {api_url} refused the sign-in: {said}")
            check_reply(reply, api_url, "a session")
            answer = reply.json()
    except httpx.HTTPError as exc:
        raise ApiError(f"The API at {api_url} did not answer ({type(exc).__name__}).") from exc
    except ValueError as exc:
        raise ApiError(f"The API at {api_url} answered something this wallet cannot read.") \
            from exc
    try:
        token = str(answer["token"])
        expires_at = int(answer["expires_at"])
        signed_in_as = str(answer["address"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ApiError(f"The API at {api_url} did not give a session token ({exc}).") from exc
    if signed_in_as.lower() != address.lower() or not token:
        raise ApiError(f"The API at {api_url} opened a session for {signed_in_as}, not for "
                       f"{address}: it was not kept.")
    session = StoredSession(account=name, address=address, api_url=api_url, token=token,
                            expires_at=expires_at, domain=request.domain,
                            chain_id=request.chain_id)
    path = save_session(home_of(ctx), session)
    emit(as_json,
         {**session.public_json(), "uri": request.uri, "file": str(path)},
         f"Signed in to {request.domain} as {name} ({address}) until "
         f"{format_time(expires_at)}.")


def logout(
    ctx: typer.Context,
    account: AccountOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign out of the district API: the session is ended there and removed from this wallet."""
    import httpx

    from wallet_cli.session import forget_session, load_session, normalize_api_url

    settings = load(ctx)
    name, address = pick_account(ctx, account)
    api_url = normalize_api_url(settings.api_url)
    home = home_of(ctx)
    stored = load_session(home, address, api_url)
    revoked = False
    if stored is not None and not stored.expired():
        try:
            with context.make_http() as http:
                reply = http.post(f"{api_url}/v1/auth/logout",
                                  headers={"Authorization": f"Bearer {stored.token}"})
                revoked = reply.status_code < 400
        except httpx.HTTPError as exc:
            note(f"The API at {api_url} did not answer ({type(exc).__name__}); the session "
                 "is forgotten here and ends by itself at its expiry.")
    removed = forget_session(home, address, api_url)
    data: dict[str, Any] = {"account": name, "address": address, "api_url": api_url,
                            "signed_out": removed, "revoked": revoked}
    emit(as_json, data,
         f"Signed out of {api_url} ({name})." if removed
         else f"'{name}' was not signed in to {api_url}.")


def _read_text(file: Path | None) -> str:
    """The message as written (bytes decoded as UTF-8: line ends are not translated)."""
    if file is not None:
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            raise UsageError(f"{file} does not exist.") from None
        except OSError as exc:
            raise UsageError(f"{file} cannot be read: {exc.strerror}.") from exc
    else:
        from wallet_cli.prompting import is_interactive

        if is_interactive():
            typer.echo("Paste the message, then press Ctrl-D on an empty line:", err=True)
        buffer = getattr(sys.stdin, "buffer", None)
        data = buffer.read() if buffer is not None else sys.stdin.read().encode("utf-8")
    try:
        return str(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"The message is not UTF-8 text ({exc.reason}).") from exc


def sign_message(
    ctx: typer.Context,
    account: AccountOpt = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", dir_okay=False,
                     help="Read the message from this file (default: standard input)."),
    ] = None,
    raw: Annotated[
        bool,
        typer.Option("--raw", help="Sign the bytes exactly as given (by default CRLF line ends "
                     "become LF and the final line ends are dropped, as on the web page)."),
    ] = False,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign a text with EIP-191 personal_sign and print the signature (0x + 130 hex digits).

    To sign in on the district's web page: copy its message into this command, paste the
    signature back. A sign-in message is shown (site, URI, chain id, expiry) before signing,
    and refused when it is for another account or chain, or expired. With the message on
    standard input, the password comes from --password-file.
    """
    from wallet_cli.siwe import (
        SiweMessageError,
        looks_like_sign_in,
        parse_sign_in,
        personal_sign,
    )

    name, address = pick_account(ctx, account)
    text = _read_text(file)
    if not raw:
        text = text.replace("\r\n", "\n").rstrip("\n")
    if not text:
        raise UsageError("There is no message to sign (empty input).")
    details: dict[str, Any] = {}
    if looks_like_sign_in(text):
        from wallet_cli.session import now

        request = parse_sign_in(text)
        chain_id = load(ctx).chain_id
        if request.address.lower() != address.lower():
            raise SiweMessageError(f"This sign-in message is for {request.address}, not for "
                                   f"'{name}' ({address}): nothing was signed.")
        if request.chain_id != chain_id:
            raise SiweMessageError(f"This sign-in message is for chain {request.chain_id}; this "
                                   f"district is chain {chain_id}: nothing was signed.")
        if request.expires_at is not None and request.expires_at <= now():
            raise SiweMessageError("This sign-in message has expired: ask the page for a new "
                                   "one.")
        typer.echo(f"Signing a sign-in message as '{name}':", err=True)
        _show(request.describe())
        details = {"sign_in": {"domain": request.domain, "uri": request.uri,
                               "chain_id": request.chain_id, "expires_at": request.expires_at}}
    else:
        typer.echo(f"Signing {len(text)} characters (EIP-191 personal_sign) as '{name}' "
                   f"({address}).", err=True)
    _need_password_source(password_file)
    signature = personal_sign(unlock(ctx, name, password_file), text)
    emit(as_json, {"account": name, "address": address, "signature": signature, **details},
         signature)


def register(app: typer.Typer) -> None:
    app.command("login")(guarded(login))
    app.command("logout")(guarded(logout))
    context.group(app, "sign", context.SIGN_HELP).command("message")(guarded(sign_message))
