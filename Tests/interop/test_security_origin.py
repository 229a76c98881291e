"""Issue 9, weakness 1: the default "loopback" origin policy must let in only real loopback origins.

It used to accept any origin whose host starts with "127." (http://127.attacker.example, http://127.0.0.1.nip.io),
so a web page on such a name could use a visitor's local replica with credentials."""
from __future__ import annotations

import pytest

from wsraw import UpgradeRefused, WebSocket, http_request

HUB = "/chatHub"

LOOKALIKES = [
    "http://127.attacker.example",
    "http://127.0.0.1.nip.io",
    "http://127.0.0.1.nip.io:5001",
    "http://127.0.0.1@evil.example",
    "http://localhost.evil.example",
    "http://localhost.",
    "http://[::ffff:127.0.0.1]",
    "http://127.1",
    "http://127.0.0.1/",
    "null",
]
LOOPBACK = ["http://localhost:4200", "http://127.0.0.1:8080", "http://127.8.9.10", "http://[::1]:3000"]


def preflight(port: int, origin: str):
    return http_request(port, "OPTIONS", f"{HUB}/negotiate?negotiateVersion=1", headers={
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-requested-with,x-signalr-user-agent",
    })


def ws_status(port: int, origin: str) -> int:
    try:
        ws = WebSocket.connect(port, HUB, headers={"Origin": origin})
    except UpgradeRefused as r:
        return r.response.status
    ws.close()
    return 101


@pytest.mark.parametrize("origin", LOOKALIKES)
def test_lookalike_origin_refused_everywhere(server, origin):
    port = server.port("a")
    r = preflight(port, origin)
    assert r.header("access-control-allow-origin") is None, (origin, r.headers)
    assert r.header("access-control-allow-credentials") is None, (origin, r.headers)
    r = http_request(port, "POST", f"{HUB}/negotiate?negotiateVersion=1", headers={"Origin": origin}, body=b"")
    assert r.header("access-control-allow-origin") is None, (origin, r.headers)
    assert r.status == 403, (origin, r)  # and nothing was created (see test_security_negotiate.py)
    assert ws_status(port, origin) == 403, origin


@pytest.mark.parametrize("origin", LOOPBACK)
def test_real_loopback_origins_still_allowed(server, origin):
    port = server.port("a")
    r = preflight(port, origin)
    assert r.header("access-control-allow-origin") == origin, (origin, r.headers)
    r = http_request(port, "POST", f"{HUB}/negotiate?negotiateVersion=1", headers={"Origin": origin}, body=b"")
    assert r.status == 200 and r.header("access-control-allow-origin") == origin, (origin, r)
    assert ws_status(port, origin) == 101, origin
