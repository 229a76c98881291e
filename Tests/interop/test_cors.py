"""CORS for the official JS client (credentials, custom headers) and the Origin check on the upgrade."""
from __future__ import annotations

from wsraw import UpgradeRefused, WebSocket, http_request

GOOD = "http://localhost:4200"
EVIL = "http://evil.example"
HUB = "/chatHub"


def preflight(port: int, origin: str, req_headers: str = "x-requested-with,x-signalr-user-agent"):
    return http_request(port, "OPTIONS", f"{HUB}/negotiate?negotiateVersion=1", headers={
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": req_headers,
    })


def header_set(value: str | None) -> set[str]:
    return {v.strip().lower() for v in (value or "").split(",") if v.strip()}


def test_preflight_allowed_origin(server):
    r = preflight(server.port("a"), GOOD)
    assert r.status == 204, r
    assert r.header("access-control-allow-origin") == GOOD, r.headers
    assert r.header("access-control-allow-credentials") == "true", r.headers
    allowed = header_set(r.header("access-control-allow-headers"))
    assert {"x-requested-with", "x-signalr-user-agent"} <= allowed, r.headers
    assert "POST" in {m.upper() for m in header_set(r.header("access-control-allow-methods"))}, r.headers
    vary = header_set(",".join(r.header_all("vary")))
    assert "origin" in vary, f"responses that echo Origin must say Vary: Origin ({r.headers})"


def test_preflight_with_authorization_and_content_type(server):
    r = preflight(server.port("a"), GOOD, "authorization,content-type,x-requested-with,x-signalr-user-agent")
    assert r.status == 204, r
    allowed = header_set(r.header("access-control-allow-headers"))
    assert {"authorization", "content-type", "x-requested-with", "x-signalr-user-agent"} <= allowed, r.headers


def test_other_loopback_origins_allowed(server):
    for origin in ("http://127.0.0.1:8080", "http://[::1]:3000", "http://localhost"):
        r = preflight(server.port("a"), origin)
        assert r.header("access-control-allow-origin") == origin, (origin, r.headers)


def test_negotiate_with_allowed_origin(server):
    r = http_request(server.port("a"), "POST", f"{HUB}/negotiate?negotiateVersion=1", headers={
        "Origin": GOOD, "X-Requested-With": "XMLHttpRequest",
        "X-SignalR-User-Agent": "Microsoft SignalR/8.0 (8.0.7; Unknown OS; Browser; Unknown Runtime Version)"})
    assert r.status == 200, r
    assert r.header("access-control-allow-origin") == GOOD, r.headers
    assert r.header("access-control-allow-credentials") == "true", r.headers
    assert r.header("access-control-allow-origin") != "*"
    assert r.json()["connectionToken"]


def test_evil_origin_gets_no_allow_headers(server):
    r = preflight(server.port("a"), EVIL)
    assert r.header("access-control-allow-origin") is None, r.headers
    assert r.header("access-control-allow-credentials") is None, r.headers
    r = http_request(server.port("a"), "POST", f"{HUB}/negotiate", headers={"Origin": EVIL}, body=b"")
    assert r.header("access-control-allow-origin") is None, r.headers


def test_evil_origin_websocket_upgrade_403(server):
    try:
        ws = WebSocket.connect(server.port("a"), HUB, headers={"Origin": EVIL})
    except UpgradeRefused as r:
        assert r.response.status == 403, r.response
    else:
        ws.close()
        raise AssertionError("upgrade with a disallowed Origin was accepted")


def test_allowed_origin_websocket_upgrade_101(server):
    ws = WebSocket.connect(server.port("a"), HUB, headers={"Origin": GOOD})
    assert ws.response.status == 101
    ws.close()


def test_no_origin_allowed(server):
    r = http_request(server.port("a"), "POST", f"{HUB}/negotiate", body=b"")
    assert r.status == 200
    ws = WebSocket.connect(server.port("a"), HUB)
    assert ws.response.status == 101
    ws.close()


def test_allowed_origins_flag(cluster_factory):
    c = cluster_factory(["a"], args=["--allowed-origins", "http://app.example:8443"])
    r = preflight(c.port("a"), "http://app.example:8443")
    assert r.header("access-control-allow-origin") == "http://app.example:8443", r.headers
    r = preflight(c.port("a"), EVIL)
    assert r.header("access-control-allow-origin") is None, r.headers
