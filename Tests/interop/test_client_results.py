"""Issue 11, point 8: client results. `AskClient(connectionId, question) -> string` invokes `GetAnswer(question)`
(an Invocation with an invocationId) on the client with that connection id, on any replica, and returns the
string that client sends back in its Completion.

Which clients can answer: pysignalr (an `on()` handler's return value goes back in a Completion; a handler that
raises sends an error Completion; no handler → error "Client didn't provide a result."). signalrcore drops its
handlers' return values and never answers, so it is the client that does not answer. The raw client (RawHub)
answers over every transport × protocol.

Error texts (chosen to be ASP.NET Core's, without detailed errors; DefaultHubLifetimeManager and
ClientResultsManager in dotnet/aspnetcore): an error Completion from the client becomes HubException(<its error>),
so the caller sees `An unexpected error occurred invoking 'AskClient' on the server. HubException: <error>`; a
timeout cancels the pending result with HubException("Invocation canceled by the server."); an unknown connection
(IOException "Connection '<id>' does not exist.") and a target that disconnects or whose replica dies
(IOException "Connection '<id>' disconnected.") are not HubExceptions, so the caller gets the generic
`An unexpected error occurred invoking 'AskClient' on the server.` ASP.NET has no default timeout for client
results (the hub method's CancellationToken decides); ours is the server's: `--client-result-timeout` is used
when the binary has it, otherwise the test waits up to 70 s.
"""
from __future__ import annotations

import time

import pytest

from clients import DemoPySignalRX, RawHub, make_demo_client_x
from harness import new_text, server_supports, wait_until

pytestmark = pytest.mark.usefixtures("mesh_available")

IDS = ["a", "b"]
GENERIC = "An unexpected error occurred invoking 'AskClient' on the server."
TIMEOUT_TEXT = GENERIC + " HubException: Invocation canceled by the server."
RAW = [(t, p) for t in ("WebSockets", "ServerSentEvents", "LongPolling") for p in ("json", "messagepack")
       if not (t == "ServerSentEvents" and p == "messagepack")]
TIMEOUT_FLAG = "--client-result-timeout"
TIMEOUT_ARGS = [TIMEOUT_FLAG, "3"] if server_supports(TIMEOUT_FLAG) else []
TIMEOUT_WAIT = 15.0 if TIMEOUT_ARGS else 70.0


def client_error(message: str) -> str:
    return f"{GENERIC} HubException: {message}"


def answer(question: str) -> str:
    return f"answer to {question}"


@pytest.fixture(scope="module")
def cluster(module_cluster_factory):
    c = module_cluster_factory(IDS, args=TIMEOUT_ARGS, name="client-results")
    c.wait_meshed(10)
    return c



def caller(made, cluster, replica: str, kind: str = "pysignalr"):
    c = make_demo_client_x(kind, f"caller-{kind}@{replica}-{len(made)}", replica, cluster.demo_hub(replica))
    made.append(c)
    return c.wait_open(10)


def answerer(made, cluster, replica: str, protocol: str = "json", fn=answer) -> DemoPySignalRX:
    c = DemoPySignalRX(f"answerer-{protocol}@{replica}-{len(made)}", replica, cluster.demo_hub(replica),
                       protocol=protocol, answer=fn).start()
    made.append(c)
    c.wait_open(10)
    return c


def connection_id(c) -> str:
    cid = c.call("GetConnectionId")
    assert isinstance(cid, str) and cid, cid
    return cid


def answer_raw(h: RawHub, timeout: float = 5.0, result=None, error=None) -> dict:
    """Wait for GetAnswer on a raw connection, check its shape, answer it; return the server's Invocation."""
    m = h.recv_until(lambda m: m.get("type") == 1 and m.get("target") == "GetAnswer", timeout)
    assert m.get("invocationId"), f"a client-result Invocation must carry an invocationId: {m}"
    assert len(m["arguments"]) == 1 and isinstance(m["arguments"][0], str), m
    reply = {"type": 3, "invocationId": m["invocationId"]}
    if error is not None:
        reply["error"] = error
    else:
        reply["result"] = result if result is not None else answer(m["arguments"][0])
    h.send(reply)
    return m


# ------------------------------------------------------------------------------------------------ answers


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
@pytest.mark.parametrize("where", ["same replica", "other replica"])
@pytest.mark.parametrize("caller_kind", ["pysignalr", "signalrcore"])
def test_pysignalr_answers(cluster, made, protocol, where, caller_kind):
    target = answerer(made, cluster, "a", protocol)
    cid = connection_id(target)
    c = caller(made, cluster, "a" if where == "same replica" else "b", caller_kind)
    for i in range(3):
        q = new_text(f"q{i}")
        assert c.call("AskClient", cid, q, timeout=10) == answer(q)
    assert len(target.questions) == 3, target.questions


@pytest.mark.parametrize("transport,protocol", RAW)
@pytest.mark.parametrize("where", ["same replica", "other replica"])
def test_raw_client_answers_over_every_transport(cluster, made, transport, protocol, where):
    h = RawHub.open(transport, cluster.port("b"), protocol=protocol, hub="/demoHub")
    made.append(h)
    c = caller(made, cluster, "b" if where == "same replica" else "a")
    q = new_text("raw-q")
    call = c.start_call("AskClient", [h.connection_id, q])
    inv = answer_raw(h, 10)
    assert inv["arguments"] == [q], inv
    wait_until(lambda: call.done, 10, what="AskClient to complete")
    assert call.error is None and call.result == answer(q), call


def test_concurrent_questions_get_their_own_answers(cluster, made):
    target = answerer(made, cluster, "b")
    cid = connection_id(target)
    callers = [caller(made, cluster, r) for r in ("a", "b", "a")]
    pending = []
    for i in range(12):
        q = new_text(f"c{i}")
        pending.append((q, callers[i % 3].start_call("AskClient", [cid, q])))
    for q, call in pending:
        wait_until(lambda call=call: call.done, 15, what=f"AskClient({q})")
        assert call.error is None and call.result == answer(q), (q, call)


def test_raw_answer_with_an_error(cluster, made):
    h = RawHub.open("WebSockets", cluster.port("a"), hub="/demoHub")
    made.append(h)
    c = caller(made, cluster, "b")
    call = c.start_call("AskClient", [h.connection_id, "why?"])
    answer_raw(h, 10, error="I refuse")
    wait_until(lambda: call.done, 10, what="AskClient to complete")
    assert call.error == client_error("I refuse"), call


def test_pysignalr_handler_that_raises(cluster, made):
    target = answerer(made, cluster, "a", fn=lambda q: RuntimeError(f"cannot answer {q}"))
    cid = connection_id(target)
    c = caller(made, cluster, "b")
    call = c.invoke("AskClient", [cid, "hard"], timeout=10)
    assert call.error == client_error("cannot answer hard"), call


def test_pysignalr_without_a_handler(cluster, made):
    """pysignalr answers an Invocation it has no handler for with "Client didn't provide a result."."""
    target = make_demo_client_x("pysignalr", "no-handler", "b", cluster.demo_hub("b"))
    made.append(target)
    cid = connection_id(target.wait_open(10))
    c = caller(made, cluster, "a")
    call = c.invoke("AskClient", [cid, "anyone?"], timeout=10)
    assert call.error == client_error("Client didn't provide a result."), call


# ------------------------------------------------------------------------------------------------- failures


def test_unknown_connection_fails_fast(cluster, made):
    c = caller(made, cluster, "a")
    gone = RawHub.open("WebSockets", cluster.port("b"), hub="/demoHub")
    gone_id = gone.connection_id
    gone.close()
    probe = RawHub.open("WebSockets", cluster.port("a"), hub="/demoHub")
    made.append(probe)
    wait_until(lambda: "error" in probe.call("AddToGroup", gone_id, "probe"), 5, interval=0.2,
               what="the closed connection to be gone")
    for cid in ("no-such-connection", gone_id):
        call = c.invoke("AskClient", [cid, "hello?"], timeout=5)
        assert call.error == GENERIC, (cid, call)
        assert call.took < 2.0, f"{call.took:.2f}s for an id that exists nowhere"


def test_a_client_that_does_not_answer_gets_a_timeout(cluster, made, report):
    silent = make_demo_client_x("signalrcore", "silent", "b", cluster.demo_hub("b"))
    made.append(silent)
    cid = connection_id(silent.wait_open(10))
    c = caller(made, cluster, "a")
    call = c.invoke("AskClient", [cid, "are you there?"], timeout=TIMEOUT_WAIT)
    report(f"client result timeout after {call.took:.1f}s")
    assert silent.questions == [["are you there?"]], silent.questions
    assert call.error == TIMEOUT_TEXT, call
    # Both connections carry on.
    assert c.call("Echo", "ok") == "ok" and silent.call("Echo", "ok") == "ok"


def test_target_disconnects_while_asked(cluster, made, report):
    h = RawHub.open("WebSockets", cluster.port("b"), hub="/demoHub")
    c = caller(made, cluster, "a")
    call = c.start_call("AskClient", [h.connection_id, "bye?"])
    h.recv_until(lambda m: m.get("target") == "GetAnswer", 10)
    t0 = time.monotonic()
    h.close()
    wait_until(lambda: call.done, 5, what="AskClient to fail after its target disconnected")
    report(f"error {time.monotonic() - t0:.2f}s after the target disconnected")
    assert call.error == GENERIC, call


def test_target_replica_killed_while_asked(cluster_factory, mesh_available, report):
    c3 = cluster_factory(["a", "b", "c"], args=TIMEOUT_ARGS)
    c3.wait_meshed(10)
    h = RawHub.open("WebSockets", c3.port("c"), hub="/demoHub")
    asker = make_demo_client_x("pysignalr", "asker", "a", c3.demo_hub("a"), retry_count=1)
    try:
        asker.wait_open(10)
        call = asker.start_call("AskClient", [h.connection_id, "still there?"])
        h.recv_until(lambda m: m.get("target") == "GetAnswer", 10)
        t0 = time.monotonic()
        c3["c"].kill()
        wait_until(lambda: call.done, 5, what="AskClient to fail after the target's replica died (no hang)")
        report(f"error {time.monotonic() - t0:.2f}s after kill -9 of the target's replica")
        assert call.error == GENERIC, call
        assert asker.call("Echo", "alive") == "alive"
    finally:
        asker.stop()
        h.close()
