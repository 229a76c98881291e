"""Issue 11: the chat exchange with signalrcore over Server-Sent Events and Long Polling (the only stock Python
client with those transports; `options={"transport": HttpTransportType.…}`), across two replicas, with WebSocket
clients of both libraries in the same chat.

signalrcore's long-polling client hands on only the first message of each poll response and keeps the rest until
a later poll brings more data (`LongPollingBaseClient._append`), so its receiving side is checked one message at a
time (each poll then carries exactly one), and its own Completions are not awaited (they share a poll with the
echo of its message). A server cannot make that client whole; the README's compatibility table says so.
"""
from __future__ import annotations

import pytest

from clients import PySignalRClient, SignalRCoreChatX
from harness import new_text

pytestmark = pytest.mark.usefixtures("mesh_available")


@pytest.fixture(scope="module")
def pair(module_cluster_factory):
    c = module_cluster_factory(["a", "b"], name="client-transports")
    c.wait_meshed(10)
    return c



def open_all(made, *clients):
    for c in clients:
        made.append(c.start())
    for c in clients:
        c.wait_open(10)
        if isinstance(c, SignalRCoreChatX):
            assert c.used == c.wanted, f"{c.name} asked for {c.wanted}, uses {c.used}"
    return clients


def test_signalrcore_sse_chat_across_replicas(pair, made):
    sse_a, sse_b = SignalRCoreChatX("sse@a", "a", pair.hub("a"), transport="ServerSentEvents"), \
        SignalRCoreChatX("sse@b", "b", pair.hub("b"), transport="ServerSentEvents")
    ws_b = PySignalRClient("py-ws@b", "b", pair.hub("b"))
    core_ws_a = SignalRCoreChatX("core-ws@a", "a", pair.hub("a"))
    everyone = open_all(made, sse_a, sse_b, ws_b, core_ws_a)
    texts = []
    for c in everyone:
        for _ in range(3):
            t = new_text(c.name)
            s = c.send_message(c.name, t)
            assert s.error is None, (c.name, s.error)
            texts.append(t)
    for c in everyone:
        c.wait_for(texts, 10)
        assert not c.duplicates(), (c.name, c.duplicates())


def test_signalrcore_long_polling_chat_across_replicas(pair, made):
    lp_a = SignalRCoreChatX("lp@a", "a", pair.hub("a"), transport="LongPolling")
    ws_b = PySignalRClient("py-ws@b", "b", pair.hub("b"))
    sse_b = SignalRCoreChatX("sse@b", "b", pair.hub("b"), transport="ServerSentEvents")
    open_all(made, lp_a, ws_b, sse_b)
    # To the long-polling client, one message at a time.
    incoming = []
    for sender in (ws_b, sse_b, ws_b):
        t = new_text(sender.name)
        sender.send_message(sender.name, t)
        lp_a.wait_for([t], 10)
        incoming.append(t)
    assert all(lp_a.counts[t] == 1 for t in incoming), lp_a.counts
    # From it: every other client gets each message once.
    outgoing = [new_text("lp@a") for _ in range(3)]
    for t in outgoing:
        lp_a.send_message("lp@a", t, wait=False)
    for c in (ws_b, sse_b):
        c.wait_for(outgoing, 10)
        assert not c.duplicates(), (c.name, c.duplicates())
