"""Issue 10: every method of the demo hub (`/demoHub`) with both stock clients, on each of three replicas.

The contract (README, "The demo hub"): Echo, EchoObject, Add, Throw, GetConnectionId, WhoAmI. Group, user and
target methods are in test_groups_users.py, tokens in test_jwt.py.

One three-replica cluster and one client of each kind per replica serve the whole module. EchoObject is marked
`awaits_codable`: until Codable arguments are merged the replica traps on it, so it runs last and the replica it
killed is restarted for whatever runs next.
"""
from __future__ import annotations

import json
import re
import time

import pytest

from wsraw import HubSocket, encode

from clients import DEMO_KINDS, make_demo_client

pytestmark = pytest.mark.usefixtures("mesh_available")

IDS = ["a", "b", "c"]
ADD_FAILED = "Failed to invoke 'Add' due to an error on the server."


def hub_exception(method: str, message: str) -> str:
    return f"An unexpected error occurred invoking '{method}' on the server. HubException: {message}"


@pytest.fixture(scope="module")
def demo(module_cluster_factory):
    """The cluster and its clients: `clients[kind]` is one client of that kind on each of a, b, c."""
    cluster = module_cluster_factory(IDS, name="demo-hub")
    cluster.wait_meshed(10)
    clients = {kind: [make_demo_client(kind, f"{kind}@{r}", r, cluster.demo_hub(r)) for r in IDS]
               for kind in DEMO_KINDS}
    for group in clients.values():
        for c in group:
            c.wait_open(10)
    yield cluster, clients
    for group in clients.values():
        for c in group:
            c.stop()


@pytest.fixture(autouse=True)
def _replicas_alive(demo):
    """Pin a replica crash on the test that caused it."""
    cluster, _ = demo
    yield
    dead = [n for n in IDS if not cluster[n].alive()]
    if dead:
        pytest.fail(f"replica(s) {dead} died during this test; log {cluster[dead[0]].log_path}")


# ---------------------------------------------------------------------------------------------- tests


ECHO_TEXTS = [
    "hello",
    "",
    "héllo wörld ✓ 中文 🚀",                              # 2-, 3- and 4-byte UTF-8
    "quotes \" and \\ backslash / slash",
    "controls \n\r\t\b\f and \u0001 and \u001f",
    "\u2028\u2029 line separators",
    "x" * 20_000,                                          # well inside the 32 KB message limit
]


@pytest.mark.parametrize("kind", DEMO_KINDS)
def test_echo(demo, kind):
    _, clients = demo
    for c in clients[kind]:
        for text in ECHO_TEXTS:
            got = c.call("Echo", text)
            assert got == text, f"{c.name}: Echo({text[:40]!r}) returned {str(got)[:80]!r}"


@pytest.mark.parametrize("kind", DEMO_KINDS)
def test_add(demo, kind):
    _, clients = demo
    cases = [((2, 3), 5), ((-7, 3), -4), ((-5, -6), -11), ((0, 0), 0), ((2**31 - 1, 1), 2**31),
             ((-(2**53), 2**53 - 1), -1), ((2**62, 2**62 - 1), 2**63 - 1)]
    for c in clients[kind]:
        for (a, b), want in cases:
            assert c.call("Add", a, b) == want, f"{c.name}: Add({a}, {b})"


@pytest.mark.parametrize("kind", DEMO_KINDS)
def test_add_with_wrong_arguments_fails_with_the_standard_text(demo, kind):
    _, clients = demo
    bad = [["1", 2], [1, "2"], [1.5, 2], [None, 2], [True, 1], [[1], 2], [{"a": 1}, 2], [1], [], [1, 2, 3]]
    for c in clients[kind]:
        for args in bad:
            call = c.invoke("Add", args)
            assert call.error == ADD_FAILED, f"{c.name}: Add{args!r} -> result {call.result!r}, error {call.error!r}"
        # The connection is fine afterwards.
        assert c.call("Add", 1, 2) == 3


@pytest.mark.parametrize("kind", DEMO_KINDS)
def test_add_overflow_is_a_hub_exception(demo, kind):
    _, clients = demo
    c = clients[kind][0]
    call = c.invoke("Add", [2**63 - 1, 1])
    assert call.error and call.error.startswith(hub_exception("Add", "")), call


@pytest.mark.parametrize("kind", DEMO_KINDS)
def test_throw_sends_the_exact_hub_exception_text(demo, kind):
    _, clients = demo
    for c in clients[kind]:
        for message in ("boom", "", "ünïcödé ✓ \"quoted\"", "multi\nline"):
            call = c.invoke("Throw", [message])
            assert call.error == hub_exception("Throw", message), (c.name, call)
            assert call.result is None, call
        # Wrong argument type: the binding error, not a HubException.
        call = c.invoke("Throw", [42])
        assert call.error == "Failed to invoke 'Throw' due to an error on the server.", (c.name, call)


def test_get_connection_id_matches_negotiate_and_is_unique(demo):
    _, clients = demo
    seen = {}
    for group in clients.values():
        for c in group:
            cid = c.call("GetConnectionId")
            assert isinstance(cid, str) and re.fullmatch(r"[A-Za-z0-9_-]{22}", cid), (c.name, cid)
            assert c.negotiated_id is not None, f"{c.name}: could not read the negotiated id"
            assert cid == c.negotiated_id, f"{c.name}: GetConnectionId {cid!r} but negotiate said {c.negotiated_id!r}"
            assert c.call("GetConnectionId") == cid, "the id changed between two calls"
            assert cid not in seen, f"{c.name} and {seen[cid]} share the id {cid}"
            seen[cid] = c.name
    assert len(seen) == 2 * len(IDS)


def test_get_connection_id_without_negotiation(demo):
    """signalrcore with skip_negotiation: no negotiated id, but still a 22-character id of its own."""
    from clients import DemoSignalRCore

    cluster, clients = demo
    ids = {c.call("GetConnectionId") for group in clients.values() for c in group}
    c = DemoSignalRCore("skipneg@b", "b", cluster.demo_hub("b"), skip_negotiation=True).start().wait_open(10)
    try:
        cid = c.call("GetConnectionId")
        assert isinstance(cid, str) and re.fullmatch(r"[A-Za-z0-9_-]{22}", cid), cid
        assert cid not in ids
    finally:
        c.stop()


@pytest.mark.parametrize("kind", DEMO_KINDS)
def test_who_am_i_is_null_when_anonymous(demo, kind):
    _, clients = demo
    for c in clients[kind]:
        call = c.invoke("WhoAmI", [])
        assert call.error is None and call.result is None, (c.name, call)


def test_invocations_of_one_connection_complete_in_order(demo):
    """Ten calls written back to back, without waiting: each completes with its own result."""
    _, clients = demo
    for group in clients.values():
        c = group[1]
        calls = [c.start_call("Add", [i, 1000]) for i in range(10)]
        for i, call in enumerate(calls):
            deadline = time.monotonic() + 5
            while not call.done and time.monotonic() < deadline:
                time.sleep(0.005)
            assert call.done and call.error is None and call.result == i + 1000, (c.name, i, call)
        done = [call.t_done for call in calls]
        assert done == sorted(done), f"{c.name}: completions out of order"



def test_an_async_method_holds_back_the_next_invocation(demo):
    """JoinGroup (it awaits the mesh) and SendToGroup written in ONE WebSocket message: SendToGroup must run only
    after JoinGroup completed, so the caller, now a member, gets its own GroupMessage, and the completions come in
    call order (ASP.NET Core runs one connection's invocations one at a time)."""
    cluster, _ = demo
    hs = HubSocket.open(cluster.port("b"), hub="/demoHub", version=1)
    try:
        group = f"order-{time.monotonic_ns()}"
        first = encode({"type": 1, "invocationId": "1", "target": "JoinGroup", "arguments": [group]})
        second = encode({"type": 1, "invocationId": "2", "target": "SendToGroup", "arguments": [group, "after join"]})
        hs.ws.send_text(first + second)
        seen = []
        deadline = time.monotonic() + 5
        while len([m for m in seen if m.get("type") == 3]) < 2 and time.monotonic() < deadline:
            seen.append(hs.recv(max(0.0, deadline - time.monotonic())))
        completions = [m["invocationId"] for m in seen if m.get("type") == 3]
        assert completions == ["1", "2"], seen
        assert all(m.get("error") is None for m in seen if m.get("type") == 3), seen
        messages = [m for m in seen if m.get("type") == 1 and m.get("target") == "GroupMessage"]
        if not messages:
            messages = [hs.recv_until(lambda m: m.get("target") == "GroupMessage", 2.0)]
        assert messages[0]["arguments"] == [group, "after join"]
    finally:
        hs.close()

ECHO_OBJECT = {
    "name": "Zoë ✓ 中文 🚀",
    "count": 42,
    "negative": -7,
    "ratio": 0.25,
    "big": 9007199254740991,
    "flag": True,
    "off": False,
    "nothing": None,
    "list": [1, "two", 3.5, None, [], {}, [True, [False, {"deep": ["er", {"deepest": None}]}]]],
    "nested": {"a": {"b": {"c": [1, 2, 3], "d": {}}}, "empty": "", "esc": "q\"b\\s/n\nt\tu\u0001"},
}


@pytest.mark.awaits_codable
@pytest.mark.parametrize("kind", DEMO_KINDS)
def test_echo_object_returns_the_same_json(demo, kind):
    """EchoObject(obj) -> obj: parsed JSON equal (key order and number spelling may differ). Runs last in the
    module: without the Codable merge the replica traps here."""
    _, clients = demo
    for c in clients[kind]:
        for obj in (ECHO_OBJECT, {}, {"only": None}, {"k": [{"x": 1}, {"y": [2, [3]]}]}):
            call = c.invoke("EchoObject", [obj])
            assert call.error is None, (c.name, call.error)
            assert call.result == obj, (
                f"{c.name}: EchoObject returned {json.dumps(call.result)[:300]}, sent {json.dumps(obj)[:300]}")


def completion_error(hs: HubSocket, target: str, args: list) -> str | None:
    hs.invoke(target, args, invocation_id="d1")
    reply = hs.recv_until(lambda m: m.get("type") == 3 and m.get("invocationId") == "d1", 5.0)
    return reply.get("error")


def test_detailed_errors_add_the_reason_only_when_asked(cluster_factory):
    """`--detailed-errors` (ASP.NET Core's EnableDetailedErrors) appends the reason to binding errors; without it
    the text is exactly the generic one. HubException texts are sent either way."""
    plain = cluster_factory(["a"])
    detailed = cluster_factory(["a"], args=["--detailed-errors"])
    for cluster, is_detailed in ((plain, False), (detailed, True)):
        hs = HubSocket.open(cluster.port("a"), hub="/demoHub", version=1)
        try:
            wrong_type = completion_error(hs, "Add", ["one", 2])
            wrong_count = completion_error(hs, "Add", [1])
            thrown = completion_error(hs, "Throw", ["told you"])
        finally:
            hs.close()
        generic = "Failed to invoke 'Add' due to an error on the server."
        assert thrown == hub_exception("Throw", "told you")
        if is_detailed:
            assert wrong_type.startswith(generic + " InvalidDataException: Error binding arguments."), wrong_type
            assert wrong_count == generic + " InvalidDataException: Invocation provides 1 argument(s) but target expects 2.", wrong_count
        else:
            assert wrong_type == generic and wrong_count == generic, (wrong_type, wrong_count)
