"""Deploy, verify and demo: the contracts' life on a chain, and the local demo district."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledger.cli.base import JsonOption, ManifestOption, RpcOption, _emit, _hidden_prompt, load_settings
from ledger.errors import ConfigError


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
        from ledger.cli.operator import deploy_with_file

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


def register(app: typer.Typer) -> None:
    app.command()(deploy)
    app.command()(verify)
    app.command()(demo)
