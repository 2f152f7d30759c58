"""A running stack for the API's end-to-end tests: chain, contracts, demo data, indexer, API.

Everything on loopback: a Hardhat node of its own (the tests revert it), the demo district seeded
by ledger.demo.seed_district, the indexer following in a thread, uvicorn serving in a thread.
With `energy_homes`, the simulated district's homes (ledger.energy.simulator) are registered in
the same database and send yesterday's signed readings (Europe/Paris, the steps up to 14:00: the
later ones are still to come) through the real gateway route, so the page's energy chart has data.
Yesterday, not today: just after midnight today has no ended step, and the day must not change
between sending the readings and reading them back.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from api.app import create_app
from api.settings import ApiSettings
from ledger.chain.client import connect
from ledger.chain.deploy import DeployParams, deploy_district
from ledger.chain.devnode import DevNode, free_port
from ledger.chain.district import District
from ledger.chain.manifest import Manifest
from ledger.db.energy_store import SqlEnergyStore
from ledger.db.engine import make_engine
from ledger.demo import COMMONS_FUND_INDEX, dev_account, seed_district
from ledger.domain.energy.steps import PARIS
from ledger.energy import simulator
from ledger.energy.envelope import Envelope, seal
from ledger.indexer.service import IndexerConfig, open_indexer

ENERGY_SEED = 3  # the simulated district's seed (homes, keys and curves derive from it)


@dataclass
class Stack:
    node: DevNode
    w3: Any
    manifest: Manifest
    operator: District
    api_url: str
    database_url: str
    indexer_errors: list[BaseException]
    energy_homes: list[simulator.Home] = field(default_factory=list)
    energy_steps: list[int] = field(default_factory=list)
    energy_day: date | None = None  # the local day (Europe/Paris) whose readings were sent

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def wait_indexed(self, block: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.indexer_errors:
                raise AssertionError(f"the indexer stopped: {self.indexer_errors[0]!r}")
            body = httpx.get(f"{self.api_url}/v1/health", timeout=5).json()
            # Before the indexer created its schema the API answers 503: keep waiting.
            if body.get("indexed_block", -1) >= block:
                return
            time.sleep(0.1)
        raise AssertionError(f"the indexer did not reach block {block} in {timeout} s")


ENERGY_DAY_UNTIL_HOUR = 14  # the steps sent end at 14:00 Paris: sunrise to early afternoon


def energy_day_and_steps(now: float | None = None) -> tuple[date, list[int]]:
    """Yesterday (Europe/Paris) and the starts (Unix s) of its 15-minute steps that end by 14:00."""
    at = time.time() if now is None else now
    day = datetime.fromtimestamp(at, PARIS).date() - timedelta(days=1)
    until = datetime(day.year, day.month, day.day, ENERGY_DAY_UNTIL_HOUR, tzinfo=PARIS).timestamp()
    return day, [s for s in simulator.simulated_steps(day, 1) if s + simulator.STEP_S <= until]


def ingest_energy(
    api_url: str, database_url: str, homes: int, wallet_for: Callable[[int], str] | None = None
) -> tuple[list[simulator.Home], date, list[int]]:
    """Register `homes` simulated homes (operation, participants, gateways with their Ed25519
    keys, meters) in the database, then post yesterday's signed readings up to 14:00 through the
    gateway route: one envelope per meter carrying every step (the gateway catching up)."""
    district = simulator.build_district(homes, ENERGY_SEED, wallet_for)
    engine = make_engine(database_url)
    try:
        simulator.register_district(SqlEnergyStore(engine), secrets.token_bytes(32), district)
    finally:
        engine.dispose()
    energy_day, steps = energy_day_and_steps()
    counters = simulator.Counters()
    with httpx.Client(base_url=api_url, timeout=30) as client:
        for home in district:
            per_meter: dict[str, list[Envelope]] = {}
            for start in steps:
                for envelope in simulator.home_envelopes(home, start, ENERGY_SEED, counters):
                    per_meter.setdefault(envelope.meter_serial, []).append(envelope)
            for serial, envelopes in per_meter.items():
                day = Envelope(
                    home.device_id,
                    counters(home.device_id),
                    serial,
                    "synced",
                    tuple(r for e in envelopes for r in e.readings),
                )
                response = client.post(
                    f"/v1/gateways/{home.device_id}/readings",
                    content=seal(day, home.key),
                    headers={"content-type": "application/json"},
                )
                if response.status_code != 200 or response.json().get("status") != "accepted":
                    raise AssertionError(f"the readings of {home.device_id} were not stored: {response.text}")
    return district, energy_day, steps


@contextlib.contextmanager
def running_stack(
    tmp: Path, *, energy_homes: int = 0, energy_wallet_for: Callable[[int], str] | None = None
) -> Iterator[Stack]:
    """The stack; with `energy_homes` > 0 that many simulated homes (one in three with a solar
    roof: 15 give the 5 producers the district figures need) send today's readings, home n
    belonging to `energy_wallet_for(n)` when given (else to an address nobody holds)."""
    node = DevNode(free_port(), log_path=tmp / "node.log").start()
    stop = threading.Event()
    errors: list[BaseException] = []
    server: uvicorn.Server | None = None
    threads: list[threading.Thread] = []
    try:
        w3 = connect(node.url)
        manifest = deploy_district(
            w3, dev_account(0), DeployParams(commons_fund=dev_account(COMMONS_FUND_INDEX).address)
        )
        manifest_path = tmp / "deployment.json"
        manifest.save(manifest_path)
        operator = District(w3, dev_account(0), manifest)
        seed_district(operator, tmp / "demo-references.json")
        database_url = f"sqlite:///{tmp / 'ledger.db'}"
        config = IndexerConfig(
            rpc_url=node.url,
            database_url=database_url,
            manifest=manifest_path,
            confirmations=12,
            poll_interval=0.1,
            use_finalized_tag=False,
        )

        def index() -> None:
            try:
                with open_indexer(config, stop=stop) as indexer:
                    indexer.run(follow=True)
            except BaseException as exc:  # reported by wait_indexed
                errors.append(exc)

        threads.append(threading.Thread(target=index, name="indexer", daemon=True))
        threads[-1].start()
        port = free_port()
        settings = ApiSettings(
            host="127.0.0.1",
            port=port,
            database_url=database_url,
            rpc_url=node.url,
            manifest=manifest_path,
            feed_poll_seconds=0.1,
            rate_limit_enabled=False,
            min_block_wait_seconds=10.0,
            state_dir=tmp,  # the server key file goes there, not into the project's .state
        )
        # The indexer creates the schema: wait for it before the API reads.
        deadline = time.monotonic() + 60
        while not (tmp / "ledger.db").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
        )
        threads.append(threading.Thread(target=server.run, name="api", daemon=True))
        threads[-1].start()
        api_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        stack = Stack(node, w3, manifest, operator, api_url, database_url, errors)
        stack.wait_indexed(stack.head(), timeout=60)
        if energy_homes > 0:
            stack.energy_homes, stack.energy_day, stack.energy_steps = ingest_energy(
                api_url, database_url, energy_homes, energy_wallet_for
            )
        yield stack
    finally:
        stop.set()
        if server is not None:
            server.should_exit = True
        for thread in threads:
            thread.join(timeout=15)
        node.stop()


class FeedListener:
    """Reads the SSE feed in a thread and keeps every event (kind, id, data)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feed", daemon=True)
        self.connected = threading.Event()

    def __enter__(self) -> FeedListener:
        self._thread.start()
        if not self.connected.wait(10):
            raise AssertionError("the feed did not answer")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        import json

        last_id = ""
        with httpx.Client(timeout=httpx.Timeout(5.0, read=2.0)) as client:
            while not self._stop.is_set():
                try:
                    headers = {"Last-Event-ID": last_id} if last_id else {}
                    with client.stream("GET", self.url, headers=headers) as response:
                        self.connected.set()
                        kind, event_id, data = "message", "", ""
                        for line in response.iter_lines():
                            if self._stop.is_set():
                                return
                            if line.startswith("event: "):
                                kind = line[7:]
                            elif line.startswith("id: "):
                                event_id = line[4:]
                            elif line.startswith("data: "):
                                data = line[6:]
                            elif line == "" and data:
                                self.events.append((kind, event_id, json.loads(data)))
                                last_id = event_id or last_id
                                kind, event_id, data = "message", "", ""
                except httpx.ReadTimeout:
                    continue  # quiet feed: reconnect and resume after the last event seen

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> tuple[str, str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in list(self.events):
                if predicate(event):
                    return event
            time.sleep(0.05)
        raise AssertionError(f"no such event on the feed within {timeout} s; got {self.events[-10:]}")


def sign_in(api_url: str, account: Any) -> dict[str, str]:
    """Sign-In with Ethereum through the API's own routes; the bearer header of the session."""
    from eth_account.messages import encode_defunct

    with httpx.Client(base_url=api_url, timeout=20) as client:
        message = client.get("/v1/auth/nonce", params={"address": account.address}).json()["message"]
        signature = "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()
        opened = client.post("/v1/auth/siwe", json={"message": message, "signature": signature})
    if opened.status_code != 200:
        raise AssertionError(f"sign-in refused: {opened.text}")
    return {"Authorization": f"Bearer {opened.json()['token']}"}
