"""Negotiate (versions 0 and 1), WebSocket connect status codes and the hub handshake, byte by byte."""
from __future__ import annotations

import json

import pytest

from wsraw import HubSocket, UpgradeRefused, WebSocket, encode, http_request, RS

HUB = "/chatHub"


def negotiate(port: int, query: str = "", headers=None):
    return http_request(port, "POST", f"{HUB}/negotiate{query}", headers=headers, body=b"")


def no_protocol_version(body: dict):
    # The .NET client rejects any property named ProtocolVersion ("ASP.NET SignalR Server").
    assert not any(k.lower() == "protocolversion" for k in body), body


def ws_status(port: int, path: str, headers=None) -> int:
    try:
        ws = WebSocket.connect(port, path, headers=headers)
    except UpgradeRefused as r:
        return r.response.status
    ws.close()
    return 101


# ------------------------------------------------------------------------------------------ negotiate


def test_negotiate_v0_when_no_version(server):
    r = negotiate(server.port("a"))
    assert r.status == 200, r
    assert (r.header("content-type") or "").startswith("application/json"), r.headers
    body = r.json()
    no_protocol_version(body)
    assert isinstance(body.get("connectionId"), str) and body["connectionId"], body
    assert "connectionToken" not in body, body
    assert body.get("negotiateVersion", 0) == 0, body
    transports = {t["transport"]: t for t in body["availableTransports"]}
    assert "WebSockets" in transports, body
    assert set(transports["WebSockets"]["transferFormats"]) >= {"Text"}, body
    assert "useStatefulReconnect" not in body, body


def test_negotiate_v1_token_differs_from_id(server):
    r = negotiate(server.port("a"), "?negotiateVersion=1")
    assert r.status == 200, r
    body = r.json()
    no_protocol_version(body)
    assert body["negotiateVersion"] == 1, body
    assert body["connectionId"] and body["connectionToken"], body
    assert body["connectionToken"] != body["connectionId"], body
    # Two negotiations never share ids.
    other = negotiate(server.port("a"), "?negotiateVersion=1").json()
    assert other["connectionId"] != body["connectionId"]
    assert other["connectionToken"] != body["connectionToken"]


def test_negotiate_version_above_max_is_lowered_to_1(server):
    body = negotiate(server.port("a"), "?negotiateVersion=7").json()
    assert body.get("negotiateVersion") == 1, body
    assert body["connectionToken"] != body["connectionId"]


def test_negotiate_non_integer_version(server):
    r = negotiate(server.port("a"), "?negotiateVersion=abc")
    assert r.status == 200, r
    assert r.json() == {"error": "The client requested a non-integer protocol version."}


def test_negotiate_ignores_stale_id_and_unknown_query(server):
    # pysignalr and signalrcore re-negotiate with ?id=<old id>; it must be ignored.
    r = negotiate(server.port("a"), "?id=stale-connection-id&foo=bar")
    assert r.status == 200, r
    body = r.json()
    assert body["connectionId"] != "stale-connection-id"


def test_negotiate_get_is_405(server):
    r = http_request(server.port("a"), "GET", f"{HUB}/negotiate")
    assert r.status == 405, r


def test_unknown_path_is_404(server):
    assert http_request(server.port("a"), "GET", "/no/such/thing").status == 404
    assert http_request(server.port("a"), "POST", "/otherHub/negotiate", body=b"").status == 404


# ---------------------------------------------------------------------------------- WebSocket statuses


def test_ws_unknown_id_is_404(server):
    assert ws_status(server.port("a"), f"{HUB}?id=does-not-exist") == 404


def test_ws_v1_connection_id_is_404_token_is_101(server):
    port = server.port("a")
    body = negotiate(port, "?negotiateVersion=1").json()
    assert ws_status(port, f"{HUB}?id={body['connectionId']}") == 404
    ws = WebSocket.connect(port, f"{HUB}?id={body['connectionToken']}")
    assert ws.response.status == 101
    ws.close()


def test_ws_v0_connection_id_is_101(server):
    port = server.port("a")
    body = negotiate(port).json()
    ws = WebSocket.connect(port, f"{HUB}?id={body['connectionId']}")
    assert ws.response.status == 101
    ws.close()


def test_ws_second_socket_for_same_id_is_409(server):
    port = server.port("a")
    body = negotiate(port).json()
    first = WebSocket.connect(port, f"{HUB}?id={body['connectionId']}")
    try:
        assert ws_status(port, f"{HUB}?id={body['connectionId']}") == 409
    finally:
        first.close()


def test_ws_without_id_skips_negotiation(server):
    port = server.port("a")
    hs = HubSocket.open(port, negotiate=False)
    hs.invoke("SendMessage", ["x", "skip-negotiation-works"], "1")
    m = hs.recv_until(lambda m: m.get("type") == 1)
    assert m["arguments"] == ["x", "skip-negotiation-works"]
    hs.close()


def test_ws_host_without_port_and_unknown_query(server):
    # signalrcore sends Host without the port and, with skip_negotiation, ?connectionId=<random>.
    port = server.port("a")
    ws = WebSocket.connect(port, f"{HUB}?connectionId=abc123", headers={"Host": "127.0.0.1"})
    assert ws.response.status == 101
    ws.close()


# ------------------------------------------------------------------------------------------ handshake


def handshake(port: int, payload: str | bytes) -> tuple[str, WebSocket]:
    ws = WebSocket.connect(port, HUB)
    ws.send_text(payload)
    op, data = ws.recv(5.0)
    return data.decode(), ws


@pytest.mark.parametrize("version", [1, 0])
def test_handshake_json_ok(server, version):
    text, ws = handshake(server.port("a"), encode({"protocol": "json", "version": version}))
    assert text == "{}" + RS
    ws.close()


def test_handshake_with_spaces_ok(server):
    text, ws = handshake(server.port("a"), '{ "protocol" : "json", "version" : 1 }' + RS)
    assert text == "{}" + RS
    ws.close()


def test_handshake_followed_by_message_in_same_frame(server):
    ws = WebSocket.connect(server.port("a"), HUB)
    hs = HubSocket(ws)
    ws.send_text(encode({"protocol": "json", "version": 1})
                 + encode({"type": 1, "target": "SendMessage", "arguments": ["u", "same-frame"], "invocationId": "1"}))
    assert hs.recv_raw() == {}
    m = hs.recv_until(lambda m: m.get("type") == 1)
    assert m["arguments"] == ["u", "same-frame"]
    hs.close()


def expect_handshake_error(server, payload: dict, error: str):
    text, ws = handshake(server.port("a"), encode(payload))
    try:
        assert text.endswith(RS), text
        assert json.loads(text[:-1]) == {"error": error}
        # The server closes after a failed handshake.
        code = ws.wait_close(5.0)
        assert code is None or code in (1000, 1002, 1003, 1008, 1011), code
        assert ws.eof(5.0), "connection still open after a failed handshake"
    finally:
        ws.close()


def test_handshake_unknown_protocol(server):
    expect_handshake_error(server, {"protocol": "foo", "version": 1}, "The protocol 'foo' is not supported.")


def test_handshake_unsupported_version(server):
    expect_handshake_error(server, {"protocol": "json", "version": 99},
                           "The server does not support version 99 of the 'json' protocol.")


def test_handshake_messagepack(server):
    text, ws = handshake(server.port("a"), encode({"protocol": "messagepack", "version": 1}))
    try:
        body = json.loads(text[:-1])
        # Either MessagePack is supported ({}), or refused with the documented text.
        assert body == {} or body == {"error": "The protocol 'messagepack' is not supported."}, body
    finally:
        ws.close()


def test_first_message_not_a_handshake_closes(server):
    ws = WebSocket.connect(server.port("a"), HUB)
    try:
        ws.send_text(encode({"type": 1, "target": "SendMessage", "arguments": ["a", "b"]}))
        ws.wait_close(5.0)
        assert ws.eof(5.0)
    finally:
        ws.close()
