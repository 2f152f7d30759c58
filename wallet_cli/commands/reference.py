"""`wallet references list|add`: the clear references behind the commitments on chain.

`list` shows what the wallet holds (<home>/references.json, see wallet_cli.references). `add REF
--salt 0x...` records a reference someone gave with its salt (a payer who typed the reference
prints both after paying), so `wallet history` shows it in clear for the matching commitment.
The salt is not a secret key, but with the reference it lets anyone link the payment: it is
asked on the command line only because the payer shows it on their screen or receipt.
"""

from __future__ import annotations

from typing import Annotated

import typer

from wallet_cli.context import emit, guarded, home_of
from wallet_cli.errors import UsageError

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on standard output.")]

references_app = typer.Typer(
    help="Payment references kept by this wallet (the chain has only their commitments).",
    rich_markup_mode=None,
    no_args_is_help=True,
)


@references_app.command("list")
def list_references(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The references this wallet holds, with their commitment and how it got them."""
    from wallet_cli.references import ReferenceBook

    entries = ReferenceBook(home_of(ctx)).entries()
    rows = [{"commitment": c, "ref": e.get("ref"), "role": e.get("role"), "at": e.get("at")}
            for c, e in entries.items()]
    human = "\n".join(f"{r['at']}  {r['role']:<9}  {r['commitment']}  {r['ref']}" for r in rows)
    emit(as_json, {"references": rows}, human or "No references kept yet.")


@references_app.command("add")
def add_reference(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The reference, as the payer gave it.")],
    salt: Annotated[str, typer.Option("--salt", help="Its salt: 0x and 64 hex digits.")],
    as_json: JsonOpt = False,
) -> None:
    """Keep a reference someone gave you with its salt (to read it in `wallet history`)."""
    from ledger.chain.reference import ReferenceError, parse_salt
    from wallet_cli.references import ReferenceBook, check_reference, commit

    try:
        salt_bytes = parse_salt(salt)
    except ReferenceError as exc:
        raise UsageError(str(exc)) from None
    committed = commit(check_reference(ref), salt_bytes)
    ReferenceBook(home_of(ctx)).remember(committed, "received")
    emit(as_json, committed.as_json(),
         f"Kept '{ref}': payments with the commitment {committed.commitment_hex} show it.")


def register(app: typer.Typer) -> None:
    for command in references_app.registered_commands:
        if command.callback is not None:
            command.callback = guarded(command.callback)
    app.add_typer(references_app, name="references")
