"""Keep-alive, client timeout, handshake timeout and expiry of negotiated-but-unused connections."""
from __future__ import annotations

import time

from wsraw import HubSocket, UpgradeRefused, WebSocket, WsClosed, WsEOF, http_request


def test_keep_alive_ping(cluster_factory, report):
    c = cluster_factory(["a"], args=["--keep-alive", "1"])
    hs = HubSocket.open(c.port("a"))
    try:
        t0 = time.monotonic()
        m = hs.recv_raw(2.0)
        assert m == {"type": 6}, m
        report(f"first keep-alive ping after {time.monotonic() - t0:.2f}s (--keep-alive 1)")
        # And again (a ping every interval while idle).
        assert hs.recv_raw(2.0) == {"type": 6}
    finally:
        hs.close()


def test_client_timeout_closes_silent_client(cluster_factory, report):
    c = cluster_factory(["a"], args=["--keep-alive", "1", "--client-timeout", "2"])
    hs = HubSocket.open(c.port("a"))
    try:
        t0 = time.monotonic()
        close = hs.recv_until(lambda m: m.get("type") == 7, 4.5)
        report(f"silent client got Close after {time.monotonic() - t0:.2f}s (--client-timeout 2): {close}")
        hs.ws.wait_close(3.0)
        assert hs.ws.eof(3.0), "socket still open after Close"
    finally:
        hs.close()


def test_client_timeout_spared_by_pings(cluster_factory):
    c = cluster_factory(["a"], args=["--keep-alive", "1", "--client-timeout", "2"])
    hs = HubSocket.open(c.port("a"))
    try:
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            hs.send({"type": 6})
            try:
                m = hs.recv_raw(0.5)
                assert m.get("type") != 7, f"closed although the client pinged: {m}"
            except TimeoutError:
                pass
        hs.invoke("SendMessage", ["u", "still-here"], "1")
        hs.recv_until(lambda m: m.get("type") == 3)
    finally:
        hs.close()


def test_handshake_timeout(cluster_factory, report):
    c = cluster_factory(["a"], args=["--handshake-timeout", "1"])
    ws = WebSocket.connect(c.port("a"), "/chatHub")
    try:
        t0 = time.monotonic()
        try:
            while True:
                ws.recv(3.0)  # an error handshake answer may come first
        except (WsClosed, WsEOF, ConnectionResetError):
            pass
        assert ws.eof(1.0)
        report(f"client without handshake closed after {time.monotonic() - t0:.2f}s (--handshake-timeout 1)")
    finally:
        ws.close()


def test_negotiated_unused_connection_expires(cluster_factory):
    c = cluster_factory(["a"], args=["--negotiate-timeout", "1"])
    port = c.port("a")
    cid = http_request(port, "POST", "/chatHub/negotiate", body=b"").json()["connectionId"]
    fresh = http_request(port, "POST", "/chatHub/negotiate", body=b"").json()["connectionId"]
    ws = WebSocket.connect(port, f"/chatHub?id={fresh}")  # used at once: fine
    ws.close()
    time.sleep(2.5)  # let the 1 s negotiate timeout pass (the point of the test, not synchronisation)
    try:
        late = WebSocket.connect(port, f"/chatHub?id={cid}")
    except UpgradeRefused as r:
        assert r.response.status == 404, r.response
    else:
        late.close()
        raise AssertionError("expired negotiated connection was still accepted")
