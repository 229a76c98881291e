"""Regression (found by the chaos test, seed 1821852556): a relayer that joined an origin's life midway declares a
false gap, and the replica it relays to skips messages that the origin still holds.

Steps: b is SIGSTOPped; c's client publishes batch 1 (a and c get it, b does not); a is killed and restarted (a new
life: its first RESUME asks c for "new messages only", so a's log of c starts after batch 1); c publishes batch 2;
the b-c link is cut, so when b gets SIGCONT its only path to c is a relay through a (the lowest-id peer linked to
c). b resumes c from before batch 1; a's log starts after it.

README: a stopped process "resumes from the last sequence the peer acknowledged and loses nothing", and while a
link is down "messages are relayed through [a third replica], exactly once". So b's client must get batch 1 too.

Fixed: a reports (LINKS) that its log of c starts at batch 2, so b does not take c through a (that would skip
batch 1, which c still holds): it waits for its own link to c, and gets batch 1 and batch 2 in order after the heal.
Only after MeshOptions.relayCoverWaitNanos (30 s) would it take a's relay and count batch 1 as a gap.
"""
from __future__ import annotations

import pytest

from clients import make_client
from harness import new_text, wait_until

pytestmark = pytest.mark.usefixtures("mesh_available")


def publish(sender, label: str, n: int) -> list[str]:
    texts = [sender.send_message(sender.name, new_text(f"{label}{i}"), wait=False).text for i in range(n)]
    wait_until(lambda: all(sender.sent[t].t_done is not None for t in texts), 5.0, what=f"{label} accepted")
    return texts


def test_restarted_relayer_does_not_make_a_stopped_replica_skip(cluster_factory):
    mesh = cluster_factory(["a", "b", "c"], proxied=True)
    mesh.wait_meshed(10)
    on_b = make_client("pysignalr", "rb", "b", mesh.hub("b")).wait_open(10)
    on_c = make_client("signalrcore", "sc", "c", mesh.hub("c")).wait_open(10)
    clients = [on_b, on_c]
    try:
        warm = publish(on_c, "warm", 3)
        on_b.wait_for(warm, 5.0)

        mesh["b"].sigstop()
        # Once c has declared b down (1.2 s of silence), c's messages wait in c's log instead of b's socket.
        wait_until(lambda: mesh.peer_states("c").get("b") != "up", 5.0, what="c sees b down")
        batch1 = publish(on_c, "batch1-", 10)

        mesh["a"].kill()
        mesh["a"].start()
        mesh.wait_meshed(10, among=["a", "c"])
        on_a = make_client("pysignalr", "ra", "a", mesh.hub("a")).wait_open(10)
        clients.append(on_a)
        batch2 = publish(on_c, "batch2-", 10)
        on_a.wait_for(batch2, 5.0)  # a's log of c now holds batch 2, not batch 1

        mesh.cut("b", "c")
        mesh["b"].sigcont()
        # b relinks a, whose LINKS say its log of c starts after batch 1: b must not take c through a.
        def a_seen_from_b() -> dict:
            return next(p for p in mesh.mesh_view("b")["peers"] if p["id"] == "a")

        wait_until(lambda: a_seen_from_b()["state"] == "up" and a_seen_from_b()["links"].get("c") == "up", 10.0,
                   what="b relinks a and has a's LINKS")
        assert a_seen_from_b()["requested"] == ["a"], "b takes c's messages through a, whose log starts after batch 1"
        mesh.heal("b", "c")
        mesh.wait_meshed(10)
        on_b.wait_for(batch1 + batch2, 5.0)
        batch3 = publish(on_c, "batch3-", 5)
        on_b.wait_for(batch3, 5.0)

        gaps = {p["id"]: p["gaps"] for p in mesh.mesh_view("b")["peers"]}
        missing = on_b.missing(batch1)
        assert not missing and not any(gaps.values()), (
            f"b's client is missing {len(missing)}/{len(batch1)} of the messages published while b was stopped; "
            f"b's /api/mesh gaps per peer: {gaps}")
        assert not on_b.duplicates()
        # c's order as b's client saw it: warm-up, batch 1, batch 2, batch 3.
        sent = warm + batch1 + batch2 + batch3
        seen = [args[1] for args, _ in list(on_b.received) if len(args) >= 2 and args[1] in set(sent)]
        assert seen == sent, "b's client got c's messages out of order"
    finally:
        if mesh["b"].stopped:
            mesh["b"].sigcont()
        for c in clients:
            c.stop()
