"""Stock Python clients against one replica: signalrcore 1.0.2 and pysignalr 1.3.3, unchanged."""
from __future__ import annotations

import pytest

from clients import PySignalRClient, SignalRCoreClient, make_client
from harness import new_text, wait_until

KINDS = ["signalrcore", "pysignalr"]


def chat(clients, per_client: int = 3):
    """Every client sends `per_client` messages; every client must receive every message exactly once."""
    texts = []
    for c in clients:
        for i in range(per_client):
            t = new_text(f"{c.name}-{i}")
            s = c.send_message(c.name, t)
            assert s.error is None, f"{c.name}: completion error {s.error}"
            texts.append(t)
    for c in clients:
        c.wait_for(texts, timeout=5.0)
    for c in clients:
        assert c.duplicates() == {}, f"{c.name} got duplicates {c.duplicates()}"
        assert c.bad_shapes == [], f"{c.name}: ReceiveMessage must have exactly 2 arguments, got {c.bad_shapes}"
        assert not c.errors, f"{c.name}: errors {c.errors}"
    return texts


@pytest.mark.parametrize("kind", KINDS)
def test_two_clients_same_kind(server, kind):
    a = make_client(kind, "c1", "a", server.hub("a")).wait_open()
    b = make_client(kind, "c2", "a", server.hub("a")).wait_open()
    try:
        chat([a, b])
        # ReceiveMessage carries exactly (user, message).
        args = a.received[0][0]
        assert len(args) == 2 and all(isinstance(x, str) for x in args), args
    finally:
        a.stop()
        b.stop()


def test_signalrcore_and_pysignalr_together(server):
    a = SignalRCoreClient("core", "a", server.hub("a")).start().wait_open()
    b = PySignalRClient("py", "a", server.hub("a")).start().wait_open()
    try:
        chat([a, b], per_client=5)
    finally:
        a.stop()
        b.stop()


def test_signalrcore_skip_negotiation(server):
    a = SignalRCoreClient("skip", "a", server.hub("a"), skip_negotiation=True).start().wait_open()
    b = PySignalRClient("py", "a", server.hub("a")).start().wait_open()
    try:
        chat([a, b])
    finally:
        a.stop()
        b.stop()


def test_signalrcore_hub_error_reaches_on_error(server):
    a = SignalRCoreClient("core", "a", server.hub("a")).start().wait_open()
    try:
        a.invoke_raw("Nope", [])
        wait_until(lambda: a.errors, 5.0, what="signalrcore on_error")
        assert "Method does not exist." in str(a.errors[0]), a.errors
        # The connection survives a hub error.
        a.errors.clear()
        chat([a], per_client=1)
    finally:
        a.stop()


def test_stop_is_seen_by_server_and_others_continue(server):
    a = PySignalRClient("py1", "a", server.hub("a")).start().wait_open()
    b = SignalRCoreClient("core1", "a", server.hub("a")).start().wait_open()
    c = PySignalRClient("py2", "a", server.hub("a")).start().wait_open()
    try:
        chat([a, b, c], per_client=1)
        a.stop()
        b.stop()
        chat([c], per_client=2)
    finally:
        for x in (a, b, c):
            x.stop()


def test_websocket_client_library(server):
    """A third, independent WebSocket implementation (websocket-client) speaking raw SignalR JSON."""
    import json

    import requests
    import websocket

    base = server.url("a")
    neg = requests.post(f"{base}/chatHub/negotiate?negotiateVersion=1", timeout=5).json()
    ws = websocket.create_connection(f"ws://{server.http['a']}/chatHub?id={neg['connectionToken']}", timeout=5)
    try:
        ws.send('{"protocol":"json","version":1}\x1e')
        assert ws.recv() == "{}\x1e"
        text = new_text("wsc")
        ws.send(json.dumps({"type": 1, "invocationId": "1", "target": "SendMessage", "arguments": ["w", text]}) + "\x1e")
        seen = set()
        while seen != {1, 3}:
            for rec in ws.recv().split("\x1e")[:-1]:
                m = json.loads(rec)
                if m["type"] == 1:
                    assert m["target"] == "ReceiveMessage" and m["arguments"] == ["w", text], m
                elif m["type"] == 3:
                    assert m == {"type": 3, "invocationId": "1"}, m
                seen.add(m["type"])
    finally:
        ws.close()
    try:
        websocket.create_connection(f"ws://{server.http['a']}/chatHub?id=nope", timeout=5)
    except websocket.WebSocketBadStatusException as exc:
        assert exc.status_code == 404
    else:
        raise AssertionError("unknown id accepted")
