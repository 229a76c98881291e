"""Issue 12, logs: one structured line per event on stderr, logfmt by default or JSON (`--log-format json`); the
first line says what runs where; hub connections and mesh links are events with their ids as fields; and no token
or secret ever reaches the log, whatever a client sends.

The secrets test runs two replicas at trace level (every line the code has) with a JWT key (JWT_KEY) and the mesh
secret from MESH_SECRET (overriding the peers file's), connects clients over the three transports, directly and
forwarded through the other replica, each sending its JWT in the Authorization header and in `access_token`, adds
refused requests (bad token, foreign Origin, foreign Host) that carry tokens, restarts a replica to drop and
relink the mesh, and then searches both whole logs for every token and secret.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import harness
from clients import RawHub
from harness import JWT_KEY, jwt_token, new_text, wait_until
from wsraw import http_request

MESH_SECRET_ENV = "interop-env-mesh-secret-9f8e7d6c5b4a3210"
KEYS_FIRST = ["ts", "level", "logger"]


def parse_logfmt(line: str) -> list[tuple[str, str]]:
    """A strict logfmt reader: `key=value` pairs separated by one space; a value bare, or double-quoted with
    JSON string escapes. Raises ValueError on anything else."""
    out = []
    i, n = 0, len(line)
    while i < n:
        eq = line.index("=", i)
        key = line[i:eq]
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", key):
            raise ValueError(f"bad key {key!r}")
        i = eq + 1
        if i < n and line[i] == '"':
            j = i + 1
            while True:
                if j >= n:
                    raise ValueError("unterminated quote")
                if line[j] == "\\":
                    j += 2
                    continue
                if line[j] == '"':
                    break
                j += 1
            value = json.loads(line[i:j + 1])
            i = j + 1
        else:
            j = line.find(" ", i)
            j = n if j < 0 else j
            value = line[i:j]
            if not value or '"' in value or "=" in value:
                raise ValueError(f"bad bare value {value!r}")
            i = j
        out.append((key, value))
        if i < n:
            if line[i] != " ":
                raise ValueError(f"no space after {key}")
            i += 1
    return out


def read_events(path: Path, fmt: str) -> list[dict]:
    """Every line the replica wrote (the harness's `=====` start markers left out), parsed; fails on any line that
    is not one well-formed event."""
    events = []
    for raw in path.read_bytes().split(b"\n"):
        if not raw or raw.startswith(b"===== start "):
            continue
        line = raw.decode("utf-8")  # strict: a log line is UTF-8
        assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]", line), line
        if fmt == "json":
            obj = json.loads(line)
            assert isinstance(obj, dict) and all(isinstance(v, str) for v in obj.values()), line
            assert list(obj)[:3] == KEYS_FIRST, line
            event = obj
        else:
            pairs = parse_logfmt(line)
            keys = [k for k, _ in pairs]
            assert keys[:3] == KEYS_FIRST and len(set(keys)) == len(keys), line
            event = dict(pairs)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["ts"]), line
        assert event["level"] in ("trace", "debug", "info", "notice", "warning", "error", "critical"), line
        assert event.get("msg") is not None and event.get("node"), line
        event["_line"] = line
        events.append(event)
    return events


def starting_lines(events: list[dict]) -> list[dict]:
    return [e for e in events if e["logger"] == "main" and e["msg"] == "starting"]


def check_first_line(events: list[dict], node: str, cluster, peers_path: Path, fmt: str):
    first = events[0]
    assert first["msg"] == "starting" and first["logger"] == "main", first["_line"]
    assert first["node"] == node and first["cluster"] == "interop", first["_line"]
    assert first["http"] == cluster.http[node] and first["mesh"] == cluster.mesh[node], first["_line"]
    assert first["peers"] == str(peers_path.resolve()), first["_line"]
    assert first["log_format"] == fmt and re.fullmatch(r"\d+\.\d+\.\d+", first["version"]), first["_line"]


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_first_line_says_version_node_addresses_and_the_config_file(cluster_factory, fmt):
    c = cluster_factory(["a"], args=["--log-format", fmt], start=False)
    # Given relative to the working directory (the repository): the line names the file absolutely.
    absolute = c["a"].peers_path
    c["a"].peers_path = Path(os.path.relpath(absolute, harness.REPO))
    c.start()
    assert c["a"].ready_line == f"ready node=a http={c.http['a']} mesh={c.mesh['a']} page=http://{c.http['a']}/"

    def served():
        events = read_events(c["a"].log_path, fmt)
        return events if any(e["msg"] == "serving" for e in events) else None

    events = wait_until(served, 5.0, what="the 'serving' line")
    check_first_line(events, "a", c, absolute, fmt)
    assert "secret" not in events[0]["_line"] and harness.SECRET not in events[0]["_line"]


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_logs_have_connection_and_link_events_and_no_secret(cluster_factory, report, fmt):
    c = cluster_factory(["a", "b"], args=["--log-level", "trace", "--log-format", fmt], start=False)
    for r in c.replicas.values():
        # From the environment, so the harness's start marker (the command line) holds neither.
        r.env = {"MESH_SECRET": MESH_SECRET_ENV, "JWT_KEY": JWT_KEY}
    c.start()
    c.wait_meshed()
    pa, pb = c.port("a"), c.port("b")
    jwt = jwt_token({"sub": "log-user"})
    bad_jwt = jwt_token({"sub": "mallory"}, key="not-the-interop-key-0123456789abcdefghij")
    auth = {"Authorization": f"Bearer {jwt}"}

    # Clients over every transport, on a directly and through b (forwarded to a, which owns the connection).
    opened: list[tuple[RawHub, str, str]] = []
    for transport in ("WebSockets", "ServerSentEvents", "LongPolling"):
        for route in ("direct", "forwarded"):
            h = RawHub.open(transport, pa, connect_ports=[pb] if route == "forwarded" else None, headers=auth,
                            negotiate_headers=auth, extra_query=f"&access_token={jwt}")
            text = new_text("log")
            done = h.call("SendMessage", "log-user", text)
            assert done.get("type") == 3 and "error" not in done, done
            opened.append((h, transport, route))
    tokens = [h.token for h, _, _ in opened]
    ids = [h.connection_id for h, _, _ in opened]
    assert all(t and i and t != i for t, i in zip(tokens, ids)), "negotiate v1 gives a token apart from the id"

    # Requests refused or anonymous, each carrying a token somewhere.
    r = http_request(pa, "POST", f"/chatHub/negotiate?negotiateVersion=1&access_token={bad_jwt}",
                     headers={"Authorization": f"Bearer {bad_jwt}"})
    assert r.status == 200, r  # the chat hub lets anonymous users in; the bad token is only logged as refused
    r = http_request(pa, "POST", f"/chatHub/negotiate?access_token={jwt}",
                     headers={**auth, "Origin": "http://evil.example"})
    assert r.status == 403, r
    r = http_request(pa, "GET", f"/chatHub?id={tokens[0]}&access_token={jwt}", headers={**auth, "Host": "evil.example"})
    assert r.status == 403, r
    r = http_request(pa, "GET", f"/chatHub?id={tokens[0]}&access_token={jwt}")  # the token is in use: refused
    assert r.status in (400, 404, 409), r

    for h, _, _ in opened:
        h.close()

    # The mesh: b restarts (link down or peer left, then link up again, with the secret from the environment).
    c["b"].terminate()
    c["b"].start()
    c.wait_meshed()

    def closed_all():
        events = read_events(c["a"].log_path, fmt)
        closed = {e.get("conn") for e in events if e["msg"] == "connection closed"}
        return events if set(ids) <= closed else None

    events_a = wait_until(closed_all, 10.0, what="a 'connection closed' line for every connection")
    c["a"].terminate()
    c["b"].terminate()
    events_a = read_events(c["a"].log_path, fmt)
    events_b = read_events(c["b"].log_path, fmt)

    # The first line of every start.
    for node, events in (("a", events_a), ("b", events_b)):
        check_first_line(events, node, c, c[node].peers_path, fmt)
        assert len(starting_lines(events)) == (1 if node == "a" else 2), [e["_line"] for e in starting_lines(events)]

    # Connection events: the connection id (never the token) and what the connection was.
    for (h, transport, route), conn in zip(opened, ids):
        ev = [e for e in events_a if e.get("conn") == conn and e["msg"] in ("connection opened", "connection closed")]
        assert [e["msg"] for e in ev] == ["connection opened", "connection closed"], [e["_line"] for e in ev]
        for e in ev:
            assert e["logger"] == "hub" and e["transport"] == transport and e["protocol"] == "json", e["_line"]
            assert e["hub"], e["_line"]
            if route == "forwarded" and transport != "LongPolling":
                assert e.get("via") == "b", e["_line"]
            elif transport != "LongPolling" or route == "direct":
                assert re.fullmatch(r"127\.0\.0\.1:\d+", e.get("remote", "")), e["_line"]
        assert ev[1]["reason"] and re.fullmatch(r"\d+\.\d{3}s", ev[1]["duration"]), ev[1]["_line"]

    # Link events: peer, remote address, reason.
    ups = [e for e in events_a if e["msg"] == "link up" and e.get("peer") == "b"]
    assert len(ups) >= 2 and all(re.fullmatch(r"127\.0\.0\.1:\d+", e["remote"]) for e in ups), [e["_line"] for e in ups]
    downs = [e for e in events_a if e["msg"] in ("link down", "peer left") and e.get("peer") == "b"]
    assert downs, "b's restart left no link down / peer left line on a"
    assert all(e["remote"] and (e["msg"] == "peer left" or e["reason"]) for e in downs), [e["_line"] for e in downs]

    # Nothing secret, anywhere, in either log.
    needles = {"JWT key": JWT_KEY, "peers file secret": harness.SECRET, "MESH_SECRET": MESH_SECRET_ENV}
    for name, token in (("JWT", jwt), ("bad JWT", bad_jwt)):
        head, payload, sig = token.split(".")
        needles.update({name: token, f"{name} payload": payload, f"{name} signature": sig})
    for i, t in enumerate(tokens):
        needles[f"connection token {i}"] = t
    text = {node: b"\n".join(line for line in c[node].log_path.read_bytes().split(b"\n")
                              if not line.startswith(b"===== start ")) for node in ("a", "b")}
    for node, data in text.items():
        for what, needle in needles.items():
            assert needle.encode() not in data, f"{what} in {node}'s log: " + next(
                (line for line in data.decode(errors="replace").splitlines() if needle in line), "")[:300]
        assert b"Bearer" not in data and b"access_token" not in data and b"Authorization" not in data, node
    for conn in ids:
        assert f"conn={conn}".encode() in text["a"] or f'"conn":"{conn}"'.encode() in text["a"], conn
    report(f"{fmt}: {len(events_a)} lines on a, {len(events_b)} on b, {len(needles)} secrets looked for, none found")
