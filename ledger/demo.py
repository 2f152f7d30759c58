"""`ledger demo`: a small district on a local chain, with nothing to configure.

Starts (or reuses) a local anvil node that keeps its chain in `.state/chain/state.json` (a
Hardhat node, which keeps nothing, when anvil is not installed), deploys (or reuses) the
contracts, seeds a demo district once, then runs the services that exist (indexer, API, the
simulated homes, the settlement of each simulated day as it closes) until Ctrl-C. Accounts come
from Hardhat's public development mnemonic: they are for this local chain only. The simulated
homes are real accounts (dev accounts 100 + n): each gets a 50 M3E deposit and lets
EnergySettlement pull what it owes for its solar energy; the operation gets a default tariff
when it has none.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.chain.client import ChainClient, connect
from ledger.chain.deploy import decoder_for_manifest, manifest_is_live
from ledger.chain.deploy_plan import DeploymentPlan, parse_plan
from ledger.chain.devnode import AnvilNode, DevNode, anvil_binary, rpc_answers
from ledger.chain.district import Category, District, ref32
from ledger.chain.governance import deploy_with_plan
from ledger.chain.manifest import Manifest
from ledger.domain.money import format_micro
from ledger.settings import LedgerSettings

DEV_MNEMONIC = "test test test test test test test test test test test junk"
M3E = 1_000_000


@dataclass(frozen=True)
class DemoAccount:
    label: str
    index: int
    account: LocalAccount


def dev_account(index: int) -> LocalAccount:
    Account.enable_unaudited_hdwallet_features()
    account: LocalAccount = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return account


MERCHANTS = [
    ("Boulangerie du Lac", Category.FOOD, 1),
    ("La Ruche Part-Dieu", Category.CO_WORKING, 2),
    ("Autopartage Moncey", Category.CAR_SHARING, 3),
]
RESIDENTS = [("Alice", 4), ("Bruno (prosumer)", 5), ("Chloé", 6), ("Driss (prosumer)", 7), ("Élise", 8)]
COMMONS_FUND_INDEX = 9
DEMO_ROLES = {"treasurer": 15, "registrar": 16, "pauser": 17, "freezer": 18, "social_service": 19}
"""Local dev chain only: each operator power on its own dev account (the deployer, account 0,
stays the admin with no delay for convenience and runs the energy settlement)."""
DEMO_MINT_ALLOWANCE = "100000.00"
DEMO_MINT_DAILY_LIMIT = "20000.00"
SIM_HOMES = 30
HOME_ACCOUNT_BASE = 100
"""Simulated home n is dev account HOME_ACCOUNT_BASE + n."""
HOME_DEPOSIT = 50 * M3E
DEMO_TARIFF = (90_000, 100_000, 80_000)
"""µ€/kWh in solar, peak and off-peak hours: within the bounds (0.04 to the regulated price)."""
SETTLE_EVERY_S = 10
SIM_PAST_DAYS = 3
NAMED_PROSUMERS = [(label, index) for label, index in RESIDENTS if "prosumer" in label]
"""Residents with a solar roof in the simulation (Bruno and Driss): their homes come after the
simulated ones."""
DEMO_SOCIAL_BUDGET = 20 * M3E
"""The commons fund's social energy programme: what it may pay each month."""
DEMO_SOCIAL_DISCOUNT_BPS = 4_000
"""An eligible home pays 40 % less for its neighbours' solar; the fund pays that part."""
DEMO_FUND_GRANT = 100 * M3E
DEMO_ELIGIBLE_HOME = 1


def demo_plan() -> DeploymentPlan:
    """The demo's deployment: split roles on dev accounts, the deployer as (dev-only) admin."""
    roles = {name: [dev_account(i).address] for name, i in DEMO_ROLES.items() if name != "treasurer"}
    return parse_plan({
        "admin": {"delay_seconds": 0},
        "roles": roles,
        "minters": [{"address": dev_account(DEMO_ROLES["treasurer"]).address,
                     "allowance": DEMO_MINT_ALLOWANCE, "daily_limit": DEMO_MINT_DAILY_LIMIT}],
    })


def role_signer(operator: District, contract: str, role: str) -> District:
    """The district seen from the dev account holding `role` (the deployer when it holds it)."""
    holders = operator.manifest.roles.get(contract, {}).get(role, [])
    for index in (0, *DEMO_ROLES.values()):
        account = dev_account(index)
        if account.address in holders:
            return operator.as_(account)
    return operator


def seed_fund(operator: District, operation: str) -> bool:
    """The council's first programme (the demo's deployer is its dev-only council): the social
    energy price, granted to the settlement of the simulated operation, a grant from the town
    hall into the fund, and one simulated home found eligible by the social service. False when
    the fund already has a programme (or the contracts have no fund)."""
    from ledger.energy.settlement import operation_number

    manifest = operator.manifest
    if "CommonsFund" not in manifest.contracts or "EnergySettlement" not in manifest.contracts:
        return False
    deployed = manifest.contract("CommonsFund")
    fund = operator.client.contract(deployed.address, deployed.abi)
    if int(operator.client.call(fund.functions.programmeCount())) > 0:
        return False
    settlement = manifest.contract("EnergySettlement").address
    send = operator.client.transact
    send(fund.functions.openProgramme("Social energy price", settlement, DEMO_SOCIAL_BUDGET))
    send(fund.functions.grantSettlement(1, settlement, operation_number(operation)))
    treasurer = role_signer(operator, "DistrictToken", "TREASURER_ROLE")
    treasurer.record_deposit("DEMO-TOWN-HALL-GRANT", operator.address, DEMO_FUND_GRANT)
    send(operator.token.functions.approve(fund.address, DEMO_FUND_GRANT))
    send(fund.functions.contribute(DEMO_FUND_GRANT, b"TOWN_HALL_GRANT".ljust(32, b"\0")))
    social = role_signer(operator, "CommonsFund", "SOCIAL_SERVICE_ROLE")
    until = int(time.time()) + 365 * 86_400
    social.client.transact(fund.functions.setEligibility(home_account(DEMO_ELIGIBLE_HOME).address, until))
    return True


def home_account(n: int) -> LocalAccount:
    return dev_account(HOME_ACCOUNT_BASE + n)


def demo_chain_start(now: datetime | None = None) -> str:
    """Where the demo's own chain starts its clock (ISO 8601 UTC): midnight UTC two days before the
    demo tariff's day, so that the contract (which starts a day at its midnight UTC less two hours,
    Paris being at most UTC+2) still sees the tariff in the future however long seeding takes."""
    return (demo_tariff_day(now) - timedelta(days=2)).strftime("%Y-%m-%dT00:00:00Z")


def demo_tariff_day(now: datetime | None = None) -> date:
    """The day the demo tariff takes effect: 60 days back (UTC), before every simulated day."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).date() - timedelta(days=60)


# EnergySettlement starts a tariff's day at its midnight UTC less 2 hours (Paris is at most
# UTC+2) and refuses one that has started by the chain's clock; the margin covers the blocks
# mined before the tariff's transaction.
_TARIFF_DAY_LEAD = timedelta(hours=2, minutes=15)


def first_tariff_day(chain_time: int, now: datetime | None = None) -> date:
    """The demo tariff's day on a chain whose clock reads `chain_time` (unix s): 60 days back when
    the chain's clock allows it (a chain the demo created), else the first day the contract still
    takes (a chain reloaded from its state file, or one the demo did not start, runs on the wall
    clock: the simulated past days before that day then have no tariff)."""
    wanted = demo_tariff_day(now)
    clock = datetime.fromtimestamp(chain_time, UTC) + _TARIFF_DAY_LEAD
    earliest = clock.date() + timedelta(days=1)
    return max(wanted, earliest)


def seed_homes(operator: District, settlement: str, homes: int) -> int:
    """Fund each simulated home (deposit DEMO-HOME-n) and sign its energy mandate (capped per day
    and per month, with an allowance of a year of monthly caps, never unlimited); idempotent (a
    recorded deposit or a mandate already there is left alone). Returns how many homes needed
    something."""
    from ledger.energy.settlement import operation_number
    from ledger.energy.settlement_sim import DEMO_MANDATE, sign_mandate
    from ledger.energy.simulator import OPERATION_ID
    touched = 0
    treasurer = role_signer(operator, "DistrictToken", "TREASURER_ROLE")
    for n in range(homes):
        home = home_account(n)
        ref = f"DEMO-HOME-{n}"
        did = False
        if not operator.client.call(operator.token.functions.depositRecorded(ref32(ref))):
            treasurer.record_deposit(ref, home.address, HOME_DEPOSIT)
            did = True
        view = operator.as_(home)
        did = sign_mandate(view, settlement, operation_number(OPERATION_ID), *DEMO_MANDATE) or did
        touched += did
    return touched


def enrol_named_prosumers(operator: District, settlement: str) -> int:
    """Bruno's and Driss's energy mandates (they were funded by the seed); idempotent. Returns how
    many were signed now."""
    from ledger.energy.settlement import operation_number
    from ledger.energy.settlement_sim import DEMO_MANDATE, sign_mandate
    from ledger.energy.simulator import OPERATION_ID

    return sum(
        sign_mandate(operator.as_(dev_account(index)), settlement, operation_number(OPERATION_ID),
                     *DEMO_MANDATE)
        for _label, index in NAMED_PROSUMERS
    )


def ensure_demo_tariff(w3: Any, operator: LocalAccount, manifest: Manifest, operation: str) -> bool:
    """Give the operator the settlement roles and the simulated operation a tariff if it has none
    (effective 60 days back, so the simulated past days are priced). True when one was set."""
    from ledger.energy.settlement import operation_number
    from ledger.energy.settlement_chain import ChainSettlement

    chain = ChainSettlement(ChainClient(w3, operator, decoder_for_manifest(manifest)), manifest)
    chain.ensure_roles()
    op = operation_number(operation)
    if chain.tariffs(op):
        return False
    # A block mined now shows the clock the tariff's transaction will see (a reloaded anvil's
    # clock jumps to the wall clock at its next block, not in its latest one).
    w3.provider.make_request("evm_mine", [])
    day = first_tariff_day(int(w3.eth.get_block("latest")["timestamp"]))
    if day > demo_tariff_day():
        print(f"The chain's clock is past the start of the simulated days: the solar tariff takes "
              f"effect on {day.isoformat()}, and the days before it are not settled (remove "
              f"{LedgerSettings().state_dir / 'chain'} for a new chain whose clock starts earlier)")
    chain.set_tariff(op, day, *DEMO_TARIFF)
    jump_clock_to_now(w3)
    return True


def jump_clock_to_now(w3: Any) -> None:
    """Move a local development chain's clock forward to the wall clock (never backward)."""
    latest = int(w3.eth.get_block("latest")["timestamp"])
    now = int(time.time())
    if latest < now:
        w3.provider.make_request("evm_setNextBlockTimestamp", [now])
        w3.provider.make_request("evm_mine", [])


def seed_district(operator: District, references: Path | None = None) -> dict[str, object]:
    """Merchants, deposits, payments, a refund, bookings, a signed payment and a redemption.

    Payments, the refund, the bookings and the signed payment carry only a salted commitment
    to their reference (ledger.chain.reference), as the wallet sends them; the clear references
    and salts, which payer and merchant keep in their wallets, are written to `references`
    (0600) when given, so the demo's commitments can be matched. The registrar registers, the
    treasurer mints (within its allowance).
    """
    from ledger.chain.reference import new_salt, reference_commitment

    kept: dict[str, dict[str, str]] = {}

    def commit(reference: str, salt: bytes | None = None) -> bytes:
        salt = salt or new_salt()
        commitment = reference_commitment(reference, salt)
        kept["0x" + commitment.hex()] = {"ref": reference, "salt": "0x" + salt.hex()}
        return commitment

    registrar = role_signer(operator, "ServicePayments", "REGISTRAR_ROLE")
    treasurer = role_signer(operator, "DistrictToken", "TREASURER_ROLE")
    merchant_ids: dict[str, int] = {}
    merchant_view: dict[str, District] = {}
    for name, category, index in MERCHANTS:
        merchant_ids[name], _ = registrar.register_merchant(name, category, dev_account(index).address)
        merchant_view[name] = operator.as_(dev_account(index))
    residents = {label: operator.as_(dev_account(index)) for label, index in RESIDENTS}
    for number, (_label, view) in enumerate(residents.items(), start=1):
        treasurer.record_deposit(f"DEMO-DEP-{number:04d}", view.address, 200 * M3E)
    bakery, coworking, cars = (merchant_ids[m[0]] for m in MERCHANTS)
    alice, bruno, chloe, driss, elise = residents.values()
    baguette_salt = new_salt()
    alice.pay(bakery, 4_200_000, commit("BAGUETTE-0001", baguette_salt))
    chloe.pay(coworking, 25 * M3E, commit("DESK-2026-11-CHLOE"))
    bruno.pay(cars, 12_500_000, commit("TRIP-0042"))
    elise.pay(bakery, 8_900_000, commit("CROISSANTS-0007"))
    driss.pay(coworking, 25 * M3E, commit("DESK-2026-11-DRISS"))
    merchant_view["Boulangerie du Lac"].refund(bakery, alice.address, 1_200_000,
                                               commit("BAGUETTE-0001", baguette_salt))
    day_after = int(time.time()) + 86_400
    booking_id, _ = elise.open_booking(cars, 50 * M3E, day_after, commit("BOOK-ELISE-1"))
    merchant_view["Autopartage Moncey"].close_booking(booking_id, 18 * M3E)
    alice.open_booking(coworking, 15 * M3E, day_after, commit("ROOM-ALICE-1"))
    signed = chloe.sign_payment(bakery, 3_100_000, commit("TERMINAL-0001"))
    merchant_view["Boulangerie du Lac"].submit_signed_payment(signed)
    # a payout reference for the operator's bank: it stays in clear (the bank must read it)
    merchant_view["La Ruche Part-Dieu"].redeem(20 * M3E, "PAYOUT-RUCHE-2026-11")
    if references is not None:
        _write_private_json(references, {"version": 1, "references": kept})
    return {"merchants": merchant_ids, "references": kept}


def _write_private_json(path: Path, value: dict[str, object]) -> None:
    """Write JSON with mode 0600 from the start (the salts let anyone match the commitments)."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        json.dump(value, handle, indent=2, ensure_ascii=False)


class ServiceGroups:
    """Every service the demo started, each in its own process group. A service that exits stays
    listed: its leader may leave children (uvicorn workers) in its group, stopped at shutdown."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []
        self._reported: set[int] = set()

    def start(self, command: list[str], log: Path, env: dict[str, str],
              stdout: int | None = None) -> subprocess.Popen[bytes]:
        with open(log, "ab") as handle:  # the child keeps its own copy of the descriptor
            child = subprocess.Popen(
                command,
                stdout=handle if stdout is None else stdout,
                stderr=subprocess.STDOUT if stdout is None else handle,
                env=env,
                start_new_session=True,
            )
        self.started.append(child)
        return child

    def newly_exited(self) -> list[subprocess.Popen[bytes]]:
        """Services whose leader exited since the last call (each said once, none forgotten)."""
        exited = [c for c in self.started if c.poll() is not None and c.pid not in self._reported]
        self._reported.update(c.pid for c in exited)
        return exited

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to every group ever started, then SIGKILL to those still running after
        `timeout` seconds; leaders are reaped."""
        for child in reversed(self.started):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in reversed(self.started):
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=max(deadline - time.monotonic(), 0))
            while group_alive(child.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if child.poll() is None or group_alive(child.pid):
                print(f"a service (process group {child.pid}) did not stop in {timeout:g} s: killed",
                      file=sys.stderr)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()


def group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs. Zombies do not count: an orphaned worker's
    new parent (a container's init) may never reap it, and a zombie holds nothing."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():  # no /proc (macOS): any member, zombie or not
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            # fields after the command name (which may hold spaces): state ppid pgrp ...
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # it exited while we looked
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _ledger_command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "ledger", *args]


def run_demo(port: int = 8545, block_ms: int = 2000, once: bool = False) -> None:
    settings = LedgerSettings(rpc_url=f"http://127.0.0.1:{port}")
    state = settings.state_dir
    state.mkdir(parents=True, exist_ok=True)
    node: DevNode | AnvilNode | None = None
    services = ServiceGroups()
    # SIGINT and SIGTERM stop everything, however the demo was started: a shell starting it in
    # the background (`ledger demo &`) hands it SIGINT ignored, so both handlers are set here.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if rpc_answers(settings.rpc_url):
            print(f"Reusing the chain already running at {settings.rpc_url}")
        else:
            # A new chain's clock starts 62 days back so that the tariff can precede the simulated
            # past days (tariffs are never retroactive by the chain's clock); it jumps to now once set.
            node = start_local_chain(port, state, initial_date=demo_chain_start())
        w3 = connect(settings.rpc_url)
        operator_account = dev_account(0)
        path = settings.manifest_path
        manifest = Manifest.load(path) if path.exists() else None
        if manifest is not None and manifest_is_live(w3, manifest):
            print(f"Reusing the contracts of {path}")
        else:
            if manifest is not None:
                # The old manifest and index belong to a chain that is gone (its state file was
                # removed, or a Hardhat node): keep that index aside, never delete it.
                kept = set_index_aside(state, manifest)
                if kept:
                    print(f"The index of the previous chain is kept as {kept}")
            print("Compiling and deploying the contracts ...")
            manifest = deploy_with_plan(w3, operator_account, demo_plan()).manifest
            manifest.save(path)
        operator = District(w3, operator_account, manifest)
        if operator.merchant_count() == 0:
            print("Seeding the demo district (3 merchants, 5 residents, payments, bookings) ...")
            seed_district(operator, state / "demo-references.json")
        else:
            print("Demo district already seeded")
        if "EnergySettlement" in manifest.contracts:
            from ledger.energy.simulator import OPERATION_ID

            settlement = manifest.contract("EnergySettlement").address
            if seed_homes(operator, settlement, SIM_HOMES):
                print(f"Funded {SIM_HOMES} simulated homes (50 M3E each), enrolled for solar settlement")
            if enrol_named_prosumers(operator, settlement):
                print("Enrolled Bruno and Driss, the prosumers, for solar settlement")
            if ensure_demo_tariff(w3, operator_account, manifest, OPERATION_ID):
                print(f"Set the solar tariff of {OPERATION_ID}: {DEMO_TARIFF[0]:,} µ€/kWh in solar hours")
            if seed_fund(operator, OPERATION_ID):
                print("Opened the commons fund's social energy programme; simulated home 1 is eligible")
        if block_ms and not once:
            # Blocks every ~2 s from now on, like a permissioned QBFT network.
            if isinstance(node, AnvilNode):
                node.mine_every(block_ms / 1000)
            else:
                interval_mining(w3, block_ms)
        env = {
            **os.environ,
            "LEDGER_RPC_URL": settings.rpc_url,
            "LEDGER_MANIFEST": str(path.resolve()),
            "LEDGER_STATE_DIR": str(state.resolve()),
        }
        # One schema upgrade before the services start, so they never race to create it.
        from ledger.db import migrate

        migrate(settings.db_url)
        if not once:
            if importlib.util.find_spec("ledger.cli.indexer"):
                services.start(_ledger_command(["index"]), state / "indexer.log", env)
            if importlib.util.find_spec("ledger.cli.serve"):
                services.start(_ledger_command(["serve"]), state / "api.log", env)
            if importlib.util.find_spec("ledger.energy.simulator"):
                # A few dozen homes publish signed readings over MQTT (an embedded broker when
                # LEDGER_MQTT_URL is unset): the past days and today up to now at once, then each
                # quarter-hour as it ends on the wall clock. Homes are dev accounts 100 + n, funded
                # and enrolled above, plus Bruno's and Driss's roofs.
                simulate = ["simulate", "--homes", str(SIM_HOMES), "--follow", "--days", str(SIM_PAST_DAYS),
                            "--dev-wallets", str(HOME_ACCOUNT_BASE)]
                for _label, index in NAMED_PROSUMERS:
                    simulate += ["--prosumer", dev_account(index).address]
                services.start(_ledger_command(simulate), state / "simulator.log", env)
            if importlib.util.find_spec("ledger.energy.settlement_source"):
                from ledger.energy.simulator import OPERATION_ID

                # Each simulated day is settled on chain once all its readings are in.
                watch = ["settle-watch", "--operation", OPERATION_ID, "--interval", str(SETTLE_EVERY_S),
                         "--social-discount", str(DEMO_SOCIAL_DISCOUNT_BPS)]
                services.start(_ledger_command(watch), state / "settlement.log", env)
        _print_summary(operator, manifest, settings)
        if once:
            return
        print(f"\nRunning. Logs in {state}/*.log. Press Ctrl-C to stop everything this command started.")
        restarts = 0
        while True:
            time.sleep(1)
            if isinstance(node, AnvilNode) and node.process is not None and node.process.poll() is not None:
                # The chain died (kill -9, out of memory): start it again from its state file;
                # the services reconnect by themselves.
                restarts += 1
                if restarts > 5:
                    print(f"the local chain keeps exiting; see {state / 'chain.log'}", file=sys.stderr)
                    break
                print("the local chain exited; starting it again from its state file", file=sys.stderr)
                node.start()  # its miner thread goes on mining once the node answers
            for child in services.newly_exited():
                print(f"a service exited (code {child.returncode}); see {state}/*.log", file=sys.stderr)
    except KeyboardInterrupt:
        print("\nStopping ...")
    finally:
        # a second signal must not cut the clean-up short (the chain would keep running)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # every process group ever started, a service's own children (workers) with it
        services.stop()
        if node is not None:
            node.stop()
        for sig, handler in previous.items():  # a caller in the same process gets its own back
            if handler is not None:
                signal.signal(sig, handler)


def start_local_chain(port: int, state: Path, initial_date: str | None = None) -> DevNode | AnvilNode:
    """anvil with its state file under `state/chain` when installed, else a Hardhat node.
    `initial_date` (ISO 8601 UTC) sets the clock of a chain created now; a reloaded one keeps its own."""
    if anvil_binary() is not None:
        path = state / "chain" / "state.json"
        again = "from its state file " if path.exists() else ""
        print(f"Starting the local chain {again}(anvil, chain id 69003, zero gas price) on port {port} ...")
        return AnvilNode(port, path, log_path=state / "chain.log", initial_date=initial_date).start()
    print(f"Starting a local Hardhat chain (chain id 69003, zero gas price; it keeps nothing: "
          f"install anvil with ./run.sh setup) on port {port} ...")
    return DevNode(port, log_path=state / "chain.log", initial_date=initial_date).start()


def interval_mining(w3: Any, block_ms: int) -> None:
    """A block every `block_ms` on a Hardhat node. An anvil the demo did not start is left to
    mine as it was started: anvil's interval mining would keep the state of every block (the
    demo's own anvil mines from AnvilNode.mine_every)."""
    if "anvil" in str(w3.client_version).lower():
        print(f"The chain mines its own blocks (`ledger node --block-time {max(1, block_ms // 1000)}` "
              "for an empty block that often)")
        return
    w3.provider.make_request("evm_setAutomine", [False])
    w3.provider.make_request("evm_setIntervalMining", [block_ms])


def set_index_aside(state: Path, old: Manifest) -> str | None:
    """Rename the index of a chain that is gone (ledger.db and its -wal/-shm) after that chain's
    genesis; returns the new name, None when there was none."""
    db = state / "ledger.db"
    if not db.exists():
        return None
    tag = (old.genesis_hash.removeprefix("0x")[:12] or "unknown") + "-" + time.strftime("%Y%m%d%H%M%S")
    target = state / f"ledger.db.chain-{tag}"
    for suffix in ("", "-wal", "-shm"):
        part = state / f"ledger.db{suffix}"
        if part.exists():
            part.rename(state / f"{target.name}{suffix}")
    (state / "ledger.db.lock").unlink(missing_ok=True)
    return target.name


def _m3e(micro: int) -> str:
    return format_micro(micro, thousands=" ")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _print_summary(operator: District, manifest: Manifest, settings: LedgerSettings) -> None:
    supply, reserve = operator.total_supply(), operator.reserve()
    print("\nThe district is up:")
    print(f"  chain            {settings.rpc_url} (chain id {manifest.chain_id})")
    for name, contract in manifest.contracts.items():
        print(f"  {name:<16} {contract.address}")
    print(f"  supply           {_m3e(supply)} against a reserve of {_m3e(reserve)}")
    if manifest.admin:
        print(f"  admin            {manifest.admin.get('address')} ({manifest.admin.get('kind')}"
              + (", local dev chain only)" if manifest.admin.get("dev_only") else ")"))
    for contract_name, roles in manifest.roles.items():
        for role, holders in roles.items():
            if role != "DEFAULT_ADMIN_ROLE" and holders:
                print(f"  {role:<16} {', '.join(holders)} ({contract_name})")
    for merchant in operator.merchants():
        print(
            f"  merchant #{merchant['id']}      {merchant['name']} ({merchant['category']}) "
            f"holds {_m3e(operator.balance_of(str(merchant['payout'])))}"
        )
    for label, index in RESIDENTS:
        address = dev_account(index).address
        print(f"  resident         {label:<17} {address} holds {_m3e(operator.balance_of(address))}")
    api = f"http://{settings.api_host}:{settings.api_port}"
    print("\nTry next, in another terminal (source .venv/bin/activate):")
    print(f"  open {api}/                        # the district's page (API at {api}/docs)")
    print("  ledger verify                       # the deployed code is the published source")
    print("  ledger reconcile                    # the indexed balances equal the chain")
    print("  wallet import alice --mnemonic --index 4   # Alice; the words are Hardhat's public")
    print("                                      # dev mnemonic 'test test ... junk'")
    print("  wallet balance; wallet pay 'Boulangerie du Lac' 2.40 --ref CROISSANT-1")
    print("  wallet history; wallet login; wallet statement --month " + time.strftime("%Y-%m"))
