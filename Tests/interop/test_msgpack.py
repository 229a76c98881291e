"""Issue 11: the MessagePack hub protocol (section 2 of the protocol notes) with the stock clients and byte by byte.

- Chat across two replicas with MessagePack clients (pysignalr: `MessagepackProtocol()`, 6-element Invocations,
  handshake version 1; signalrcore: `with_hub_protocol(HubProtocolEncoding.binary)`, 5-element Invocations with
  the connection's HTTP headers in Headers, handshake `messagepack` version 0) and JSON clients in the same chat:
  every client receives every message exactly once, whatever protocol sent it.
- Raw: binary frames, the exact Ping bytes, result kinds 1/2/3, handshake versions 0 and 1.
"""
from __future__ import annotations

import pytest

from clients import PySignalRClient, RawHub, SignalRCoreChatX, mp_frame, negotiate_body
from harness import is_receive, new_text
from wsraw import OP_BIN, HubSocket, WebSocket

pytestmark = pytest.mark.usefixtures("mesh_available")

IDS = ["a", "b"]


def hub_exception(method: str, message: str) -> str:
    return f"An unexpected error occurred invoking '{method}' on the server. HubException: {message}"


@pytest.fixture(scope="module")
def pair(module_cluster_factory):
    c = module_cluster_factory(IDS, name="msgpack")
    c.wait_meshed(10)
    return c


def pysignalr_msgpack(name, replica, url):
    from pysignalr.protocol.messagepack import MessagepackProtocol

    return PySignalRClient(name, replica, url, protocol=MessagepackProtocol())


def test_mixed_protocol_chat_across_replicas(pair):
    """Two MessagePack and one JSON client of each library, spread over a and b: all messages, exactly once."""
    made = []
    try:
        for r in IDS:
            made.append(pysignalr_msgpack(f"py-mp@{r}", r, pair.hub(r)).start())
            made.append(SignalRCoreChatX(f"core-mp@{r}", r, pair.hub(r), protocol="messagepack").start())
        made.append(PySignalRClient("py-json@b", "b", pair.hub("b")).start())
        made.append(SignalRCoreChatX("core-json@a", "a", pair.hub("a")).start())
        for c in made:
            c.wait_open(10)
        for c in made:
            if isinstance(c, SignalRCoreChatX):
                assert c.used == ("WebSockets", c.wanted[1]), f"{c.name} uses {c.used}"
        texts = []
        for c in made:
            for _ in range(3):
                t = new_text(c.name)
                s = c.send_message(c.name, t)
                assert s.error is None, f"{c.name}: SendMessage failed: {s.error}"
                texts.append(t)
        for c in made:
            c.wait_for(texts, 10)
        for c in made:
            assert not c.duplicates(), f"{c.name} got duplicates: {c.duplicates()}"
            assert not c.bad_shapes, f"{c.name} got ReceiveMessage with other arguments: {c.bad_shapes[:3]}"
            senders = {args[1]: args[0] for args, _ in c.received}
            for other in made:
                for t in texts:
                    if t.startswith(other.name + "-"):
                        assert senders[t] == other.name, (c.name, t, senders[t])
    finally:
        for c in made:
            c.stop()


def test_raw_messagepack_over_websockets(pair):
    """Binary frames, VarInt framing, 6-element server Invocations, Completion result kinds 3/2/1."""
    port = pair.port("a")
    h = RawHub.open("WebSockets", port, protocol="messagepack", hub="/demoHub")
    try:
        done = h.call("Echo", "héllo ✓")
        assert done["_kind"] == 3 and done["result"] == "héllo ✓", done
        done = h.call("Throw", "boom")
        assert done["_kind"] == 1 and done["error"] == hub_exception("Throw", "boom"), done
        done = h.call("JoinGroup", "mp-room")
        assert done["_kind"] == 2 and "result" not in done and "error" not in done, done
        text = new_text("mp-all")
        assert h.call("SendToAll", text)["_kind"] == 2
        m = h.recv_until(lambda m: m.get("type") == 1 and m.get("target") == "AllMessage")
        assert m["arguments"] == [text] and m["_len"] == 6 and "invocationId" not in m, m
        data_frames = h.frames[1:]  # after the handshake answer
        assert data_frames and all(op == OP_BIN for op in data_frames), h.frames
        # A 5-element Invocation (signalrcore's form) is accepted.
        h.send_bytes(mp_frame([1, {}, "five", "Echo", ["five"]]))
        done = h.recv_until(lambda m: m.get("type") == 3 and m.get("invocationId") == "five")
        assert done.get("result") == "five", done
    finally:
        h.close()


def test_messagepack_handshake_version_0_is_accepted(pair):
    """signalrcore sends `{"protocol": "messagepack", "version": 0}` (its negotiate version)."""
    h = RawHub.open("WebSockets", pair.port("b"), protocol="messagepack", hub="/demoHub", handshake_version=0)
    try:
        assert h.call("Echo", "v0").get("result") == "v0"
    finally:
        h.close()


@pytest.fixture(scope="module")
def fast_pings(module_cluster_factory):
    return module_cluster_factory(["a"], args=["--keep-alive", "1"], name="msgpack-pings")


def test_messagepack_ping_bytes(fast_pings):
    """A MessagePack Ping is exactly 02 91 06 in a binary frame (no Headers)."""
    # A bare socket (no reader thread competing for the frames): the handshake answer, then the first Ping.
    port = fast_pings.port("a")
    token = negotiate_body(port)["connectionToken"]
    ws = WebSocket.connect(port, f"/chatHub?id={token}")
    try:
        ws.send_text(b'{"protocol":"messagepack","version":1}\x1e')
        op, payload = ws.recv(5)
        assert payload == b"{}\x1e", payload
        op, payload = ws.recv(5)
        assert (op, payload) == (OP_BIN, b"\x02\x91\x06"), (op, payload)
    finally:
        ws.close()


def test_json_and_messagepack_receivers_of_one_broadcast(pair):
    """One SendMessage reaches a JSON WebSocket, a MessagePack WebSocket and a MessagePack long-polling client on
    the other replica, each once, each in its own protocol."""
    a, b = pair.port("a"), pair.port("b")
    js = HubSocket.open(b)
    mp_ws = RawHub.open("WebSockets", b, protocol="messagepack")
    mp_lp = RawHub.open("LongPolling", b, protocol="messagepack")
    sender = HubSocket.open(a)
    try:
        text = new_text("fan")
        sender.invoke("SendMessage", ["s", text], "s1")
        assert js.recv_until(lambda m: is_receive(m, text))["arguments"] == ["s", text]
        for h in (mp_ws, mp_lp):
            assert h.recv_until(lambda m: is_receive(m, text))["arguments"] == ["s", text]
        # Nothing more of it (exactly once): a second message arrives next.
        text2 = new_text("fan2")
        sender.invoke("SendMessage", ["s", text2], "s2")
        for h in (mp_ws, mp_lp):
            m = h.recv_until(lambda m: m.get("type") == 1)
            assert is_receive(m, text2), f"{h.transport}: expected {text2}, got {m}"
    finally:
        for x in (js, mp_ws, mp_lp, sender):
            x.close()
