"""Replicas on several hosts: three replicas, each in its own network namespace and bound to its own address
(10.199.0.1–3; the peers file names those addresses), the paths between them delayed (20–35 ms one way, ± 5 ms)
and lossy (1.5 % of the packets each way), see `netns.Hosts`. Stock clients (pysignalr and signalrcore) on every
replica chat all along. In order, on one cluster:

- across the hosts: every message reaches every client exactly once; the links' RTTs show the paths' delay;
- one link cut (a–b; both still reach c): a's and b's messages go around the cut through c (/api/mesh: a–b down but
  reachable, c feeds a to b and b to a, its relay counters move), nothing lost or doubled, the direct link back
  after the heal;
- one host partitioned off (c): a and b go on exchanging everything exactly once, c's clients among themselves,
  nothing crosses; after the heal what each side said meanwhile reaches the other (replayed from the replay logs,
  far inside their window), each message once, no gap counted.

Needs root, iproute2 and /dev/net/tun; skipped otherwise. The wire runs in user space because netem is not in every
kernel (see netns.py). Run alone: `SERVER_BIN=… python -m pytest Tests/interop/test_netns_hosts.py`."""
from __future__ import annotations

import secrets
import threading
import time

import pytest

import conftest
import netns
from clients import make_client
from harness import wait_until
from netns import HostsCluster, PathShape

IDS = ["a", "b", "c"]
KINDS = ("pysignalr", "signalrcore")
JITTER = 0.005
LOSS = 0.015
# One-way delay per pair of hosts (both directions): not all hosts are equally far apart.
DELAYS = {("a", "b"): 0.020, ("a", "c"): 0.030, ("b", "c"): 0.035}
SEND_INTERVAL = 0.1  # per client, while a flow runs
DETECT_DEADLINE = 4.0  # a silent link is declared down after 1.2 s; lost retransmissions may add a little
RELAY_DEADLINE = 3.0
HEAL_DEADLINE = 6.0  # redial backoff is capped at 1 s, a dial times out after 1 s; a lost SYN costs one of those
DELIVERY_DEADLINE = 10.0


def shapes() -> dict[tuple[str, str], PathShape]:
    out = {}
    for (x, y), delay in DELAYS.items():
        out[(x, y)] = out[(y, x)] = PathShape(delay=delay, jitter=JITTER, loss=LOSS)
    return out


class Flow:
    """Every client sends a message every `SEND_INTERVAL` s from its own thread until `stop()`. `sent` holds
    (text, replica) in the order the sends completed."""

    def __init__(self, clients, tag: str):
        self.clients = clients
        self.tag = tag
        self.sent: list[tuple[str, str]] = []
        self.errors: list = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(c,), daemon=True) for c in clients]

    def start(self) -> "Flow":
        for t in self._threads:
            t.start()
        return self

    def _run(self, client):
        i = 0
        while not self._stop.is_set():
            text = f"{self.tag}-{client.name}-{i}-{secrets.token_hex(3)}"
            s = client.send_message(client.name, text)
            with self._lock:
                if s.error is None:
                    self.sent.append((text, client.replica))
                else:
                    self.errors.append((client.name, s))
            i += 1
            self._stop.wait(SEND_INTERVAL)

    def wait_sent(self, n: int, timeout: float = 5.0):
        wait_until(lambda: len(self.sent) >= n, timeout, what=f"{n} messages of flow {self.tag} sent")

    def stop(self) -> list[str]:
        self._stop.set()
        for t in self._threads:
            t.join(10)
        assert not self.errors, f"sends failed: {self.errors[:3]}"
        return self.texts()

    def texts(self, replicas=None) -> list[str]:
        with self._lock:
            return [t for t, r in self.sent if replicas is None or r in replicas]


class Site:
    """The cluster on its hosts and one client of each kind on every replica."""

    def __init__(self, cluster: HostsCluster):
        self.cluster = cluster
        self.clients = [make_client(k, f"{k}@{r}", r, cluster.hub(r)) for r in IDS for k in KINDS]
        for c in self.clients:
            c.wait_open(10)

    def on(self, *replicas: str) -> list:
        return [c for c in self.clients if c.replica in replicas]

    def probe(self, replica: str, tag: str) -> str:
        text = f"probe-{tag}-{replica}-{secrets.token_hex(4)}"
        s = self.on(replica)[0].send_message("probe", text)
        assert s.error is None, s
        return text

    def peer(self, x: str, y: str) -> dict:
        return next(p for p in self.cluster.mesh_view(x)["peers"] if p["id"] == y)

    def stop(self):
        for c in self.clients:
            c.stop()


def assert_exactly_once(receivers, texts, timeout: float = DELIVERY_DEADLINE) -> float:
    """Every receiver gets every text, none twice (nor anything else it ever received); returns how long after
    the call the last one arrived."""
    t0 = time.monotonic()
    for c in receivers:
        c.wait_for(texts, timeout)
    took = time.monotonic() - t0
    time.sleep(0.3)  # a duplicate would follow its original closely
    for c in receivers:
        dups = c.duplicates()
        assert not dups, f"{c.name} received duplicates: {list(dups.items())[:5]}"
        assert not c.bad_shapes, f"{c.name}: {c.bad_shapes[:3]}"
    return took


def assert_no_gaps(cluster: HostsCluster):
    for x in IDS:
        for p in cluster.mesh_view(x)["peers"]:
            assert p["gaps"] == 0 and p["sendGaps"] == 0, (x, p)


def wait_state(site: Site, pairs, want_up: bool, deadline: float, what: str) -> float:
    """Waits until every (x, y) in `pairs` has x seeing y `up` (or not up); returns the time it took."""
    t0 = time.monotonic()
    wait_until(lambda: all((site.peer(x, y)["state"] == "up") == want_up for x, y in pairs), deadline,
               interval=0.02, what=what)
    return time.monotonic() - t0


@pytest.fixture(scope="module")
def site():
    why = netns.hosts_unavailable_reason()
    if why:
        pytest.skip(f"replicas on several hosts need network namespaces and TUN devices: {why}")
    netns.remove_stale_namespaces()
    cluster = HostsCluster(IDS, name="netns-hosts", shapes=shapes())
    conftest._active.append(cluster)
    s = None
    try:
        cluster.start()
        cluster.wait_meshed(10)
        s = Site(cluster)
        yield s
    finally:
        if s is not None:
            s.stop()
        cluster.close()
        conftest._active.remove(cluster)


@pytest.fixture
def healthy(site):
    """Each test starts on the full mesh (a failed test before it may have left a cut)."""
    repaired = site.cluster.restore(HEAL_DEADLINE)
    assert not [r for r in repaired if not r.startswith("healed")], repaired
    return site


def test_chat_across_hosts(healthy, report):
    site = healthy
    cluster = site.cluster
    before = cluster.wire.totals()
    flow = Flow(site.clients, "across").start()
    flow.wait_sent(60)
    texts = flow.stop()
    took = assert_exactly_once(site.clients, texts)
    rtts = {}
    for x in IDS:
        for y in IDS:
            if x != y:
                p = site.peer(x, y)
                assert p["state"] == "up" and p["encrypted"] is True, (x, p)
                assert p["http"] == f"{cluster.topology.addr[y]}:{netns.HTTP_PORT}", p
                rtts[(x, y)] = p["rttMicros"]
    # A heartbeat's round trip crosses the path twice: at least twice the shortest one-way delay.
    for (x, y), rtt in rtts.items():
        low = 2 * (DELAYS.get((x, y)) or DELAYS[(y, x)]) - 2 * JITTER
        assert rtt is not None and rtt >= low * 1e6 * 0.9, (x, y, rtt, low)
    after = cluster.wire.totals()
    forwarded, lost = after.forwarded - before.forwarded, after.lost - before.lost
    report(f"{len(texts)} messages x {len(site.clients)} clients on 3 hosts exactly once (all in "
           f"{took * 1000:.0f} ms after the last send); RTT ms "
           f"{ {f'{x}-{y}': round(r / 1000, 1) for (x, y), r in rtts.items() if x < y} }; wire: {forwarded} "
           f"packets, {lost} lost ({100 * lost / max(1, forwarded + lost):.1f} %)")


def test_cut_link_goes_around_through_the_third_host(healthy, report):
    site = healthy
    cluster = site.cluster
    relayed_before = {y: site.peer("c", y)["relayed"] for y in ("a", "b")}
    flow = Flow(site.clients, "cut").start()
    try:
        flow.wait_sent(20)
        cluster.cut("a", "b")
        detected = wait_state(site, [("a", "b"), ("b", "a")], False, DETECT_DEADLINE, "a and b to see their link down")
        # Both still reach the other through c.
        assert site.peer("a", "b")["reachable"] is True and site.peer("a", "c")["state"] == "up"
        t1 = time.monotonic()
        probes = [site.probe("a", "cut"), site.probe("b", "cut")]
        assert_exactly_once(site.clients, probes, timeout=RELAY_DEADLINE)
        relay_ms = (max(c.first_seen[p] for c in site.on("a", "b") for p in probes) - t1) * 1000
        assert cluster.link_cut("a", "b")

        def around():
            pb, pa = site.peer("c", "b"), site.peer("c", "a")
            return ("a" in pb["feeding"] and "b" in pa["feeding"]
                    and pb["relayed"] > relayed_before["b"] and pa["relayed"] > relayed_before["a"])

        wait_until(around, RELAY_DEADLINE, what="c to feed a to b and b to a (/api/mesh feeding, relayed)")
        assert site.peer("c", "a")["links"].get("b") == "down", site.peer("c", "a")
        flow.wait_sent(len(flow.sent) + 30)  # chat goes on around the cut

        cluster.heal("a", "b")
        back = wait_state(site, [("a", "b"), ("b", "a")], True, HEAL_DEADLINE, "the a-b link back up")
        flow.wait_sent(len(flow.sent) + 20)
    finally:
        texts = flow.stop()
    relayed = {y: site.peer("c", y)["relayed"] - relayed_before[y] for y in ("a", "b")}
    took = assert_exactly_once(site.clients, texts + probes)
    assert_no_gaps(cluster)
    report(f"a-b cut: down after {detected:.2f} s, probes a<->b through c in {relay_ms:.0f} ms, c relayed "
           f"{relayed['b']} DATA frames to b and {relayed['a']} to a; back {back:.2f} s after the heal; "
           f"{len(texts) + 2} messages x {len(site.clients)} clients exactly once ({took * 1000:.0f} ms)")


def test_partitioned_host_catches_up_after_heal(healthy, report):
    site = healthy
    cluster = site.cluster
    linked, alone = site.on("a", "b"), site.on("c")
    flow = Flow(site.clients, "part").start()
    try:
        flow.wait_sent(20)
        cluster.isolate("c")
        detected = wait_state(site, [("a", "c"), ("b", "c"), ("c", "a"), ("c", "b")], False, DETECT_DEADLINE,
                              "a and b to see c down, and c them")
        # a learns that c is unreachable through b too once b's link-state update reaches it (a moment after b
        # noticed): wait for it rather than race it.
        wait_until(lambda: site.peer("a", "c")["reachable"] is False, RELAY_DEADLINE, what="a to see c unreachable")
        assert site.peer("a", "b")["state"] == "up"
        # From here on nothing can cross: what a and b say stays with a and b, what c says with c.
        mark = len(flow.sent)
        probes = {r: site.probe(r, "part") for r in IDS}
        assert_exactly_once(linked, [probes["a"], probes["b"]], timeout=RELAY_DEADLINE)
        assert_exactly_once(alone, [probes["c"]], timeout=RELAY_DEADLINE)
        flow.wait_sent(mark + 60)  # ~1 s of chat on both sides of the partition
    finally:
        texts = flow.stop()
    during = flow.sent[mark:]
    # The linked replicas got everything of theirs, once; c's clients everything of c's, once.
    assert_exactly_once(linked, flow.texts(("a", "b")), timeout=RELAY_DEADLINE)
    assert_exactly_once(alone, flow.texts(("c",)), timeout=RELAY_DEADLINE)
    crossed = [t for t, r in during if r != "c" and any(c.has(t) for c in alone)]
    crossed += [t for t, r in during if r == "c" and any(c.has(t) for c in linked)]
    crossed += [p for r, p in probes.items() if any(c.has(p) for c in (alone if r != "c" else linked))]
    assert not crossed, f"messages crossed the partition: {crossed[:3]}"
    held = {"a+b": len([1 for _, r in during if r != "c"]) + 2, "c": len([1 for _, r in during if r == "c"]) + 1}

    cluster.rejoin("c")
    back = wait_state(site, [("a", "c"), ("b", "c"), ("c", "a"), ("c", "b")], True, HEAL_DEADLINE, "c linked again")
    caught_up = assert_exactly_once(site.clients, texts + list(probes.values()))
    after = Flow(site.clients, "after").start()
    after.wait_sent(30)
    assert_exactly_once(site.clients, after.stop(), timeout=5.0)
    assert_no_gaps(cluster)
    # The paths really lost packets along the way (1.5 % of ≥ 1000: P(none at all) ≈ 3e-7).
    wire = cluster.wire.totals()
    assert wire.forwarded >= 1000 and wire.lost > 0, wire
    report(f"wire since the start: {wire.forwarded} packets carried, {wire.lost} lost at random, {wire.blocked} "
           f"dropped by cuts (seed {cluster.wire.seed})")
    report(f"c partitioned: down after {detected:.2f} s; held back {held['a+b']} messages of a+b and {held['c']} "
           f"of c; linked again {back:.2f} s after the heal, every client had everything "
           f"{back + caught_up:.2f} s after it ({caught_up * 1000:.0f} ms after the link), each once, no gap")
