"""A JSON-RPC proxy on loopback in front of a real node, rewriting answers to inject a node's
misbehaviours (rate limits, range caps, removed logs, a lagging head) into the indexer's view."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson

# rewrite(call, reply) -> the reply to send (call: the request object; reply: the node's answer,
# or None when the proxy should answer alone: the rule then returns the whole reply)
Rule = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


class RpcProxy:
    def __init__(self, target: str, rule: Rule, *, http_status: Callable[[], int] | None = None,
                 port: int = 0) -> None:
        self.target = target
        self.rule = rule
        self.http_status = http_status
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.client = httpx.Client(timeout=60)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                status = proxy.http_status() if proxy.http_status else 200
                if status != 200:
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                request = orjson.loads(body)
                upstream = orjson.loads(proxy.client.post(
                    proxy.target, content=body, headers={"content-type": "application/json"}
                ).content)
                if isinstance(request, list):
                    by_id = {r["id"]: r for r in upstream}
                    out: Any = [proxy._rewrite(c, by_id[c["id"]]) for c in request]
                else:
                    out = proxy._rewrite(request, upstream)
                data = orjson.dumps(out)
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _rewrite(self, call: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.calls.append(call)
            return self.rule(call, reply)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.client.close()

    def __enter__(self) -> RpcProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def span(call: dict[str, Any]) -> int:
    """The block span of an eth_getLogs call."""
    f = call["params"][0]
    return int(f["toBlock"], 16) - int(f["fromBlock"], 16) + 1


def error(call: dict[str, Any], code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": call["id"], "error": {"code": code, "message": message}}
