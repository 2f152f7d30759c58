"""The JSON-RPC client's HTTP transport for plain `http://` nodes: the standard library's
http.client under httpx's interface.

A backfill reads `eth_getLogs` answers of several megabytes. httpx's default transport reads
them in 64 KiB pieces through Python code (httpcore, h11) and joins them: 33 to 44 ms of CPU for
a 13 MB answer on the bench's machine, against 4 to 13 ms for http.client, which reads a body of
known length into one buffer in C (and the answer arrived sooner). `https://` URLs, and any
other scheme, keep httpx's own transport (certificates, HTTP/2, proxies as httpx handles them).

Connections are kept alive, a few per node. A kept connection the node closed meanwhile is
found when the request fails before any answer: the request is sent once more on a new
connection (JSON-RPC reads only: the indexer sends no transaction). Failures become httpx's
transport errors, which the client retries with its own policy.
"""

from __future__ import annotations

import http.client
import socket
import threading
from typing import Any

import httpx

_KEPT = 4  # idle connections kept per node
# The largest answer read (a backfill's answers are tens of MB): a larger Content-Length or
# chunk is refused before anything is allocated for it, as a lying node's.
MAX_ANSWER = 1 << 30

# Request headers not passed on: http.client writes its own framing, and a compressed answer
# would need decoding here (a local node answers plain text).
_DROPPED = frozenset({"accept-encoding", "connection", "transfer-encoding"})


def _check_framing(answer: http.client.HTTPResponse) -> None:
    """Refuses (ValueError) an answer whose body cannot be read for certain: an interim 1xx
    answer (http.client returns it as the answer, and the real one would then answer the next
    request on the connection), Content-Length headers that disagree, or a body announced
    larger than MAX_ANSWER."""
    if answer.status < 200:
        raise ValueError(f"an interim answer {answer.status} (a JSON-RPC node sends none)")
    lengths = set(answer.msg.get_all("content-length") or [])
    if len(lengths) > 1:
        raise ValueError(f"Content-Length given as {sorted(lengths)}")
    if answer.length is not None and answer.length > MAX_ANSWER:
        raise ValueError(f"an answer of {answer.length} bytes (at most {MAX_ANSWER} are read)")


class PlainHttpTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._other: httpx.HTTPTransport | None = None  # for https:// (made when first needed)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            with self._lock:
                if self._other is None:
                    self._other = httpx.HTTPTransport()
            return self._other.handle_request(request)
        key = (url.host, url.port or 80)
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        body = request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROPPED}
        target = url.raw_path.decode("ascii")
        while True:
            conn, kept = self._take(key, timeouts, request)
            try:
                conn.request(request.method, target, body=body, headers=headers)
                answer = conn.getresponse()
                _check_framing(answer)
                content = answer.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                if kept:  # closed by the node while idle: once more, on a new connection
                    continue
                raise httpx.RemoteProtocolError(f"the node closed the connection: {exc}",
                                                request=request) from exc
            except TimeoutError as exc:
                conn.close()
                raise httpx.ReadTimeout(f"the node did not answer in time: {exc}",
                                        request=request) from exc
            except (http.client.HTTPException, ValueError, MemoryError, OverflowError) as exc:
                # ValueError: framing refused above, or a chunk size http.client cannot read
                conn.close()
                raise httpx.RemoteProtocolError(f"the node's answer is not valid HTTP: {exc!r}",
                                                request=request) from exc
            except OSError as exc:
                conn.close()
                raise httpx.ConnectError(f"cannot reach the node: {exc}", request=request) from exc
            if answer.will_close:
                conn.close()
            else:
                self._keep(key, conn)
            # Header values as the node sent their bytes (http.client read them as Latin-1).
            raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.getheaders()]
            return httpx.Response(answer.status, headers=raw, content=content, request=request)

    def _take(self, key: tuple[str, int], timeouts: dict[str, Any], request: httpx.Request
              ) -> tuple[http.client.HTTPConnection, bool]:
        read = timeouts.get("read")
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                conn = idle.pop()
                if conn.sock is not None:
                    conn.sock.settimeout(read)
                return conn, True
        conn = http.client.HTTPConnection(key[0], key[1], timeout=timeouts.get("connect"))
        try:
            conn.connect()  # the connect timeout; then the read timeout for the answer
        except TimeoutError as exc:
            conn.close()
            raise httpx.ConnectTimeout(f"cannot reach the node in time: {exc}",
                                       request=request) from exc
        except OSError as exc:
            conn.close()
            raise httpx.ConnectError(f"cannot reach the node: {exc}", request=request) from exc
        if conn.sock is not None:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.sock.settimeout(read)
        return conn, False

    def _keep(self, key: tuple[str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < _KEPT:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
            other, self._other = self._other, None
        for conns in idle.values():
            for conn in conns:
                conn.close()
        if other is not None:
            other.close()
