"""Three real replica processes with stock clients on each: exactly-once delivery across the mesh, kill -9,
restart, SIGSTOP/SIGCONT and link cuts through a fault-injecting proxy."""
from __future__ import annotations

import itertools
import json
import threading
import time

import pytest
import requests

from clients import make_client
from harness import is_receive, new_text, wait_until
from wsraw import HubSocket

pytestmark = pytest.mark.usefixtures("mesh_available")

IDS = ["a", "b", "c"]


def clients_on(cluster, replicas, kinds=("pysignalr", "signalrcore"), tag="") -> list:
    out = []
    for r in replicas:
        for k in kinds:
            out.append(make_client(k, f"{k}{tag}@{r}", r, cluster.hub(r)))
    for c in out:
        c.wait_open(10)
    return out


def stop_all(clients):
    for c in clients:
        c.stop()


def send_round(clients, per_client=3, tag="m") -> list[str]:
    texts = []
    for c in clients:
        for i in range(per_client):
            t = new_text(f"{tag}-{c.name}-{i}")
            s = c.send_message(c.name, t)
            assert s.error is None, s
            texts.append(t)
    return texts


def assert_exactly_once(receivers, texts, timeout=5.0) -> float:
    """Every receiver gets every text exactly once; returns how long the deliveries took to complete."""
    t0 = time.monotonic()
    for c in receivers:
        c.wait_for(texts, timeout)
    took = time.monotonic() - t0
    # A duplicate would follow its original closely; give it a brief chance to show up.
    time.sleep(0.3)
    for c in receivers:
        dups = {t: n for t, n in c.duplicates().items()}
        assert not dups, f"{c.name} received duplicates: {list(dups.items())[:5]}"
        assert not c.bad_shapes, f"{c.name}: ReceiveMessage with != 2 arguments: {c.bad_shapes[:3]}"
    return took


@pytest.fixture
def mesh3(cluster_factory):
    c = cluster_factory(IDS)
    c.wait_meshed(10)
    return c


# ---------------------------------------------------------------------------------------------- tests


def test_api_mesh_shape(mesh3):
    v = mesh3.mesh_view("a")
    assert v["node"] == "a" and v["cluster"] == "interop", v
    assert isinstance(v["epoch"], int) and v["epoch"] > 0, v
    peers = {p["id"]: p for p in v["peers"]}
    assert set(peers) == {"b", "c"}, v
    for p in peers.values():
        for key in ("state", "since", "rttMicros", "dataSent", "dataReceived", "relayed", "duplicatesDropped",
                    "replayBufferedMessages", "replayBufferedBytes", "gaps"):
            assert key in p, (key, p)
        assert p["state"] == "up"


def settled_data_sent(cluster, node, timeout=5.0):
    """`dataSent` summed over `node`'s peers once it stops moving (the hub layers exchange interest snapshots when
    replicas meet: those are DATA frames too, and not part of what a test sends)."""
    deadline = time.monotonic() + timeout
    reads = []
    while True:
        reads.append(sum(p["dataSent"] for p in cluster.mesh_view(node)["peers"]))
        # Three equal reads over 1.2 s: longer than the 0.5 s between a hub layer's snapshot requests.
        if (len(reads) >= 3 and reads[-1] == reads[-2] == reads[-3]) or time.monotonic() > deadline:
            return reads[-1]
        time.sleep(0.6)


def test_every_message_reaches_every_client_exactly_once(mesh3, report):
    clients = clients_on(mesh3, IDS)
    try:
        sent_before = settled_data_sent(mesh3, "a")
        # Frames relayed while the links came up (a hub layer's first snapshot request can go out over a–b–c before
        # a–c is up) are not this round's: only what the round adds is looked at.
        relayed_before = {(r, p["id"]): p["relayed"] for r in IDS for p in mesh3.mesh_view(r)["peers"]}
        texts = send_round(clients, per_client=10)
        took = assert_exactly_once(clients, texts)
        report(f"{len(texts)} messages x {len(clients)} clients delivered exactly once "
               f"(all in by {took * 1000:.0f} ms after the last completion)")
        # Healthy mesh: each broadcast is N-1 frames, nothing relayed, no duplicates dropped or gaps.
        for r in IDS:
            for p in mesh3.mesh_view(r)["peers"]:
                assert p["relayed"] == relayed_before[(r, p["id"])], (r, p, relayed_before)
                assert p["gaps"] == 0, (r, p)
        sent_by_a = settled_data_sent(mesh3, "a") - sent_before
        assert sent_by_a == 2 * 20, f"a published 20 messages to 2 peers but sent {sent_by_a} DATA frames"
    finally:
        stop_all(clients)


def test_receive_message_headers_name_origin_replica(mesh3):
    port = {r: mesh3.port(r) for r in IDS}
    on_c = HubSocket.open(port["c"])
    on_a = HubSocket.open(port["a"])
    try:
        text = new_text("hdr")
        on_a.invoke("SendMessage", ["u", text], "1")
        m = on_c.recv_until(lambda m: is_receive(m, text))
        assert m["arguments"] == ["u", text], m
        assert m.get("headers", {}).get("replica") == "a", m
        m = on_a.recv_until(lambda m: is_receive(m, text))
        assert m.get("headers", {}).get("replica") == "a", m
    finally:
        on_c.close()
        on_a.close()


def test_kill_b_then_restart(mesh3, report):
    clients = clients_on(mesh3, IDS)
    on_b = [c for c in clients if c.replica == "b"]
    survivors = [c for c in clients if c.replica != "b"]
    try:
        assert_exactly_once(clients, send_round(clients, 2, "before"))
        mesh3["b"].kill()
        stop_all(on_b)
        # a and c keep chatting while b is dead.
        t0 = time.monotonic()
        wait_until(lambda: mesh3.peer_states("a").get("b") in ("down", "connecting"), 2.0, what="a sees b down")
        report(f"kill -9 b: a saw b down after {time.monotonic() - t0:.3f}s")
        assert_exactly_once(survivors, send_round(survivors, 3, "during"))

        # Restart at once on the same ports: it must bind.
        mesh3["b"].start(wait=False)
        mesh3["b"].wait_ready()
        ready = mesh3["b"].ready_at
        new_b = clients_on(mesh3, ["b"], tag="-new")
        everyone = survivors + new_b
        # Probe until every client sees a fresh message from every other client.
        seq = itertools.count()
        converged = None
        while time.monotonic() - ready < 6.0:
            probes = [c.send_message(c.name, new_text(f"probe{next(seq)}-{c.name}")).text for c in everyone]
            try:
                for c in everyone:
                    c.wait_for(probes, 0.5)
                converged = time.monotonic() - ready
                break
            except AssertionError:
                continue
        assert converged is not None, "b's new clients never reached everyone within 6 s of ready"
        report(f"restart b: all clients reach each other {converged:.2f}s after b's ready line")
        assert converged <= 3.0, f"took {converged:.2f}s after ready (want ~2 s)"
        wait_until(lambda: mesh3.fully_meshed(), 3.0, what="mesh after restart")
        assert_exactly_once(everyone, send_round(everyone, 2, "after"))
        stop_all(new_b)
    finally:
        stop_all(clients)


def test_sigstop_b_detected_and_caught_up(mesh3, report):
    clients = clients_on(mesh3, IDS)
    on_b = [c for c in clients if c.replica == "b"]
    others = [c for c in clients if c.replica != "b"]
    try:
        assert_exactly_once(clients, send_round(clients, 1, "warm"))
        mesh3["b"].sigstop()
        t0 = time.monotonic()
        during: list[str] = []
        stop_sending = threading.Event()

        def keep_sending():
            i = 0
            while not stop_sending.is_set():
                for c in others:
                    during.append(c.send_message(c.name, new_text(f"stopped{i}-{c.name}")).text)
                i += 1
                time.sleep(0.05)

        sender = threading.Thread(target=keep_sending, daemon=True)
        sender.start()
        try:
            wait_until(lambda: mesh3.peer_states("a").get("b") == "down", 5.0, interval=0.01, what="a sees b down")
            detected = time.monotonic() - t0
            report(f"SIGSTOP b: a's /api/mesh shows b down after {detected:.3f}s")
            assert detected <= 2.5, f"b declared down after {detected:.2f}s (want <= 2 s, slack to 2.5 s)"
            # Keep b stopped for 3 s in total while others chat.
            while time.monotonic() - t0 < 3.0:
                time.sleep(0.05)
        finally:
            stop_sending.set()
            sender.join(10)
        mesh3["b"].sigcont()
        t1 = time.monotonic()
        assert_exactly_once(on_b, during, timeout=10.0)
        report(f"SIGCONT b: {len(during)} messages sent meanwhile reached b's clients within "
               f"{time.monotonic() - t1:.2f}s, no duplicates")
        assert_exactly_once(others, during)
        mesh3.wait_meshed(5)
        assert_exactly_once(clients, send_round(clients, 2, "after"))
    finally:
        if mesh3["b"].stopped:
            mesh3["b"].sigcont()
        stop_all(clients)


def test_sigterm_peer_marked_left(mesh3):
    mesh3["c"].terminate()
    assert mesh3["c"].proc.returncode == 0
    wait_until(lambda: mesh3.peer_states("a").get("c") == "left", 3.0, what="a sees c left")
    assert all(p["gaps"] == 0 for p in mesh3.mesh_view("a")["peers"])


@pytest.fixture
def proxied3(cluster_factory):
    c = cluster_factory(IDS, proxied=True)
    c.wait_meshed(10)
    return c


def test_link_cut_no_loss_no_duplicates(proxied3, report):
    mesh = proxied3
    clients = clients_on(mesh, IDS)
    a_clients = [c for c in clients if c.replica == "a"]
    c_clients = [c for c in clients if c.replica == "c"]
    sent: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def flow(c):
        i = 0
        while not stop.is_set():
            t = c.send_message(c.name, new_text(f"flow{i}-{c.name}")).text
            with lock:
                sent.append(t)
            i += 1
            time.sleep(0.02)

    threads = [threading.Thread(target=flow, args=(c,), daemon=True) for c in clients]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(sent) > 50, 5.0, what="traffic")
        mesh.cut("a", "c")
        t0 = time.monotonic()
        wait_until(lambda: mesh.peer_states("a").get("c") != "up", 3.0, interval=0.01, what="a sees the cut")
        report(f"link a-c cut: a noticed after {time.monotonic() - t0:.3f}s")
        # While cut, a's messages must reach c through b (relay), and c's reach a.
        probe_a = a_clients[0].send_message("probe", new_text("relay-a")).text
        probe_c = c_clients[0].send_message("probe", new_text("relay-c")).text
        t1 = time.monotonic()
        for c in c_clients:
            c.wait_for([probe_a], 3.0)
        for c in a_clients:
            c.wait_for([probe_c], 3.0)
        assert mesh.link_cut("a", "c")
        report(f"relay through b while a-c is cut: {time.monotonic() - t1:.3f}s")
        relayed = sum(p["relayed"] for p in mesh.mesh_view("b")["peers"])
        assert relayed > 0, "b relayed nothing while a-c was cut"
        wait_until(lambda: time.monotonic() - t0 > 2.0, 3.0)  # keep traffic flowing over the cut for 2 s
        mesh.heal("a", "c")
        t2 = time.monotonic()
        wait_until(lambda: mesh.peer_states("a").get("c") == "up" and mesh.peer_states("c").get("a") == "up",
                   5.0, interval=0.02, what="a-c link back up")
        report(f"link a-c healed: up again after {time.monotonic() - t2:.3f}s")
        wait_until(lambda: time.monotonic() - t2 > 1.0, 2.0)  # traffic over the healed link for a second
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    try:
        sent_now = list(sent) + [probe_a, probe_c]
        assert_exactly_once(clients, sent_now, timeout=10.0)
        report(f"link cut: {len(sent_now)} messages, {len(clients)} clients, no loss, no duplicates")
        for r in IDS:
            for p in mesh.mesh_view(r)["peers"]:
                assert p["gaps"] == 0, (r, p)
    finally:
        stop_all(clients)


def test_restart_does_not_replay_old_life(mesh3):
    """A restarted replica gets neither its old life's messages back nor stale dedup state."""
    port_b = mesh3.port("b")
    hs = HubSocket.open(port_b)
    old = new_text("oldlife")
    hs.invoke("SendMessage", ["u", old], "1")
    hs.recv_until(lambda m: m.get("type") == 3)
    hs.close()
    mesh3["b"].kill()
    mesh3["b"].start()
    mesh3.wait_meshed(5)
    fresh = HubSocket.open(port_b)
    watcher = HubSocket.open(mesh3.port("a"))
    try:
        new = new_text("newlife")
        fresh.invoke("SendMessage", ["u", new], "2")
        got = watcher.recv_until(lambda m: m.get("type") == 1 and m["arguments"][1] in (old, new), 5.0)
        assert got["arguments"][1] == new, "a re-delivered b's old-life message"
        fresh.recv_until(lambda m: is_receive(m, new), 5.0)
    finally:
        fresh.close()
        watcher.close()


def test_api_mesh_is_json_on_every_replica(mesh3):
    for r in IDS:
        resp = requests.get(mesh3.url(r, "/api/mesh"), timeout=2)
        assert resp.status_code == 200
        assert resp.headers.get("content-type", "").startswith("application/json")


def test_api_mesh_reports_loop_turn_times(mesh3):
    """/api/mesh carries the loop's wake-up → first write figures, and traffic moves them."""
    before = requests.get(mesh3.url("a", "/api/mesh"), timeout=2).json()["loop"]
    sender, receiver = HubSocket.open(mesh3.port("a")), HubSocket.open(mesh3.port("b"))
    try:
        for i in range(5):
            text = new_text(f"turns{i}")
            sender.invoke("SendMessage", ["u", text], str(i + 1))
            receiver.recv_until(lambda m: is_receive(m, text))
    finally:
        sender.close()
        receiver.close()
    loop = requests.get(mesh3.url("a", "/api/mesh"), timeout=2).json()["loop"]
    assert loop["turns"] >= before["turns"] + 5, (before, loop)
    times = loop["wakeToFirstWriteMicros"]
    assert 0 < times["p50"] <= times["p90"] <= times["p99"] <= times["p999"] <= times["max"], times


def two_replicas_b_differs(cluster_factory, field: str, value: str):
    """A started a+b cluster whose b reads a peers file with `field` set to `value`."""
    c = cluster_factory(["a", "b"], start=False)
    doc = json.loads(c["b"].peers_path.read_text())
    doc[field] = value
    c["b"].peers_path.write_text(json.dumps(doc))
    c.start()
    return c


def test_wrong_secret_never_links_and_mesh_secret_env_wins(cluster_factory):
    c = two_replicas_b_differs(cluster_factory, "secret", "a-different-secret-0123456789")
    # Both keep dialing and both refuse: the link must never come up.
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        assert c.peer_states("a").get("b") != "up", "a linked with a replica that has another secret"
        assert c.peer_states("b").get("a") != "up", "b linked with a replica that has another secret"
        time.sleep(0.1)
    on_a, on_b = HubSocket.open(c.port("a")), HubSocket.open(c.port("b"))
    try:
        text = new_text("secret")
        on_a.invoke("SendMessage", ["u", text], "1")
        on_a.recv_until(lambda m: is_receive(m, text))
        try:
            m = on_b.recv_until(lambda m: is_receive(m, text), 1.0)
            raise AssertionError(f"message crossed a link with mismatched secrets: {m}")
        except TimeoutError:
            pass
    finally:
        on_a.close()
        on_b.close()
    # MESH_SECRET overrides the file's secret: with a's secret in the environment, b links.
    c["b"].terminate()
    c["b"].env = {"MESH_SECRET": c.secret}
    c["b"].start()
    c.wait_meshed(5)


def test_cluster_name_mismatch_never_links(cluster_factory):
    c = two_replicas_b_differs(cluster_factory, "cluster", "another-cluster")
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert c.peer_states("a").get("b") != "up", "a linked with a replica of another cluster"
        time.sleep(0.1)


def test_stock_pysignalr_client_comes_back_after_restart(cluster_factory, report):
    """pysignalr reconnects by itself (same ?id= first, then a new negotiate after the 404): after b restarts,
    the very same client object receives and sends again. (signalrcore 1.0.2's own automatic reconnect fails
    inside the client with "'WebsocketTransport' object has no attribute 'connection_alive'", so it is not
    tested here.)"""
    from clients import PySignalRClient

    c = cluster_factory(["a", "b"])
    c.wait_meshed(5)
    on_b = PySignalRClient("py@b", "b", c.hub("b")).start().wait_open()
    on_a = PySignalRClient("py@a", "a", c.hub("a")).start().wait_open()
    try:
        assert_exactly_once([on_a, on_b], send_round([on_a, on_b], 1, "before"))
        c["b"].kill()
        c["b"].start()
        t0 = time.monotonic()
        seq = itertools.count()

        def probe():
            t = new_text(f"comeback{next(seq)}")
            on_a.send_message("a", t)
            try:
                on_b.wait_for([t], 0.5)
                return True
            except AssertionError:
                return False

        wait_until(probe, 20.0, interval=0.0, what="pysignalr on b to receive again after the restart")
        report(f"stock pysignalr client back {time.monotonic() - t0:.2f}s after b's ready line")
        t = new_text("from-b-again")
        s = on_b.send_message("b", t)
        assert s.error is None
        on_a.wait_for([t], 5.0)
    finally:
        stop_all([on_a, on_b])
