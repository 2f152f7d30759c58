"""Deploying the district contracts with web3 and writing the deployment manifest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from ledger.chain.client import ChainClient, SentTx, connect, is_dev_node
from ledger.chain.manifest import DeployedContract, Manifest
from ledger.chain.revert import ErrorDecoder, notices_from_userdocs
from ledger.chain.solc import Compilation, compile_contracts
from ledger.errors import ConfigError

TOKEN_NAME = "Monnaie du 3e"
TOKEN_SYMBOL = "M3E"


@dataclass(frozen=True)
class DeployParams:
    admin_delay_seconds: int = 0
    redemption_fee_bps: int = 300
    commons_fund: str | None = None
    name: str = TOKEN_NAME
    symbol: str = TOKEN_SYMBOL
    # What the deployer's treasurer key may mint (DistrictToken.configureMinter): 1e9 M3E on a dev chain.
    mint_allowance: int = 10**15


def decoder_for(compilation: Compilation) -> ErrorDecoder:
    return ErrorDecoder([c.abi for c in compilation.contracts.values()], _notices(compilation))


def _notices(compilation: Compilation) -> dict[str, str]:
    return notices_from_userdocs([c.userdoc for c in compilation.contracts.values()])


def notices_of(compilation: Compilation) -> dict[str, str]:
    """The sentence of each custom error of a compilation (`Name(types)` -> NatSpec @notice)."""
    return _notices(compilation)


def decoder_for_manifest(manifest: Manifest) -> ErrorDecoder:
    abis = [c.abi for c in manifest.contracts.values()] + [c.abi for c in manifest.governance.values()]
    return ErrorDecoder(abis, manifest.error_notices)


def deploy_district(
    w3: Web3,
    account: LocalAccount,
    params: DeployParams | None = None,
    compilation: Compilation | None = None,
) -> Manifest:
    """Deploy DistrictToken, ServicePayments (and CommonsFund, EnergySettlement when present),
    wire them: the token's conversion fees go to the CommonsFund unless `commons_fund` is given.

    A local dev chain convenience: the deployer is the admin and holds every role (recorded as
    `dev_only` in the manifest). Any other deployment goes through a deployment file
    (`ledger.chain.governance.deploy_with_plan`), which splits the roles.
    """
    params = params or DeployParams()
    if not is_dev_node(w3):
        raise ConfigError(
            "off a local dev chain the roles must be split: deploy with a deployment file "
            "(`ledger deploy --config deployment.toml`, see the README)"
        )
    compilation = compilation or compile_contracts()
    client = ChainClient(w3, account, decoder_for(compilation))
    admin = client.address
    fund = Web3.to_checksum_address(params.commons_fund) if params.commons_fund else admin
    if not 0 <= params.redemption_fee_bps <= 1000:
        raise ConfigError("the conversion fee must be between 0 and 1000 basis points")
    deployed: dict[str, DeployedContract] = {}

    def put(name: str, *args: Any) -> tuple[str, SentTx]:
        compiled = compilation.contracts[name]
        sent = client.deploy(compiled.abi, compiled.bytecode, *args)
        address = str(sent.receipt["contractAddress"])
        deployed[name] = DeployedContract(
            address=address,
            deploy_block=sent.block_number,
            deploy_tx=sent.tx_hash,
            abi=compiled.abi,
            constructor_args=[a if isinstance(a, str | int) else str(a) for a in args],
        )
        return address, sent

    delay = params.admin_delay_seconds
    token_address, _ = put(
        "DistrictToken", params.name, params.symbol, admin, delay, fund, params.redemption_fee_bps,
        "0x" + "00" * 20,  # no predecessor: a first deployment
    )
    payments_address, _ = put("ServicePayments", token_address, admin, delay)
    token = client.contract(token_address, compilation.contracts["DistrictToken"].abi)
    payments = client.contract(payments_address, compilation.contracts["ServicePayments"].abi)
    client.transact(token.functions.setMerchantDirectory(payments_address))
    for contract, roles in (
        (token, ("TREASURER_ROLE", "PAUSER_ROLE")),
        (payments, ("REGISTRAR_ROLE", "PAUSER_ROLE")),
    ):
        for role_name in roles + _dev_extra_roles(contract):
            role = client.call(getattr(contract.functions, role_name)())
            if not client.call(contract.functions.hasRole(role, admin)):
                client.transact(contract.functions.grantRole(role, admin))
    client.transact(token.functions.configureMinter(admin, params.mint_allowance, 0))
    if "CommonsFund" in compilation.contracts:
        # The council is the admin here (a dev chain); the conversion fees go to the fund
        # unless another recipient was asked for.
        fund_address, _ = put("CommonsFund", token_address, admin, delay)
        fund_contract = client.contract(fund_address, compilation.contracts["CommonsFund"].abi)
        if not params.commons_fund:
            client.transact(token.functions.setCommonsFund(fund_address))
        role = client.call(fund_contract.functions.SOCIAL_SERVICE_ROLE())
        client.transact(fund_contract.functions.grantRole(role, admin))
    if "EnergySettlement" in compilation.contracts:
        settlement_address, _ = put("EnergySettlement", token_address, admin, delay)
        settlement = client.contract(settlement_address, compilation.contracts["EnergySettlement"].abi)
        # The operator (the PMO) runs the settlement and sets tariffs from the start.
        for role_name in ("ORACLE_ROLE", "TARIFF_ROLE", "PAUSER_ROLE"):
            role = client.call(getattr(settlement.functions, role_name)())
            client.transact(settlement.functions.grantRole(role, admin))
    genesis = w3.eth.get_block(0)["hash"]
    return Manifest(
        chain_id=client.chain_id,
        compiler=compilation.compiler_version,
        source_hash=compilation.source_hash,
        contracts=deployed,
        deployer=admin,
        genesis_hash=genesis.to_0x_hex() if genesis is not None else "",
        error_notices=_notices(compilation),
        admin={"kind": "deployer", "address": admin, "delay_seconds": delay, "dev_only": True},
        roles=_dev_roles(client, deployed, admin),
    )


def token_constructor_args(compilation: Compilation, *args: Any) -> list[Any]:
    """The token's constructor arguments; a fresh token has no predecessor (the zero address)."""
    ctor = next((i for i in compilation.contracts["DistrictToken"].abi if i.get("type") == "constructor"), {})
    extra = len(ctor.get("inputs", [])) - len(args)
    return [*args, *(["0x" + "00" * 20] * max(extra, 0))]


def _has_function(contract: Any, name: str) -> bool:
    return any(i.get("type") == "function" and i.get("name") == name for i in contract.abi)


def _dev_extra_roles(contract: Any) -> tuple[str, ...]:
    """Roles of newer contract versions that the dev convenience deployment also gives itself."""
    return tuple(r for r in ("FREEZER_ROLE",) if _has_function(contract, r))


def _dev_roles(
    client: ChainClient, deployed: dict[str, DeployedContract], admin: str
) -> dict[str, dict[str, list[str]]]:
    """Every role the deployer holds, read back (the dev deployment gives it all of them)."""
    out: dict[str, dict[str, list[str]]] = {}
    for name, info in deployed.items():
        contract = client.contract(info.address, info.abi)
        roles = sorted(
            i["name"] for i in info.abi if i.get("type") == "function" and str(i["name"]).endswith("_ROLE")
        )
        out[name] = {}
        for role in roles:
            role_id = client.call(getattr(contract.functions, role)())
            out[name][role] = [admin] if client.call(contract.functions.hasRole(role_id, admin)) else []
    return out


def manifest_is_live(w3: Web3, manifest: Manifest) -> bool:
    """True when the manifest describes this chain: same genesis, code at every address."""
    if int(w3.eth.chain_id) != manifest.chain_id:
        return False
    genesis = w3.eth.get_block(0)["hash"]
    if manifest.genesis_hash and genesis is not None and genesis.to_0x_hex() != manifest.genesis_hash:
        return False
    return all(
        len(w3.eth.get_code(Web3.to_checksum_address(c.address))) > 0 for c in manifest.contracts.values()
    )


def deploy_from_url(rpc_url: str, account: LocalAccount, params: DeployParams | None = None) -> Manifest:
    return deploy_district(connect(rpc_url), account, params)
