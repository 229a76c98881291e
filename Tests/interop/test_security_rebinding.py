"""Issue 9 hardening: DNS rebinding.

A page on http://evil.example:PORT whose name the attacker re-points at 127.0.0.1 sends `Host: evil.example:PORT`
and the matching `Origin`; to the browser it is same origin with a replica on 127.0.0.1:PORT, so without a check
of `Host` any web page could use (and read) a visitor's local replica. A replica listening on loopback now serves
only loopback names in `Host` (localhost, 127.x.y.z, [::1]; any port or none) plus those given with
`--allowed-hosts`; one listening on another address serves any Host unless `--allowed-hosts` is given."""
from __future__ import annotations

import base64
import json
import os
import socket

import pytest

from harness import wait_until
from test_security_status import non_loopback_ipv4
from wsraw import UpgradeRefused, WebSocket, encode, http_request, read_response

HUB = "/chatHub"


def request(port: int, method: str, path: str, host: str | None, origin: str | None = None, extra=None):
    """One request sent to 127.0.0.1:port whatever `host` says, as after a DNS rebinding."""
    headers = {"Host": host} if host is not None else {}
    if origin:
        headers["Origin"] = origin
    headers.update(extra or {})
    return http_request(port, method, path, headers=headers, body=b"" if method == "POST" else b"")


def negotiate(port: int, host: str, origin: str | None = None):
    return request(port, "POST", f"{HUB}/negotiate?negotiateVersion=1", host, origin)


def fresh_token(port: int) -> str:
    r = negotiate(port, f"127.0.0.1:{port}")
    assert r.status == 200, r
    return r.json()["connectionToken"]


def ws_status(port: int, host: str, origin: str | None = None, token: str | None = None) -> int:
    """Status of a hub WebSocket upgrade (with a valid token unless given), completing the hub handshake when 101."""
    headers = {"Host": host}
    if origin:
        headers["Origin"] = origin
    try:
        ws = WebSocket.connect(port, f"{HUB}?id={token or fresh_token(port)}", headers=headers)
    except UpgradeRefused as r:
        return r.response.status
    try:
        ws.send_text(encode({"protocol": "json", "version": 1}))
        _, payload = ws.recv(5.0)
        assert payload == b"{}\x1e", payload
    finally:
        ws.close()
    return 101


def http10(port: int, path: str) -> int:
    """Status of an HTTP/1.0 GET without any Host header."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        return read_response(s, bytearray(), 5.0).status


def assert_refused(r, what):
    assert r.status == 403, (what, r)
    assert r.header("access-control-allow-origin") is None, (what, r.headers)
    assert b"Host" in r.body and len(r.body) < 100, (what, r.body)


def assert_refused_everywhere(port: int, host: str):
    origin = f"http://{host}"
    assert_refused(negotiate(port, host, origin), f"negotiate {host}")
    assert_refused(negotiate(port, host), f"negotiate without Origin {host}")
    assert_refused(request(port, "OPTIONS", f"{HUB}/negotiate?negotiateVersion=1", host, origin, {
        "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-requested-with"}), f"preflight {host}")
    token = fresh_token(port)
    assert ws_status(port, host, origin, token) == 403, host
    # The refused upgrade claimed nothing: the page's token (say it got one) is still there for its owner.
    assert ws_status(port, f"127.0.0.1:{port}", None, token) == 101
    for path in ("/api/mesh", "/", "/index.html", "/healthz", f"{HUB}"):
        assert_refused(request(port, "GET", path, host, origin), f"GET {path} {host}")


@pytest.mark.parametrize("name", ["evil.example:{port}", "evil.example", "EVIL.example:{port}", "127.0.0.1.nip.io:{port}",
                                  "localhost.:{port}", "foo.localhost:{port}", "10.0.0.1:{port}", "[::2]:{port}"])
def test_rebound_names_are_refused_on_every_route(server, name):
    port = server.port("a")
    assert_refused_everywhere(port, name.format(port=port))


@pytest.mark.parametrize("name", ["127.0.0.1", "127.0.0.1:{port}", "localhost:{port}", "localhost", "LocalHost:{port}",
                                  "[::1]:{port}", "[::1]", "127.8.9.10:{port}"])
def test_loopback_names_are_served(server, name):
    port = server.port("a")
    host = name.format(port=port)
    r = negotiate(port, host, f"http://{host}")
    assert r.status == 200 and r.header("access-control-allow-origin") == f"http://{host}", (host, r)
    assert ws_status(port, host, f"http://{host}") == 101, host
    assert ws_status(port, host) == 101, host  # signalrcore: no Origin, and Host without the port
    assert request(port, "GET", "/", host).status == 200
    mesh = request(port, "GET", "/api/mesh", host)
    assert mesh.status == 200 and mesh.json()["node"] == "a", mesh


def test_no_host_is_served_on_a_loopback_listener(server):
    port = server.port("a")
    assert http10(port, "/healthz") == 200
    assert http10(port, "/") == 200


def test_refusals_are_logged_escaped_and_rate_limited(cluster_factory, report):
    c = cluster_factory(["a"])
    port = c.port("a")
    log = c["a"].log_path
    before = len(open(log, "rb").read().splitlines())
    n = 300
    reqs = b"".join(b"GET /api/mesh HTTP/1.1\r\nHost: evil-%d.example:%d\r\n\r\n" % (i, port) for i in range(n))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(reqs)
        buf = bytearray()
        statuses = {read_response(s, buf, 10).status for _ in range(n)}
    assert statuses == {403}, statuses
    wait_until(lambda: any(b"suppressed" in line for line in open(log, "rb").read().splitlines()[before:]), 15.0,
               what="a line counting the suppressed refusals")
    lines = [line for line in open(log, "rb").read().splitlines()[before:]
             if b"unknown Host" in line or b"kind=refused-host" in line]
    report(f"{n} refused Hosts -> {len(lines)} log lines; first: {lines[0][-150:]!r}")
    assert 2 <= len(lines) <= 8, lines
    assert b" host=evil-0.example:%d " % port in lines[0], lines[0]


def test_allowed_hosts_serves_the_listed_name(cluster_factory):
    c = cluster_factory(["a"], args=["--allowed-hosts", "chat.example,.lan.example"])
    port = c.port("a")
    for host in (f"chat.example:{port}", "chat.example", f"box.lan.example:{port}"):
        origin = f"http://{host}"
        # Same origin (Origin host:port == Host), so CORS and the WebSocket Origin check let it in too.
        r = negotiate(port, host, origin)
        assert r.status == 200 and r.header("access-control-allow-origin") == origin, (host, r)
        assert ws_status(port, host, origin) == 101, host
        assert request(port, "GET", "/", host).status == 200, host
    for host in (f"127.0.0.1:{port}", "127.0.0.1", f"localhost:{port}"):
        assert negotiate(port, host).status == 200, host
    assert_refused_everywhere(port, f"evil.example:{port}")
    assert_refused(request(port, "GET", "/", f"sub.chat.example:{port}"), "not a subdomain entry")
    assert http10(port, "/healthz") == 200  # still a loopback listener


def rebind_to(c, host: str):
    c.http["a"] = f"{host}:{c.port('a')}"
    c["a"].peers_path.write_text(json.dumps(c.peers_doc("a"), indent=2))


def test_other_listeners_serve_any_host_by_default(cluster_factory):
    """Bound to 0.0.0.0 the operator's names are unknown: every Host is served, and the same-origin exemption of
    the Origin check still holds; a foreign Origin is still refused."""
    c = cluster_factory(["a"], start=False)
    rebind_to(c, "0.0.0.0")
    c.start()
    port = c.port("a")
    host = f"chat.example:{port}"
    r = negotiate(port, host, f"http://{host}")
    assert r.status == 200 and r.header("access-control-allow-origin") == f"http://{host}", r
    assert ws_status(port, host, f"http://{host}") == 101
    assert ws_status(port, host, "http://evil.example") == 403
    assert request(port, "GET", "/", "evil.example").status == 200
    assert http10(port, "/healthz") == 200


def test_other_listeners_with_allowed_hosts(cluster_factory):
    c = cluster_factory(["a"], args=["--allowed-hosts", "chat.example"], start=False)
    rebind_to(c, "0.0.0.0")
    c.start()
    port = c.port("a")
    assert request(port, "GET", "/", f"chat.example:{port}").status == 200
    assert request(port, "GET", "/", f"127.0.0.1:{port}").status == 200
    assert_refused(request(port, "GET", "/", f"evil.example:{port}"), "evil on 0.0.0.0")
    assert http10(port, "/healthz") == 403  # no Host, and the listener isn't loopback
    addr = non_loopback_ipv4()
    if addr is not None:  # the LAN address is not a listed name either
        r = http_request(port, "GET", "/healthz", host=addr)
        assert r.status == 403, r
