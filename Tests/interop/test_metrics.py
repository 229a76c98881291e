"""GET /metrics, /healthz and /readyz of real replica processes (issue 12).

Every page is read with a strict parser of the Prometheus text exposition format 0.0.4 written here (no client
library): HELP/TYPE once per family and before its samples, a family's samples together, valid names, label
escapes, float syntax, no duplicate series, complete cumulative histograms. Then: counters move when stock clients
chat, link gauges flip when a replica is killed and when it comes back, /readyz goes 503 → 200 at start (first mesh
sync) and 200 → 503 while a SIGTERMed replica drains and still serves its hub."""
from __future__ import annotations

import json
import math
import re
import signal
import socket
import time

import pytest
import requests

import harness
from clients import make_client
from harness import is_receive, new_text, wait_until
from test_security_status import non_loopback_ipv4
from wsraw import HubSocket, http_request

pytestmark = [
    pytest.mark.usefixtures("mesh_available"),
    pytest.mark.skipif(not harness.server_supports("--drain-delay"), reason="server without /metrics and /readyz"),
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
FLOAT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
WS_JSON = {"hub": "ChatHub", "transport": "WebSockets", "protocol": "json"}


# ------------------------------------------------------------------------------------------------ parser


class Page:
    """A parsed page: `types` and `helps` by family, `samples` by (name, sorted label pairs)."""

    def __init__(self):
        self.types: dict[str, str] = {}
        self.helps: dict[str, str] = {}
        self.samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def get(self, name: str, **labels) -> float | None:
        return self.samples.get((name, tuple(sorted(labels.items()))))

    def sum(self, name: str, **labels) -> float:
        """Sum of the series of `name` whose labels include `labels`."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= set(ls))

    def series(self, name: str) -> list[dict[str, str]]:
        return [dict(ls) for (n, ls) in self.samples if n == name]


def parse_value(text: str) -> float:
    if text == "+Inf":
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    assert FLOAT.fullmatch(text), f"bad value {text!r}"
    return float(text)


def unescape(text: str, allowed: str) -> str:
    """Undo the format's backslash escapes (`allowed`: the characters that may follow a backslash)."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            assert i + 1 < len(text) and text[i + 1] in allowed, f"bad escape in {text!r}"
            out.append({"\\": "\\", "n": "\n", '"': '"'}[text[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def parse_labels(line: str, i: int) -> tuple[list[tuple[str, str]], int]:
    """Labels from `line[i]` == '{' to the matching '}'; returns them and the index after the '}'."""
    assert line[i] == "{"
    i += 1
    labels = []
    while line[i] != "}":
        m = LABEL_NAME.match(line, i)
        assert m, f"bad label name at {i} in {line!r}"
        name = m.group(0)
        assert not name.startswith("__"), f"reserved label name {name} in {line!r}"
        i = m.end()
        assert line[i:i + 2] == '="', f"expected =\" at {i} in {line!r}"
        i += 2
        start = i
        while line[i] != '"':
            i += 2 if line[i] == "\\" else 1
        labels.append((name, unescape(line[start:i], '\\"n')))
        i += 1
        if line[i] == ",":
            i += 1
        else:
            assert line[i] == "}", f"expected , or }} at {i} in {line!r}"
    names = [n for n, _ in labels]
    assert len(names) == len(set(names)), f"a label twice in {line!r}"
    return labels, i + 1


def family_of(name: str, types: dict[str, str]) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
            return base
    return name


def parse_page(text: str) -> Page:
    """Parses strictly; any departure from the format (or from our conventions) fails an assertion."""
    assert text.endswith("\n") and "\r" not in text, "lines end with a bare \\n, the last one too"
    page = Page()
    finished: set[str] = set()
    current: str | None = None
    histograms: dict[tuple[str, tuple], dict] = {}
    for line in text[:-1].split("\n"):
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                assert METRIC_NAME.fullmatch(name), f"bad metric name in {line!r}"
                assert name not in finished and (current is None or current == name or name not in page.types), line
                if parts[1] == "HELP":
                    assert name not in page.helps, f"HELP twice for {name}"
                    page.helps[name] = unescape(parts[3] if len(parts) > 3 else "", "\\n")
                else:
                    assert name not in page.types, f"TYPE twice for {name}"
                    assert not any(family_of(n, page.types) == name for n, _ in page.samples), f"TYPE after samples: {name}"
                    assert len(parts) == 4 and parts[3] in TYPES, f"bad TYPE line {line!r}"
                    page.types[name] = parts[3]
                if current != name:
                    if current is not None:
                        finished.add(current)
                    current = name
            continue
        m = METRIC_NAME.match(line)
        assert m, f"bad sample line {line!r}"
        name, i = m.group(0), m.end()
        labels: list[tuple[str, str]] = []
        if i < len(line) and line[i] == "{":
            labels, i = parse_labels(line, i)
        assert line[i] == " ", f"expected a space at {i} in {line!r}"
        fields = line[i + 1:].split(" ")
        assert 1 <= len(fields) <= 2, f"value and optional timestamp only: {line!r}"
        value = parse_value(fields[0])
        if len(fields) == 2:
            assert re.fullmatch(r"-?\d+", fields[1]), f"bad timestamp in {line!r}"
        family = family_of(name, page.types)
        assert family in page.types, f"sample of an untyped family: {line!r}"
        if family != current:
            assert family not in finished, f"samples of {family} are not together"
            if current is not None:
                finished.add(current)
            current = family
        key = (name, tuple(sorted(labels)))
        assert key not in page.samples, f"duplicate series {line!r}"
        page.samples[key] = value
        kind = page.types[family]
        if kind == "counter":
            assert name.endswith("_total") and value >= 0, f"counter {line!r}"
        if kind == "histogram":
            rest = tuple(sorted((k, v) for k, v in labels if k != "le"))
            h = histograms.setdefault((family, rest), {"buckets": [], "sum": None, "count": None})
            if name.endswith("_bucket"):
                le = dict(labels).get("le")
                assert le is not None, f"bucket without le: {line!r}"
                h["buckets"].append((parse_value(le), value))
            elif name.endswith("_sum"):
                h["sum"] = value
            else:
                h["count"] = value
    for (family, rest), h in histograms.items():
        bounds = [b for b, _ in h["buckets"]]
        counts = [c for _, c in h["buckets"]]
        assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds), f"{family}{rest}: le not ascending"
        assert counts == sorted(counts), f"{family}{rest}: buckets not cumulative: {counts}"
        assert bounds and bounds[-1] == math.inf, f"{family}{rest}: no +Inf bucket"
        assert h["count"] == counts[-1], f"{family}{rest}: _count {h['count']} != +Inf bucket {counts[-1]}"
        assert h["sum"] is not None and h["sum"] >= 0, f"{family}{rest}: no _sum"
    return page


def scrape(cluster, node: str) -> Page:
    r = requests.get(cluster.url(node, "/metrics"), timeout=2)
    assert r.status_code == 200, r
    assert r.headers["Content-Type"] == CONTENT_TYPE, r.headers
    return parse_page(r.content.decode("utf-8"))


def readyz(cluster, node: str) -> tuple[int, str]:
    r = requests.get(cluster.url(node, "/readyz"), timeout=2)
    return r.status_code, r.text


# ------------------------------------------------------------------------------------------------- tests


def test_parser_rejects_what_prometheus_rejects():
    """The parser must be able to fail: each page breaks one rule."""
    good = '# HELP x_total X.\n# TYPE x_total counter\nx_total{a="b\\"c"} 1\n'
    assert parse_page(good).get("x_total", a='b"c') == 1
    h = "# HELP h H.\n# TYPE h histogram\n"
    bad = [
        good[:-1],  # no final newline
        good.replace("counter", "countr"),
        good + "# TYPE x_total counter\n",  # TYPE twice
        good.replace('a="b\\"c"', 'a="b\\tc"'),  # unknown escape
        good.replace('a="b', '__a="b'),  # reserved label name
        good.replace("} 1", "} one"),
        good + 'x_total{a="b\\"c"} 2\n',  # duplicate series
        good + "# HELP y Y.\n# TYPE y gauge\ny 1\nx_total{a=\"z\"} 1\n",  # family not together
        good.replace("x_total{", "x-total{"),
        good + "untyped_sample 1\n",
        h + 'h_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',  # not cumulative
        h + 'h_bucket{le="1"} 1\nh_sum 1\nh_count 1\n',  # no +Inf
        h + 'h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n',  # count != +Inf
    ]
    for page in bad:
        with pytest.raises(AssertionError):
            parse_page(page)


def test_scrape_every_replica_counters_move_and_links_flip(cluster_factory):
    ids = ["a", "b", "c"]
    c = cluster_factory(ids)
    c.wait_meshed()
    wait_until(lambda: all(readyz(c, n)[0] == 200 for n in ids), 10, what="every replica ready")
    before = {n: scrape(c, n) for n in ids}
    for n in ids:
        p = before[n]
        assert p.get("signalr_mesh_node_info", node=n, cluster="interop") == 1
        assert p.types["signalr_mesh_loop_turn_seconds"] == "histogram"
        assert p.types["signalr_mesh_hub_connections"] == "gauge"
        assert p.get("process_open_fds") > 0 and p.get("process_resident_memory_bytes") > 0
        for other in ids:
            if other != n:
                assert p.get("signalr_mesh_peer_up", peer=other) == 1, (n, other)
                assert p.get("signalr_mesh_peer_state", peer=other, state="up") == 1
        # No per-connection, per-user or per-group series anywhere: only these label names.
        names = {k for (_, ls) in p.samples for k, _ in ls}
        assert names <= {"node", "cluster", "hub", "transport", "protocol", "peer", "state", "reason", "origin", "le"}, names

    # Stock clients chat: pysignalr on a, signalrcore on b.
    pa = make_client("pysignalr", "pysignalr@a", "a", c.hub("a")).wait_open(10)
    sb = make_client("signalrcore", "signalrcore@b", "b", c.hub("b")).wait_open(10)
    raw = HubSocket.open(c.port("c"))
    try:
        texts = []
        for client in (pa, sb):
            for i in range(5):
                t = new_text(f"{client.name}-{i}")
                assert client.send_message(client.name, t).error is None
                texts.append(t)
        for client in (pa, sb):
            client.wait_for(texts, 5)
        raw.invoke("NoSuchMethod", [], "e1")
        err = raw.recv_until(lambda m: m.get("type") == 3 and m.get("invocationId") == "e1")
        assert "error" in err, err

        after = {n: scrape(c, n) for n in ids}
        a0, a1, b0, b1 = before["a"], after["a"], before["b"], after["b"]
        assert a1.sum("signalr_mesh_hub_connections", hub="ChatHub") >= 1
        assert a1.sum("signalr_mesh_hub_connections_opened_total", hub="ChatHub") >= \
            a0.sum("signalr_mesh_hub_connections_opened_total", hub="ChatHub") + 1
        assert b1.get("signalr_mesh_hub_connections", **WS_JSON) >= 1  # signalrcore: WebSockets, JSON
        grew = lambda p0, p1, name, n, **ls: p1.sum(name, **ls) - p0.sum(name, **ls) >= n  # noqa: E731
        assert grew(a0, a1, "signalr_mesh_hub_messages_received_total", 5, hub="ChatHub")
        assert grew(a0, a1, "signalr_mesh_hub_invocations_total", 5, hub="ChatHub")
        # 10 ReceiveMessage to pysignalr@a, 5 completions.
        assert grew(a0, a1, "signalr_mesh_hub_messages_sent_total", 15, hub="ChatHub")
        assert grew(a0, a1, "signalr_mesh_published_messages_total", 5)
        assert grew(a0, a1, "signalr_mesh_peer_data_frames_sent_total", 5, peer="b")
        assert grew(b0, b1, "signalr_mesh_delivered_messages_total", 5)
        assert grew(b0, b1, "signalr_mesh_peer_data_frames_received_total", 5, peer="a")
        assert grew(before["c"], after["c"], "signalr_mesh_hub_invocation_errors_total", 1, hub="ChatHub")
        assert a1.get("signalr_mesh_hub_invocation_errors_total", hub="ChatHub") == \
            a0.get("signalr_mesh_hub_invocation_errors_total", hub="ChatHub")
        assert a1.get("signalr_mesh_loop_turn_seconds_count") > a0.get("signalr_mesh_loop_turn_seconds_count")
        assert a1.get("signalr_mesh_peer_rtt_seconds", peer="b") is not None
        assert a1.get("signalr_mesh_peer_data_frames_dropped_total", peer="b", reason="duplicate") is not None
    finally:
        raw.close()
        pa.stop()
        sb.stop()

    # kill -9 c: the link gauges of a and b flip to down; back to up once c restarts.
    c["c"].kill()
    for n in ("a", "b"):
        wait_until(lambda: scrape(c, n).get("signalr_mesh_peer_up", peer="c") == 0, 5, what=f"{n} sees c down")
        p = scrape(c, n)
        assert p.get("signalr_mesh_peer_state", peer="c", state="down") == 1
        assert p.get("signalr_mesh_peer_reachable", peer="c") == 0
        assert p.get("signalr_mesh_ready") == 1  # readiness is about this replica, not its peers
    c.start("c")
    for n in ("a", "b"):
        wait_until(lambda: scrape(c, n).get("signalr_mesh_peer_up", peer="c") == 1, 10, what=f"{n} sees c up")
        assert scrape(c, n).get("signalr_mesh_peer_links_established_total", peer="c") >= 2


def test_readyz_waits_for_the_first_mesh_sync(cluster_factory, report):
    """b's mesh port accepts TCP but never speaks: a's dial fails only at the 2 s handshake timeout, so /readyz
    says 503 (and why) until then, and 200 after."""
    c = cluster_factory(["a", "b"], start=False)
    host, port = c.mesh["b"].rsplit(":", 1)
    silent = socket.socket()
    silent.bind((host, int(port)))
    silent.listen(16)  # never accepted: connects complete in the kernel, nothing is ever read or written
    try:
        c["a"].start()
        t0 = c["a"].ready_at
        seen = []
        while True:
            status, text = readyz(c, "a")
            seen.append((status, text))
            if status == 200:
                break
            assert status == 503 and text.startswith("starting: first mesh sync, waiting for b"), (status, text)
            assert time.monotonic() - t0 < 8, "not ready 8 s after start"
            # Meanwhile the replica serves: liveness says ok and /metrics says not ready.
            assert requests.get(c.url("a", "/healthz"), timeout=2).text == "ok"
            assert scrape(c, "a").get("signalr_mesh_ready") in (0, 1)
            time.sleep(0.05)
        took = time.monotonic() - t0
        report(f"/readyz 503 -> 200 after {took:.2f}s with a silent peer (handshake timeout 2 s)")
        assert seen[0][0] == 503, seen[:3]
        assert took >= 1.0, f"ready after {took:.2f}s: before the dial to the silent peer could have failed"
        assert text == "ready"
        assert scrape(c, "a").get("signalr_mesh_ready") == 1
        assert scrape(c, "a").get("signalr_mesh_peer_dial_failures_total", peer="b") >= 1
    finally:
        silent.close()
    # A real b: it links to a, gets a's interest snapshot and is ready soon after it listens.
    c.start("b")
    wait_until(lambda: readyz(c, "b")[0] == 200, 5, what="b ready")
    report(f"/readyz of b 200 after {time.monotonic() - c['b'].ready_at:.2f}s (a up)")


def test_readyz_turns_503_while_draining_and_the_hub_still_answers(cluster_factory, report):
    c = cluster_factory(["a", "b"], args=["--drain-delay", "4"])
    c.wait_meshed()
    wait_until(lambda: readyz(c, "a")[0] == 200, 5, what="a ready")
    on_a = HubSocket.open(c.port("a"))
    on_b = HubSocket.open(c.port("b"))
    try:
        t0 = time.monotonic()
        c["a"].signal(signal.SIGTERM)
        status, text = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(readyz(c, "a")), 1.0,
                                  interval=0.01, what="/readyz 503 after SIGTERM")
        assert text == "draining: shutting down"
        p = scrape(c, "a")
        assert p.get("signalr_mesh_draining") == 1 and p.get("signalr_mesh_ready") == 0
        assert requests.get(c.url("a", "/healthz"), timeout=2).status_code == 200
        # Still serving everyone: the connected client chats across the mesh, and a new one gets in.
        late = HubSocket.open(c.port("a"))
        for sender, tag in ((on_a, "during-drain"), (late, "late")):
            text = new_text(tag)
            sender.invoke("SendMessage", ["x", text], tag)
            done = sender.recv_until(lambda m: m.get("type") == 3 and m.get("invocationId") == tag)
            assert "error" not in done, done
            on_b.recv_until(lambda m: is_receive(m, text))
        assert time.monotonic() - t0 < 3.5, "the checks above must run inside the drain"
        assert readyz(c, "a")[0] == 503
        # Then the graceful shutdown: clients are told to reconnect only after the drain delay.
        close = on_a.recv_until(lambda m: m.get("type") == 7, timeout=4 + 5)
        told = time.monotonic() - t0
        assert close.get("allowReconnect") is True, close
        assert told >= 3.8, f"clients told to reconnect {told:.2f}s after SIGTERM, inside the 4 s drain"
        c["a"].proc.wait(5)
        assert c["a"].proc.returncode == 0
        report(f"SIGTERM with --drain-delay 4: Close after {told:.2f}s, exit after {time.monotonic() - t0:.2f}s")
        wait_until(lambda: scrape(c, "b").get("signalr_mesh_peer_state", peer="a", state="left") == 1, 3,
                   what="b sees a left")
        late.close()
    finally:
        on_a.close()
        on_b.close()


def test_status_access_covers_metrics_and_probes(cluster_factory):
    """--status-access decides for /metrics, /healthz and /readyz as for /api/mesh, by the socket's peer
    address: `local` refuses another host, `any` serves it (a load balancer, Prometheus)."""
    addr = non_loopback_ipv4()
    if addr is None:
        pytest.skip("no non-loopback IPv4 address on this host")
    for access, expected in (("local", 403), ("any", 200)):
        c = cluster_factory(["a"], start=False, args=["--status-access", access])
        c.http["a"] = f"0.0.0.0:{c.port('a')}"
        c["a"].peers_path.write_text(json.dumps(c.peers_doc("a"), indent=2))
        c.start()
        port = c.port("a")
        for path in ("/metrics", "/healthz", "/readyz"):
            assert http_request(port, "GET", path).status == 200, path  # loopback: always
            r = http_request(port, "GET", path, host=addr)
            assert r.status == expected, (access, path, r)
        c.close()
