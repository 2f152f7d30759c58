"""The JSON-RPC client's transport for http:// nodes (ledger/indexer/transport.py), against a
real socket server on loopback that answers as a node would, or as a failing one does."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import orjson
import pytest

from ledger.indexer.errors import RpcUnavailable
from ledger.indexer.rpc import RetryPolicy, RpcClient
from ledger.indexer.transport import PlainHttpTransport

Handler = Callable[[socket.socket, int], bool]  # (connection, request number) -> keep it open


def _read_request(conn: socket.socket) -> tuple[bytes, bytes] | None:
    """One HTTP request's head and body (Content-Length bytes); None when the client
    closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = conn.recv(65536)
        except ConnectionResetError:  # the client closed with our answer unread (a refused 1xx)
            return None
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += conn.recv(65536)
    return head, body


def _answer(conn: socket.socket, body: bytes, extra: bytes = b"") -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)


class _Server:
    """Accepts connections one after another; `handler` answers each request."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests = 0
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            while not self.done.is_set():
                try:
                    conn, _ = self.sock.accept()
                except OSError:
                    return
                self.connections += 1
                with conn:
                    while (request := _read_request(conn)) is not None:
                        self.heads.append(request[0])
                        self.bodies.append(request[1])
                        self.requests += 1
                        if not self.handler(conn, self.requests):
                            break
        finally:
            self.done.set()

    def close(self) -> None:
        self.done.set()
        self.sock.close()


@contextmanager
def _serving(handler: Handler) -> Iterator[_Server]:
    server = _Server(handler)
    try:
        yield server
    finally:
        server.close()


def _client(port: int, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(transport=PlainHttpTransport(), timeout=timeout,
                        base_url=f"http://127.0.0.1:{port}")


def test_a_large_answer_arrives_whole_and_the_connection_is_kept() -> None:
    big = orjson.dumps({"jsonrpc": "2.0", "id": 1, "result": ["0x" + "ab" * 32] * 60_000})

    def handler(conn: socket.socket, _n: int) -> bool:
        _answer(conn, big)
        return True

    with _serving(handler) as server, _client(server.port) as client:
        for _ in range(3):
            response = client.post("/", content=b'{"jsonrpc":"2.0","id":1}')
            assert response.status_code == 200
            assert response.content == big
        assert (server.requests, server.connections) == (3, 1)


def test_a_kept_connection_the_node_closed_is_replaced_once() -> None:
    def handler(conn: socket.socket, _n: int) -> bool:
        _answer(conn, b'{"ok":1}')
        return False  # the node closes every connection after one answer, without saying so

    with _serving(handler) as server, _client(server.port) as client:
        assert [client.post("/", content=b"{}").content for _ in range(3)] == [b'{"ok":1}'] * 3
        assert server.connections == 3


def test_an_answer_cut_short_is_a_transport_error() -> None:
    def handler(conn: socket.socket, _n: int) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        return False

    with _serving(handler) as server, _client(server.port) as client, \
            pytest.raises(httpx.RemoteProtocolError, match="not valid HTTP"):
        client.post("/", content=b"{}")


def test_a_node_that_does_not_answer_times_out() -> None:
    stop = threading.Event()

    def handler(_conn: socket.socket, _n: int) -> bool:
        stop.wait(10)  # holds the request unanswered
        return False

    with _serving(handler) as server, _client(server.port, timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post("/", content=b"{}")
        stop.set()


def test_a_chunked_answer_is_read_whole() -> None:
    def handler(conn: socket.socket, _n: int) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n")
        return True

    with _serving(handler) as server, _client(server.port) as client:
        assert client.post("/", content=b"{}").json() == {"a": 1}


def test_no_compressed_answer_is_asked_for() -> None:
    """The transport hands the body on as it came: it must not ask for gzip (httpx does)."""
    def handler(conn: socket.socket, _n: int) -> bool:
        _answer(conn, b"{}")
        return True

    with _serving(handler) as server, _client(server.port) as client:
        client.post("/", content=b"{}")
        assert b"gzip" not in server.heads[0].lower()
        assert b"accept-encoding: identity" in server.heads[0].lower()


def test_a_node_that_refuses_connections_is_unavailable_after_the_retries() -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    retry = RetryPolicy(attempts=3, base=0.01, deadline=5, sleep=lambda _s: None)
    with RpcClient(f"http://127.0.0.1:{port}", retry=retry) as rpc, \
            pytest.raises(RpcUnavailable, match="did not answer eth_chainId after 3 tries"):
        rpc.call("eth_chainId", [])


def _echo(server_bodies: list[bytes], conn: socket.socket) -> None:
    """A JSON-RPC answer to the last request: its own id, its method as the result."""
    request = orjson.loads(server_bodies[-1])
    _answer(conn, orjson.dumps({"jsonrpc": "2.0", "id": request["id"],
                                "result": request["method"]}))


def test_an_interim_answer_is_a_transport_error_not_the_answer() -> None:
    """http.client hands an interim 1xx answer back as the answer: taken so, the real answer,
    arriving after it, would answer the next call on the connection."""
    def handler(conn: socket.socket, _n: int) -> bool:
        conn.sendall(b"HTTP/1.1 102 Processing\r\n\r\n")
        _answer(conn, b'{"ok":1}')
        return True

    with _serving(handler) as server, _client(server.port) as client, \
            pytest.raises(httpx.RemoteProtocolError, match="interim answer 102"):
        client.post("/", content=b"{}")


def test_calls_after_an_interim_answer_get_their_own_answers() -> None:
    box: list[_Server] = []

    def handler(conn: socket.socket, n: int) -> bool:
        if n == 1:
            conn.sendall(b"HTTP/1.1 102 Processing\r\n\r\n")
        _echo(box[0].bodies, conn)
        return True

    retry = RetryPolicy(attempts=3, base=0.01, deadline=5, sleep=lambda _s: None)
    with _serving(handler) as server:
        box.append(server)
        with RpcClient(f"http://127.0.0.1:{server.port}", retry=retry) as rpc:
            assert [rpc.call(m) for m in ("eth_chainId", "eth_blockNumber", "net_version")] == [
                "eth_chainId", "eth_blockNumber", "net_version"]


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999999\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 23\r\n\r\n"
    b'{"result":"0123456789"}',
], ids=["huge length", "length above 2^64", "huge chunk", "two lengths"])
def test_an_answer_whose_size_cannot_be_trusted_is_a_transport_error(answer: bytes) -> None:
    """Refused as httpx refuses it (a transport error, which the client retries), never a
    MemoryError, an OverflowError or a cut body taken as the answer."""
    def handler(conn: socket.socket, _n: int) -> bool:
        conn.sendall(answer)
        return False

    with _serving(handler) as server, _client(server.port) as client, \
            pytest.raises(httpx.RemoteProtocolError):
        client.post("/", content=b"{}")


def test_a_header_value_beyond_ascii_keeps_its_bytes() -> None:
    def handler(conn: socket.socket, _n: int) -> bool:
        _answer(conn, b'{"ok":1}', extra="Server: caf\u00e9\r\n".encode())
        return True

    with _serving(handler) as server, _client(server.port) as client:
        response = client.post("/", content=b"{}")
        assert response.json() == {"ok": 1}
        assert response.headers.raw[-1] == (b"Server", "caf\u00e9".encode())
