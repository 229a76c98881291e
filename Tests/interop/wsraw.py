"""Byte-level HTTP/1.1 and WebSocket (RFC 6455) client for tests that need exact control over the wire:
bad frames, unmasked frames, invalid UTF-8, status codes of refused upgrades, and SignalR hub messages."""
from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time

RS = "\x1e"


class HttpResponse:
    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<HTTP {self.status} {self.reason} {self.headers} {self.body[:200]!r}>"


def _read_head(sock: socket.socket, buf: bytearray, deadline: float) -> tuple[int, str, list[tuple[str, str]]]:
    while b"\r\n\r\n" not in buf:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a full response head: {bytes(buf)!r}")
        buf += chunk
    end = buf.index(b"\r\n\r\n")
    head = bytes(buf[:end]).decode("latin-1")
    del buf[: end + 4]
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    return status, reason, headers


def read_response(sock: socket.socket, buf: bytearray, timeout: float = 5.0, head_only: bool = False) -> HttpResponse:
    deadline = time.monotonic() + timeout
    status, reason, headers = _read_head(sock, buf, deadline)
    resp = HttpResponse(status, reason, headers, b"")
    if head_only or status in (101, 204, 304):
        return resp
    cl = resp.header("content-length")
    te = (resp.header("transfer-encoding") or "").lower()
    if cl is not None:
        n = int(cl)
        while len(buf) < n:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
        resp.body = bytes(buf[:n])
        del buf[:n]
    elif "chunked" in te:
        body = bytearray()
        while True:
            while b"\r\n" not in buf:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("eof in chunked body")
                buf += chunk
            i = buf.index(b"\r\n")
            size = int(bytes(buf[:i]).split(b";")[0], 16)
            del buf[: i + 2]
            while len(buf) < size + 2:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("eof in chunked body")
                buf += chunk
            body += buf[:size]
            del buf[: size + 2]
            if size == 0:
                break
        resp.body = bytes(body)
    else:
        # Body delimited by close.
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
        resp.body = bytes(buf)
        buf.clear()
    return resp


def http_request(port: int, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"",
                 host: str = "127.0.0.1", timeout: float = 5.0, source: str | None = None) -> HttpResponse:
    """One request on a fresh connection, path sent verbatim (no normalisation); `source` binds the client
    socket to that local address (e.g. 127.0.0.2, to be another client address)."""
    hdrs = {"Host": f"{host}:{port}", "Connection": "close"}
    hdrs.update(headers or {})
    if body or method in ("POST", "PUT"):
        hdrs.setdefault("Content-Length", str(len(body)))
    req = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    with socket.create_connection((host, port), timeout=timeout, source_address=(source, 0) if source else None) as s:
        s.sendall(req.encode("latin-1") + body)
        return read_response(s, bytearray(), timeout)


def connection_closed(sock: socket.socket, timeout: float) -> bool:
    """True when the peer closes (EOF or reset) within `timeout`; data that arrives meanwhile is discarded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


# ---------------------------------------------------------------------------------------------- WebSocket

OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class UpgradeRefused(Exception):
    def __init__(self, response: HttpResponse):
        super().__init__(f"upgrade refused: {response.status} {response.reason}")
        self.response = response


class WebSocket:
    """A blocking WebSocket client with raw frame access.

    `recv()` returns complete messages (opcode, payload) and answers pings; `recv_frame()` returns single frames.
    When the server sends Close, `close_code`/`close_reason` are set and recv raises `WsClosed`."""

    def __init__(self, sock: socket.socket, leftover: bytes, response: HttpResponse):
        self.sock = sock
        self.buf = bytearray(leftover)
        self.response = response
        self.close_code: int | None = None
        self.close_reason: str = ""
        self.closed_by_server = False

    # -- connecting

    @classmethod
    def connect(cls, port: int, path: str, headers: dict[str, str] | None = None, host: str = "127.0.0.1",
                timeout: float = 5.0, extensions: str | None = None, source: str | None = None) -> "WebSocket":
        key = base64.b64encode(os.urandom(16)).decode()
        hdrs = {
            "Host": f"{host}:{port}",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": key,
            "Sec-WebSocket-Version": "13",
        }
        if extensions:
            hdrs["Sec-WebSocket-Extensions"] = extensions
        hdrs.update(headers or {})
        req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        s = socket.create_connection((host, port), timeout=timeout, source_address=(source, 0) if source else None)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(req.encode("latin-1"))
        buf = bytearray()
        try:
            resp = read_response(s, buf, timeout, head_only=True)
        except Exception:
            s.close()
            raise
        if resp.status != 101:
            # Read the body, if any, for diagnostics.
            try:
                cl = resp.header("content-length")
                if cl:
                    while len(buf) < int(cl):
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        buf += chunk
                    resp.body = bytes(buf[: int(cl)])
            except OSError:
                pass
            s.close()
            raise UpgradeRefused(resp)
        import hashlib

        expect = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        got = resp.header("sec-websocket-accept")
        if got != expect.decode():
            s.close()
            raise AssertionError(f"bad Sec-WebSocket-Accept {got!r}, want {expect.decode()!r}")
        return cls(s, bytes(buf), resp)

    # -- frames out

    def send_frame(self, opcode: int, payload: bytes, fin: bool = True, mask: bool = True, rsv: int = 0):
        b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
        else:
            head = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i & 3] for i, b in enumerate(payload)) if n < 4096 else _mask_fast(payload, key)
            head += key
        self.sock.sendall(head + payload)

    def send_text(self, text: str | bytes):
        self.send_frame(OP_TEXT, text.encode() if isinstance(text, str) else text)

    def send_close(self, code: int = 1000, reason: bytes = b""):
        self.send_frame(OP_CLOSE, struct.pack("!H", code) + reason)

    # -- frames in

    def _need(self, n: int, deadline: float):
        while len(self.buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("timed out reading a frame")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise WsEOF("connection closed by server")
            self.buf += chunk

    def recv_frame(self, timeout: float = 5.0) -> tuple[bool, int, bytes]:
        deadline = time.monotonic() + timeout
        self._need(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7F
        off = 2
        if n == 126:
            self._need(4, deadline)
            n = struct.unpack("!H", self.buf[2:4])[0]
            off = 4
        elif n == 127:
            self._need(10, deadline)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            off = 10
        if b1 & 0x80:
            raise AssertionError("server sent a masked frame")
        self._need(off + n, deadline)
        payload = bytes(self.buf[off: off + n])
        del self.buf[: off + n]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv(self, timeout: float = 5.0) -> tuple[int, bytes]:
        """Next complete data message. Answers pings; on Close records the code and raises WsClosed."""
        deadline = time.monotonic() + timeout
        parts: list[bytes] = []
        first_op = None
        while True:
            fin, op, payload = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if op == OP_PING:
                try:
                    self.send_frame(OP_PONG, payload)
                except OSError:
                    pass
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                self.closed_by_server = True
                if len(payload) >= 2:
                    self.close_code = struct.unpack("!H", payload[:2])[0]
                    self.close_reason = payload[2:].decode(errors="replace")
                else:
                    self.close_code = 1005
                try:
                    self.send_frame(OP_CLOSE, payload[:2])
                except OSError:
                    pass
                raise WsClosed(self.close_code, self.close_reason)
            if first_op is None:
                first_op = op
            parts.append(payload)
            if fin:
                return first_op, b"".join(parts)

    def wait_close(self, timeout: float = 5.0) -> int | None:
        """Read (discarding data) until the server's Close frame or EOF; return the close code (None on bare EOF)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.recv(max(0.0, deadline - time.monotonic()))
            except WsClosed as c:
                return c.code
            except (WsEOF, ConnectionResetError):
                return None

    def eof(self, timeout: float = 5.0) -> bool:
        """True once the TCP connection is closed by the server within timeout."""
        return connection_closed(self.sock, timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class WsClosed(Exception):
    def __init__(self, code, reason):
        super().__init__(f"server closed: {code} {reason!r}")
        self.code = code
        self.reason = reason


class WsEOF(ConnectionError):
    pass


def _mask_fast(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


# ---------------------------------------------------------------------------------------------- SignalR


def encode(msg: dict) -> str:
    return json.dumps(msg, separators=(",", ":")) + RS


class HubSocket:
    """A SignalR JSON-protocol client over `WebSocket`, synchronous, for precise protocol tests."""

    def __init__(self, ws: WebSocket):
        self.ws = ws
        self.pending: list[dict] = []

    @classmethod
    def open(cls, port: int, hub: str = "/chatHub", negotiate: bool = True, version: int = 0,
             handshake: dict | None = None, headers: dict | None = None, source: str | None = None) -> "HubSocket":
        path = hub
        if negotiate:
            q = f"?negotiateVersion={version}" if version else ""
            r = http_request(port, "POST", f"{hub}/negotiate{q}", body=b"", source=source)
            assert r.status == 200, r
            body = r.json()
            ident = body.get("connectionToken") if version >= 1 else body["connectionId"]
            path = f"{hub}?id={ident}"
        ws = WebSocket.connect(port, path, headers=headers, source=source)
        hs = cls(ws)
        if handshake is not False:
            ws.send_text(encode(handshake or {"protocol": "json", "version": 1}))
            first = hs.recv_raw(5.0)
            assert first == {}, f"handshake answer {first!r}"
        return hs

    def recv_raw(self, timeout: float = 5.0) -> dict:
        """Next hub message (including pings)."""
        deadline = time.monotonic() + timeout
        while not self.pending:
            op, payload = self.ws.recv(max(0.0, deadline - time.monotonic()))
            text = payload.decode()
            assert text.endswith(RS), f"hub message without record separator: {text!r}"
            for rec in text.split(RS)[:-1]:
                self.pending.append(json.loads(rec))
        return self.pending.pop(0)

    def recv(self, timeout: float = 5.0) -> dict:
        """Next hub message that is not a Ping."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv_raw(max(0.0, deadline - time.monotonic()))
            if m.get("type") != 6:
                return m

    def recv_until(self, pred, timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv(max(0.0, deadline - time.monotonic()))
            if pred(m):
                return m

    def send(self, msg: dict):
        self.ws.send_text(encode(msg))

    def invoke(self, target: str, args: list, invocation_id: str | None = None):
        m = {"type": 1, "target": target, "arguments": args}
        if invocation_id is not None:
            m["invocationId"] = invocation_id
        self.send(m)

    def close(self):
        self.ws.close()
