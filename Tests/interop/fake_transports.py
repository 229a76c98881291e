"""A fake of the SSE and long-polling server side, to run signalr-lite.js against in a real browser.

It serves the web client's files (Sources/Server/SignalRMesh/Public) plus a test page, and hub routes whose
negotiate lists a chosen set of transports. WebSocket upgrades are always refused with 404, so "Auto" has to
fall back. It follows docs/signalr-protocol.md 1.4–1.6 and 2.1: SSE `GET ?id=` with `Accept:
text/event-stream` (a `:` comment first, then one `data:` event per write), long polling (the first poll 200
and empty at once, later polls 200 with messages, 200 empty after a short poll timeout, 204 once the
connection is closed), `POST ?id=` to send, `DELETE ?id=` to end a long-polling connection.

The tiny hub: the handshake is answered with `{}` plus a `Welcome("hi")` invocation in the same write;
`Echo(x)` completes with x; `End()` closes the connection from the server side (a poll gets 204, the SSE
response ends) without a Close message, so the client has to reconnect. Everything the client sent is
recorded per hub route for the test to check.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

RS = "\x1e"
POLL_TIMEOUT = 2.0  # the server's long-poll timeout: short, so "200 empty, poll again" happens too
SSE_WAIT = 0.5


@dataclass
class FakeConnection:
    token: str
    route: str
    transport: str | None = None
    first_poll_done: bool = False
    handshake_done: bool = False
    closed: bool = False
    outbox: list[str] = field(default_factory=list)
    posts_in_flight: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)

    def push(self, text: str) -> None:
        with self.cond:
            self.outbox.append(text)
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def take(self, timeout: float) -> tuple[str, bool]:
        """Waits up to `timeout` for output; returns (everything queued, closed)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.outbox and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            text = "".join(self.outbox)
            self.outbox.clear()
            return text, self.closed


class FakeSignalRServer:
    """`routes` maps a hub path (e.g. "/all") to the transports its negotiate lists; the routes in `refuse_sse`
    list SSE but answer the EventSource with 404 (a failed transport start)."""

    def __init__(self, public_dir: Path, routes: dict[str, list[str]], pages: dict[str, str],
                 refuse_sse: frozenset[str] = frozenset()):
        self.public_dir = public_dir
        self.routes = routes
        self.refuse_sse = refuse_sse
        self.pages = pages
        self.lock = threading.Lock()
        self.connections: dict[str, FakeConnection] = {}
        self.events: list[dict] = []  # everything the client did, in order
        self.max_posts_in_flight = 0
        self.result: dict | None = None
        self.result_ready = threading.Event()
        handler = _make_handler(self)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        for c in list(self.connections.values()):
            c.close()
        self.httpd.shutdown()
        self.httpd.server_close()

    def record(self, **event) -> None:
        with self.lock:
            self.events.append(event)

    def events_of(self, route: str, kind: str | None = None) -> list[dict]:
        with self.lock:
            return [e for e in self.events if e.get("route") == route and (kind is None or e["kind"] == kind)]

    # ---- the hub ---------------------------------------------------------------------------------

    def on_messages(self, conn: FakeConnection, body: str) -> None:
        for piece in body.split(RS):
            if not piece:
                continue
            msg = json.loads(piece)
            if not conn.handshake_done:
                assert msg == {"protocol": "json", "version": 1}, msg
                conn.handshake_done = True
                welcome = json.dumps({"type": 1, "target": "Welcome", "arguments": ["hi"]})
                conn.push("{}" + RS + welcome + RS)
                continue
            if msg.get("type") == 1 and msg.get("target") == "Echo":
                if msg.get("invocationId") is not None:
                    conn.push(json.dumps({"type": 3, "invocationId": msg["invocationId"], "result": msg["arguments"][0]}) + RS)
            elif msg.get("type") == 1 and msg.get("target") == "End":
                conn.close()


def _make_handler(server: FakeSignalRServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # every response ends with the connection: SSE streams until then

        def log_message(self, *args):
            pass

        def _send(self, status: int, body: bytes = b"", ctype: str = "text/plain", extra: dict | None = None):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache, no-store")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

        def _route(self) -> tuple[str, str | None, dict]:
            parts = urlsplit(self.path)
            return parts.path, None, parse_qs(parts.query)

        def _conn(self, route: str, query: dict) -> FakeConnection | None:
            token = (query.get("id") or [None])[0]
            conn = server.connections.get(token) if token else None
            return conn if conn and conn.route == route else None

        def do_GET(self):
            path, _, query = self._route()
            if path in server.pages:
                return self._send(200, server.pages[path].encode(), "text/html; charset=utf-8")
            if path in server.routes:
                return self._hub_get(path, query)
            f = (server.public_dir / path.lstrip("/")).resolve()
            if path.endswith(".js") and f.parent == server.public_dir.resolve() and f.is_file():
                return self._send(200, f.read_bytes(), "text/javascript; charset=utf-8")
            self._send(404, b"not found")

        def _hub_get(self, route: str, query: dict):
            if self.headers.get("Upgrade", "").lower() == "websocket":
                server.record(route=route, kind="ws")
                return self._send(404, b"WebSockets refused by the fake")
            conn = self._conn(route, query)
            if conn is None:
                return self._send(404, b"No Connection with that ID")
            if "text/event-stream" in (self.headers.get("Accept") or ""):
                if route in server.refuse_sse:
                    server.record(route=route, kind="sse-refused", token=conn.token)
                    return self._send(404, b"SSE refused by the fake")
                return self._sse(route, conn)
            return self._poll(route, conn, query)

        def _sse(self, route: str, conn: FakeConnection):
            conn.transport = "sse"
            server.record(route=route, kind="sse", token=conn.token)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache,no-store")
            self.end_headers()
            try:
                self.wfile.write(b":\r\n")
                self.wfile.flush()
                while True:
                    text, closed = conn.take(SSE_WAIT)
                    if text:
                        lines = "".join(f"data: {line}\r\n" for line in text.split("\n"))
                        self.wfile.write((lines + "\r\n").encode())
                        self.wfile.flush()
                    if closed:
                        return
            except OSError:
                conn.close()

        def _poll(self, route: str, conn: FakeConnection, query: dict):
            conn.transport = "lp"
            first = not conn.first_poll_done
            server.record(route=route, kind="poll", token=conn.token, first=first, cache_buster="_" in query)
            if first:
                conn.first_poll_done = True
                return self._send(200, b"", "application/octet-stream")
            text, closed = conn.take(POLL_TIMEOUT)
            if text:
                return self._send(200, text.encode(), "application/octet-stream")
            if closed:
                return self._send(204)
            self._send(200, b"")

        def do_POST(self):
            path, _, query = self._route()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            if path == "/result":
                server.result = json.loads(body)
                server.result_ready.set()
                return self._send(200)
            if path.endswith("/negotiate") and path[: -len("/negotiate")] in server.routes:
                route = path[: -len("/negotiate")]
                token = uuid.uuid4().hex
                server.connections[token] = FakeConnection(token=token, route=route)
                server.record(route=route, kind="negotiate", token=token)
                answer = {
                    "negotiateVersion": 1,
                    "connectionId": "pub-" + token[:8],
                    "connectionToken": token,
                    "availableTransports": [{"transport": t, "transferFormats": ["Text"]} for t in server.routes[route]],
                }
                return self._send(200, json.dumps(answer).encode(), "application/json")
            if path in server.routes:
                conn = self._conn(path, query)
                if conn is None:
                    return self._send(404, b"No Connection with that ID")
                with server.lock:
                    conn.posts_in_flight += 1
                    server.max_posts_in_flight = max(server.max_posts_in_flight, conn.posts_in_flight)
                server.record(route=path, kind="post", token=conn.token, body=body,
                              content_type=self.headers.get("Content-Type"))
                try:
                    time.sleep(0.05)  # a slow server: sends queue up behind this POST
                    server.on_messages(conn, body)
                finally:
                    with server.lock:
                        conn.posts_in_flight -= 1
                return self._send(200)
            self._send(404, b"not found")

        def do_DELETE(self):
            path, _, query = self._route()
            conn = self._conn(path, query) if path in server.routes else None
            if conn is None:
                return self._send(404, b"No Connection with that ID")
            server.record(route=path, kind="delete", token=conn.token)
            conn.close()
            self._send(202)

    return Handler
