"""Issue 9, weakness 6: GET /api/mesh was public and rebuilt on every request (its cost grows with unacknowledged
log entries × peers). Now `--status-access local|any|off` (default local: loopback peers only, judged by the
socket's peer address) and one rendering is served for up to `--status-max-age` (default 1 s)."""
from __future__ import annotations

import json
import socket

import pytest

import harness
from harness import wait_until
from wsraw import http_request


def non_loopback_ipv4() -> str | None:
    """An address of this host that isn't loopback (the source address of a route out), or None."""
    for target in ("198.51.100.1", "10.255.255.254", "192.0.2.1"):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.connect((target, 9))  # no packet is sent: this only picks a route and a source address
            addr = s.getsockname()[0]
        except OSError:
            continue
        finally:
            s.close()
        if not addr.startswith("127.") and addr != "0.0.0.0":
            return addr
    return None


def default_max_age() -> list[str]:
    """Run with the default max age of 1 s (the harness otherwise asks for a fresh rendering every time); an old
    binary without the flag runs as it is."""
    return ["--status-max-age", "1"] if harness.server_supports("--status-max-age") else []


def get_mesh(port: int, host: str = "127.0.0.1", headers=None):
    return http_request(port, "GET", "/api/mesh", headers=headers, host=host)


def test_local_client_gets_the_status(cluster_factory):
    # The default max age (no --status-max-age 0.001 from the harness).
    c = cluster_factory(["a"], args=default_max_age())
    r = get_mesh(c.port("a"))
    assert r.status == 200, r
    assert r.json()["node"] == "a"


def test_status_is_rendered_at_most_once_per_interval(cluster_factory):
    c = cluster_factory(["a", "b"], args=default_max_age())
    port = c.port("a")
    # Every request is a loop turn that writes, so a fresh rendering would count more turns each time.
    bodies = [get_mesh(port).body for _ in range(20)]
    first_turns = json.loads(bodies[0])["loop"]["turns"]
    same = sum(1 for b in bodies if b == bodies[0])
    # The 20 requests take well under a second; allow one rebuild if they straddle the interval boundary.
    assert same >= 10 and len(set(bodies)) <= 2, (same, len(set(bodies)))
    # And it is fresh again after the interval.
    wait_until(lambda: json.loads(get_mesh(port).body)["loop"]["turns"] > first_turns + 5, 5.0, what="a fresh rendering")


def test_status_off_is_404(cluster_factory):
    c = cluster_factory(["a"], args=["--status-access", "off"])
    assert get_mesh(c.port("a")).status == 404
    # The other status endpoints follow the same setting (issue 12); the page and the hub still work.
    if harness.server_supports("--drain-delay"):
        for path in ("/metrics", "/healthz", "/readyz"):
            assert http_request(c.port("a"), "GET", path).status == 404, path
    assert http_request(c.port("a"), "GET", "/").status == 200


def test_headers_cannot_make_a_client_local(cluster_factory):
    """--status-access local is decided by the socket's peer address: a non-loopback peer gets 403 whatever it
    claims in Host, Origin or X-Forwarded-For. Needs a non-loopback address on this host."""
    addr = non_loopback_ipv4()
    if addr is None:
        pytest.skip("no non-loopback IPv4 address on this host")
    c = cluster_factory(["a"], start=False)
    port = c.port("a")
    c.http["a"] = f"0.0.0.0:{port}"
    c["a"].peers_path.write_text(json.dumps(c.peers_doc("a"), indent=2))
    c.start()
    assert get_mesh(port).status == 200
    lies = {"Host": f"127.0.0.1:{port}", "Origin": f"http://127.0.0.1:{port}", "X-Forwarded-For": "127.0.0.1",
            "X-Real-IP": "127.0.0.1", "Forwarded": "for=127.0.0.1"}
    r = get_mesh(port, host=addr, headers=lies)
    assert r.status == 403, r
    # The web page and the hub are still served to that client.
    assert http_request(port, "GET", "/", host=addr).status == 200
    c2 = cluster_factory(["a"], start=False, args=["--status-access", "any"])
    c2.http["a"] = f"0.0.0.0:{c2.port('a')}"
    c2["a"].peers_path.write_text(json.dumps(c2.peers_doc("a"), indent=2))
    c2.start()
    assert get_mesh(c2.port("a"), host=addr).status == 200
