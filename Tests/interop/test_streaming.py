"""Issue 11, point 8: streaming on `/demoHub`, with every client × transport × protocol that supports it.

Contract: `Counter(count: int, delayMs: int)` streams `0 … count-1` (a StreamInvocation; StreamItems, then a
Completion without a result) and stops when the client sends CancelInvocation; `Sum(numbers: stream<int>) -> int`
consumes a client-to-server stream (`streamIds`, StreamItems for the stream id, a Completion for the stream id)
and returns the sum.

Clients (see README, "Compatibility"): pysignalr over WebSockets with JSON and MessagePack; signalrcore over
WebSockets (JSON, MessagePack) and Server-Sent Events (JSON). Left out: signalrcore over Long Polling (it hands on
only the first message of each poll response, keeping the rest until later polls bring more, so a stream's last
items and its Completion stay stuck) and signalrcore's MessagePack upload (its stream-end Completion has no
ResultKind and its stock Invocation has no InvocationId, so it is not a valid MessagePack message). Neither stock
client has an API for CancelInvocation or for an upload with a result: `clients.py` sends the clients' own message
types for those. The raw client (RawHub) covers every transport × protocol.
"""
from __future__ import annotations

import time

import pytest

from clients import RawHub, make_demo_client_x
from harness import wait_until

pytestmark = pytest.mark.usefixtures("mesh_available")

IDS = ["a", "b"]
STOCK = [("pysignalr", "WebSockets", "json"), ("pysignalr", "WebSockets", "messagepack"),
         ("signalrcore", "WebSockets", "json"), ("signalrcore", "WebSockets", "messagepack"),
         ("signalrcore", "ServerSentEvents", "json")]
UPLOAD = [("pysignalr", "WebSockets", "json"), ("pysignalr", "WebSockets", "messagepack"),
          ("signalrcore", "WebSockets", "json"), ("signalrcore", "ServerSentEvents", "json")]
RAW = [(t, p) for t in ("WebSockets", "ServerSentEvents", "LongPolling") for p in ("json", "messagepack")
       if not (t == "ServerSentEvents" and p == "messagepack")]


def combo_id(c) -> str:
    return "-".join(c)


@pytest.fixture(scope="module")
def cluster(module_cluster_factory):
    c = module_cluster_factory(IDS, name="streaming")
    c.wait_meshed(10)
    return c



def stock(made, cluster, combo, replica):
    kind, transport, protocol = combo
    c = make_demo_client_x(kind, f"{kind}-{transport}-{protocol}@{replica}", replica, cluster.demo_hub(replica),
                           transport=transport, protocol=protocol)
    made.append(c)
    c.wait_open(10)
    if kind == "signalrcore":
        assert c.used == (transport, protocol), f"signalrcore asked for {transport}/{protocol}, uses {c.used}"
    return c


def raw(made, cluster, transport, protocol, replica) -> RawHub:
    h = RawHub.open(transport, cluster.port(replica), protocol=protocol, hub="/demoHub")
    made.append(h)
    return h


def raw_stream(h: RawHub, count: int, delay_ms: int, inv: str, timeout: float = 10.0):
    """Counter over a raw connection: (items, completion)."""
    h.send({"type": 4, "invocationId": inv, "target": "Counter", "arguments": [count, delay_ms]})
    items = []
    deadline = time.monotonic() + timeout
    while True:
        m = h.recv(deadline - time.monotonic())
        if m.get("invocationId") != inv:
            continue
        if m["type"] == 2:
            items.append(m["item"])
        elif m["type"] == 3:
            return items, m
        else:
            raise AssertionError(f"unexpected message for the stream: {m}")


def raw_sum(h: RawHub, numbers: list, inv: str, sid: str = "0", timeout: float = 10.0) -> dict:
    h.invoke("Sum", [], inv, stream_ids=[sid])
    for n in numbers:
        h.send({"type": 2, "invocationId": sid, "item": n})
    h.send({"type": 3, "invocationId": sid})
    return h.recv_until(lambda m: m.get("type") == 3 and m.get("invocationId") == inv, timeout)


def quiet_for(sc, seconds: float, timeout: float) -> int:
    """Wait until no new item arrived for `seconds` (within `timeout`); return the item count then."""
    last = [len(sc.items), time.monotonic()]

    def settled():
        n = len(sc.items)
        if n != last[0]:
            last[0], last[1] = n, time.monotonic()
            return False
        return time.monotonic() - last[1] >= seconds

    wait_until(settled, timeout, interval=0.05, what=f"the stream to stop sending items ({seconds}s without one)")
    return len(sc.items)


# ------------------------------------------------------------------------------------------- stock clients


@pytest.mark.parametrize("combo", STOCK, ids=combo_id)
def test_counter_streams_every_item_then_completes(cluster, made, combo):
    for r in IDS:
        c = stock(made, cluster, combo, r)
        for count, delay in ((5, 10), (1, 0), (0, 0), (50, 0)):
            sc = c.start_stream("Counter", [count, delay]).wait(10)
            assert sc.error is None, f"{c.name}: Counter({count}, {delay}) failed: {sc.error}"
            assert sc.items == list(range(count)), f"{c.name}: Counter({count}, {delay}) gave {sc.items}"
        assert c.call("Echo", "after streams") == "after streams"


@pytest.mark.parametrize("combo", STOCK, ids=combo_id)
def test_counter_stops_when_the_client_cancels(cluster, made, combo, report):
    c = stock(made, cluster, combo, "b")
    sc = c.start_stream("Counter", [10_000, 50])
    wait_until(lambda: len(sc.items) >= 3, 5, what="three items of the stream")
    at_cancel = len(sc.items)
    c.cancel(sc)
    final = quiet_for(sc, 1.0, 5.0)
    report(f"{c.name}: {final - at_cancel} item(s) after CancelInvocation")
    assert final - at_cancel <= 3, f"{final - at_cancel} items arrived after the cancel"
    assert sc.items == list(range(final)), "items out of order or missing"
    if sc.done:   # the server may send the Completion after a cancel; it carries no result
        assert not isinstance(sc.error, str) or sc.error, sc
    assert c.call("Echo", "after cancel") == "after cancel"


@pytest.mark.parametrize("combo", UPLOAD, ids=combo_id)
def test_sum_consumes_a_client_stream(cluster, made, combo):
    for r in IDS:
        c = stock(made, cluster, combo, r)
        for numbers in ([1, 2, 3, 4, 5], [], [-7, 2**40, 3], list(range(100))):
            call = c.upload("Sum", numbers, with_result=True)
            wait_until(lambda: call.done, 10, what=f"{c.name}: Sum completion")
            assert call.error is None, f"{c.name}: Sum({numbers[:5]}...) failed: {call.error}"
            assert call.result == sum(numbers), f"{c.name}: Sum gave {call.result}, want {sum(numbers)}"
        # The stock API (no invocationId, so no result): the server consumes it and the connection carries on.
        c.upload("Sum", [1, 2, 3], with_result=False)
        assert c.call("Echo", "after upload") == "after upload"
        assert not c.errors, f"{c.name}: errors {c.errors}"


# --------------------------------------------------------------------------------------------- raw clients


@pytest.mark.parametrize("transport,protocol", RAW)
def test_raw_counter_and_sum(cluster, made, transport, protocol):
    for r in IDS:
        h = raw(made, cluster, transport, protocol, r)
        items, done = raw_stream(h, 5, 5, "c1")
        assert items == [0, 1, 2, 3, 4], items
        assert "error" not in done and "result" not in done, done
        if protocol == "messagepack":
            assert done["_kind"] == 2, done
        done = raw_sum(h, [10, 20, 30], "s1")
        assert done.get("result") == 60, done


@pytest.mark.parametrize("transport,protocol", RAW)
def test_raw_cancel(cluster, made, transport, protocol):
    h = raw(made, cluster, transport, protocol, "a")
    h.send({"type": 4, "invocationId": "long", "target": "Counter", "arguments": [10_000, 50]})
    items = []
    while len(items) < 3:
        m = h.recv(5)
        if m.get("type") == 2 and m.get("invocationId") == "long":
            items.append(m["item"])
    h.send({"type": 5, "invocationId": "long"})
    # At most a few items in flight, then nothing but (possibly) the Completion, and the connection still works.
    after = []
    deadline = time.monotonic() + 5
    while True:
        try:
            m = h.recv(1.0)
        except TimeoutError:
            break
        assert time.monotonic() < deadline, "items still arriving 5 s after the cancel"
        if m.get("invocationId") == "long":
            if m["type"] == 2:
                after.append(m["item"])
            else:
                assert m["type"] == 3 and "result" not in m, m
    assert len(after) <= 3, f"{len(after)} items after the cancel"
    assert items + after == list(range(len(items) + len(after)))
    assert h.call("Echo", "alive").get("result") == "alive"


def test_a_stream_does_not_block_other_invocations(cluster, made):
    """Streams run beside invocations (ASP.NET: they do not count against MaximumParallelInvocationsPerClient)."""
    h = raw(made, cluster, "WebSockets", "json", "a")
    h.send({"type": 4, "invocationId": "slow", "target": "Counter", "arguments": [20, 100]})
    t0 = time.monotonic()
    done = h.call("Echo", "quick", timeout=5)
    assert done.get("result") == "quick", done
    assert time.monotonic() - t0 < 1.5, "Echo waited for the stream"
    items, done = [], None
    while done is None:
        m = h.recv(10)
        if m.get("invocationId") == "slow":
            if m["type"] == 2:
                items.append(m["item"])
            else:
                done = m
    assert items == list(range(20)) and "error" not in done, (items, done)


def test_upload_to_a_method_without_a_stream_parameter_is_an_error(cluster, made):
    h = raw(made, cluster, "WebSockets", "json", "b")
    h.invoke("Echo", [], "bad", stream_ids=["9"])
    done = h.recv_until(lambda m: m.get("type") == 3 and m.get("invocationId") == "bad")
    assert "error" in done, done
    assert h.call("Echo", "alive").get("result") == "alive"
