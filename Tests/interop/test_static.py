"""The web client at / (its chat, rooms and mesh panel are wired to the right hub calls) and path traversal."""
from __future__ import annotations

import json
import re
import uuid
from html.parser import HTMLParser

import pytest

from wsraw import HubSocket, http_request


def test_index_html(server):
    r = http_request(server.port("a"), "GET", "/")
    assert r.status == 200, r
    assert (r.header("content-type") or "").startswith("text/html"), r.headers
    assert b"<html" in r.body.lower() or b"<!doctype" in r.body.lower()


def test_head_index(server):
    r = http_request(server.port("a"), "HEAD", "/")
    assert r.status in (200, 405), r


@pytest.mark.parametrize("path", [
    "/../../etc/passwd",
    "/../../../../../../../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/%2E%2E/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
    "/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/../../../../etc/passwd",
    "/./../.././../etc/passwd",
    "/..%5c..%5c..%5cetc%5cpasswd",
    "/%252e%252e/%252e%252e/etc/passwd",
    "//etc/passwd",
    "/etc/passwd",
    "/....//....//....//etc/passwd",
    "/%00/../../etc/passwd",
    "/index.html%00.png",
    "/..",
])
def test_no_path_traversal(server, path):
    r = http_request(server.port("a"), "GET", path)
    assert r.status in (400, 403, 404), (path, r)
    assert b"root:" not in r.body, path


def test_unknown_static_file_404(server):
    assert http_request(server.port("a"), "GET", "/nope.js").status == 404


# ------------------------------------------------------------------------------------------- the page's parts


class _Ids(HTMLParser):
    """Element ids of a page, and the ids of form controls that sit inside a <label> (so they have a name)."""

    def __init__(self):
        super().__init__()
        self.ids: dict[str, tuple[str, dict]] = {}
        self.labelled: set[str] = set()
        self._in_label = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "label":
            self._in_label += 1
        if "id" in a:
            self.ids[a["id"]] = (tag, a)
            if self._in_label and tag in ("input", "textarea", "select"):
                self.labelled.add(a["id"])

    def handle_endtag(self, tag):
        if tag == "label" and self._in_label:
            self._in_label -= 1


def _page(server) -> _Ids:
    r = http_request(server.port("a"), "GET", "/")
    assert r.status == 200, r
    parser = _Ids()
    parser.feed(r.body.decode())
    return parser


def _app_js(server) -> str:
    r = http_request(server.port("a"), "GET", "/app.js")
    assert r.status == 200, r
    assert "javascript" in (r.header("content-type") or ""), r.headers
    return r.body.decode()


def test_page_has_chat_rooms_and_mesh(server):
    page = _page(server)
    chat = ["messages", "name-input", "message-input", "send-btn", "composer"]
    rooms = ["rooms-title", "rooms-status", "rooms-conn-id", "room-join-form", "room-input", "room-join-btn",
             "room-join-error", "room-list", "room-logs", "room-composer", "room-message-input", "room-send-btn",
             "room-composer-error"]
    mesh = ["mesh-body", "mesh-graph", "mesh-nodes"]
    missing = [i for i in chat + rooms + mesh if i not in page.ids]
    assert not missing, f"ids missing from the page: {missing}"
    # Text fields carry a label; errors and status are announced.
    for field in ("name-input", "message-input", "room-input", "room-message-input"):
        assert field in page.labelled, f"#{field} is not inside a <label>"
    for alert in ("room-join-error", "room-composer-error"):
        assert page.ids[alert][1].get("role") == "alert", alert
    assert page.ids["rooms-status"][1].get("role") == "status"
    assert page.ids["messages"][1].get("aria-live") == "polite"


class _Options(HTMLParser):
    """The option values of one <select>, by id."""

    def __init__(self, select_id: str):
        super().__init__()
        self.select_id = select_id
        self.values: list[str] = []
        self._inside = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "select":
            self._inside = a.get("id") == self.select_id
        elif tag == "option" and self._inside:
            self.values.append(a.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "select":
            self._inside = False


def test_page_has_transport_picker(server):
    """The transport toggle: Auto plus each transport by its negotiate name, labelled, and a place that
    shows the transport in use; app.js reads ?transport= and remembers the choice."""
    r = http_request(server.port("a"), "GET", "/")
    page = _Ids()
    page.feed(r.body.decode())
    assert page.ids.get("transport-select", ("",))[0] == "select", "no <select id=transport-select>"
    assert "transport-select" in page.labelled or page.ids["transport-select"][1].get("aria-label")
    options = _Options("transport-select")
    options.feed(r.body.decode())
    assert options.values == ["Auto", "WebSockets", "ServerSentEvents", "LongPolling"], options.values
    assert "transport-used" in page.ids and "rooms-transport-used" in page.ids
    js = _app_js(server)
    for needle in ('searchParams.get("transport")', '"meshchat.transport"', "transport: initialTransport"):
        assert needle in js, needle
    lite = http_request(server.port("a"), "GET", "/signalr-lite.js").body.decode()
    for needle in ("new EventSource(", 'method: "DELETE"', "text/plain;charset=UTF-8", "ServerSentEvents", "LongPolling"):
        assert needle in lite, needle


def test_app_js_ids_exist_in_page(server):
    """Every element app.js looks up by id is in index.html (a renamed id would break the page silently)."""
    page = _page(server)
    wanted = set(re.findall(r"""\$\("([A-Za-z0-9_-]+)"\)""", _app_js(server)))
    assert len(wanted) > 20, wanted
    assert not (wanted - set(page.ids)), f"app.js looks up ids that the page lacks: {sorted(wanted - set(page.ids))}"


def test_app_js_uses_both_hubs(server):
    js = _app_js(server)
    # The chat, as before: ChatHub's contract.
    for needle in ('"/chatHub"', '"SendMessage"', '"ReceiveMessage"', '"/api/mesh"'):
        assert needle in js, needle
    # Rooms over the demo hub.
    for needle in ('"/demoHub"', '"JoinGroup"', '"LeaveGroup"', '"SendToGroup"', '"GroupMessage"', '"GetConnectionId"'):
        assert needle in js, needle
    # User data reaches the DOM only as text.
    assert not re.search(r"\.(innerHTML|outerHTML)\b|insertAdjacentHTML\s*\(|document\.write", js)


# ------------------------------------------------------------------ the demo hub calls the rooms section makes


def _call(hub: HubSocket, target: str, *args, timeout: float = 8.0) -> tuple[dict, list[dict]]:
    """Invokes and waits for the completion; returns it and the invocations that arrived before it."""
    inv = uuid.uuid4().hex[:8]
    hub.invoke(target, list(args), inv)
    before: list[dict] = []
    while True:
        m = hub.recv(timeout)
        if m.get("type") == 3 and m.get("invocationId") == inv:
            return m, before
        before.append(m)


def _group_messages(msgs: list[dict]) -> list[dict]:
    return [m for m in msgs if m.get("type") == 1 and m.get("target") == "GroupMessage"]


def test_demo_hub_room_flow(server):
    """What the page does: negotiate /demoHub, GetConnectionId, JoinGroup, SendToGroup (JSON text) → GroupMessage
    with a `replica` header, LeaveGroup; another connection not in the room gets nothing."""
    port = server.port("a")
    page = HubSocket.open(port, "/demoHub", version=1)
    other = HubSocket.open(port, "/demoHub", version=1)
    try:
        done, _ = _call(page, "GetConnectionId")
        assert isinstance(done.get("result"), str) and done["result"], done

        room = f"room-{uuid.uuid4().hex[:6]}"
        done, _ = _call(page, "JoinGroup", room)
        assert "error" not in done, done

        text = json.dumps({"user": "alice", "text": "hello <b>room</b> & all"})
        done, before = _call(page, "SendToGroup", room, text)
        assert "error" not in done, done
        got = _group_messages(before)
        assert len(got) == 1, before
        assert got[0]["arguments"] == [room, text]
        assert got[0].get("headers", {}).get("replica") == "a", got[0]

        # Not a member: `other` sends to the room; the member gets it, `other` does not.
        done, before = _call(other, "SendToGroup", room, "plain text")
        assert "error" not in done and not _group_messages(before), (done, before)
        m = page.recv_until(lambda m: m.get("target") == "GroupMessage", 5)
        assert m["arguments"] == [room, "plain text"]

        done, _ = _call(page, "LeaveGroup", room)
        assert "error" not in done, done
        done, before = _call(page, "SendToGroup", room, "after leaving")
        assert "error" not in done and not _group_messages(before), (done, before)
    finally:
        page.close()
        other.close()


def test_demo_hub_long_room_name_is_an_error(server):
    """The page shows the hub's error inline; the reason must reach the client."""
    hub = HubSocket.open(server.port("a"), "/demoHub", version=1)
    try:
        done, _ = _call(hub, "JoinGroup", "r" * 1025)
        assert "Group names are limited to 1024 bytes" in (done.get("error") or ""), done
    finally:
        hub.close()


def test_demo_hub_room_across_replicas(cluster_factory):
    """Two pages on two replicas in one room: each sees the other's message, labelled with the sender's replica."""
    c = cluster_factory(("a", "b"))
    c.wait_meshed(10)
    pa = HubSocket.open(c.port("a"), "/demoHub", version=1)
    pb = HubSocket.open(c.port("b"), "/demoHub", version=1)
    try:
        room = f"room-{uuid.uuid4().hex[:6]}"
        for hub in (pa, pb):
            done, _ = _call(hub, "JoinGroup", room)
            assert "error" not in done, done
        for sender, replica, receiver in ((pa, "a", pb), (pb, "b", pa)):
            text = json.dumps({"user": f"user-{replica}", "text": f"hi from {replica}"})
            done, _ = _call(sender, "SendToGroup", room, text)
            assert "error" not in done, done
            m = receiver.recv_until(lambda m: m.get("target") == "GroupMessage" and m["arguments"][1] == text, 5)
            assert m["arguments"][0] == room
            assert m.get("headers", {}).get("replica") == replica, m
    finally:
        pa.close()
        pb.close()
