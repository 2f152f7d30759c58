"""`ledger serve --workers N` behind one port: sessions, nonces and limits shared through the
database (SQLite and PostgreSQL), and sign-in that a flood cannot block. Loopback only, bounded."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.db.api_state import SqlApiState, StoredRequest
from tests.conftest import require_service
from tests.integration.api_server import (
    Server,
    client_port,
    new_resident,
    running_server,
    serving_pid,
    signed,
)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLite in the test's folder, or a scratch PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    from ledger.db import make_engine

    admin = make_engine(require_service("LEDGER_TEST_POSTGRES_URL", "PostgreSQL"))
    name = f"ledger_test_api_{uuid.uuid4().hex[:10]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def test_the_shared_store_keeps_sessions_single_use_nonces_limits_and_requests(database_url: str) -> None:
    from ledger.db import migrate

    migrate(database_url)
    one, two = SqlApiState.from_url(database_url), SqlApiState.from_url(database_url)  # two workers
    try:
        one.create_session("h" * 64, "0xAbc", 2_000, 1_000)
        assert two.session("h" * 64, 1_500) == ("0xAbc", 2_000)
        assert two.session("h" * 64, 2_000) is None  # expired
        two.revoke_session("h" * 64)
        assert one.session("h" * 64, 1_500) is None
        assert one.spend_nonce("n1", 2_000, 1_000) is True
        assert two.spend_nonce("n1", 2_000, 1_000) is False
        hits = [one.hit("ip:x", 7, 5), two.hit("ip:x", 7, 5), one.hit("ip:x", 8, 6)]
        assert hits == [(1, 0), (2, 0), (1, 2)]
        commitment = bytes(range(32))
        one.save_request(69003, StoredRequest(commitment, 3, "DESK-1", b"\1" * 32, 2**256 - 1, 1_000))
        found = two.requests(69003, [commitment, b"\0" * 32])
        assert list(found) == [commitment] and found[commitment].amount == 2**256 - 1
        assert two.requests(1, [commitment]) == {}
        one.set_named("0xAAA", True, 1)
        two.set_named("0xbbb", True, 1)
        two.set_named("0xbbb", False, 2)
        assert one.named(["0xaaa", "0xBBB", "0xccc"]) == {"0xaaa"}
    finally:
        one.close()
        two.close()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_session_reads_survive_the_database_dropping_every_connection(database_url: str) -> None:
    """PostgreSQL: sessions are read on connections kept for it; when the server drops them all
    (a restart, a failover), the next read opens a new one instead of failing the request."""
    from sqlalchemy import text

    from ledger.db import make_engine, migrate

    migrate(database_url)
    worker, other = SqlApiState.from_url(database_url), SqlApiState.from_url(database_url)
    admin = make_engine(database_url)
    try:
        other.create_session("k" * 64, "0xAbc", 2_000, 1_000)
        assert worker.session("k" * 64, 1_500) == ("0xAbc", 2_000)
        with admin.connect() as conn:
            dropped = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        assert dropped >= 1
        assert worker.session("k" * 64, 1_500) == ("0xAbc", 2_000)
        other.revoke_session("k" * 64)  # and a revocation is seen at the next read
        assert worker.session("k" * 64, 1_500) is None
    finally:
        worker.close()
        other.close()
        admin.dispose()


def call(
    client: httpx.Client, server: Server, method: str, path: str, **kwargs: Any
) -> tuple[int | None, httpx.Response]:
    with client.stream(method, path, **kwargs) as response:
        pid = serving_pid(server, client_port(response))
        response.read()
    return pid, response


def one_client_per_worker(server: Server, wanted: int) -> dict[int, httpx.Client]:
    """Keep-alive clients, each on one connection, until `wanted` workers each hold one."""
    clients: dict[int, httpx.Client] = {}
    spare: list[httpx.Client] = []
    for _ in range(80):
        client = httpx.Client(base_url=server.url, timeout=10, limits=httpx.Limits(max_connections=1))
        pid, response = call(client, server, "GET", "/v1/health")
        assert response.status_code == 200
        if pid is not None and pid not in clients:
            clients[pid] = client
        else:
            spare.append(client)
        if len(clients) >= wanted:
            break
    for client in spare:
        client.close()
    if len(clients) < wanted:
        raise AssertionError(f"only {len(clients)} of {wanted} workers took connections")
    return clients


@pytest.mark.timeout(180)
def test_a_session_made_on_one_worker_works_on_the_others(tmp_path: Path, database_url: str) -> None:
    with running_server(tmp_path, database_url, workers=2) as server:
        session_across_workers(server)


@pytest.mark.timeout(180)
def test_with_redis_a_session_made_on_one_worker_works_on_the_others(tmp_path: Path) -> None:
    redis_url = require_service("LEDGER_TEST_REDIS_URL", "Redis")
    database_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with running_server(tmp_path, database_url, workers=2, LEDGER_API_REDIS_URL=redis_url) as server:
        session_across_workers(server)


def session_across_workers(server: Server) -> None:
    """Nonce from one worker, sign-in on another, session and logout seen by both."""
    clients = one_client_per_worker(server, 2)
    try:
        (pid_a, a), (pid_b, b) = list(clients.items())
        resident = new_resident()
        pid, nonce = call(a, server, "GET", "/v1/auth/nonce", params={"address": resident.address})
        assert pid == pid_a and nonce.status_code == 200
        message = nonce.json()["message"]
        body = {"message": message, "signature": signed(resident, message)}
        pid, opened = call(b, server, "POST", "/v1/auth/siwe", json=body)  # nonce from A, spent on B
        assert pid == pid_b and opened.status_code == 200, opened.text
        auth = {"Authorization": f"Bearer {opened.json()['token']}"}
        pid, replay = call(a, server, "POST", "/v1/auth/siwe", json=body)  # replayed on the other
        assert pid == pid_a and replay.status_code == 401
        assert replay.json()["error"]["code"] == "siwe_bad_nonce"
        for client, expected in ((a, pid_a), (b, pid_b)):
            client.cookies.clear()
            pid, whoami = call(client, server, "GET", "/v1/auth/session", headers=auth)
            assert pid == expected and whoami.status_code == 200
            assert whoami.json()["address"] == resident.address
            pid, own = call(client, server, "GET", f"/v1/accounts/{resident.address}/balance", headers=auth)
            assert pid == expected and own.status_code == 200
            history = f"/v1/accounts/{resident.address}/history"  # the fast lane (api.fast_history)
            pid, page = call(client, server, "GET", history, headers=auth)
            assert pid == expected and page.status_code == 200 and page.json()["items"] == []
        pid, _ = call(a, server, "POST", "/v1/auth/logout", headers=auth)
        assert pid == pid_a
        pid, ended = call(b, server, "GET", history, headers=auth)  # signed out on A: refused on B
        assert pid == pid_b and ended.status_code == 401
        pid, ended = call(b, server, "GET", "/v1/auth/session", headers=auth)
        assert pid == pid_b and ended.status_code == 401
    finally:
        for client in clients.values():
            client.close()


@pytest.mark.timeout(180)
def test_a_resident_signs_in_within_2_s_while_others_flood_the_nonce_route(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with running_server(tmp_path, database_url, workers=2, rate_limits=True) as server:
        stop = threading.Event()
        statuses: dict[int, int] = {}
        lock = threading.Lock()

        def flood(source: str) -> None:
            transport = httpx.HTTPTransport(local_address=source)
            with httpx.Client(base_url=server.url, transport=transport, timeout=10) as client:
                for _ in range(20_000):  # bounded; stopped by the event long before
                    if stop.is_set():
                        return
                    status = client.get("/v1/auth/nonce").status_code
                    with lock:
                        statuses[status] = statuses.get(status, 0) + 1

        flooders = [threading.Thread(target=flood, args=(f"127.0.0.{2 + i}",), daemon=True) for i in range(4)]
        for thread in flooders:
            thread.start()
        try:
            deadline = time.monotonic() + 30
            while sum(statuses.values()) < 200 and time.monotonic() < deadline:
                time.sleep(0.05)  # the flood is on: 200 requests answered
            resident = new_resident()
            transport = httpx.HTTPTransport(local_address="127.0.0.77")
            with httpx.Client(base_url=server.url, transport=transport, timeout=10) as client:
                started = time.monotonic()
                message = client.get("/v1/auth/nonce", params={"address": resident.address}).json()["message"]
                opened = client.post(
                    "/v1/auth/siwe", json={"message": message, "signature": signed(resident, message)}
                )
                elapsed = time.monotonic() - started
            assert opened.status_code == 200, opened.text
            assert elapsed < 2.0, f"signing in took {elapsed:.2f} s during the flood"
        finally:
            stop.set()
            for thread in flooders:
                thread.join(timeout=15)
        assert statuses.get(429, 0) > 0, statuses  # the flooders were capped
        assert not any(status >= 500 for status in statuses), statuses


def test_with_redis_two_workers_share_sessions_nonces_and_limits(tmp_path: Path) -> None:
    from api.redis_state import RedisApiState
    from ledger.db import migrate

    redis_url = require_service("LEDGER_TEST_REDIS_URL", "Redis")
    database_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    migrate(database_url)
    one = RedisApiState(redis_url, SqlApiState.from_url(database_url))
    two = RedisApiState(redis_url, SqlApiState.from_url(database_url))
    token, nonce, key = uuid.uuid4().hex, uuid.uuid4().hex, f"ip:{uuid.uuid4().hex}"
    now = int(time.time())
    try:
        one.create_session(token, "0xAbc", now + 60, now)
        assert two.session(token, now) == ("0xAbc", now + 60)
        assert two.session(token, now + 61) is None
        two.revoke_session(token)
        assert one.session(token, now) is None
        assert one.spend_nonce(nonce, now + 60, now) is True
        assert two.spend_nonce(nonce, now + 60, now) is False
        assert [one.hit(key, 7, 5), two.hit(key, 7, 5), one.hit(key, 8, 6)] == [(1, 0), (2, 0), (1, 2)]
        one.set_named("0xAAA", True, now)
        assert two.named(["0xaaa"]) == {"0xaaa"}  # kept in the database
    finally:
        one.close()
        two.close()
