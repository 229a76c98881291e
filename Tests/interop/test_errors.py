"""Bad actors get the documented error while two healthy clients keep chatting before and after."""
from __future__ import annotations

import json
import socket
import threading
import time

from wsraw import (OP_TEXT, HubSocket, WsClosed, WsEOF, connection_closed, encode, read_response, RS)

HUB = "/chatHub"
CLOSE_WITH_ERROR = "Connection closed with an error."


def raw_conn(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def test_garbage_request_line_400(server, healthy_pair):
    s = raw_conn(server.port("a"))
    try:
        s.sendall(b"\x16\x03\x01 garbage that is not http\r\n\r\n")
        resp = read_response(s, bytearray(), 5.0)
        assert resp.status == 400, resp
        assert connection_closed(s, 5.0), "connection not closed after 400"
    finally:
        s.close()


def test_huge_header_431(server, healthy_pair):
    """A 1 MB header: 431, and the connection is closed. We keep reading while we write, because the server
    may answer (and stop reading) long before the header is complete."""
    s = raw_conn(server.port("a"))
    got = bytearray()
    done = threading.Event()

    def reader():
        try:
            while True:
                s.settimeout(10)
                chunk = s.recv(65536)
                if not chunk:
                    break
                got.extend(chunk)
        except OSError:
            pass
        done.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        chunk = b"a" * 65536
        for _ in range(16):
            s.sendall(chunk)
        s.sendall(b"\r\n\r\n")
    except OSError:
        pass  # the server may close (or reset) once it has answered
    assert done.wait(10), "connection not closed after an oversized header"
    assert got.startswith(b"HTTP/1.1 431"), bytes(got[:200])
    s.close()


def test_too_many_headers_is_refused(server, healthy_pair):
    s = raw_conn(server.port("a"))
    try:
        head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(2000)) + b"\r\n"
        try:
            s.sendall(head)
        except OSError:
            pass
        resp = read_response(s, bytearray(), 5.0)
        assert resp.status in (400, 431), resp
    finally:
        s.close()


def open_hub(port: int) -> HubSocket:
    return HubSocket.open(port)


def test_unmasked_frame_1002(server, healthy_pair):
    hs = open_hub(server.port("a"))
    try:
        hs.ws.send_frame(OP_TEXT, encode({"type": 6}).encode(), mask=False)
        assert hs.ws.wait_close(5.0) == 1002
        assert hs.ws.eof(5.0)
    finally:
        hs.close()


def test_rsv_bits_1002(server, healthy_pair):
    hs = open_hub(server.port("a"))
    try:
        hs.ws.send_frame(OP_TEXT, encode({"type": 6}).encode(), rsv=0b100)
        assert hs.ws.wait_close(5.0) == 1002
        assert hs.ws.eof(5.0)
    finally:
        hs.close()


def test_reserved_opcode_1002(server, healthy_pair):
    hs = open_hub(server.port("a"))
    try:
        hs.ws.send_frame(0x3, b"x")
        assert hs.ws.wait_close(5.0) == 1002
    finally:
        hs.close()


def test_invalid_utf8_1007(server, healthy_pair):
    hs = open_hub(server.port("a"))
    try:
        hs.ws.send_frame(OP_TEXT, b'{"type":1,"target":"SendMessage","arguments":["\xff\xfe","x"]}\x1e')
        assert hs.ws.wait_close(5.0) == 1007
        assert hs.ws.eof(5.0)
    finally:
        hs.close()


def expect_hub_close_with_error(hs: HubSocket, timeout: float = 5.0) -> dict:
    """The hub sends Close {"type":7,"error":...} and then the connection ends."""
    close = None
    try:
        close = hs.recv_until(lambda m: m.get("type") == 7, timeout)
    except (WsClosed, WsEOF, ConnectionResetError) as exc:
        raise AssertionError(f"connection ended without a hub Close message: {exc!r}")
    assert close.get("error") == CLOSE_WITH_ERROR, close
    assert isinstance(close.get("allowReconnect", False), bool), close
    hs.ws.wait_close(timeout)
    assert hs.ws.eof(timeout), "connection not closed after the hub Close message"
    return close


def test_40kb_hub_message_closes_with_error(server, healthy_pair):
    hs = open_hub(server.port("a"))
    try:
        big = "x" * (40 * 1024)
        hs.invoke("SendMessage", ["big", big], "1")
        expect_hub_close_with_error(hs)
    finally:
        hs.close()


def test_40kb_hub_message_in_fragments_closes_with_error(server, healthy_pair):
    hs = open_hub(server.port("a"))
    try:
        data = encode({"type": 1, "target": "SendMessage", "arguments": ["big", "y" * 40 * 1024]}).encode()
        step = 4096
        for i in range(0, len(data), step):
            first, last = i == 0, i + step >= len(data)
            try:
                hs.ws.send_frame(OP_TEXT if first else 0, data[i:i + step], fin=last)
            except OSError:
                break
        expect_hub_close_with_error(hs)
    finally:
        hs.close()


def test_unknown_method_completion_error(server, healthy_pair):
    hs = open_hub(server.port("a"))
    try:
        hs.invoke("Nope", [], "42")
        m = hs.recv_until(lambda m: m.get("type") == 3)
        assert m == {"type": 3, "invocationId": "42",
                     "error": "Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist."}
        # Still usable afterwards.
        hs.invoke("SendMessage", ["u", "after-nope"], "43")
        hs.recv_until(lambda m: m.get("type") == 3 and m.get("invocationId") == "43")
    finally:
        hs.close()


def test_unknown_method_without_invocation_id_gets_no_response(server, healthy_pair):
    hs = open_hub(server.port("a"))
    try:
        hs.invoke("Nope", [])
        hs.invoke("SendMessage", ["u", "marker"], "m")
        # The first non-ping message must be our own broadcast or its completion, never an answer to Nope.
        first = hs.recv()
        assert first.get("type") in (1, 3), first
        assert first.get("invocationId") in (None, "m"), first
    finally:
        hs.close()


def test_wrong_argument_count_completion_error(server, healthy_pair):
    hs = open_hub(server.port("a"))
    try:
        hs.invoke("SendMessage", ["only-one"], "7")
        m = hs.recv_until(lambda m: m.get("type") == 3)
        assert m == {"type": 3, "invocationId": "7",
                     "error": "Failed to invoke 'SendMessage' due to an error on the server."}
        hs.invoke("SendMessage", ["a", "b", "c"], "8")
        m = hs.recv_until(lambda m: m.get("type") == 3)
        assert m.get("error") == "Failed to invoke 'SendMessage' due to an error on the server.", m
    finally:
        hs.close()


def test_wrong_argument_type_completion_error(server, healthy_pair):
    hs = open_hub(server.port("a"))
    try:
        hs.invoke("SendMessage", [{"not": "a string"}, 5], "9")
        m = hs.recv_until(lambda m: m.get("type") == 3)
        assert m.get("error") == "Failed to invoke 'SendMessage' due to an error on the server.", m
    finally:
        hs.close()


def test_broken_json_closes_with_error(server, healthy_pair):
    hs = open_hub(server.port("a"))
    try:
        hs.ws.send_text('{"type":1,"target":"SendMessage","arguments":["a",' + RS)
        expect_hub_close_with_error(hs)
    finally:
        hs.close()


def test_client_close_frame_is_answered(server, healthy_pair):
    hs = open_hub(server.port("a"))
    try:
        hs.ws.send_close(1000)
        code = hs.ws.wait_close(5.0)
        assert code == 1000, code
        assert hs.ws.eof(5.0)
    finally:
        hs.close()


def test_ws_ping_gets_pong(server, healthy_pair):
    hs = open_hub(server.port("a"))
    try:
        hs.ws.send_frame(0x9, b"hello")
        deadline = time.monotonic() + 5
        while True:
            fin, op, payload = hs.ws.recv_frame(max(0.0, deadline - time.monotonic()))
            if op == 0xA:
                assert payload == b"hello"
                break
    finally:
        hs.close()


def test_half_open_http_then_close_does_not_hurt(server, healthy_pair):
    # Slow/abandoned clients: a partial request line then a reset.
    s = raw_conn(server.port("a"))
    s.sendall(b"GET /chatH")
    s.close()
    s = raw_conn(server.port("a"))
    s.sendall(b"POST /chatHub/negotiate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
    s.close()


def test_pipelined_requests_in_order(server, healthy_pair):
    s = raw_conn(server.port("a"))
    try:
        s.sendall(b"GET /does-not-exist HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                  b"POST /chatHub/negotiate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
                  b"GET /chatHub/negotiate HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        buf = bytearray()
        r1 = read_response(s, buf)
        r2 = read_response(s, buf)
        r3 = read_response(s, buf)
        assert (r1.status, r2.status, r3.status) == (404, 200, 405), (r1, r2, r3)
        assert "connectionId" in json.loads(r2.body)
    finally:
        s.close()
