"""Issue 11, point 7: no sticky sessions. A connection negotiated on replica a is opened on replica b, for every
transport; a long-polling connection whose polls and POSTs alternate between a and b works like any other.

"Works" means: the hub sees one connection whose id is the negotiated connectionId (`GetConnectionId`), a message
addressed to that id from a third replica arrives exactly once, and chat goes both ways (SendToAll from the moved
connection reaches clients on every replica once; SendToOthers from them reaches it once).

ASP.NET Core answers the moved request with 404 "No Connection with that ID" (aspnetcore#50171).
"""
from __future__ import annotations

import pytest

from clients import RawHub, make_demo_client
from harness import new_text, server_supports, wait_until

pytestmark = pytest.mark.usefixtures("mesh_available")

IDS = ["a", "b", "c"]
RAW = [(t, p) for t in ("WebSockets", "ServerSentEvents", "LongPolling") for p in ("json", "messagepack")
       if not (t == "ServerSentEvents" and p == "messagepack")]


@pytest.fixture(scope="module")
def cluster(module_cluster_factory):
    c = module_cluster_factory(IDS, name="sticky")
    c.wait_meshed(10)
    return c


@pytest.fixture(scope="module")
def watchers(cluster):
    """A pysignalr client on a and one on c (they see AllMessage and send SendToOthers / SendToConnection)."""
    made = {r: make_demo_client("pysignalr", f"watch@{r}", r, cluster.demo_hub(r)) for r in ("a", "c")}
    for w in made.values():
        w.wait_open(10)
    yield made
    for w in made.values():
        w.stop()


def count_events(h: RawHub, target: str, text: str, timeout: float) -> int:
    """How many `target` events carrying `text` arrive at `h`: waits for the first, then drains briefly."""
    n = 0
    first = h.recv_until(lambda m: m.get("type") == 1 and m.get("target") == target and m["arguments"][-1] == text,
                         timeout)
    n += first is not None
    # Anything else already queued (a duplicate would be right behind): a short drain.
    while True:
        try:
            m = h.recv(0.5)
        except TimeoutError:
            return n
        if m.get("type") == 1 and m.get("target") == target and m["arguments"][-1] == text:
            n += 1


def exercise(h: RawHub, cluster, watchers):
    """One connection seen from everywhere: id, addressed message, chat both ways, each exactly once."""
    done = h.call("GetConnectionId", timeout=10)
    assert done.get("result") == h.connection_id, f"GetConnectionId {done} but negotiate said {h.connection_id}"
    # Addressed to it from c.
    text = new_text("direct")
    assert watchers["c"].call("SendToConnection", h.connection_id, text) is None
    assert count_events(h, "DirectMessage", text, 10) == 1
    # From it to everyone.
    text = new_text("all")
    assert "error" not in h.call("SendToAll", text, timeout=10)
    for w in watchers.values():
        w.wait_event("AllMessage", [text], 10)
        assert w.count("AllMessage", text) == 1
    # From the others to it.
    text = new_text("others")
    watchers["a"].call("SendToOthers", text)
    assert count_events(h, "OthersMessage", text, 10) == 1


@pytest.mark.parametrize("transport,protocol", RAW)
def test_negotiate_on_a_connect_on_b(cluster, watchers, transport, protocol):
    h = RawHub.open(transport, cluster.port("a"), protocol=protocol, hub="/demoHub",
                    connect_ports=[cluster.port("b")])
    try:
        exercise(h, cluster, watchers)
        if transport != "WebSockets":
            assert {p for p, _ in h.posts} == {cluster.port("b")}
    finally:
        h.close()


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
def test_long_polling_alternating_between_replicas(cluster, watchers, protocol):
    a, b = cluster.port("a"), cluster.port("b")
    h = RawHub.open("LongPolling", a, protocol=protocol, hub="/demoHub", connect_ports=[a, b])
    try:
        for _ in range(3):
            exercise(h, cluster, watchers)
        polled = {p for p, *_ in h.polls}
        posted = {p for p, _ in h.posts}
        assert polled == {a, b} and posted == {a, b}, (h.polls, h.posts)
        assert all(status == 200 for _, status in h.posts), h.posts
        bad = [p for p in h.polls if p[1] != 200]
        assert not bad, f"polls answered other than 200: {bad}"
    finally:
        h.close()
    # DELETE (sent to a) ends it everywhere.
    wait_until(lambda: h.post(b'{"type":6}\x1e', port=b).status == 404, 5, interval=0.1,
               what="the connection to be gone on b after DELETE on a")


def test_sse_stream_on_b_posts_on_a(cluster, watchers):
    a, b = cluster.port("a"), cluster.port("b")
    h = RawHub.open("ServerSentEvents", a, hub="/demoHub", connect_ports=[b, a])
    try:
        exercise(h, cluster, watchers)
        assert {p for p, _ in h.posts} == {a, b}
    finally:
        h.close()


def test_unknown_token_is_404_on_every_replica(cluster):
    """A made-up token is 404 on every replica (the mesh does not accept anything that looks like a token)."""
    for r in IDS:
        r404 = RawHub(transport="LongPolling", protocol="json", hub="/demoHub", port=cluster.port(r),
                      connect_ports=None, headers=None)
        r404.token = "AAAAAAAAAAAAAAAAAAAAAA"
        assert r404.poll(timeout=5).status == 404


@pytest.mark.skipif(not server_supports("--redirect-negotiate"),
                    reason="optional feature (issue 11, point 7): the binary has no --redirect-negotiate")
@pytest.mark.parametrize("kind", ["pysignalr", "signalrcore"])
def test_negotiate_redirect_is_followed_by_the_stock_clients(cluster_factory, kind):
    """With --redirect-negotiate, negotiate answers {url, accessToken}; pysignalr and signalrcore open their
    WebSocket at `url` with `Authorization: Bearer <accessToken>` (they do not negotiate again there)."""
    from clients import make_demo_client_x
    from wsraw import http_request

    c = cluster_factory(["a", "b"], args=["--redirect-negotiate"])
    c.wait_meshed(10)
    # Negotiates go to the live replicas in turn (this one included): one of two is a redirect.
    bodies = [http_request(c.port("a"), "POST", "/demoHub/negotiate", body=b"").json() for _ in range(2)]
    assert any(set(body) >= {"url", "accessToken"} for body in bodies), bodies
    client = make_demo_client_x(kind, f"redirected-{kind}", "a", c.demo_hub("a"))
    try:
        client.wait_open(10)
        assert client.call("Echo", "redirected") == "redirected"
    finally:
        client.stop()


@pytest.mark.parametrize("transport", ["WebSockets", "ServerSentEvents", "LongPolling"])
def test_fronted_session_ends_when_the_owner_dies(cluster_factory, transport):
    """A connection negotiated on a and served through b: when a (its owner) is killed, b ends the client's
    transport within the failure-detection time instead of leaving it open with nobody behind it (WebSocket
    closed, SSE stream ended, the waiting poll answered 404), and a new request for that token on b gets 404."""
    c = cluster_factory(["a", "b"])
    c.wait_meshed(10)
    h = RawHub.open(transport, c.port("a"), protocol="json", hub="/demoHub", connect_ports=[c.port("b")])
    try:
        assert h.call("Echo", "before", timeout=10)["result"] == "before"
        c["a"].kill()
        why = h.wait_closed(15)
        assert why, why
        r = RawHub(transport="LongPolling", protocol="json", hub="/demoHub", port=c.port("b"),
                   connect_ports=None, headers=None)
        r.token = h.token
        assert r.poll(timeout=5).status == 404
    finally:
        h.close()
