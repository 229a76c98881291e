"""Two replicas in separate network namespaces, on non-loopback addresses, linked through a proxy on the path
between them (see netns.py for the topology):
- the mesh link carries only ciphertext: on the captured bytes, no message text, user name, hub method, JSON or
  node id after the clear handshake, everything after it is AEAD records, and their bytes look random;
- one record altered (a bit of its body, tag or length), dropped or replayed drops the link at once with the
  reason in the receiver's log, and the link comes back by itself with every message delivered exactly once;
- a man in the middle stripping the encryption request from HELLO gets no link at all (never up in clear);
- the control: with encryption off the same capture shows the messages and fails the ciphertext checks.

Needs root and iproute2 (`ip netns`); skipped otherwise. The capture uses an AF_PACKET socket (no tcpdump)."""

from __future__ import annotations

import re
import secrets
import time

import pytest

import conftest
import netns
from clients import make_client
from harness import wait_until
from netns import NetnsCluster, PacketCapture, byte_entropy, find_all, handshake_length, random_entropy_floor, \
    split_frames, split_records

KINDS = ("pysignalr", "signalrcore")
# Repeated, low-entropy filler: a clear message is easy to see and lowers the entropy of a clear link a lot.
PAD = "netns-plaintext-padding " * 16
# Clear JSON hub messages on the wire would show these (4+ bytes each, so random bytes match them by chance with
# probability ~ length / 2^32).
JSON_PATTERNS = [rb'"[A-Za-z]{3,}":', rb'":\["', rb'"\],"', rb'"type":', rb'"target"', rb'"arguments"', rb'"headers"']
# What the receiving replica's log must say when a record fails authentication.
TAMPER_LOG = re.compile(r"(?i)(authenticat|decrypt|integrity|forged|tamper|bad tag|\btag\b|aead)")
LINK_DROP_DEADLINE = 3.0
RECOVERY_DEADLINE = 6.0


@pytest.fixture
def netns_cluster(request):
    """netns_cluster(encryption="auto" | [one per replica], start=True) -> NetnsCluster (started and meshed unless start=False) with
    `capture` running on the first replica's eth0 (all its mesh bytes, nothing else). Namespaces, proxies and
    processes are removed even when the test fails."""
    why = netns.unavailable_reason()
    if why:
        pytest.skip(why)
    netns.remove_stale_namespaces()
    made: list[NetnsCluster] = []

    def make(encryption="auto", replicas: int = 2, args=(), start: bool = True) -> NetnsCluster:
        # Long, unique node ids: an eavesdropper could spot them, so the test can check where they appear.
        ids = [f"node{k}-{secrets.token_hex(4)}" for k in range(replicas)]
        if isinstance(encryption, (list, tuple)):  # one value per replica
            encryption = dict(zip(ids, encryption))
        c = NetnsCluster(ids, name=request.node.name[:60], encryption=encryption, args=list(args))
        made.append(c)
        conftest._active.append(c)
        c.capture = PacketCapture(c.topology.ns[ids[0]]).start()
        if start:
            c.start()
            c.wait_meshed(10)
        return c

    yield make
    for c in made:
        try:
            c.capture.stop()
        finally:
            c.close()
            conftest._active.remove(c)


class Chat:
    """Stock clients of both kinds on each replica, with unique user names; every text sent is remembered."""

    def __init__(self, cluster: NetnsCluster, kinds=KINDS):
        self.token = secrets.token_hex(4)
        self.clients = []
        for node in cluster.ids:
            for kind in kinds:
                self.clients.append(make_client(kind, f"{kind}@{node}", node, cluster.hub(node)))
        for c in self.clients:
            c.wait_open(10)
        self.users = {c.name: f"user-{self.token}-{c.kind}-{c.replica}" for c in self.clients}
        self.texts: list[str] = []
        self.markers: list[str] = []

    def send_round(self, per_client: int, tag: str, wait: bool = True) -> list[str]:
        texts = []
        for c in self.clients:
            for i in range(per_client):
                marker = f"NETNS-{secrets.token_hex(6)}-{tag}-{i}"
                text = f"{marker} {PAD}"
                s = c.send_message(self.users[c.name], text, wait=wait)
                assert s.error is None, s
                texts.append(text)
                self.markers.append(marker)
        self.texts += texts
        return texts

    def assert_exactly_once(self, texts, timeout: float = 5.0):
        for c in self.clients:
            c.wait_for(texts, timeout)
        time.sleep(0.3)  # a duplicate would follow its original closely
        for c in self.clients:
            dups = c.duplicates()
            assert not dups, f"{c.name} received duplicates: {list(dups.items())[:3]}"
            assert not c.bad_shapes, c.bad_shapes[:3]

    def stop(self):
        for c in self.clients:
            c.stop()


def mesh_streams(cluster: NetnsCluster) -> dict:
    """Each captured direction of a's mesh connections that carried payload: {(src, dst): bytes}."""
    return {flow: data for flow, data in cluster.capture.streams().items() if data}


def is_dialer_stream(flow) -> bool:
    """On the first replica's eth0, a stream toward a mesh listener is the dialing side's: toward its own mesh
    port (from a proxy relaying the other replica's dial), or from an ephemeral port toward a proxy in M (its own
    dial). A stream from its mesh port is its answer as the acceptor."""
    src, dst = flow
    if src[1] == netns.MESH_PORT:
        return False
    return dst[1] == netns.MESH_PORT or dst[0] == netns.MIDDLE_ADDR


def record_remainder_ok(rest: bytes) -> bool:
    """What `split_records` left over is the start of one record the capture ended inside (or nothing)."""
    if len(rest) < 4:
        return True
    n = int.from_bytes(rest[:4], "big")
    return 0 < n <= netns.MAX_RECORD and len(rest) < 4 + n + netns.RECORD_TAG


def inspect(streams: dict, chat: Chat, cluster: NetnsCluster) -> dict:
    """What an eavesdropper on the first replica's eth0 could read: every clear needle found, JSON-looking matches,
    the public handshake fields (cluster name, node ids) seen after the handshake, whether everything after the
    handshake is a sequence of AEAD records, and the byte entropy of the record bodies (ciphertext + tag) and, read
    as clear frames, of the frame bodies."""
    public = [cluster.cluster_name.encode()] + [i.encode() for i in cluster.ids]
    public_after: dict[bytes, list] = {}
    public_in_handshake: set[bytes] = set()
    hellos: list = []
    needles = [t.encode() for t in chat.markers] + [u.encode() for u in chat.users.values()] + [
        b"ReceiveMessage", b"SendMessage", b"NETNS-", PAD[:24].encode()]
    found: dict[bytes, list] = {}
    json_hits: list = []
    after_handshake = 0
    records = 0
    not_records: list = []
    record_bodies = bytearray()
    frame_bodies = bytearray()
    for flow, data in streams.items():
        for n in needles:
            hits = find_all(data, n)
            if hits:
                found.setdefault(n, []).append((flow, hits[:3]))
        for pat in JSON_PATTERNS:
            for m in re.finditer(pat, data):
                json_hits.append((flow, m.start(), m.group()))
        hs = handshake_length(data, is_dialer_stream(flow))
        after = data[hs:]
        after_handshake += len(after)
        for n in public:
            hits = find_all(data, n)
            if any(i < hs for i in hits):
                public_in_handshake.add(n)
            hits = [i for i in hits if i >= hs]
            if hits:
                public_after.setdefault(n, []).append((flow, hs, hits[:3]))
        frames, _ = split_frames(data[:hs])
        hellos += [(flow, f[-1]) for f in frames if f[0] == netns.HELLO]
        recs, used = split_records(after)
        records += len(recs)
        if not record_remainder_ok(after[used:]):
            not_records.append((flow, f"{len(after) - used} of {len(after)} B after the handshake are not records",
                                after[used:used + 24]))
        for rec in recs:
            record_bodies += rec
        frames, _ = split_frames(after)
        for f in frames:
            frame_bodies += f
    return {
        "bytes": sum(len(d) for d in streams.values()),
        "flows": {f"{s[0]}:{s[1]}->{d[0]}:{d[1]}": len(v) for (s, d), v in streams.items()},
        "found": found,
        "json": json_hits,
        "public_after_handshake": public_after,
        "public_in_handshake": public_in_handshake,
        "public": public,
        "hello_flags": hellos,
        "after_handshake": after_handshake,
        "records": records,
        "not_records": not_records,
        "record_bytes": len(record_bodies),
        "record_entropy": byte_entropy(bytes(record_bodies)),
        "record_floor": random_entropy_floor(len(record_bodies)) if record_bodies else 8.0,
        "frame_bytes": len(frame_bodies),
        "frame_entropy": byte_entropy(bytes(frame_bodies)),
        "frame_floor": random_entropy_floor(len(frame_bodies)) if frame_bodies else 8.0,
    }


def summary(r: dict) -> str:
    found = {n[:40]: len(v) for n, v in list(r["found"].items())[:6]}
    return (f"{r['bytes']} B captured in {r['flows']}, {r['after_handshake']} B after the handshakes: "
            f"{r['records']} records ({r['record_bytes']} B of ciphertext+tag, entropy {r['record_entropy']:.3f} "
            f"bits/B, floor {r['record_floor']:.3f}), not records: {r['not_records'][:2]}; read as clear frames "
            f"{r['frame_bytes']} B, entropy {r['frame_entropy']:.3f}; clear needles {found}, "
            f"JSON matches {r['json'][:3]}, "
            f"ids after the handshake {[(n, len(v)) for n, v in r['public_after_handshake'].items()]}")


def chat_and_capture(cluster: NetnsCluster, per_client: int = 5) -> tuple[Chat, dict]:
    chat = Chat(cluster)
    try:
        texts = chat.send_round(per_client, "c")
        chat.assert_exactly_once(texts)
    finally:
        chat.stop()
    # Let the last DATA/ACK frames cross, then stop capturing.
    time.sleep(0.2)
    cluster.capture.stop()
    streams = mesh_streams(cluster)
    r = inspect(streams, chat, cluster)
    sent_bytes = sum(len(t) for t in chat.texts)
    # The capture must have seen the traffic, or "no clear text" would prove nothing: each message crossed the
    # link once (a's to b, b's to a), so at least their bytes went by.
    assert r["bytes"] >= sent_bytes, f"capture saw less than the {sent_bytes} B of messages: {summary(r)}"
    return chat, r


# ----------------------------------------------------------------------------------------------- tests


def test_mesh_link_between_namespaces_is_ciphertext(netns_cluster, report):
    c = netns_cluster("auto")
    _, r = chat_and_capture(c)
    report(summary(r))
    assert not r["found"], f"clear text on the mesh link: {summary(r)}"
    assert not r["json"], f"JSON on the mesh link: {summary(r)}"
    # Only the handshake may name the cluster and the nodes (RESUME, LINKS and DATA frames do, in clear); it does
    # (so the handshake was found where it is), and both HELLOs ask for encryption.
    assert not r["public_after_handshake"], f"cluster or node ids after the handshake: {summary(r)}"
    assert r["public_in_handshake"] == set(r["public"]), summary(r)
    assert len({flow for flow, _ in r["hello_flags"]}) >= 2, r["hello_flags"]
    assert all(flags & netns.ENCRYPT_FLAG for _, flags in r["hello_flags"]), r["hello_flags"]
    assert_link_encrypted(c, *c.ids)
    # The replicas say so too: every link they brought up was encrypted.
    for x in c.ids:
        ups = [ln for ln in _log_since(c[x].log_path, 0).splitlines() if "link up" in ln]
        assert ups and all("encrypted=yes" in ln for ln in ups), (x, ups)
    assert not r["not_records"], f"clear bytes after the handshake: {summary(r)}"
    assert r["record_bytes"] >= 4096, f"too few record bytes to judge: {summary(r)}"
    assert r["record_entropy"] >= r["record_floor"], f"record bodies don't look random: {summary(r)}"


def test_mesh_link_with_encryption_off_is_readable(netns_cluster, report):
    """The control: the same capture, encryption off on both sides, shows the messages and JSON, and the entropy
    check fails, so the ciphertext test above can fail."""
    c = netns_cluster("off")
    chat, r = chat_and_capture(c)
    report(summary(r))
    missing = [m for m in chat.markers if m.encode() not in r["found"]]
    assert not missing, f"{len(missing)} clear messages not seen in the capture: {missing[:3]}; {summary(r)}"
    for u in chat.users.values():
        assert u.encode() in r["found"], (u, summary(r))
    assert b"ReceiveMessage" in r["found"], summary(r)
    assert r["json"], summary(r)
    assert r["public_after_handshake"], summary(r)
    # And the structural and entropy checks of the ciphertext test fail on it.
    assert r["not_records"], summary(r)
    assert r["frame_entropy"] < r["frame_floor"] - 1.0, summary(r)


def _log_size(path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _log_since(path, offset: int) -> str:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def peer_view(cluster: NetnsCluster, x: str, y: str) -> dict:
    return next(p for p in cluster.mesh_view(x)["peers"] if p["id"] == y)


def wait_log(cluster: NetnsCluster, node: str, offset: int, pattern: re.Pattern, peer: str, what: str) -> list[str]:
    """Lines of `node`'s log written after `offset` that name `peer` and match `pattern` (waits for one)."""

    def lines():
        text = _log_since(cluster[node].log_path, offset)
        return [ln for ln in text.splitlines() if f"peer={peer}" in ln and pattern.search(ln)]

    try:
        return wait_until(lines, LINK_DROP_DEADLINE, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {node}'s log since then:\n"
                             + _log_since(cluster[node].log_path, offset)[-3000:]) from None


def assert_link_encrypted(cluster: NetnsCluster, x: str, y: str):
    """/api/mesh says the x–y link is encrypted, when it reports it at all."""
    p = peer_view(cluster, x, y)
    if "encrypted" in p:
        assert p["encrypted"] is True, (x, p)


# flip-body/-tag/-length: one bit of one record; drop: a whole record vanishes; replay: a record arrives twice.
@pytest.mark.parametrize("action", ["flip-body", "flip-tag", "flip-length", "drop", "replay"])
def test_tampered_record_drops_the_link_and_it_recovers(netns_cluster, report, action):
    c = netns_cluster("auto")
    c.capture.stop()  # not needed here
    chat = Chat(c)
    try:
        chat.assert_exactly_once(chat.send_round(2, "before"))
        a, b = c.ids
        since = {a: peer_view(c, a, b)["since"], b: peer_view(c, b, a)["since"]}
        log_at = {x: _log_size(c[x].log_path) for x in c.ids}
        pairs_before = sum(len(p.pairs) for p in c.proxies.values())

        # The next record either way on the live link (heartbeats go every 200 ms; a chat message adds DATA).
        c.tamper.arm(action, kind="record")
        during = chat.send_round(1, "during", wait=False)
        assert c.tamper.done.wait(3.0), "the proxy saw no record to tamper with"
        rec = c.tamper.record
        t_tamper = rec["at"]
        src, dst = rec["proxy"].split("->")
        receiver, sender = (dst, src) if rec["direction"] == "c2u" else (src, dst)

        # The receiver drops the link: the tampered TCP connection closes, /api/mesh shows it (down, or a new
        # `since` after a reconnect), and its log says why.
        pair = rec["pair"]
        wait_until(lambda: pair.closed_at is not None, LINK_DROP_DEADLINE,
                   what=f"the tampered connection to close ({rec})")
        dropped_after = pair.closed_at - t_tamper
        wait_until(lambda: (lambda p: p["state"] != "up" or p["since"] != since[receiver])(
            peer_view(c, receiver, sender)), LINK_DROP_DEADLINE,
            what=f"{receiver}'s /api/mesh to show the link to {sender} drop")
        lines = wait_log(c, receiver, log_at[receiver], TAMPER_LOG, sender,
                         what=f"{receiver}'s log to say why the link dropped")

        # It comes back by itself (the proxy no longer tampers): a new link, up on both sides, still encrypted.
        def relinked():
            for x, y in ((a, b), (b, a)):
                p = peer_view(c, x, y)
                if p["state"] != "up" or p["since"] == since[x]:
                    return False
            return True

        wait_until(relinked, RECOVERY_DEADLINE, interval=0.05, what="a new link, up on both sides")
        recovered_after = time.monotonic() - t_tamper
        assert sum(len(p.pairs) for p in c.proxies.values()) > pairs_before, "no new mesh connection after the drop"
        for x in c.ids:
            assert c[x].alive(), f"replica {x} died"
        assert_link_encrypted(c, a, b)

        # Nothing lost or doubled: what was sent around the tampering, and a round after recovery, arrive once.
        after = chat.send_round(2, "after")
        chat.assert_exactly_once(during + after)
        for cl in chat.clients:
            assert all(n == 1 for n in cl.counts.values()), (cl.name, cl.duplicates())

        report(f"{action} on record at byte {rec['stream_offset']} of {rec['proxy']} {rec['direction']} "
               f"({rec['unit_len']} B): {receiver} closed the link after {dropped_after * 1000:.0f} ms, logged "
               f"{lines[0].split(' ', 1)[1][:140]!r}; meshed again after {recovered_after:.2f} s")
    finally:
        chat.stop()


def test_stripped_encryption_request_never_links_in_clear(netns_cluster, report):
    """node0 asks for encryption, node1 has it off; a man in the middle removes node0's request from every HELLO.
    The link must not come up (the flags are bound into the handshake), least of all in clear; both sides log
    why; once the proxy stops, the link comes up encrypted."""
    c = netns_cluster(["auto", "off"], start=False)  # auto on a non-loopback address: asks
    a, b = c.ids
    c.tamper.arm("strip-encrypt-flag", kind="frame", times=1_000_000)
    c.start()
    t0 = time.monotonic()
    try:
        # Wait for at least two stripped attempts, both sides' logs saying why, and check the link is never up.
        wait_until(lambda: len(c.tamper.events) >= 2, 5.0, what="two link attempts through the proxy")
        why = {x: wait_log(c, x, 0, re.compile(r"(?i)authenticat|confirm"), y, what=f"{x}'s log to say why")
               for x, y in ((a, b), (b, a))}
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # an observation window: the link must stay down throughout
            for x, y in ((a, b), (b, a)):
                assert peer_view(c, x, y)["state"] != "up", f"{x} linked to {y} with the encryption request stripped"
            time.sleep(0.05)
        attempts = len(c.tamper.events)
        for x in c.ids:  # not even for a moment (a link that came up and then failed on garbage would log it)
            ups = [ln for ln in _log_since(c[x].log_path, 0).splitlines() if "link up" in ln]
            assert not ups, f"{x} brought a link up with the encryption request stripped: {ups[:2]}"

        c.tamper.disarm()
        t1 = time.monotonic()
        c.wait_meshed(RECOVERY_DEADLINE)
        linked_after = time.monotonic() - t1
        assert_link_encrypted(c, a, b)
        chat = Chat(c)
        try:
            chat.assert_exactly_once(chat.send_round(2, "c"))
        finally:
            chat.stop()
        time.sleep(0.2)
        c.capture.stop()
        r = inspect(mesh_streams(c), chat, c)
        assert not r["found"] and not r["json"] and not r["not_records"], summary(r)
        report(f"{attempts} stripped HELLOs in {time.monotonic() - t0:.1f} s, never up; logs: "
               f"{ {x: v[0].split(' ', 1)[1][:120] for x, v in why.items()} }; linked encrypted "
               f"{linked_after:.2f} s after the proxy stopped")
    finally:
        c.tamper.disarm()
