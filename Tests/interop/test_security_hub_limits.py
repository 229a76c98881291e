"""Issue 9, weakness 7: what one hub connection may make the server hold, and what keeps it alive.

A WebSocket message on a hub connection could grow to 1 MiB before the 32 KB hub limit (maximum receive message
size) applied: the hub now reads the WebSocket payload as it arrives, so an oversize hub message is refused as
soon as it passes the limit, with the Close ASP.NET Core sends ("Connection closed with an error.",
allowReconnect, then WebSocket close 1000). And the client timeout is reset by any bytes from the client (a
partial frame, a WebSocket ping or pong), as ASP.NET Core resets it on every read, not only by whole hub messages."""
from __future__ import annotations

import os
import socket
import struct
import time

from wsraw import OP_PING, OP_PONG, OP_TEXT, HubSocket, WsClosed, WsEOF, encode

CLOSE_WITH_ERROR = "Connection closed with an error."


def masked_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    key = os.urandom(4)
    k = (key * (n // 4 + 1))[:n]
    body = (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big") if n else b""
    return head + key + body


def expect_close_with_error(hs: HubSocket, timeout: float = 5.0):
    """The hub's Close message with the error and allowReconnect, then the WebSocket close (1000) and EOF."""
    try:
        close = hs.recv_until(lambda m: m.get("type") == 7, timeout)
    except (WsClosed, WsEOF, ConnectionResetError, socket.timeout) as exc:
        raise AssertionError(f"no hub Close message: {exc!r}")
    assert close == {"type": 7, "error": CLOSE_WITH_ERROR, "allowReconnect": True}, close
    assert hs.ws.wait_close(timeout) == 1000, hs.ws.close_code
    assert hs.ws.eof(timeout), "socket still open after the close handshake"


def test_oversize_hub_message_refused_before_it_is_complete(server, healthy_pair, report):
    """A 40 KB hub message in one WebSocket frame, of which only the first 34 KB are sent: the server must not
    wait for the rest of the frame (it used to buffer up to 1 MiB per message before looking at it)."""
    hs = HubSocket.open(server.port("a"))
    try:
        message = encode({"type": 1, "target": "SendMessage", "arguments": ["big", "x" * 40 * 1024]}).encode()
        frame = masked_frame(OP_TEXT, message)
        t0 = time.monotonic()
        hs.ws.sock.sendall(frame[: 34 * 1024])
        expect_close_with_error(hs)
        report(f"40 KB message refused {time.monotonic() - t0:.3f}s after its first 34 KB, the rest never sent")
    finally:
        hs.close()


def test_oversize_hub_message_whole_and_fragmented(server, healthy_pair):
    for fragments in (1, 10):
        hs = HubSocket.open(server.port("a"))
        try:
            message = encode({"type": 1, "target": "SendMessage", "arguments": ["big", "y" * 40 * 1024]}).encode()
            step = len(message) // fragments + 1
            parts = [message[i:i + step] for i in range(0, len(message), step)]
            try:
                for i, part in enumerate(parts):
                    hs.ws.sock.sendall(masked_frame(OP_TEXT if i == 0 else 0, part, fin=i == len(parts) - 1))
            except OSError:
                pass  # the server may close while we are still sending
            expect_close_with_error(hs)
        finally:
            hs.close()


def test_several_hub_messages_in_one_websocket_message(server, healthy_pair):
    """Three 20 KB invocations (60 KB, over the hub limit together) in one WebSocket message are three messages,
    each under the limit; and one hub message may span several frames."""
    hs = HubSocket.open(server.port("a"))
    try:
        texts = [f"m{i}-" + "z" * 20_000 for i in range(3)]
        batch = b"".join(encode({"type": 1, "target": "SendMessage", "arguments": ["u", t], "invocationId": str(i)}).encode()
                         for i, t in enumerate(texts))
        hs.ws.sock.sendall(masked_frame(OP_TEXT, batch))
        done = set()
        while len(done) < 3:
            m = hs.recv(5.0)
            assert m.get("type") != 7, m
            if m.get("type") == 3:
                assert "error" not in m, m
                done.add(m["invocationId"])
        one = encode({"type": 1, "target": "SendMessage", "arguments": ["u", "split"], "invocationId": "9"}).encode()
        for i in range(0, len(one), 7):
            hs.ws.sock.sendall(masked_frame(OP_TEXT if i == 0 else 0, one[i:i + 7], fin=i + 7 >= len(one)))
        m = hs.recv_until(lambda m: m.get("type") == 3 and m.get("invocationId") == "9", 5.0)
        assert "error" not in m, m
    finally:
        hs.close()


def drain_for(hs: HubSocket, seconds: float):
    """Reads for `seconds` (pacing the test); anything the server sends must not be a Close, nor EOF."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            m = hs.recv_raw(left)
        except (socket.timeout, TimeoutError):
            return
        except (WsClosed, WsEOF, ConnectionResetError) as exc:
            raise AssertionError(f"the server closed a client that kept sending bytes: {exc!r}")
        assert m.get("type") != 7, f"closed although the client kept sending bytes: {m}"


def still_works(hs: HubSocket):
    hs.invoke("SendMessage", ["u", "still-here"], "99")
    m = hs.recv_until(lambda m: m.get("type") == 3 and m.get("invocationId") == "99", 5.0)
    assert "error" not in m, m


def test_partial_frame_bytes_reset_the_client_timeout(cluster_factory, report):
    """A frame sent one byte at a time over 3.5 × the client timeout: no whole message arrives for far longer
    than the timeout, but bytes do, so the connection stays (the timeout used to count whole messages only)."""
    c = cluster_factory(["a"], args=["--client-timeout", "1", "--keep-alive", "0.5"])
    hs = HubSocket.open(c.port("a"))
    try:
        frame = masked_frame(OP_TEXT, encode({"type": 6}).encode())
        t0 = time.monotonic()
        for b in frame:
            hs.ws.sock.sendall(bytes([b]))
            drain_for(hs, 0.2)
        report(f"one {len(frame)}-byte frame over {time.monotonic() - t0:.1f}s with --client-timeout 1: still connected")
        still_works(hs)
    finally:
        hs.close()


def test_websocket_pings_reset_the_client_timeout(cluster_factory):
    """WebSocket ping and pong frames (no hub message at all) more often than the client timeout keep it."""
    c = cluster_factory(["a"], args=["--client-timeout", "1", "--keep-alive", "0.5"])
    hs = HubSocket.open(c.port("a"))
    try:
        for i in range(10):
            hs.ws.send_frame(OP_PING if i % 2 == 0 else OP_PONG, b"hb")
            drain_for(hs, 0.3)
        still_works(hs)
    finally:
        hs.close()


def test_silent_client_still_times_out(cluster_factory):
    c = cluster_factory(["a"], args=["--client-timeout", "1", "--keep-alive", "0.5"])
    hs = HubSocket.open(c.port("a"))
    try:
        close = hs.recv_until(lambda m: m.get("type") == 7, 4.0)
        assert close.get("allowReconnect") is True, close
    finally:
        hs.close()
