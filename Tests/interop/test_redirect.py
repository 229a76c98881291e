"""`--redirect-negotiate` (issue 11, point 7): negotiate spreads new connections over the live replicas with the
redirect response every stock client follows (`{"url":…,"accessToken":…}`), never loops, skips replicas it can't
reach, and stock clients that were redirected chat across the mesh."""
from __future__ import annotations

from urllib.parse import urlsplit, parse_qs

import pytest

from clients import make_client
from harness import new_text, wait_until
from wsraw import http_request

pytestmark = pytest.mark.usefixtures("mesh_available")

IDS = ["a", "b", "c"]
HUB = "/chatHub"


def negotiate(port: int, path: str = HUB, query: str = "?negotiateVersion=1", headers=None):
    r = http_request(port, "POST", f"{path}/negotiate{query}", headers=headers, body=b"")
    assert r.status == 200, r
    return r.json()


@pytest.fixture(scope="module")
def cluster(module_cluster_factory):
    c = module_cluster_factory(IDS, args=["--redirect-negotiate"], name="redirect")
    c.wait_meshed(10)
    return c


def targets(cluster, n: int, headers=None) -> list[str]:
    """Where `n` negotiates at replica a were served: a replica id per negotiate."""
    ports = {cluster.port(i): i for i in IDS}
    seen = []
    for _ in range(n):
        body = negotiate(cluster.port("a"), headers=headers)
        if "connectionId" in body:
            assert "url" not in body, body
            seen.append("a")
            continue
        assert set(body) == {"url", "accessToken"}, body
        url = urlsplit(body["url"])
        assert url.scheme == "http" and url.path == HUB, body
        assert parse_qs(url.query).get("redirected") == ["1"], body
        assert isinstance(body["accessToken"], str) and body["accessToken"], body
        seen.append(ports[url.port])
    return seen


def test_round_robin_over_live_replicas(cluster):
    seen = targets(cluster, 9)
    assert sorted(seen) == sorted(IDS * 3), seen


def test_redirected_negotiate_is_served_there(cluster):
    for _ in range(3):
        body = negotiate(cluster.port("a"))
        if "url" not in body:
            continue
        url = urlsplit(body["url"])
        served = negotiate(url.port, path=url.path, query=f"?{url.query}&negotiateVersion=1",
                           headers={"Authorization": f"Bearer {body['accessToken']}"})
        assert served.get("negotiateVersion") == 1 and served.get("connectionToken"), served
        assert "url" not in served
        return
    pytest.fail("no redirect in three negotiates")


def test_client_token_is_passed_on(cluster):
    for _ in range(3):
        body = negotiate(cluster.port("a"), headers={"Authorization": "Bearer my-own-token"})
        if "url" in body:
            assert body["accessToken"] == "my-own-token", body
            return
    pytest.fail("no redirect in three negotiates")


@pytest.mark.parametrize("kind", ["signalrcore", "pysignalr"])
def test_redirected_clients_chat_across_replicas(cluster, kind):
    clients = [make_client(kind, f"{kind}-{i}", "a", cluster.hub("a")) for i in range(3)]
    try:
        for c in clients:
            c.wait_open(10)
        texts = []
        for c in clients:
            text = new_text(kind)
            texts.append(text)
            c.send_message(c.name, text)
        for c in clients:
            c.wait_for(texts, timeout=10)
            assert not c.duplicates(), c.duplicates()
    finally:
        for c in clients:
            c.stop()


def test_unreachable_replica_is_skipped(cluster):
    cluster["c"].kill()
    try:
        wait_until(lambda: cluster.peer_states("a").get("c") not in ("connected", "up", "linked"), 15,
                   what="a sees c gone")
        wait_until(lambda: "c" not in targets(cluster, 6), 15, interval=0.2, what="negotiates skip c")
        seen = targets(cluster, 6)
        assert sorted(seen) == ["a", "a", "a", "b", "b", "b"], seen
    finally:
        cluster.start("c")
        cluster.wait_meshed(15)
