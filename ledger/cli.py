"""`ledger`: the district ledger's service and operator command.

Exit codes: 0 done; 1 the ledger, the chain or a contract refused (the sentence says why);
2 bad usage or settings.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ledger.errors import ConfigError, InputError, LedgerError
from ledger.settings import LedgerSettings

app = typer.Typer(
    help="The district ledger of Lyon 3e (Monnaie du 3e): deploy, verify, index, settle, serve.",
    no_args_is_help=True,
    add_completion=True,
    epilog="Exit codes: 0 done, 1 refused or failed (the message says why), 2 usage or settings.",
)

RpcOption = Annotated[str | None, typer.Option("--rpc-url", help="JSON-RPC URL (env LEDGER_RPC_URL)")]
ManifestOption = Annotated[
    Path | None, typer.Option("--manifest", help="deployment manifest (env LEDGER_MANIFEST)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="one JSON object on stdout")]


def load_settings(rpc_url: str | None = None, manifest: Path | None = None) -> LedgerSettings:
    overrides: dict[str, object] = {}
    if rpc_url:
        overrides["rpc_url"] = rpc_url
    if manifest:
        overrides["manifest"] = manifest
    return LedgerSettings(**overrides)  # type: ignore[arg-type]


@app.command()
def deploy(
    rpc_url: RpcOption = None,
    manifest: ManifestOption = None,
    fee_bps: Annotated[int | None, typer.Option(help="conversion fee in basis points (max 1000)")] = None,
    admin_delay: Annotated[int | None, typer.Option(help="seconds an admin transfer must wait")] = None,
    commons_fund: Annotated[str | None, typer.Option(help="address receiving conversion fees")] = None,
    force: Annotated[bool, typer.Option(help="deploy again even if the manifest is live")] = False,
    as_json: JsonOption = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="deployment file (TOML or JSON): admin, roles, minters; "
                     "required off a local dev chain"),
    ] = None,
) -> None:
    """Compile the contracts with py-solc-x and deploy them; write the deployment manifest."""
    from ledger.chain.client import connect, is_dev_node, load_signer
    from ledger.chain.deploy import DeployParams, deploy_district, manifest_is_live
    from ledger.chain.manifest import Manifest

    settings = load_settings(rpc_url, manifest)
    w3 = connect(settings.rpc_url)
    if int(w3.eth.chain_id) != settings.chain_id:
        raise ConfigError(
            f"the node at {settings.rpc_url} runs chain {w3.eth.chain_id}, expected "
            f"{settings.chain_id} (set LEDGER_CHAIN_ID if that is intended)"
        )
    path = settings.manifest_path
    if path.exists() and not force:
        existing = Manifest.load(path)
        if manifest_is_live(w3, existing):
            _emit(
                as_json,
                {"reused": True, "manifest": str(path), **_addresses(existing)},
                f"Contracts already deployed on this chain (manifest {path}); use --force to redeploy.",
            )
            return
    account = load_signer(settings, w3, prompt=_hidden_prompt)
    if config is not None or not is_dev_node(w3):
        from ledger.cli_operator import deploy_with_file

        deploy_with_file(w3, account, config, path, as_json)
        return
    params = DeployParams(
        admin_delay_seconds=settings.admin_delay_seconds if admin_delay is None else admin_delay,
        redemption_fee_bps=settings.redemption_fee_bps if fee_bps is None else fee_bps,
        commons_fund=commons_fund or settings.commons_fund,
    )
    result = deploy_district(w3, account, params)
    result.save(path)
    lines = [f"Deployed on chain {result.chain_id} with solc {result.compiler}:"]
    lines += [f"  {name:<16} {c.address}  (block {c.deploy_block})" for name, c in result.contracts.items()]
    lines.append(f"Manifest written to {path}")
    _emit(as_json, {"reused": False, "manifest": str(path), **_addresses(result)}, "\n".join(lines))


@app.command()
def verify(
    rpc_url: RpcOption = None,
    manifest: ManifestOption = None,
    as_json: JsonOption = False,
    recompile: Annotated[
        bool, typer.Option(help="compile afresh instead of reusing solc's output kept for the same sources")
    ] = False,
) -> None:
    """Compile the sources and compare with the code deployed at each address."""
    from ledger.chain.client import connect
    from ledger.chain.manifest import Manifest
    from ledger.chain.verify import verify_deployment

    settings = load_settings(rpc_url, manifest)
    loaded = Manifest.load(settings.manifest_path)
    results = verify_deployment(connect(settings.rpc_url), loaded, reuse=not recompile)
    ok = all(r.matches for r in results)
    text = "\n".join(
        f"{'MATCH   ' if r.matches else 'MISMATCH'} {r.name:<16} {r.address}  {r.reason}" for r in results
    )
    _emit(as_json, {"ok": ok, "contracts": [r.__dict__ for r in results]}, text)
    if not ok:
        raise typer.Exit(1)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="port of the local chain")] = 8545,
    block_ms: Annotated[int, typer.Option(help="interval mining, milliseconds per block")] = 2000,
    once: Annotated[bool, typer.Option(help="set up and seed, then exit (no services kept running)")] = False,
) -> None:
    """Start a local chain, deploy, seed a small demo district and run the services."""
    from ledger.demo import run_demo

    run_demo(port=port, block_ms=block_ms, once=once)


def _addresses(manifest: object) -> dict[str, object]:
    contracts = getattr(manifest, "contracts", {})
    return {
        "chain_id": getattr(manifest, "chain_id", None),
        "contracts": {n: c.address for n, c in contracts.items()},
    }


def _emit(as_json: bool, payload: dict[str, object], text: str) -> None:
    if as_json:
        typer.echo(json.dumps(payload, sort_keys=True))
    else:
        typer.echo(text)


def _hidden_prompt(question: str) -> str:
    import getpass

    return getpass.getpass(question)


def _register_areas() -> None:
    """Each area adds its commands from ledger/cli_<area>.py."""
    for area in ("energy", "registry", "readings", "indexer", "settlement", "serve", "treasury", "node",
                 "ops", "operator", "network"):
        try:
            module = importlib.import_module(f"ledger.cli_{area}")
        except ModuleNotFoundError as exc:
            if exc.name != f"ledger.cli_{area}":
                raise
            continue
        module.register(app)


_register_areas()


def main() -> None:
    try:
        code = app(standalone_mode=False)
        # click returns the code of typer.Exit instead of raising it when not standalone
        sys.exit(code if isinstance(code, int) else 0)
    except (ConfigError, InputError) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except LedgerError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        # typer >= 0.20 raises its own copy of click's exceptions (TyperException underneath)
        if isinstance(exc, typer.TyperException):
            show = getattr(exc, "show", None)
            if callable(show):
                show()
            else:
                typer.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        raise
