"""Live membership: on SIGHUP a replica reloads its peers file. Three replicas grow to five and shrink back to three
while stock clients (pysignalr and signalrcore) chat on every replica: every client gets every message sent while it
was there exactly once. A file that can't be applied is refused with one log line and the membership stays."""
from __future__ import annotations

import json
import re
import signal
import threading
import time

import pytest

from clients import RawHub, make_client
from harness import is_receive, new_text, wait_until

pytestmark = pytest.mark.usefixtures("mesh_available")

IDS = ["a", "b", "c", "d", "e"]
KINDS = ("pysignalr", "signalrcore")
RELOAD_LINE = re.compile(r"peers file .* (reloaded|refused) \(")


def write_peers(cluster, path, ids):
    """The cluster's peers file with only `ids`, written atomically (a replica never reads half a file)."""
    doc = cluster.peers_doc()
    doc["replicas"] = [r for r in doc["replicas"] if r["id"] in ids]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(path)


def log_size(replica) -> int:
    return replica.log_path.stat().st_size


def reload_lines(replica, offset: int) -> list[str]:
    """The reload lines (`peers file … reloaded|refused`) `replica` logged after byte `offset` of its log."""
    with open(replica.log_path, "rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    return [ln for ln in text.splitlines() if RELOAD_LINE.search(ln)]


def sighup(cluster, ids, expect: str) -> dict[str, str]:
    """SIGHUP `ids` and wait for each one's reload line; it must contain `expect`. Returns the lines."""
    offsets = {i: log_size(cluster[i]) for i in ids}
    for i in ids:
        cluster[i].signal(signal.SIGHUP)
    lines = {}
    for i in ids:
        got = wait_until(lambda i=i: reload_lines(cluster[i], offsets[i]), 5.0, what=f"{i}'s reload line")
        assert len(got) == 1 and expect in got[0], (i, got)
        lines[i] = got[0]
    return lines


def peer_ids(cluster, node) -> list[str]:
    return sorted(p["id"] for p in cluster.mesh_view(node)["peers"])


class Chat:
    """Each client sends a message every `interval` seconds from its own thread, until stopped. `sent` lists
    (text, sender, monotonic send time) of every message sent."""

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.sent: list[tuple[str, object, float]] = []
        self.lock = threading.Lock()
        self.threads: dict[str, tuple[threading.Thread, threading.Event]] = {}

    def start(self, clients):
        for c in clients:
            stop = threading.Event()
            t = threading.Thread(target=self._run, args=(c, stop), daemon=True, name=f"chat-{c.name}")
            self.threads[c.name] = (t, stop)
            t.start()

    def _run(self, client, stop: threading.Event):
        n = 0
        while not stop.is_set():
            text = new_text(f"{client.name}-{n}")
            with self.lock:
                self.sent.append((text, client, time.monotonic()))
            client.send_message(client.name, text, wait=False)
            n += 1
            stop.wait(self.interval)

    def stop(self, clients):
        for c in clients:
            t, stop = self.threads.pop(c.name)
            stop.set()
            t.join(5)
        for c in clients:
            wait_until(lambda c=c: c.in_flight == 0, 10.0, what=f"completions of {c.name}'s messages")
            failed = [s for s in c.sent.values() if s.error]
            assert not failed, f"{c.name}: {failed[:3]}"

    def count(self) -> int:
        with self.lock:
            return len(self.sent)

    def wait_more(self, n: int, timeout: float = 10.0):
        target = self.count() + n
        wait_until(lambda: self.count() >= target, timeout, what=f"{n} more chat messages")


def check_exactly_once(clients, chat: Chat, window: dict):
    """Every client got every message sent while it was there (`window[name]` = (from, until)) exactly once, and
    nothing twice."""
    for c in clients:
        start, end = window[c.name]
        expected = [t for (t, _, t0) in chat.sent if t0 >= start and (end is None or t0 < end)]
        assert expected, c.name
        c.wait_for(expected, 10.0)
    time.sleep(0.3)  # a duplicate would follow its original closely: give it a chance to show
    for c in clients:
        dups = c.duplicates()
        assert not dups, f"{c.name}@{c.replica} got duplicates: {list(dups.items())[:5]}"
        assert not c.bad_shapes, c.bad_shapes[:3]


@pytest.fixture
def shared_file(cluster_factory):
    """Five replicas' ports; a, b, c started from one 3-entry peers file that every replica reads."""
    c = cluster_factory(IDS, start=False)
    path = c.dir / "peers.json"
    write_peers(c, path, IDS[:3])
    for r in c.replicas.values():
        r.peers_path = path
    c.start(*IDS[:3])
    c.wait_meshed(10, among=IDS[:3])
    return c, path


def test_grow_to_five_and_shrink_back_while_chatting(shared_file, report):
    c, path = shared_file
    chat = Chat()
    window: dict[str, tuple[float, float | None]] = {}
    old = [make_client(k, f"{k}@{r}", r, c.hub(r)) for r in IDS[:3] for k in KINDS]
    new: list = []
    try:
        for cl in old:
            cl.wait_open(10)
            window[cl.name] = (time.monotonic(), None)
        chat.start(old)
        chat.wait_more(60)

        # Grow: the file gets d and e; a, b, c reload it (and dial them), then d and e start.
        t0 = time.monotonic()
        write_peers(c, path, IDS)
        sighup(c, IDS[:3], "added d, e; removed none")
        chat.wait_more(20)
        c.start("d", "e")
        c.wait_meshed(10, among=IDS)
        report(f"3 -> 5: SIGHUP to full mesh of five in {time.monotonic() - t0:.2f} s")
        assert peer_ids(c, "a") == ["b", "c", "d", "e"]
        new = [make_client(k, f"{k}@{r}", r, c.hub(r)) for r in IDS[3:] for k in KINDS]
        for cl in new:
            cl.wait_open(10)
            window[cl.name] = (time.monotonic(), None)
        chat.start(new)
        chat.wait_more(200)

        # Shrink: d and e stop talking, their clients get what was sent so far and leave; a, b, c reload the
        # 3-entry file; d and e stop.
        chat.stop(new)
        until = time.monotonic()
        for cl in new:
            window[cl.name] = (window[cl.name][0], until)
        check_exactly_once(new, chat, window)
        for cl in new:
            cl.stop()
        t0 = time.monotonic()
        write_peers(c, path, IDS[:3])
        sighup(c, IDS[:3], "added none; removed d, e")
        report(f"5 -> 3: SIGHUP to reload lines of a, b, c in {time.monotonic() - t0:.2f} s")
        for r in ("d", "e"):
            assert c[r].terminate() == 0
        chat.wait_more(60)
        chat.stop(old)

        check_exactly_once(old + new, chat, window)
        report(f"{chat.count()} messages, {len(old)} + {len(new)} clients: every one delivered exactly once")
        for r in IDS[:3]:
            view = c.mesh_view(r)
            assert sorted(p["id"] for p in view["peers"]) == [x for x in IDS[:3] if x != r], view["peers"]
            assert sorted(o["id"] for o in view["origins"]) == [x for x in IDS[:3] if x != r], view["origins"]
            for p in view["peers"]:
                assert p["state"] == "up" and p["gaps"] == 0 and p["sendGaps"] == 0, (r, p)
            log = c[r].log_path.read_text(errors="replace")
            assert "gap:" not in log, f"{r} logged a gap"
    finally:
        for cl in old + new:
            cl.stop()


def test_a_file_that_cannot_be_applied_is_refused_with_one_line(shared_file):
    c, path = shared_file
    clients = [make_client(k, f"{k}@{r}", r, c.hub(r)) for r, k in (("a", KINDS[0]), ("c", KINDS[1]))]
    try:
        for cl in clients:
            cl.wait_open(10)
        before = {r: c.mesh_view(r)["epoch"] for r in IDS[:3]}
        offsets = {r: log_size(c[r]) for r in IDS[:3]}

        path.write_text('{"cluster": "interop", "replicas": [')  # cut off mid-write
        sighup(c, IDS[:3], "refused (SIGHUP): peers.json: invalid JSON")
        # The cluster name can't change under running links; the same reason on every replica.
        doc = json.loads(json.dumps(c.peers_doc()))
        doc["cluster"] = "renamed"
        doc["replicas"] = doc["replicas"][:3]
        path.write_text(json.dumps(doc))
        lines = sighup(c, IDS[:3], "the cluster name changed")
        assert all("renamed" in ln and "keeping the current membership (a, b, c)" in ln for ln in lines.values()), lines

        # Still the same three replicas, linked as before, chatting exactly once.
        texts = []
        for cl in clients:
            for i in range(5):
                t = new_text(f"after-{cl.name}-{i}")
                assert cl.send_message(cl.name, t).error is None
                texts.append(t)
        for cl in clients:
            cl.wait_for(texts, 5.0)
            assert not cl.duplicates()
        for r in IDS[:3]:
            view = c.mesh_view(r)
            assert view["epoch"] == before[r]
            assert {p["id"]: p["state"] for p in view["peers"]} == {x: "up" for x in IDS[:3] if x != r}
            # One line per SIGHUP, nothing else about the file.
            assert len(reload_lines(c[r], offsets[r])) == 2, reload_lines(c[r], offsets[r])

        # Fixed: the next SIGHUP applies it.
        write_peers(c, path, IDS[:3])
        sighup(c, IDS[:3], "membership unchanged (a, b, c)")
    finally:
        for cl in clients:
            cl.stop()


def test_a_session_forwarded_through_a_removed_replica_ends_cleanly(shared_file):
    """A WebSocket negotiated on c and opened on a (a fronts it for c, no sticky sessions): when a drops c from its
    membership, a closes the client's socket with a WebSocket Close (the client reconnects elsewhere)."""
    c, path = shared_file
    hub = RawHub.open("WebSockets", c.port("c"), connect_ports=[c.port("a")])
    local = RawHub.open("WebSockets", c.port("a"))
    try:
        text = new_text("fronted")
        hub.invoke("SendMessage", ["u", text], "1")
        assert hub.recv_until(lambda m: is_receive(m, text), 5.0)["arguments"] == ["u", text]
        assert c.mesh_view("a")["peers"]

        write_peers(c, path, ["a", "b"])
        sighup(c, ["a", "b"], "removed c")
        why = hub.wait_closed(5.0)
        assert why.startswith("WebSocket Close 1000"), why
        # a's own clients carry on.
        text = new_text("local")
        local.invoke("SendMessage", ["u", text], "2")
        assert local.recv_until(lambda m: is_receive(m, text), 5.0)["arguments"] == ["u", text]
    finally:
        hub.close()
        local.close()
