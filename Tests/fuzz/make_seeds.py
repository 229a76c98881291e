#!/usr/bin/env python3
"""Writes the hand-made seed inputs of every fuzz target into Tests/fuzz/corpus/<target>/seed-<name>.

Each input starts with the harness's 3 steering bytes (Sources/Fuzz/FuzzInput.swift): [flags][cut hi][cut lo],
then the payload the parser sees. Seeds are real requests, frames, hub messages and peers.json files, including
what the real clients send (/work/shared/docs/clients.md), plus a few known-bad ones. Re-run after changing a seed;
the files are committed. Usage: python3 Tests/fuzz/make_seeds.py
"""
import base64
import hashlib
import hmac
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, payload, flags=0, cut=None, prefix="seed-"):
    """flags: the low nibble is the target's switches, the high nibble (piece size - 1) of the pieces feed.
    Inputs that once found a bug are named regress-* (prefix="regress-"); the fuzzer's own finds are copied in as is."""
    if cut is None:
        cut = len(payload) // 2
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, prefix + name), "wb") as f:
        f.write(bytes([flags]) + struct.pack(">H", cut) + payload)


def crlf(*lines):
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# ------------------------------------------------------------------------------------------------------- http

JS_UA = "Microsoft SignalR/8.0 (8.0.7; Unknown OS; Browser; Unknown Runtime Version)"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def ws_frame(opcode, payload, fin=True, mask=b"\x37\xfa\x21\x3d", rsv=0):
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    m = 0x80 if mask is not None else 0
    n = len(payload)
    if n <= 125:
        head += bytes([m | n])
    elif n <= 0xFFFF:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


http = {
    "get": crlf("GET / HTTP/1.1", "Host: 127.0.0.1:5001"),
    "negotiate-js": crlf(
        "POST /chatHub/negotiate?negotiateVersion=1 HTTP/1.1", "Host: 127.0.0.1:5001", "Content-Length: 0",
        "Origin: http://localhost:8080", "X-Requested-With: XMLHttpRequest", "X-SignalR-User-Agent: " + JS_UA,
        "Content-Type: text/plain;charset=UTF-8", "Accept: */*"),
    "negotiate-signalrcore": crlf(
        "POST /chatHub/negotiate HTTP/1.1", "Host: 127.0.0.1", "User-Agent: python-requests/2.31.0",
        "Accept-Encoding: gzip, deflate", "Accept: */*", "Connection: keep-alive", "Content-Length: 0"),
    "negotiate-stale-id": crlf("POST /chatHub/negotiate?id=Zm9vYmFy&negotiateVersion=1 HTTP/1.1", "Host: h", "Content-Length: 0"),
    "negotiate-bad-version": crlf("POST /chatHub/negotiate?negotiateVersion=%201%20 HTTP/1.1", "Host: h", "Content-Length: 0"),
    "upgrade-js": crlf(
        "GET /chatHub?id=abc123token HTTP/1.1", "Host: 127.0.0.1:5001", "Connection: Upgrade", "Upgrade: websocket",
        "Origin: http://127.0.0.1:5001", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: " + KEY,
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits", "User-Agent: Mozilla/5.0"),
    "upgrade-signalrcore-no-port": crlf(
        "GET /chatHub?id=xyz HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: " + KEY, "Sec-WebSocket-Version: 13"),
    "upgrade-skip-negotiation": crlf(
        "GET /chatHub?connectionId=random HTTP/1.1", "Host: localhost:5001", "Upgrade: websocket",
        "Connection: keep-alive, Upgrade", "Sec-WebSocket-Key: " + KEY, "Sec-WebSocket-Version: 13"),
    "upgrade-with-leftover": crlf(
        "GET /chatHub HTTP/1.1", "Host: h", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: " + KEY,
        "Sec-WebSocket-Version: 13") + ws_frame(1, b'{"protocol":"json","version":1}\x1e'),
    "upgrade-bad-key": crlf(
        "GET /ws-echo HTTP/1.1", "Host: h", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: short",
        "Sec-WebSocket-Key: again", "Sec-WebSocket-Version: 8"),
    "preflight": crlf(
        "OPTIONS /chatHub/negotiate?negotiateVersion=1 HTTP/1.1", "Host: 127.0.0.1:5001", "Origin: http://localhost:3000",
        "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: x-requested-with,x-signalr-user-agent"),
    "preflight-foreign": crlf(
        "OPTIONS /api/mesh HTTP/1.1", "Host: 127.0.0.1:5001", "Origin: http://127.0.0.1.nip.io",
        "Access-Control-Request-Method: get"),
    "chunked-trailer": b"POST /chatHub?id=x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n3\r\n 42\r\n0\r\nX-Trailer: yes\r\n\r\n",
    "pipelined-expect": crlf("POST /a HTTP/1.1", "Host: h", "Expect: 100-continue", "Content-Length: 3")
        + b"abc" + crlf("GET /b?x=1&y=%zz&z=a+b HTTP/1.1", "Host: h", "Connection: close"),
    "http10-keepalive": crlf("GET /index.html HTTP/1.0", "Connection: keep-alive") + crlf("HEAD / HTTP/1.0"),
    "absolute-form": crlf("GET http://Example.COM:80/p%C3%A9th?q=%E2%9C%93&&flag HTTP/1.1", "Host: example.com"),
    "asterisk": crlf("OPTIONS * HTTP/1.1", "Host: h"),
    "leading-crlf": b"\r\n\r\n" + crlf("DELETE /chatHub?id=1 HTTP/1.1", "Host: h"),
    "content-length-list": crlf("POST / HTTP/1.1", "Host: h", "Content-Length: 2, 2") + b"ok",
    "traversal": crlf("GET /../etc/passwd HTTP/1.1", "Host: h") + crlf("GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1", "Host: h")
        + crlf("GET /out/passwd HTTP/1.1", "Host: h") + crlf("GET /sub/up/index.html HTTP/1.1", "Host: h")
        + crlf("GET /sub/ HTTP/1.1", "Host: h") + crlf("GET /app.js HTTP/1.1", "Host: h"),
    "bad-obs-fold": crlf("GET / HTTP/1.1", "Host: h", "X-A: 1", " folded"),
    "bad-cl-and-te": crlf("POST / HTTP/1.1", "Host: h", "Content-Length: 3", "Transfer-Encoding: chunked"),
    "bad-bare-cr": b"GET / HTTP/1.1\rHost: h\r\n\r\n",
    "bad-space-before-colon": crlf("GET / HTTP/1.1", "Host : h"),
    "bad-version": crlf("GET / HTTP/2.0", "Host: h"),
    "bad-te": crlf("POST / HTTP/1.1", "Host: h", "Transfer-Encoding: gzip, chunked"),
    "bad-two-hosts": crlf("GET / HTTP/1.1", "Host: a", "Host: b"),
}
for name, payload in http.items():
    write("http", name, payload)
for name in ("negotiate-js", "upgrade-js", "chunked-trailer", "pipelined-expect", "traversal"):
    write("http", name + "-tiny", http[name], flags=0x01)
write("http", "upgrade-js-bytewise", http["upgrade-js"], flags=0x00, cut=7)
write("http", "chunked-7-pieces", http["chunked-trailer"], flags=0x60, cut=40)

# -------------------------------------------------------------------------------------------------- websocket

handshake = b'{"protocol":"json","version":1}\x1e'
ws = {
    "text-handshake": ws_frame(1, handshake),
    "text-invocation": ws_frame(1, b'{"type":1,"target":"SendMessage","arguments":["alice","h\xc3\xa9llo \xf0\x9f\x91\x8b"]}\x1e'),
    "fragmented-with-ping": ws_frame(1, b"h\xc3", fin=False) + ws_frame(9, b"ping!") + ws_frame(0, b"\xa9llo", fin=False)
        + ws_frame(0, b"", fin=True),
    "binary-16bit-length": ws_frame(2, bytes(range(256)) * 2),
    "close-with-reason": ws_frame(8, struct.pack(">H", 1000) + "bye \u00e9".encode()),
    "close-empty": ws_frame(8, b""),
    "pong-then-text": ws_frame(10, b"unsolicited") + ws_frame(1, b"\xe2\x82\xac"),
    "many-small": b"".join(ws_frame(1, b'{"type":6}\x1e') for _ in range(20)),
    "bad-utf8": ws_frame(1, b"ok \xed\xa0\x80 surrogate"),
    "bad-utf8-fragment": ws_frame(1, b"\xf0\x9f", fin=False) + ws_frame(0, b"\x41"),
    "bad-rsv": ws_frame(1, b"x", rsv=4),
    "bad-unmasked": ws_frame(1, b"x", mask=None),
    "bad-close-code": ws_frame(8, struct.pack(">H", 1005)),
    "bad-ping-too-long": b"\x89\xfe\x00\x7e" + b"\x00\x00\x00\x00" + b"p" * 126,
    "bad-64bit-length": b"\x82\xff\x80\x00\x00\x00\x00\x00\x00\x01" + b"\x00" * 4,
    "huge-announced": b"\x82\xff\x00\x00\x00\x00\x7f\xff\xff\xff" + b"\x01\x02\x03\x04" + b"abc",
}
for name, payload in ws.items():
    write("websocket", name, payload)
write("websocket", "fragmented-small-limits", ws["fragmented-with-ping"], flags=0x01, cut=3)
write("websocket", "binary-small-limits", ws["binary-16bit-length"], flags=0x21)
write("websocket", "client-role", ws_frame(1, b"from server", mask=None) + ws_frame(8, struct.pack(">H", 1001), mask=None),
      flags=0x02)
write("websocket", "server-closes-first", ws["text-invocation"] + ws["close-with-reason"], flags=0x04)
write("websocket", "utf8-mixed", "a\u00e9\u20ac\U0001F600\uFFFD\u0800\U0010FFFF".encode() + b"\xf4\x90\x80\x80")

# -------------------------------------------------------------------------------------------------------- hub

RS = b"\x1e"
hub_messages = {
    "invocation-js": b'{"type":1,"invocationId":"0","target":"SendMessage","arguments":["alice","hi"]}',
    "invocation-signalrcore": b'{"type": 1, "invocationId": "e7c8b1d2-0000-4000-8000-000000000001", "target": "SendMessage", '
        b'"arguments": ["bob", "hello"], "headers": {"User-Agent": "signalrcore/1.0.2", "Accept": "*/*", "n": 1}}',
    "invocation-pysignalr": b'{"type":1,"target":"SendMessage","arguments":["carol",{"nested":[1,2.5e3,-0,true,null]}]}',
    "stream-invocation": b'{"type":4,"invocationId":"7","target":"Counter","arguments":[10,500],"streamIds":["s1"]}',
    "stream-item": b'{"type":2,"invocationId":"s1","item":"\\ud83d\\ude00"}',
    "completion-result": b'{"type":3,"invocationId":"1","result":{"a":[]}}',
    "completion-error": b'{"type":3,"invocationId":"1","error":"boom"}',
    "cancel": b'{"type":5,"invocationId":"7"}',
    "ping": b'{"type":6}',
    "close": b'{"type":7,"error":"bye","allowReconnect":true}',
    "ack": b'{"type":8,"sequenceId":1394}',
    "sequence": b'{"type":9,"sequenceId":-9223372036854775808}',
    "type-last-escaped-key": b'{"target":"x","arguments":[],"t\\u0079pe":1}',
}
handshakes = {
    "js": b'{"protocol":"json","version":1}',
    "signalrcore": b'{"protocol": "json", "version": 0}',
    "stateful": b'{"protocol":"json","version":2}',
    "messagepack": b'{"protocol":"messagepack","version":1}',
    "bad": b'{"protocol":1}',
}
session = RS.join([hub_messages[k] for k in ("invocation-js", "ping", "stream-invocation", "cancel", "close")]) + RS
write("hub", "session-js", handshakes["js"] + RS + session, flags=0x01)
write("hub", "session-signalrcore", handshakes["signalrcore"] + RS + hub_messages["invocation-signalrcore"] + RS, flags=0x01)
for name, body in handshakes.items():
    write("hub", "handshake-" + name, body + RS + hub_messages["ping"] + RS, flags=0x01)
for name, body in hub_messages.items():
    write("hub", name, body + RS)
write("hub", "too-large-small-limit", hub_messages["invocation-signalrcore"] * 2 + RS, flags=0x02)
write("hub", "unterminated", b'{"type":1,"target":"SendMessage","arguments":[')
write("hub", "bad-both-result-and-error", b'{"type":3,"invocationId":"1","result":1,"error":"x"}' + RS)
write("hub", "unknown-type", b'{"type":42}' + RS + hub_messages["ping"] + RS)

# ---------------------------------------------------------------------------------------------------- msgpack


def varint(n):
    out = b""
    while n >= 0x80:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n])


def mp_framed(*bodies):
    return b"".join(varint(len(b)) + b for b in bodies)


# HubProtocol.md's MessagePack examples (bodies), plus what signalrcore (5-element invocations with headers) sends.
mp_messages = {
    "invocation": bytes.fromhex("96 01 80 a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90"),
    "invocation-non-blocking": bytes.fromhex("96 01 80 c0 a6 6d 65 74 68 6f 64 91 2a 90"),
    "invocation-headers": bytes.fromhex("96 01 82 a1 78 a1 79 a1 7a a1 7a a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90"),
    "invocation-signalrcore": bytes.fromhex("95 01 81 aa 55 73 65 72 2d 41 67 65 6e 74 a6 50 79 74 68 6f 6e a1 31 ab")
        + b"SendMessage" + bytes.fromhex("92 a3") + b"bob" + bytes.fromhex("a5") + b"hello",
    "invocation-values": bytes.fromhex("96 01 80 c0 a1 4d 9a c0 c3 cb 3f b9 99 99 99 99 99 9a ca 3d cc cc cd"
        "cf ff ff ff ff ff ff ff ff d3 80 00 00 00 00 00 00 00 c4 03 01 02 03 82 a1 61 91 90 a1 61 80"
        "da 00 02 c3 a9 cb 7f f8 00 00 00 00 00 00 91 a1 73"),
    "stream-invocation": bytes.fromhex("96 04 80 a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90"),
    "stream-item": bytes.fromhex("94 02 80 a3 78 79 7a 2a"),
    "completion-error": bytes.fromhex("95 03 80 a3 78 79 7a 01 a5 45 72 72 6f 72"),
    "completion-void": bytes.fromhex("94 03 80 a3 78 79 7a 02"),
    "completion-result": bytes.fromhex("95 03 80 a3 78 79 7a 03 2a"),
    "cancel": bytes.fromhex("93 05 80 a3 78 79 7a"),
    "ping": bytes.fromhex("91 06"),
    "close": bytes.fromhex("92 07 a3 78 79 7a"),
    "close-reconnect": bytes.fromhex("93 07 a3 78 79 7a c3"),
    "ack": bytes.fromhex("92 08 cc 24"),
    "sequence": bytes.fromhex("92 09 cc 13"),
    "unknown-type": bytes.fromhex("91 0a"),
    "extra-elements": bytes.fromhex("95 05 80 a1 78 01 92 c3 a0"),
    "bad-ext-argument": bytes.fromhex("95 01 80 c0 a1 4d 91 d6 ff 00 00 00 01"),
}
for name, body in mp_messages.items():
    write("msgpack", name, mp_framed(body))
write("msgpack", "session", mp_framed(*[mp_messages[k] for k in
      ("invocation", "ping", "stream-invocation", "unknown-type", "cancel", "completion-result", "close")]), flags=0x30)
write("msgpack", "too-large-small-limit", mp_framed(mp_messages["ping"], b"\x91" + b"\x06" * 300), flags=0x01)
write("msgpack", "bad-prefix", mp_framed(mp_messages["ping"]) + b"\x80\x80\x80\x80\x80\x01")
write("msgpack", "deep-limited", mp_framed(bytes.fromhex("95 01 80 c0 a1 4d 91 91 91 90")), flags=0x02)
write("msgpack", "large-string", mp_framed(bytes.fromhex("94 02 80 a1 31 da 04 00") + b"x" * 1024), flags=0xF0)

# ------------------------------------------------------------------------------------------------------- json

json_docs = dict(hub_messages)
json_docs.update({
    "handshake": handshakes["signalrcore"],
    "negotiate": b'{"negotiateVersion":1,"connectionId":"a","connectionToken":"b","availableTransports":'
        b'[{"transport":"WebSockets","transferFormats":["Text","Binary"]}]}',
    "escapes": b'["\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\u001f\\u00e9\\u20ac\\ud834\\udd1e"]',
    "numbers": b"[0,-0,1,-1,12.5,1e10,1E-5,-0.0e+0,9223372036854775807,-9223372036854775808,9223372036854775808,1.5e400]",
    "nested": b'{"a":{"b":{"c":{"d":{"e":[[[[]]]]}}}}}',
    "scalars": b' \t\r\n true ',
    "utf8": '{"k":"a\u00e9\u20ac\U0001F600"}'.encode(),
    "duplicates": b'{"a":1,"a":2}',
    "bad-leading-zero": b"[01]",
    "bad-lone-surrogate": b'"\\udc00"',
    "bad-utf8": b'"\xc0\xaf"',
    "bad-trailing": b"{} x",
})
for name, doc in json_docs.items():
    write("json", name, doc)
write("json", "deep-limited", b"[" * 5 + b"]" * 5, flags=0x01)

# -------------------------------------------------------------------------------------------------- meshframe


def mstr(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def frame(ftype, body=b""):
    return struct.pack(">I", 1 + len(body)) + bytes([ftype]) + body


def hello(cluster, node, epoch, nonce):
    return frame(1, struct.pack(">H", 1) + mstr(cluster) + mstr(node) + struct.pack(">Q", epoch) + nonce)


def cursors(items):
    return struct.pack(">H", len(items)) + b"".join(mstr(o) + struct.pack(">QQ", e, s) for o, e, s in items)


mesh = {
    "hello": hello("demo", "a", 1, bytes(range(32))),
    "auth": frame(2, bytes(range(32, 64))),
    "accept": frame(3),
    "reject": frame(4, mstr("cluster mismatch")),
    "resume": frame(5, cursors([("a", 1, 0), ("b", 1754000000000, 42)])),
    "data": frame(6, mstr("a") + struct.pack(">QQB", 1, 7, 0) + struct.pack(">I", 5) + b"hello"),
    "data-gap": frame(6, mstr("node-1") + struct.pack(">QQB", 2**63, 2**64 - 1, 1) + struct.pack(">I", 0)),
    "ack": frame(7, cursors([("a", 1, 7)])),
    "heartbeat": frame(8, struct.pack(">Q", 123456789)),
    "heartbeat-ack": frame(9, struct.pack(">Q", 123456789)),
    "links": frame(10, struct.pack(">H", 2) + mstr("b") + struct.pack(">QB", 5, 1) + mstr("c") + struct.pack(">QB", 6, 0)),
    "leaving": frame(11),
}
for name, payload in mesh.items():
    write("meshframe", name, payload)
write("meshframe", "stream", b"".join(mesh.values()), flags=0x02)
write("meshframe", "stream-small-limit", b"".join(mesh.values()), flags=0x31, cut=9)
write("meshframe", "bad-empty", struct.pack(">I", 0))
write("meshframe", "bad-too-large", struct.pack(">I", 4 * 2**20 + 1) + b"\x06")
write("meshframe", "bad-type", frame(99, b"?"))
write("meshframe", "bad-utf8", frame(4, struct.pack(">H", 2) + b"\xc3\x28"))
write("meshframe", "bad-count", frame(7, struct.pack(">H", 65535)))
write("meshframe", "bad-trailing", frame(3, b"\x00"))

# ---------------------------------------------------------------------------------------------- meshhandshake
# Script ops (MeshHandshakeTarget): 0/1 deliver to acceptor/dialer, 2/3 inject [u8 len][type+body] into
# acceptor/dialer, 4 accept, 5 reject (bit 3: dialer), 6 drop, 7 corrupt [pos][xor].


def inject(op, framed):
    body = framed[4:]
    return bytes([op, len(body)]) + body


honest = bytes([0, 1, 1, 0, 4, 1])
write("meshhandshake", "honest", honest)
write("meshhandshake", "honest-then-noise", honest + bytes([0, 1, 2, 3, 4, 5, 13, 6, 14, 7]))
write("meshhandshake", "tie-break-reject", bytes([0, 1, 1, 0, 5, 1]))
write("meshhandshake", "dialer-rejects", bytes([0, 13, 1, 1, 0]))
write("meshhandshake", "corrupt-auth", bytes([0, 1, 1, 7, 10, 0x40, 4, 1]))
write("meshhandshake", "drop-hello", bytes([6, 0, 1, 1]))
write("meshhandshake", "forged-hello-x", inject(2, hello("demo", "x", 9, b"\x55" * 32)) + bytes([1, 1, 0]))
write("meshhandshake", "forged-hello-d", inject(2, hello("demo", "d", 2, b"\x66" * 32)) + bytes([0, 1, 1, 0, 4, 1]))
write("meshhandshake", "wrong-cluster", inject(2, hello("other", "d", 2, b"\x66" * 32)) + bytes([1]))
write("meshhandshake", "echoed-nonce", inject(3, hello("demo", "a", 1, b"\xd1" * 32)) + bytes([0, 1]))
write("meshhandshake", "early-accept", inject(3, frame(3)) + bytes([0, 1]))
write("meshhandshake", "forged-auth", bytes([0, 1]) + inject(2, frame(2, b"\x00" * 32)) + bytes([4, 1, 1]))
write("meshhandshake", "reject-frame", bytes([0]) + inject(3, frame(4, mstr("go away"))) + bytes([1, 1]))

# ------------------------------------------------------------------------------------------------------ peers

with open(os.path.join(os.path.dirname(ROOT), "..", "..", "peers.json"), "rb") as f:
    sample = f.read()
write("peers", "sample", sample)
write("peers", "sample-env-secret", sample, flags=0x01)


def peers(replicas, cluster="demo", secret="a-long-private-secret-xyz", **extra):
    doc = {"cluster": cluster, "secret": secret, "replicas": replicas}
    doc.update(extra)
    return json.dumps(doc).encode()


def rep(i, http, mesh):
    return {"id": i, "http": http, "mesh": mesh}


write("peers", "ipv6", peers([rep("a", "[::1]:5001", "[::1]:6001"), rep("b", "[fe80::1%lo]:5002", "[2001:db8::7]:6002")]))
write("peers", "localhost", peers([rep("a", "localhost:5001", "localhost:6001"), rep("b", "127.0.0.2:5001", "10.0.0.2:6001")]))
write("peers", "unicode-id", peers([rep("r\u00e9plica-\U0001F600", "127.0.0.1:1", "127.0.0.1:65535")], cluster="\u96c6\u7fa4"))
write("peers", "null-secret", peers([rep("a", "127.0.0.1:5001", "127.0.0.1:6001")], secret=None), flags=0x01)
write("peers", "extra-fields", peers([dict(rep("a", "127.0.0.1:5001", "127.0.0.1:6001"), weight=3)], comment="x"))
write("peers", "bad-duplicate-address", peers([rep("a", "localhost:5001", "127.0.0.1:6001"), rep("b", "127.0.0.1:5001", "127.0.0.1:6002")]))
write("peers", "bad-duplicate-id", peers([rep("a", "127.0.0.1:1", "127.0.0.1:2"), rep("a", "127.0.0.1:3", "127.0.0.1:4")]))
write("peers", "bad-leading-zero", peers([rep("a", "127.0.0.01:5001", "127.0.0.1:6001")]))
write("peers", "bad-port", peers([rep("a", "127.0.0.1:0", "127.0.0.1:65536")]))
write("peers", "bad-types", b'{"cluster":1,"secret":[],"replicas":{}}')
write("peers", "bad-demo-secret-public", peers([rep("a", "127.0.0.1:5001", "10.1.2.3:6001")], secret="demo-secret-change-me-0123456789"))
write("peers", "bad-json", b'{"cluster":"demo",')
# Accepted as ::1 before the fix (inet_pton stopped at the NUL): MeshConfigTests.badAddresses.
write("peers", "ipv6-nul", b"[::1\x00x]:6001", prefix="regress-")
write("peers", "ipv6-nul-json", peers([rep("a", "127.0.0.1:5001", "[::1\u0000x]:6001")]), prefix="regress-")
for name, text in {"v4": "127.0.0.1:6001", "v6": "[::ffff:127.0.0.1]:1", "localhost": "localhost:80",
                   "bad-v6": "[::1:6001", "bad-host": "example.com:80"}.items():
    write("peers", "hostport-" + name, text.encode())

# -------------------------------------------------------------------------------------------------------- jwt
# Flags (Sources/Fuzz/JWTTarget.swift): bits 0-1 = mode (0 raw token, 1 "<h>.<p>" signed by the harness,
# 2 header JSON + claims JSON cut at `cut`, 3 claims JSON under {"alg":"HS256"}); bit 2 = require exp; bit 3 = 60 s skew.
# The harness clock stands at 1 000 000 000; its key is below.

JWT_KEY = b"fuzz-harness-hs256-key-0123456789"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def jwt(header, claims, key=JWT_KEY):
    signing_input = b64url(header) + b"." + b64url(claims)
    return signing_input + b"." + b64url(hmac.new(key, signing_input, hashlib.sha256).digest())


HS = b'{"alg":"HS256","typ":"JWT"}'
good = jwt(HS, b'{"sub":"alice","exp":2000000000,"nbf":999999000}')
jwt_raw = {
    "good": good,
    "expired": jwt(HS, b'{"sub":"alice","exp":999999999}'),
    "not-yet": jwt(HS, b'{"sub":"alice","nbf":1000000001.5}'),
    "nameid": jwt(HS, b'{"nameid":"bob"}'),
    "long-nameidentifier": jwt(HS, b'{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier":"carol"}'),
    "bad-alg-none": b64url(b'{"alg":"none"}') + b"." + b64url(b'{"sub":"admin"}') + b".",
    "bad-rs256": jwt(b'{"alg":"RS256"}', b'{"sub":"a"}'),
    "bad-other-key": jwt(HS, b'{"sub":"a"}', key=b"another key"),
    "bad-padding": good + b"=",
    "bad-two-segments": b".".join(good.split(b".")[:2]),
    "bad-exp-string": jwt(HS, b'{"exp":"soon"}'),
    "bearer-header": b"Bearer  " + good,
    "target": b"/chatHub?id=AbC&access_token=" + good,
    "target-encoded-key": b"http://h/chatHub/negotiate?negotiateVersion=1&%61ccess_Token=" + good + b"&x=1&&access_token",
}
for name, token in jwt_raw.items():
    write("jwt", name, token)
write("jwt", "signed-segments", b64url(HS) + b"." + b64url(b'{"sub":"a"}'), flags=0x01)
write("jwt", "signed-segments-bad-payload", b64url(HS) + b".e30=", flags=0x01)
for name, header, claims in [
    ("json-good", HS, b'{"sub":"alice","exp":1000000000.5}'),
    ("json-crit", b'{"alg":"HS256","b64":false,"crit":["b64"]}', b"{}"),
    ("json-hs512", b'{"alg":"HS512"}', b'{"sub":"a"}'),
    ("json-dup-alg", b'{"alg":"none","alg":"HS256"}', b'{"sub":42,"nameid":"n"}'),
    ("json-not-object", HS, b'["sub"]'),
]:
    write("jwt", name, header + claims, flags=0x02, cut=len(header))
write("jwt", "claims-skew", b'{"sub":"a","exp":999999950,"nbf":1000000050}', flags=0x0B)
write("jwt", "claims-require-exp", b'{"sub":"a"}', flags=0x07)
write("jwt", "claims-escapes", b'{"sub":"Ren\\u00e9e","exp":1e10,"sub":"last"}', flags=0x03)

# ---------------------------------------------------------------------------------------------------- cluster
# ClusterMessage (Sources/Server/SignalRMesh/Backplane/ClusterMessage.swift): u8 version 2 | u8 kind | fields; an
# interest key is hub string | u8 kind | name string. The target's first seeds (no seed- prefix) were written by
# hand; these add presence names (key kind 4, issue 12) in interest changes and snapshots.


def ckey(hub, kind, name):
    return mstr(hub) + bytes([kind]) + mstr(name)


def interest(key, added, announce):
    return bytes([2, 2]) + key + bytes([1 if added else 0]) + struct.pack(">Q", announce)


def snapshot(reset, keys):
    return bytes([2, 5, 1 if reset else 0]) + struct.pack(">I", len(keys)) + b"".join(keys)


write("cluster", "presence-join", interest(ckey("ChatHub", 4, "alice"), True, 9))
write("cluster", "presence-leave", interest(ckey("ChatHub", 4, "Zo\u00eb \U0001F600"), False, 0))
write("cluster", "presence-snapshot", snapshot(False, [ckey("ChatHub", 4, "alice"), ckey("ChatHub", 4, "bob")]))
write("cluster", "presence-mixed-snapshot", snapshot(True, [ckey("ChatHub", 1, "room"), ckey("ChatHub", 4, "carol"),
                                                           ckey("DemoHub", 2, "user-1")]))
write("cluster", "bad-key-kind", interest(ckey("ChatHub", 5, "x"), True, 1))
write("cluster", "bad-presence-count", bytes([2, 5, 0]) + struct.pack(">I", 2**32 - 1) + ckey("ChatHub", 4, "a"))
