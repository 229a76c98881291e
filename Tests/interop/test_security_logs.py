"""Issue 9, weakness 5 (server side): log injection and flooding.

Refused Origins, paths and hub method names are client text: in a log line they are fields, quoted, escaped and
cut short, and the lines a client can cause at will are rate limited (a burst, then a count of what was held back:
`suppressed=N`)."""
from __future__ import annotations

import base64
import os
import re
import socket
import time

from harness import wait_until
from wsraw import HubSocket, read_response

HUB = "/chatHub"


def log_lines(path) -> list[bytes]:
    return open(path, "rb").read().splitlines()


def pipelined_refusals(port: int, n: int, origins: list[bytes]):
    """n WebSocket upgrade requests with foreign Origins (cycling through `origins`) pipelined on one connection;
    every answer must be 403."""
    reqs = []
    for i in range(n):
        key = base64.b64encode(os.urandom(16))
        reqs.append(b"GET " + HUB.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOrigin: %s\r\n\r\n"
                    % (port, key, origins[i % len(origins)]))
    statuses = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        buf = bytearray()
        for start in range(0, n, 50):
            s.sendall(b"".join(reqs[start:start + 50]))
            for _ in range(min(50, n - start)):
                statuses.append(read_response(s, buf, 10).status)
    assert set(statuses) == {403}, set(statuses)


def test_refused_origin_flood_is_escaped_and_rate_limited(cluster_factory, report):
    c = cluster_factory(["a"])
    port = c.port("a")
    log = c["a"].log_path
    before = len(log_lines(log))
    origins = [
        b"http://evil.example\tforged",                     # a tab (the one control byte a header may hold)
        b"http://evil.example/\x9b31mred\xc2\x9b2J",          # C1 CSI as Latin-1 and as UTF-8 (obs-text)
        b"http://" + b"A" * 20_000 + b".example",          # long (the header section is capped at 32 KiB)
        b"null",
    ]
    t0 = time.monotonic()
    pipelined_refusals(port, 1000, origins)
    # The held-back lines are counted in one line once the rate interval has passed.
    wait_until(lambda: any(b"suppressed" in line for line in log_lines(log)[before:]), 15.0,
               what="a line counting the suppressed refusals")
    lines = [line for line in log_lines(log)[before:] if b"refused" in line]
    report(f"1000 refused upgrades -> {len(lines)} log lines in {time.monotonic() - t0:.1f}s; last: {lines[-1][-80:]!r}")
    assert 2 <= len(lines) <= 8, lines
    # Each refusal is a line of its own, or counted in a later line (`suppressed=N`).
    counted = sum(int(m.group(1)) for line in lines for m in [re.search(rb"suppressed=(\d+)", line)] if m)
    assert counted + len([line for line in lines if b"msg=\"lines suppressed\"" not in line]) >= 1000 - 5, lines
    for line in lines:
        assert len(line) < 600, f"{len(line)} bytes: {line[:200]!r}"
        assert not re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", line), line
        assert b"\xc2\x9b" not in line and b"\x9b" not in line, line


def test_hub_method_name_cannot_forge_log_lines(cluster_factory):
    c = cluster_factory(["a"], args=["--log-level", "debug"])
    log = c["a"].log_path
    hs = HubSocket.open(c.port("a"))
    try:
        evil = "x\nts=2026-01-01T00:00:00.000Z level=error msg=FORGED\u001b[2J" + "y" * 20_000
        hs.invoke(evil, [], "1")
        m = hs.recv_until(lambda m: m.get("type") == 3)
        assert "Method does not exist" in m.get("error", ""), m
    finally:
        hs.close()
    line = wait_until(lambda: next((x for x in log_lines(log) if b"unknown hub method" in x), None), 5.0,
                      what="the unknown-method line")
    assert b"FORGED" in line and not any(x.startswith(b"ts=2026-01-01") for x in log_lines(log)), line
    assert b' method="x\\nts=2026-01-01' in line and b"\\u001b[2J" in line and b"(+" in line, line
    assert b"\x1b" not in line and len(line) < 400, line
