"""Issue 11, point 4: stateful reconnect (section 2.7 of the protocol notes), with a raw WebSocket client that does
what the official JS/.NET 8 clients do (neither Python client supports it):

- negotiate `?negotiateVersion=1&useStatefulReconnect=true` → `"useStatefulReconnect":true`; handshake version 2;
- Invocation, StreamItem, Completion, StreamInvocation and CancelInvocation are numbered from 1 per direction;
  each side Acks the highest id it received about once a second and drops what the peer acked;
- after a dropped TCP connection the client opens the same URL (same `id`, no negotiate, no handshake), sends
  `Sequence{id of its oldest unacked message}` and re-sends what is unacked; the server does the same (Sequence
  first, then the replay); receivers drop ids they already processed;
- a reconnect after the window (DisconnectTimeout, 15 s) gets 404.

The cut happens mid-stream while a client on the other replica keeps sending, so messages that arrive over the
mesh while the client is away must be delivered once.
"""
from __future__ import annotations

import json
import socket
import struct
import threading
import time

import pytest

from clients import negotiate_body
from harness import new_text, wait_until
from wsraw import RS, HubSocket, UpgradeRefused, WebSocket

pytestmark = pytest.mark.usefixtures("mesh_available")

TRACKED = {1, 2, 3, 4, 5}


def enc(m: dict) -> bytes:
    return (json.dumps(m, separators=(",", ":")) + RS).encode()


class StatefulClient:
    """JSON over WebSockets with stateful reconnect."""

    def __init__(self, port: int, hub: str = "/chatHub"):
        self.hub = hub
        self.negotiated = negotiate_body(port, hub, "?negotiateVersion=1&useStatefulReconnect=true")
        self.token = self.negotiated["connectionToken"]
        self.connection_id = self.negotiated["connectionId"]
        # Receiving side.
        self.next_id = 1                 # id the next tracked message from the server gets
        self.last_processed = 0
        self.received: dict[int, dict] = {}
        self.wire: list[tuple[int, dict]] = []     # every tracked message as it came, replays included
        self.duplicates: list[tuple[int, dict]] = []
        self.waiting_for_sequence = False
        self.before_sequence: list[dict] = []      # tracked messages that came after a reconnect but before Sequence
        self.sequences: list[int] = []
        self.acks: list[tuple[int, float]] = []
        self.other: list[dict] = []
        self.auto_ack = False            # Ack every 50 messages (the JS client acks on a 1 s timer)
        self.last_acked = 0
        # Sending side.
        self.sent = 0
        self.unacked: dict[int, bytes] = {}
        self.ws = self._connect(port)
        self.ws.send_text(enc({"protocol": "json", "version": 2}))
        self.pending: list[dict] = []
        first = self._next(5.0)
        assert first == {}, f"handshake answer {first!r}"

    def _connect(self, port: int) -> WebSocket:
        ws = WebSocket.connect(port, f"{self.hub}?id={self.token}")
        self.path_port = port
        return ws

    def _next(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while not self.pending:
            op, payload = self.ws.recv(max(0.0, deadline - time.monotonic()))
            text = payload.decode()
            assert text.endswith(RS), text
            self.pending += [json.loads(r) for r in text.split(RS)[:-1]]
        return self.pending.pop(0)

    # -- receiving

    def handle(self, m: dict):
        t = m.get("type")
        if t == 8:
            self.acks.append((m["sequenceId"], time.monotonic()))
            for i in [i for i in self.unacked if i <= m["sequenceId"]]:
                del self.unacked[i]
        elif t == 9:
            self.sequences.append(m["sequenceId"])
            assert m["sequenceId"] <= self.last_processed + 1, \
                f"Sequence {m['sequenceId']} leaves a gap (last processed {self.last_processed})"
            self.next_id = m["sequenceId"]
            self.waiting_for_sequence = False
        elif t in TRACKED:
            if self.waiting_for_sequence:
                self.before_sequence.append(m)
                return
            i = self.next_id
            self.next_id += 1
            self.wire.append((i, m))
            if i <= self.last_processed:
                self.duplicates.append((i, m))
                assert self.received[i] == m, f"replayed id {i} differs: {self.received[i]} vs {m}"
            else:
                assert i == self.last_processed + 1
                self.received[i] = m
                self.last_processed = i
        else:
            self.other.append(m)

    def pump(self, timeout: float) -> bool:
        """Handle messages for up to `timeout` s; False when nothing arrived."""
        try:
            self.handle(self._next(timeout))
        except socket.timeout:
            return False
        if self.auto_ack and self.last_processed - self.last_acked >= 50:
            self.ack()
        return True

    def pump_until(self, cond, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            self.pump(0.2)

    def texts(self) -> list[str]:
        return [m["arguments"][1] for m in self.received.values()
                if m.get("type") == 1 and m.get("target") == "ReceiveMessage"]

    def ack(self):
        self.last_acked = self.last_processed
        self.ws.send_text(enc({"type": 8, "sequenceId": self.last_processed}))

    # -- sending

    def send_tracked(self, m: dict):
        self.sent += 1
        data = enc(m)
        self.unacked[self.sent] = data
        self.ws.send_text(data)

    # -- the cut and the way back

    def cut(self):
        """Drop the TCP connection abruptly (RST), no Close frame."""
        s = self.ws.sock
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        self.pending.clear()

    def reconnect(self, port: int):
        """Same URL, no negotiate, no handshake; Sequence, then what the server has not acked."""
        self.ws = self._connect(port)
        self.waiting_for_sequence = True
        first = min(self.unacked) if self.unacked else self.sent + 1
        self.ws.send_text(enc({"type": 9, "sequenceId": first}))
        for i in sorted(self.unacked):
            self.ws.send_text(self.unacked[i])

    def close(self):
        self.ws.close()


class Sender(threading.Thread):
    """Sends `n` SendMessage invocations (no invocationId) a few ms apart from its own connection."""

    def __init__(self, port: int, n: int, name: str):
        super().__init__(daemon=True)
        self.hs = HubSocket.open(port)
        self.n = n
        self.name_ = name
        self.texts: list[str] = []
        self.error: BaseException | None = None

    def run(self):
        try:
            for _ in range(self.n):
                t = new_text(self.name_)
                self.hs.invoke("SendMessage", [self.name_, t])
                self.texts.append(t)
                time.sleep(0.004)  # pacing of the load, not a synchronisation
        except BaseException as exc:  # noqa: BLE001
            self.error = exc


# ------------------------------------------------------------------------------------------------ negotiate


def test_negotiate_field_only_when_asked(server):
    port = server.port("a")
    assert negotiate_body(port, "/chatHub", "?negotiateVersion=1&useStatefulReconnect=true").get(
        "useStatefulReconnect") is True
    for q in ("?negotiateVersion=1", "?negotiateVersion=1&useStatefulReconnect=false", ""):
        body = negotiate_body(port, "/chatHub", q)
        assert "useStatefulReconnect" not in body, (q, body)


def test_handshake_version_2_and_acks(server, report):
    """The server Acks the client's tracked messages about once a second with the highest id received."""
    c = StatefulClient(server.port("a"))
    try:
        for i in range(3):
            c.send_tracked({"type": 1, "invocationId": f"i{i}", "target": "SendMessage",
                            "arguments": ["acks", new_text("ack")]})
        t0 = time.monotonic()
        c.pump_until(lambda: any(seq == 3 for seq, _ in c.acks), 5, "an Ack of id 3")
        took = next(t for seq, t in c.acks if seq == 3) - t0
        report(f"server Ack {took * 1000:.0f} ms after the client's messages")
        assert took <= 2.5, f"Ack after {took:.2f}s (AckRate is 1 s)"
        assert [s for s, _ in c.acks] == sorted(s for s, _ in c.acks) and all(s <= 3 for s, _ in c.acks), c.acks
        assert not c.unacked
        # Its own messages came back (three ReceiveMessage + three Completions), numbered from 1.
        c.pump_until(lambda: c.last_processed >= 6, 5, "six tracked messages")
        assert sorted(c.received) == list(range(1, c.last_processed + 1))
    finally:
        c.close()


# ------------------------------------------------------------------------------------------------ the cut


@pytest.mark.parametrize("back_on", ["same replica", "other replica"])
def test_cut_mid_stream_loses_and_duplicates_nothing(cluster_factory, back_on, report):
    cl = cluster_factory(["a", "b"])
    cl.wait_meshed(10)
    a, b = cl.port("a"), cl.port("b")
    c = StatefulClient(a)
    observer = HubSocket.open(b)
    sender = Sender(b, 600, "remote")
    local = Sender(a, 200, "local")
    try:
        sender.start()
        local.start()
        # Some messages, acked; more, not acked; two of our own, just before the cut.
        c.pump_until(lambda: c.last_processed >= 30, 10, "30 messages")
        c.ack()
        acked = c.last_processed
        c.pump_until(lambda: c.last_processed >= acked + 40, 10, "40 more messages")
        mine = [new_text("mine"), new_text("mine")]
        for i, t in enumerate(mine):
            c.send_tracked({"type": 1, "invocationId": f"m{i}", "target": "SendMessage", "arguments": ["me", t]})
        before_cut = c.last_processed
        c.cut()
        t_cut = time.monotonic()
        # Away while the others keep sending (over the mesh and locally).
        n_at_cut = len(sender.texts)
        assert sender.is_alive(), "the remote sender finished before the cut; the cut must come mid-stream"
        wait_until(lambda: len(sender.texts) >= n_at_cut + 30, 10, what="30 more remote messages")
        c.reconnect(a if back_on == "same replica" else b)
        c.auto_ack = True
        report(f"reconnected {time.monotonic() - t_cut:.2f}s after the cut ({back_on})")
        c.pump_until(lambda: c.sequences, 5, "the server's Sequence")
        assert not c.before_sequence, f"tracked messages before the server's Sequence: {c.before_sequence[:3]}"
        seq = c.sequences[0]
        assert acked + 1 <= seq <= before_cut + 1, (acked, seq, before_cut)
        sender.join(30)
        local.join(30)
        assert sender.error is None and local.error is None, (sender.error, local.error)
        everything = sender.texts + local.texts + mine
        c.pump_until(lambda: set(everything) <= set(c.texts()), 20, "every message")
        got = c.texts()
        dup = {t for t in got if got.count(t) > 1}
        assert not dup, f"{len(dup)} messages delivered twice: {list(dup)[:3]}"
        for i, t in enumerate(mine):
            done = [m for m in c.received.values() if m.get("type") == 3 and m.get("invocationId") == f"m{i}"]
            assert len(done) == 1 and "error" not in done[0], done
        # Our own two messages reached the observer once each, whether or not the server had them before the cut.
        seen = []
        deadline = time.monotonic() + 10
        while not set(mine) <= set(seen):
            m = observer.recv(max(0.1, deadline - time.monotonic()))
            if m.get("target") == "ReceiveMessage" and m["arguments"][1] in mine:
                seen.append(m["arguments"][1])
        assert sorted(seen) == sorted(mine), seen
        report(f"{len(c.duplicates)} replayed message(s) dropped as already processed; "
               f"Sequence {seq} (acked {acked}, last before the cut {before_cut})")
        # Acks keep coming after the reconnect.
        n_acks = len(c.acks)
        c.send_tracked({"type": 1, "invocationId": "after", "target": "SendMessage", "arguments": ["me", "after"]})
        c.pump_until(lambda: len(c.acks) > n_acks and c.acks[-1][0] == c.sent, 5, "an Ack after the reconnect")
    finally:
        c.close()
        observer.close()


def test_reconnect_after_the_window_is_404(server, report):
    port = server.port("a")
    c = StatefulClient(port, hub="/demoHub")
    watcher = HubSocket.open(port, hub="/demoHub")
    try:
        c.cut()
        t_cut = time.monotonic()

        def gone():
            watcher.invoke("AddToGroup", [c.connection_id, "window"], "probe")
            m = watcher.recv_until(lambda m: m.get("type") == 3 and m.get("invocationId") == "probe")
            return "error" in m

        assert not gone(), "the connection must survive the cut for the window"
        wait_until(gone, 40, interval=0.5, what="the disconnected connection to be disposed")
        window = time.monotonic() - t_cut
        report(f"stateful reconnect window: connection disposed {window:.1f}s after the cut")
        assert 10.0 <= window <= 30.0, f"disposed {window:.1f}s after the cut (DisconnectTimeout is 15 s)"
        with pytest.raises(UpgradeRefused) as refused:
            WebSocket.connect(port, f"/demoHub?id={c.token}")
        assert refused.value.response.status == 404
    finally:
        watcher.close()
