"""Stateful reconnect on the wire (raw sockets, what the JS/.NET clients do): a WebSocket cut with a TCP reset in
the middle of a broadcast stream comes back with the same id, gets Sequence + the unacked messages, and ends up
with every message exactly once, in order."""
from __future__ import annotations

import socket
import struct
import threading
import time

from harness import wait_until
from wsraw import HubSocket, UpgradeRefused, WebSocket, encode, http_request

HUB = "/chatHub"
TRACKED = {1, 2, 3, 4, 5}


def negotiate_stateful(port: int) -> dict:
    r = http_request(port, "POST", f"{HUB}/negotiate?negotiateVersion=1&useStatefulReconnect=true", body=b"")
    assert r.status == 200, r
    body = r.json()
    assert body.get("useStatefulReconnect") is True, body
    return body


def abort(ws: WebSocket):
    """Drop the TCP connection with a reset: no Close frame, as when a network goes away."""
    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.sock.close()


class StatefulClient:
    """Counts tracked messages as the clients do, and keeps the texts of ReceiveMessage in arrival order."""

    def __init__(self, port: int, token: str):
        self.port = port
        self.token = token
        self.highest = 0      # highest tracked id processed
        self.next_id = 1      # id of the next tracked message
        self.texts: list[str] = []
        self.sequences: list[int] = []
        self.acks = 0
        self.hub = self._connect(handshake=True)

    def _connect(self, handshake: bool) -> HubSocket:
        ws = WebSocket.connect(self.port, f"{HUB}?id={self.token}")
        hub = HubSocket(ws)
        if handshake:
            ws.send_text(encode({"protocol": "json", "version": 2}))
            assert hub.recv_raw(5.0) == {}
        return hub

    def pump(self, until, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while not until():
            m = self.hub.recv_raw(max(0.05, deadline - time.monotonic()))
            t = m.get("type")
            if t == 9:
                self.sequences.append(m["sequenceId"])
                self.next_id = m["sequenceId"]
            elif t == 8:
                self.acks += 1
            elif t in TRACKED:
                mid = self.next_id
                self.next_id += 1
                if mid <= self.highest:
                    continue  # a duplicate of the replay
                self.highest = mid
                if m.get("target") == "ReceiveMessage":
                    self.texts.append(m["arguments"][1])
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out: {len(self.texts)} texts")

    def ack(self):
        self.hub.send({"type": 8, "sequenceId": self.highest})

    def reconnect(self):
        # No negotiate, no handshake: the server starts with Sequence; we send ours (we sent nothing tracked).
        self.hub = self._connect(handshake=False)
        self.hub.send({"type": 9, "sequenceId": 1})


def test_negotiate_answers_stateful_reconnect_only_when_asked(server):
    port = server.port("a")
    assert "useStatefulReconnect" not in http_request(port, "POST", f"{HUB}/negotiate?negotiateVersion=1", body=b"").json()
    assert negotiate_stateful(port)["useStatefulReconnect"] is True


def test_cut_mid_stream_nothing_lost_or_duplicated(cluster_factory):
    c = cluster_factory(["a", "b"], args=["--disconnect-timeout", "5"])
    c.wait_meshed(10)
    port_a, port_b = c.port("a"), c.port("b")
    client = StatefulClient(port_a, negotiate_stateful(port_a)["connectionToken"])
    sender = HubSocket.open(port_b, HUB, version=1)
    # The sender's own broadcasts come back to it too: make sure the mesh carries them to `a` before starting.
    wait_until(lambda: (sender.invoke("SendMessage", ["probe", "probe"]) or True) and _got_probe(client),
               10, what="a broadcast from b reaches a")
    total = 600
    stop = threading.Event()

    def send_all():
        for i in range(total):
            sender.invoke("SendMessage", ["b", f"n{i}"])
            if i % 50 == 49:
                time.sleep(0.02)
        stop.set()

    client.texts.clear()
    thread = threading.Thread(target=send_all)
    thread.start()
    try:
        client.pump(lambda: len(client.texts) >= 150)
        client.ack()
        client.pump(lambda: len(client.texts) >= 200)
        abort(client.hub.ws)                      # cut while messages keep coming
        time.sleep(0.3)
        client.reconnect()
        client.pump(lambda: stop.is_set() and len(client.texts) >= total, timeout=20)
    finally:
        thread.join(10)
    assert client.sequences, "no Sequence after the reconnect"
    texts = [t for t in client.texts if t != "probe"]
    assert texts == [f"n{i}" for i in range(total)], _diff(texts, total)
    sender.close()


def test_dropped_connection_ends_after_disconnect_timeout(cluster_factory):
    c = cluster_factory(["a"], args=["--disconnect-timeout", "1"])
    port = c.port("a")
    token = negotiate_stateful(port)["connectionToken"]
    client = StatefulClient(port, token)
    abort(client.hub.ws)

    def status() -> int:
        # A POST doesn't re-attach anything: 405 (a WebSocket connection) while it waits, 404 once it is gone.
        return http_request(port, "POST", f"{HUB}?id={token}", body=b"x").status

    assert status() == 405
    wait_until(lambda: status() == 404, 8, interval=0.2, what="the token to give 404 after the disconnect timeout")


def test_stateful_off_does_not_grant_it(cluster_factory):
    c = cluster_factory(["a"], args=["--stateful-reconnect", "off"])
    r = http_request(c.port("a"), "POST", f"{HUB}/negotiate?negotiateVersion=1&useStatefulReconnect=true", body=b"")
    assert "useStatefulReconnect" not in r.json()


def _got_probe(client: StatefulClient) -> bool:
    try:
        client.pump(lambda: "probe" in client.texts, timeout=0.5)
        return True
    except (AssertionError, OSError):
        return False


def _diff(texts: list[str], total: int) -> str:
    seen = set(texts)
    missing = [i for i in range(total) if f"n{i}" not in seen]
    dups = len(texts) - len(seen)
    return f"{len(texts)} texts, {len(missing)} missing (first {missing[:5]}), {dups} duplicates"
