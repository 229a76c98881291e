"""Issue 11: Server-Sent Events and Long Polling byte by byte, as sections 1.1–1.6 of
/work/shared/docs/signalr-protocol.md describe them (ASP.NET Core's HttpConnectionDispatcher): negotiate, status
codes and their texts, headers, SSE framing, the POST send path, poll supersession, DELETE, transport changes,
MessagePack over Long Polling, `access_token` on SSE, and the disposal of an inactive long-polling connection.

Requests are made the way the official JS client makes them (RawHub: `&_=<ms>` on polls, `X-Requested-With`,
`X-SignalR-User-Agent`, `text/plain;charset=UTF-8` POST bodies, `access_token` in the SSE query).
"""
from __future__ import annotations

import threading
import time

import pytest

from clients import RawHub, SseStream, mp_frame, negotiate_body
from harness import JWT_KEY, jwt_token, is_receive, new_text, wait_until
from wsraw import HubSocket, UpgradeRefused, WebSocket, http_request

HUB = "/chatHub"
JSON_HANDSHAKE = b'{"protocol":"json","version":1}\x1e'
ALL_TRANSPORTS = [
    {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]},
    {"transport": "ServerSentEvents", "transferFormats": ["Text"]},
    {"transport": "LongPolling", "transferFormats": ["Text", "Binary"]},
]
NO_ID = b"Connection ID required"
UNKNOWN_ID = b"No Connection with that ID"
CANNOT_CHANGE = b"Cannot change transports mid-connection"
SSE_MESSAGEPACK = ("Cannot use the 'messagepack' protocol on the current transport. "
                   "The transport does not support 'Binary' transfer format.")


def tokens(value: str | None) -> set[str]:
    return {t.strip().lower() for t in (value or "").split(",") if t.strip()}


def text_plain(r) -> bool:
    return (r.header("content-type") or "").lower().startswith("text/plain")


def no_cache(r):
    assert {"no-cache", "no-store"} <= tokens(r.header("cache-control")), r.headers
    assert (r.header("pragma") or "").lower() == "no-cache", r.headers
    assert r.header("expires"), r.headers


class PendingPoll:
    """A long poll running in a thread (`done`, `response`)."""

    def __init__(self, port: int, path: str):
        self.response = None
        self.error: BaseException | None = None
        self.done = threading.Event()

        def run():
            try:
                self.response = http_request(port, "GET", path, headers={"X-Requested-With": "XMLHttpRequest"},
                                             timeout=100)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.error = exc
            finally:
                self.done.set()

        threading.Thread(target=run, daemon=True).start()

    def result(self, timeout: float):
        assert self.done.wait(timeout), f"poll still pending after {timeout}s"
        assert self.error is None, repr(self.error)
        return self.response


def lp_connection(port: int, hub: str = HUB, protocol: str = "json") -> RawHub:
    """A long-polling connection after the first poll and the handshake, with no poll pending."""
    h = RawHub.open("LongPolling", port, hub=hub, protocol=protocol, handshake=False, poll_loop=False)
    assert h.post(h.codec.handshake_request(1)).status == 200
    r = h.poll(timeout=10)
    assert r.status == 200 and r.body.startswith(b"{}\x1e"), r
    h.codec.feed(r.body)
    return h


# ------------------------------------------------------------------------------------------------ negotiate


@pytest.mark.parametrize("version", [0, 1])
def test_negotiate_lists_all_three_transports(server, version):
    body = negotiate_body(server.port("a"), HUB, f"?negotiateVersion={version}" if version else "")
    assert body["availableTransports"] == ALL_TRANSPORTS, body


def test_negotiate_lists_them_on_the_demo_hub_too(server):
    assert negotiate_body(server.port("a"), "/demoHub")["availableTransports"] == ALL_TRANSPORTS


# ------------------------------------------------------------------------------------------ Server-Sent Events


def test_sse_response_headers_and_first_bytes(server):
    port = server.port("a")
    token = negotiate_body(port)["connectionToken"]
    s = SseStream(port, f"{HUB}?id={token}")
    try:
        r = s.response
        assert r.status == 200, r
        assert (r.header("content-type") or "").lower().startswith("text/event-stream"), r.headers
        assert {"no-cache", "no-store"} <= tokens(r.header("cache-control")), r.headers
        assert (r.header("content-encoding") or "identity").lower() == "identity", r.headers
        # An SSE comment first (ASP.NET's workaround for Firefox not firing `open` before the first data).
        assert s.read_body(3) == b":\r\n", bytes(s.body[:50])
    finally:
        s.close()


def test_sse_handshake_by_post_and_messages_as_events(server):
    port = server.port("a")
    sse = RawHub.open("ServerSentEvents", port)
    ws = HubSocket.open(port)
    try:
        assert sse.handshake_reply == {}
        # Server -> client: one event per write, `data: <payload>\r\n\r\n`, the 0x1E inside the data.
        text = new_text("to-sse")
        ws.invoke("SendMessage", ["ws", text], "w1")
        m = sse.recv_until(lambda m: is_receive(m, text))
        assert m["arguments"] == ["ws", text]
        # Client -> server: POST, answered 200 with an empty body (signalrcore parses the body as JSON).
        text2 = new_text("from-sse")
        sse.invoke("SendMessage", ["sse", text2], "s1")
        assert ws.recv_until(lambda m: is_receive(m, text2))["arguments"] == ["sse", text2]
        done = sse.recv_until(lambda m: m.get("type") == 3 and m.get("invocationId") == "s1")
        assert "error" not in done, done
        r = sse.post(b'{"type":6}\x1e')
        assert r.status == 200 and r.body == b"", r
        assert all(status == 200 for _, status in sse.posts), sse.posts
        assert sse.events, "no events recorded"
        assert sse.events[0] == b"data: {}\x1e\r\n\r\n", sse.events[0]
        for block in sse.events:
            assert block.startswith(b"data: ") and block.endswith(b"\x1e\r\n\r\n"), block
            assert b"\n" not in block[:-4].replace(b"\r\n", b""), block
    finally:
        sse.close()
        ws.close()


def test_sse_several_messages_in_one_post(server):
    port = server.port("a")
    sse = RawHub.open("ServerSentEvents", port)
    try:
        texts = [new_text("batch") for _ in range(3)]
        body = b"".join(sse.codec.encode({"type": 1, "invocationId": f"b{i}", "target": "SendMessage",
                                          "arguments": ["sse", t]}) for i, t in enumerate(texts))
        assert sse.post(body).status == 200
        for t in texts:
            sse.recv_until(lambda m, t=t: is_receive(m, t))
    finally:
        sse.close()


def test_sse_refuses_messagepack_with_the_exact_error(server):
    port = server.port("a")
    h = RawHub.open("ServerSentEvents", port, protocol="messagepack", handshake=False)
    try:
        h.send_bytes(h.codec.handshake_request(1), text=True)
        assert h.recv_handshake() == {"error": SSE_MESSAGEPACK}
        h.wait_closed(5)  # the server ends the event stream after a refused handshake
    finally:
        h.close()


def test_sse_connection_ends_when_the_client_drops_it(server):
    port = server.port("a")
    h = RawHub.open("ServerSentEvents", port)
    h.close()  # what EventSource.close() does: drop the TCP connection
    wait_until(lambda: h.post(b'{"type":6}\x1e').status == 404, 5, interval=0.1,
               what="POST to a dropped SSE connection to answer 404")


# ------------------------------------------------------------------------------------------------ Long Polling


def test_long_polling_first_poll_handshake_and_messages(server):
    port = server.port("a")
    t0 = time.monotonic()
    h = RawHub.open("LongPolling", port, handshake=False, poll_loop=False)
    first = h.first_poll
    took = h.polls[0][3] - t0
    assert first.status == 200 and first.body == b"", first
    assert took < 2.0, f"the first poll took {took:.2f}s; it must return at once"
    assert first.header("content-length") == "0", first.headers
    assert (first.header("content-type") or "").startswith("application/octet-stream"), first.headers
    no_cache(first)
    # The handshake is a POST; its answer comes with the next poll.
    assert h.post(JSON_HANDSHAKE).status == 200
    r = h.poll(timeout=10)
    assert r.status == 200 and r.body == b"{}\x1e", r
    no_cache(r)
    ws = HubSocket.open(port)
    try:
        text = new_text("to-lp")
        ws.invoke("SendMessage", ["ws", text], "w1")
        got = []
        deadline = time.monotonic() + 10
        while not any(is_receive(m, text) for m in got):
            r = h.poll(timeout=max(0.1, deadline - time.monotonic()))
            assert r.status == 200, r
            assert (r.header("content-type") or "").startswith("application/octet-stream"), r.headers
            assert r.header("content-length") == str(len(r.body)), r.headers
            got += h.codec.feed(r.body)
        assert [m for m in got if is_receive(m, text)][0]["arguments"] == ["ws", text]
        # Two invocations in one POST body, each answered and delivered.
        texts = [new_text("lp"), new_text("lp")]
        body = b"".join(h.codec.encode({"type": 1, "invocationId": f"p{i}", "target": "SendMessage",
                                        "arguments": ["lp", t]}) for i, t in enumerate(texts))
        r = h.post(body)
        assert r.status == 200 and r.body == b"", r
        for t in texts:
            assert ws.recv_until(lambda m, t=t: is_receive(m, t))["arguments"] == ["lp", t]
    finally:
        ws.close()
        h.close()


def test_a_newer_poll_ends_the_pending_one_with_204(server):
    port = server.port("a")
    h = lp_connection(port)
    try:
        a = PendingPoll(port, h.path + "&_=1")
        assert not a.done.wait(0.5), f"a poll with nothing to send returned: {a.response!r}"
        b = PendingPoll(port, h.path + "&_=2")
        ra = a.result(5)
        assert ra.status == 204, ra
        assert not b.done.wait(0.3), f"the newer poll returned with nothing to send: {b.response!r}"
        text = new_text("after-204")
        h.invoke("SendMessage", ["lp", text], None)
        rb = b.result(5)
        assert rb.status == 200 and text.encode() in rb.body, rb
    finally:
        h.close()


def test_delete_ends_the_connection_and_its_pending_poll(server):
    port = server.port("a")
    h = lp_connection(port)
    pending = PendingPoll(port, h.path + "&_=1")
    assert not pending.done.wait(0.5), pending.response
    r = h.delete()
    assert r.status == 202 and text_plain(r), r
    rp = pending.result(5)
    assert rp.status == 204, rp
    # Gone: later requests for it are 404 (a poll may still see 204 while it is being disposed).
    wait_until(lambda: h.post(b'{"type":6}\x1e').status == 404, 5, interval=0.1, what="POST after DELETE -> 404")
    assert h.poll(timeout=5).status in (204, 404)


@pytest.mark.parametrize("transport", ["WebSockets", "ServerSentEvents"])
def test_delete_is_only_for_long_polling(server, transport):
    port = server.port("a")
    h = RawHub.open(transport, port)
    try:
        r = h.delete()
        assert r.status == 400 and text_plain(r), r
        assert r.body == b"Cannot terminate this connection using the DELETE endpoint.", r
        done = h.call("SendMessage", "still", new_text("alive"))
        assert "error" not in done, done
    finally:
        h.close()


def test_post_on_a_websocket_connection_is_405(server):
    port = server.port("a")
    h = RawHub.open("WebSockets", port)
    try:
        r = http_request(port, "POST", h.path, body=b'{"type":6}\x1e')
        assert r.status == 405 and text_plain(r), r
        assert r.body == b"POST requests are not allowed for WebSocket connections.", r
        assert "error" not in h.call("SendMessage", "still", new_text("alive"))
    finally:
        h.close()


REQUESTS = {
    "POST": ("POST", {}, b'{"type":6}\x1e'),
    "SSE": ("GET", {"Accept": "text/event-stream"}, b""),
    "poll": ("GET", {}, b""),
    "DELETE": ("DELETE", {}, b""),
}


@pytest.mark.parametrize("kind", list(REQUESTS))
def test_missing_id_is_400_and_unknown_id_is_404(server, kind):
    port = server.port("a")
    method, headers, body = REQUESTS[kind]
    r = http_request(port, method, HUB, headers=headers, body=body)
    assert r.status == 400 and text_plain(r) and r.body == NO_ID, r
    r = http_request(port, method, f"{HUB}?id=no-such-connection", headers=headers, body=body)
    assert r.status == 404 and text_plain(r) and r.body == UNKNOWN_ID, r


def _start(kind: str, port: int, token: str):
    """Use `token` with transport `kind`; returns something to close."""
    if kind == "WebSockets":
        ws = WebSocket.connect(port, f"{HUB}?id={token}")
        return ws
    if kind == "ServerSentEvents":
        s = SseStream(port, f"{HUB}?id={token}")
        assert s.response.status == 200, s.response
        return s
    r = http_request(port, "GET", f"{HUB}?id={token}&_=1")
    assert r.status == 200, r
    return None


def _second(kind: str, port: int, token: str):
    """Status and body of a request for transport `kind` on a connection that already has another one."""
    if kind == "WebSockets":
        try:
            WebSocket.connect(port, f"{HUB}?id={token}").close()
            return 101, b""
        except UpgradeRefused as r:
            return r.response.status, r.response.body
    if kind == "ServerSentEvents":
        s = SseStream(port, f"{HUB}?id={token}")
        s.close()
        return s.response.status, s.response.body
    r = http_request(port, "GET", f"{HUB}?id={token}&_=2", timeout=10)
    return r.status, r.body


@pytest.mark.parametrize("first,second", [(a, b) for a in ("WebSockets", "ServerSentEvents", "LongPolling")
                                          for b in ("WebSockets", "ServerSentEvents", "LongPolling") if a != b])
def test_changing_transport_mid_connection_is_400(server, first, second):
    port = server.port("a")
    token = negotiate_body(port)["connectionToken"]
    held = _start(first, port, token)
    try:
        status, body = _second(second, port, token)
        assert (status, body) == (400, CANNOT_CHANGE), (status, body)
    finally:
        if held is not None:
            held.close()


def test_a_second_event_stream_is_409(server):
    port = server.port("a")
    token = negotiate_body(port)["connectionToken"]
    held = _start("ServerSentEvents", port, token)
    try:
        assert _second("ServerSentEvents", port, token)[0] == 409
    finally:
        held.close()


# --------------------------------------------------------------------------------- MessagePack over Long Polling


def test_long_polling_with_messagepack(server):
    port = server.port("a")
    lp = RawHub.open("LongPolling", port, protocol="messagepack")
    ws = HubSocket.open(port)
    try:
        assert lp.handshake_reply == {}
        text = new_text("mp-in")
        ws.invoke("SendMessage", ["ws", text], "w1")
        m = lp.recv_until(lambda m: is_receive(m, text))
        assert m["arguments"] == ["ws", text] and m["_len"] == 6, m          # 6-element form, [] streamIds
        assert "invocationId" not in m
        # The 6-element Invocation (JS/.NET/pysignalr) and the 5-element one (signalrcore), binary, VarInt-framed.
        six, five = new_text("mp6"), new_text("mp5")
        lp.invoke("SendMessage", ["lp", six], "i6")
        lp.send_bytes(mp_frame([1, {"Content-Type": "application/json"}, "i5", "SendMessage", ["lp", five]]))
        for t in (six, five):
            assert ws.recv_until(lambda m, t=t: is_receive(m, t))["arguments"] == ["lp", t]
        for inv in ("i6", "i5"):
            done = lp.recv_until(lambda m, inv=inv: m.get("type") == 3 and m.get("invocationId") == inv)
            assert done["_kind"] == 2 and "error" not in done, done          # void completion: ResultKind 2
    finally:
        ws.close()
        lp.close()


# ------------------------------------------------------------------------------------------------ access tokens


@pytest.fixture(scope="module")
def jwt_server(module_cluster_factory):
    return module_cluster_factory(["a"], args=["--jwt-key", JWT_KEY], name="transports-jwt")


def test_sse_takes_the_access_token_from_the_query(jwt_server):
    """Browsers cannot set headers on an EventSource: the JS client puts the token in `access_token`."""
    port = jwt_server.port("a")
    token = jwt_token({"sub": "sse-user"})
    h = RawHub.open("ServerSentEvents", port, hub="/demoHub", extra_query=f"&access_token={token}")
    try:
        done = h.call("WhoAmI")
        assert done.get("result") == "sse-user", done
    finally:
        h.close()


def test_long_polling_takes_the_bearer_header(jwt_server):
    """The JS client sends `Authorization: Bearer` on negotiate, every poll, POST and DELETE."""
    port = jwt_server.port("a")
    token = jwt_token({"sub": "lp-user"})
    h = RawHub.open("LongPolling", port, hub="/demoHub", headers={"Authorization": f"Bearer {token}"})
    try:
        done = h.call("WhoAmI")
        assert done.get("result") == "lp-user", done
    finally:
        h.close()


# ------------------------------------------------------------------------------------------------ inactivity


def test_a_long_polling_connection_without_polls_is_disposed(server, report):
    """No poll for DisconnectTimeout (15 s by default): the connection is disposed. Watched from outside with
    AddToGroup (an error once the connection exists nowhere), then a poll gets 404. Takes about 16 s."""
    port = server.port("a")
    h = lp_connection(port, hub="/demoHub")
    idle_since = h.polls[-1][3]
    watcher = RawHub.open("WebSockets", port, hub="/demoHub")
    try:
        assert "error" not in watcher.call("AddToGroup", h.connection_id, "idle-watch"), "the connection must exist"

        def gone():
            return "error" in watcher.call("AddToGroup", h.connection_id, "idle-watch")

        wait_until(gone, 40, interval=0.5, what="the idle long-polling connection to be disposed")
        idle = time.monotonic() - idle_since
        report(f"idle long-polling connection disposed after {idle:.1f}s")
        assert 10.0 <= idle <= 30.0, f"disposed after {idle:.1f}s of inactivity (DisconnectTimeout is 15 s)"
        assert h.poll(timeout=5).status == 404
    finally:
        watcher.close()
