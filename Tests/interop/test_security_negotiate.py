"""Issue 9, weakness 2: negotiate exhaustion.

The cap on negotiations nobody connected to was global: one client (or any web page, with a preflight-free
simple POST) could fill it, and then every negotiate answered 503 for the whole negotiate timeout. Now a hub
request from a foreign Origin is refused before anything is created, and the cap is per client address: a
flooding address only ever evicts its own oldest negotiations."""
from __future__ import annotations

import re
import socket
import threading
import time
import uuid

from wsraw import HubSocket, UpgradeRefused, WebSocket, http_request
from harness import is_receive

HUB = "/chatHub"


def negotiate_flood(port: int, n: int, source: str = "127.0.0.1", batch: int = 500,
                    stop: threading.Event | None = None, first_tokens: list | None = None) -> dict[int, int]:
    """`n` pipelined POST /negotiate on one keep-alive connection from `source`; returns {status: count}.
    With `first_tokens`, the connection tokens of the first 10 answers are put there."""
    req = (f"POST {HUB}/negotiate?negotiateVersion=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
           "Content-Length: 0\r\n\r\n").encode()
    statuses: dict[int, int] = {}
    buf = bytearray()
    sent = got = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0)) as s:
        while got < n and not (stop and stop.is_set()):
            if sent - got < batch and sent < n:
                k = min(batch, n - sent)
                s.sendall(req * k)
                sent += k
            chunk = s.recv(1 << 20)
            if not chunk:
                raise ConnectionError(f"server closed the flood connection after {got} answers")
            buf += chunk
            pos = 0
            while True:
                end = buf.find(b"\r\n\r\n", pos)
                if end < 0:
                    break
                head = bytes(buf[pos:end])
                m = re.search(rb"content-length: *(\d+)", head, re.I)
                length = int(m.group(1)) if m else 0
                if len(buf) < end + 4 + length:
                    break
                status = int(head[9:12])
                statuses[status] = statuses.get(status, 0) + 1
                if first_tokens is not None and len(first_tokens) < 10 and status == 200:
                    body = bytes(buf[end + 4: end + 4 + length])
                    first_tokens.append(re.search(rb'"connectionToken":"([^"]+)"', body).group(1).decode())
                pos = end + 4 + length
                got += 1
            del buf[:pos]
    return statuses


def chat_once(hs: HubSocket, name: str):
    text = f"{name}-{uuid.uuid4().hex[:8]}"
    hs.invoke("SendMessage", [name, text], "1")
    hs.recv_until(lambda m: is_receive(m, text), 5.0)


def test_flood_from_one_address_locks_nobody_out(cluster_factory, report):
    # A negotiate timeout long enough that nothing expires during the test: only the caps can save the day.
    # 101,000 negotiations is more than the old global cap (100,000): the old code answered 503 to everyone.
    c = cluster_factory(["a"], args=["--negotiate-timeout", "120"])
    port = c.port("a")
    first: list[str] = []
    t0 = time.monotonic()
    statuses = negotiate_flood(port, 101_000, first_tokens=first)
    report(f"101,000 pipelined negotiates from 127.0.0.1 in {time.monotonic() - t0:.2f}s: {statuses}")
    assert statuses == {200: 101_000}, statuses

    # The flood keeps going while the others connect.
    stop = threading.Event()
    flood = threading.Thread(target=negotiate_flood, args=(port, 10_000_000), kwargs={"stop": stop}, daemon=True)
    flood.start()
    try:
        other = HubSocket.open(port, version=1, source="127.0.0.2")
        try:
            chat_once(other, "other-address")
        finally:
            other.close()
        # A client of the flooding address that connects promptly. Under this flood an address's oldest
        # negotiation lives for (cap / flood rate) ≈ a few tens of ms, so allow a retry on a slow host.
        for attempt in range(1, 4):
            try:
                same = HubSocket.open(port, version=1, source="127.0.0.1")
                break
            except UpgradeRefused as r:
                assert r.response.status == 404, r.response
        else:
            raise AssertionError("a prompt client of the flooding address never got through")
        try:
            chat_once(same, "same-address")
        finally:
            same.close()
        report(f"prompt client of the flooding address connected on attempt {attempt}")
    finally:
        stop.set()
        flood.join(10)
    # The flooding address paid for its own flood: its first negotiations were dropped.
    try:
        ws = WebSocket.connect(port, f"{HUB}?id={first[0]}")
    except UpgradeRefused as r:
        assert r.response.status == 404, r.response
    else:
        ws.close()
        raise AssertionError("the flood's first negotiation was still there: no per-address cap")


FOREIGN = "http://evil.example"


def test_foreign_origin_creates_nothing(cluster_factory):
    """A page on a foreign origin can send a simple POST /negotiate (no preflight): it gets 403 and no connection
    is created; the same for every other hub request from that origin."""
    c = cluster_factory(["a"])
    port = c.port("a")
    ok = http_request(port, "POST", f"{HUB}/negotiate?negotiateVersion=1", body=b"").json()["connectionToken"]
    for _ in range(10):
        r = http_request(port, "POST", f"{HUB}/negotiate?negotiateVersion=1", headers={"Origin": FOREIGN,
                         "Content-Type": "text/plain"}, body=b"")
        assert r.status == 403, r
        assert r.header("access-control-allow-origin") is None, r.headers
        assert b"connectionToken" not in r.body, r.body
    ws = WebSocket.connect(port, f"{HUB}?id={ok}")
    ws.close()
    for method, path in (("GET", f"{HUB}?id={ok}"), ("POST", f"{HUB}?id={ok}"), ("DELETE", f"{HUB}?id={ok}"),
                         ("GET", f"{HUB}/negotiate")):
        r = http_request(port, method, path, headers={"Origin": FOREIGN}, body=b"")
        assert r.status == 403, (method, path, r)


def test_negotiation_flags_in_help(cluster_factory):
    import subprocess

    import harness

    out = subprocess.run([str(harness.SERVER_BIN), "--help"], capture_output=True, text=True, timeout=10).stdout
    assert "--max-negotiations-per-address" in out and "--max-negotiations " in out, out
