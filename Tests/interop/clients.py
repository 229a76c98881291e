"""Thin, thread-safe wrappers around the two stock Python SignalR clients (signalrcore 1.0.2, pysignalr 1.3.3).

Both expose the same small interface used by the tests:
  - `wait_open(timeout)`; `open_time` / `close_time` (time.monotonic(), first close only)
  - `send_message(user, text, wait=...)`: invokes ChatHub.SendMessage with an invocationId and records when
    the server's Completion arrived (`sent[text]`)
  - `received`: list of (arguments, monotonic time) of every ReceiveMessage; `counts[text]` how often a message
    text arrived; `first_seen[text]` when it first arrived; `wait_for(texts, timeout)`
  - calls of `send_message` that follow one another (made under one lock, from any threads) reach the wire in
    that order, for both clients (the chaos test checks per-sender order end to end)
  - `stop()`
"""
from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from harness import wait_until

logging.getLogger("SignalRCoreClient").setLevel(logging.CRITICAL)
logging.getLogger("signalrcore").setLevel(logging.CRITICAL)
logging.getLogger("pysignalr").setLevel(logging.CRITICAL)
logging.getLogger("websockets").setLevel(logging.CRITICAL)


@dataclass
class Sent:
    text: str
    t_start: float
    t_done: float | None = None
    error: str | None = None


@dataclass
class ClientBase:
    name: str
    replica: str
    url: str
    open_time: float | None = None
    close_time: float | None = None
    received: list = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    first_seen: dict = field(default_factory=dict)
    sent: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    bad_shapes: list = field(default_factory=list)
    completed: int = 0
    eligible_time: float | None = None  # chaos test: from when this client must receive everything

    def __post_init__(self):
        self._lock = threading.Lock()
        self._opened = threading.Event()

    # -- callbacks

    def _on_open(self):
        if self.open_time is None:
            self.open_time = time.monotonic()
        self._opened.set()

    def _on_close(self):
        if self.close_time is None and self.open_time is not None:
            self.close_time = time.monotonic()

    def _on_receive(self, args):
        now = time.monotonic()
        with self._lock:
            self.received.append((list(args), now))
            if len(args) != 2:
                self.bad_shapes.append(list(args))
            if len(args) >= 2:
                self.counts[args[1]] += 1
                self.first_seen.setdefault(args[1], now)

    def _on_completion(self, text: str, error: str | None):
        with self._lock:
            s = self.sent.get(text)
            if s is not None and s.t_done is None:
                s.t_done = time.monotonic()
                s.error = error
                self.completed += 1

    # -- queries

    def wait_open(self, timeout: float = 10.0):
        if not self._opened.wait(timeout):
            raise AssertionError(f"client {self.name} on {self.replica} did not open within {timeout}s")
        return self

    @property
    def connected(self) -> bool:
        return self.open_time is not None and self.close_time is None

    def has(self, text: str) -> bool:
        return self.counts.get(text, 0) > 0

    def missing(self, texts) -> list[str]:
        return [t for t in texts if self.counts.get(t, 0) == 0]

    def wait_for(self, texts, timeout: float = 5.0):
        texts = list(texts)
        try:
            wait_until(lambda: not self.missing(texts), timeout, what=f"{self.name} to receive {len(texts)} msgs")
        except AssertionError as exc:
            miss = self.missing(texts)
            raise AssertionError(f"{self.name}@{self.replica} missing {len(miss)}/{len(texts)}: {miss[:5]}") from exc

    def duplicates(self) -> dict[str, int]:
        with self._lock:
            return {t: n for t, n in self.counts.items() if n > 1}

    def wait_sent(self, text: str, timeout: float = 5.0) -> Sent:
        wait_until(lambda: self.sent[text].t_done is not None, timeout, what=f"completion of {text}")
        return self.sent[text]

    @property
    def in_flight(self) -> int:
        return len(self.sent) - self.completed

    def _record_send(self, text: str) -> Sent:
        s = Sent(text, time.monotonic())
        with self._lock:
            self.sent[text] = s
        return s


# ------------------------------------------------------------------------------------------ signalrcore


class SignalRCoreClient(ClientBase):
    """signalrcore 1.0.2 (own RFC 6455 code, negotiate v0, handshake version 0, threads)."""

    kind = "signalrcore"

    def __init__(self, name: str, replica: str, url: str, skip_negotiation: bool = False,
                 reconnect_interval: float | None = None):
        super().__init__(name, replica, url)
        from signalrcore.hub_connection_builder import HubConnectionBuilder

        options = {"skip_negotiation": True} if skip_negotiation else {}
        builder = HubConnectionBuilder().with_url(url, options=options)
        if reconnect_interval is not None:
            # signalrcore's automatic reconnect (off by default): re-negotiates with ?id=<old id>.
            builder = builder.with_automatic_reconnect(
                {"type": "raw", "keep_alive_interval": 10, "reconnect_interval": reconnect_interval,
                 "max_attempts": 50})
        self.conn = builder.build()
        self.conn.on_open(self._on_open)
        self.conn.on_close(self._on_close)
        self.conn.on_error(self._on_error)
        self.conn.on("ReceiveMessage", self._on_receive)
        self._send_lock = threading.Lock()

    def start(self):
        self.conn.start()
        return self

    def _on_error(self, message):
        err = getattr(message, "error", message)
        self.errors.append(err)
        inv = getattr(message, "invocation_id", None)
        with self._lock:
            for s in self.sent.values():
                if getattr(s, "_inv", None) == inv and s.t_done is None:
                    s.t_done = time.monotonic()
                    s.error = str(err)
                    self.completed += 1

    def send_message(self, user: str, text: str, wait: bool = True, timeout: float = 5.0) -> Sent:
        import uuid

        s = self._record_send(text)
        inv = str(uuid.uuid4())
        s._inv = inv  # type: ignore[attr-defined]
        with self._send_lock:
            self.conn.send("SendMessage", [user, text], on_invocation=lambda m: self._on_completion(text, None),
                           invocation_id=inv)
        if wait:
            self.wait_sent(text, timeout)
        return s

    def invoke_raw(self, method: str, args: list):
        with self._send_lock:
            return self.conn.send(method, args)

    def stop(self):
        # signalrcore's stop() closes its socket and then joins its receive thread, which stays blocked in recv()
        # until the server next sends something (a keep-alive Ping: up to 15 s). shutdown() first wakes it; the
        # server sees the same thing either way (a TCP close without a WebSocket Close frame).
        try:
            sock = self.conn.transport._client.sock
            sock.shutdown(socket.SHUT_RDWR)
        except Exception:  # noqa: BLE001 - never connected, or already closed
            pass
        try:
            self.conn.stop()
        except Exception:  # noqa: BLE001
            pass
        self._on_close()


# ------------------------------------------------------------------------------------------- pysignalr


class _Loop:
    """One asyncio loop in a daemon thread shared by every pysignalr client."""

    _instance: "_Loop | None" = None
    _lock = threading.Lock()

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True, name="pysignalr-loop").start()

    @classmethod
    def get(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._instance is None:
                cls._instance = _Loop()
            return cls._instance.loop


class PySignalRClient(ClientBase):
    """pysignalr 1.3.3 (websockets + aiohttp, negotiate v0, handshake version 1, WS pings, permessage-deflate)."""

    kind = "pysignalr"

    def __init__(self, name: str, replica: str, url: str, **options):
        super().__init__(name, replica, url)
        from pysignalr.client import SignalRClient

        # Stock options unless a test asks otherwise (e.g. retry_count=1 for a client that must not come back).
        self.options = options

        self.loop = _Loop.get()
        self.task = None
        self.run_error: BaseException | None = None

        async def make():
            c = SignalRClient(url, **self.options)

            async def on_open():
                self._on_open()

            async def on_close():
                self._on_close()

            async def on_recv(args):
                self._on_receive(args)

            async def on_error(message):
                self.errors.append(getattr(message, "error", message))

            c.on_open(on_open)
            c.on_close(on_close)
            c.on_error(on_error)
            c.on("ReceiveMessage", on_recv)
            return c

        self.client = asyncio.run_coroutine_threadsafe(make(), self.loop).result(5)

        async def make_lock():
            return asyncio.Lock()

        # pysignalr's send() awaits (asyncio.wait_for on its "connected" event) before it writes, so two sends
        # scheduled back to back could in principle overtake each other. Tasks start in the order they were
        # scheduled and asyncio.Lock queues waiters FIFO: holding it around send() keeps the wire order.
        self._send_order = asyncio.run_coroutine_threadsafe(make_lock(), self.loop).result(5)

    def start(self):
        async def run():
            try:
                await self.client.run()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # noqa: BLE001 - recorded for diagnostics
                self.run_error = exc
                self._on_close()

        self.task = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return self

    def send_message(self, user: str, text: str, wait: bool = True, timeout: float = 5.0) -> Sent:
        s = self._record_send(text)

        async def on_done(message):
            self._on_completion(text, getattr(message, "error", None))

        async def ordered_send():
            async with self._send_order:
                await self.client.send("SendMessage", [user, text], on_invocation=on_done)

        fut = asyncio.run_coroutine_threadsafe(ordered_send(), self.loop)
        if wait:
            fut.result(timeout)
            self.wait_sent(text, timeout)
        return s

    def stop(self):
        self._on_close()
        if self.task is not None:
            self.task.cancel()

        async def close_ws():
            ws = getattr(self.client._transport, "_ws", None)
            if ws is not None:
                try:
                    await asyncio.wait_for(ws.close(), 2)
                except BaseException:  # noqa: BLE001
                    pass

        try:
            asyncio.run_coroutine_threadsafe(close_ws(), self.loop).result(3)
        except BaseException:  # noqa: BLE001
            pass


def make_client(kind: str, name: str, replica: str, url: str, **kw) -> ClientBase:
    cls = {"signalrcore": SignalRCoreClient, "pysignalr": PySignalRClient}[kind]
    return cls(name, replica, url, **kw).start()


# ------------------------------------------------------------------------------------------- demo hub


DEMO_EVENTS = ("GroupMessage", "DirectMessage", "UserMessage", "OthersMessage", "AllMessage")


@dataclass
class Call:
    """One hub method invocation with an invocationId: when it went out and how it completed."""

    method: str
    args: list
    t_sent: float
    t_done: float | None = None
    result: object = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.t_done is not None

    @property
    def took(self) -> float:
        assert self.t_done is not None, f"{self.method} has not completed"
        return self.t_done - self.t_sent


class DemoClientBase:
    """A stock client on `/demoHub`: any method with its result or error text (`invoke`, `call`), and every
    event the demo hub sends (`GroupMessage`, `DirectMessage`, `UserMessage`, `OthersMessage`, `AllMessage`)
    recorded with its arguments. The last argument of each event is the message text, which the tests make
    unique, so `count(event, text)` shows losses (0) and duplicates (> 1)."""

    kind = ""

    def _init_demo(self, name: str, replica: str, url: str):
        self.name = name
        self.replica = replica
        self.url = url
        self.events: dict[str, list] = {e: [] for e in DEMO_EVENTS}
        self.calls: dict[str, Call] = {}
        self.errors: list = []
        self.opens = 0
        self.open_time: float | None = None
        self.close_time: float | None = None
        self._lock = threading.Lock()
        self._opened = threading.Event()

    # -- callbacks

    def _on_open(self):
        with self._lock:
            self.opens += 1
            if self.open_time is None:
                self.open_time = time.monotonic()
        self._opened.set()

    def _on_close(self):
        with self._lock:
            if self.close_time is None and self.open_time is not None:
                self.close_time = time.monotonic()

    def _on_event(self, target: str, args):
        with self._lock:
            self.events[target].append((list(args), time.monotonic()))

    def _on_done(self, inv: str, result, error):
        with self._lock:
            c = self.calls.get(inv)
            if c is not None and c.t_done is None:
                c.t_done = time.monotonic()
                c.result = result
                c.error = error or None

    # -- queries

    def wait_open(self, timeout: float = 10.0):
        if not self._opened.wait(timeout):
            raise AssertionError(f"demo client {self.name} on {self.replica} did not open within {timeout}s")
        return self

    def wait_opens(self, n: int, timeout: float):
        """Wait until the client opened `n` times in all (a reconnecting client opens again)."""
        wait_until(lambda: self.opens >= n, timeout, what=f"{self.name} to open {n} time(s)")
        return self

    def count(self, event: str, text: str) -> int:
        with self._lock:
            return sum(1 for args, _ in self.events[event] if args and args[-1] == text)

    def received(self, event: str) -> list[list]:
        with self._lock:
            return [list(args) for args, _ in self.events[event]]

    def wait_event(self, event: str, texts, timeout: float = 5.0):
        texts = list(texts)
        try:
            wait_until(lambda: all(self.count(event, t) for t in texts), timeout,
                       what=f"{self.name} to receive {len(texts)} {event}")
        except AssertionError as exc:
            miss = [t for t in texts if not self.count(event, t)]
            raise AssertionError(f"{self.name}@{self.replica} missing {len(miss)}/{len(texts)} {event}: "
                                 f"{miss[:5]}") from exc

    def start_call(self, method: str, args: list) -> Call:
        """Send an invocation with an invocationId; return at once (the Call fills in when it completes)."""
        raise NotImplementedError

    def invoke(self, method: str, args: list, timeout: float = 5.0) -> Call:
        """Invoke and wait for the Completion (result or error)."""
        c = self.start_call(method, args)
        wait_until(lambda: c.done, timeout, interval=0.005, what=f"{self.name}: completion of {method}{args!r}")
        return c

    def call(self, method: str, *args, timeout: float = 5.0):
        """Invoke, require success, return the result."""
        c = self.invoke(method, list(args), timeout)
        assert c.error is None, f"{self.name}@{self.replica}: {method}{list(args)!r} failed: {c.error}"
        return c.result

    @property
    def negotiated_id(self) -> str | None:
        """The connectionId the client got from negotiate (None when it skipped negotiation)."""
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError


def _id_from_url(url: str | None) -> str | None:
    from urllib.parse import parse_qs, urlsplit

    if not url:
        return None
    ids = parse_qs(urlsplit(url).query).get("id")
    return ids[0] if ids else None


class DemoSignalRCore(DemoClientBase):
    """signalrcore on `/demoHub`. `access_token_factory` makes it send `Authorization: Bearer` on negotiate and
    on the WebSocket request; `headers` are extra HTTP headers."""

    kind = "signalrcore"

    def __init__(self, name: str, replica: str, url: str, access_token_factory=None, headers: dict | None = None,
                 skip_negotiation: bool = False):
        self._init_demo(name, replica, url)
        from signalrcore.hub_connection_builder import HubConnectionBuilder

        options: dict = {}
        if skip_negotiation:
            options["skip_negotiation"] = True
        if access_token_factory is not None:
            options["access_token_factory"] = access_token_factory
        if headers:
            options["headers"] = dict(headers)
        self.skip_negotiation = skip_negotiation
        self.conn = HubConnectionBuilder().with_url(url, options=options or None).build()
        self.conn.on_open(self._on_open)
        self.conn.on_close(self._on_close)
        self.conn.on_error(self._on_error)
        for event in DEMO_EVENTS:
            self.conn.on(event, lambda args, e=event: self._on_event(e, args))
        self._send_lock = threading.Lock()

    def start(self):
        self.conn.start()
        return self

    def _on_error(self, message):
        inv = getattr(message, "invocation_id", None)
        if inv is not None and inv in self.calls:
            self._on_done(inv, None, getattr(message, "error", None) or repr(message))
        else:
            self.errors.append(getattr(message, "error", message))

    def start_call(self, method: str, args: list) -> Call:
        import uuid

        inv = str(uuid.uuid4())
        c = Call(method, list(args), time.monotonic())
        with self._lock:
            self.calls[inv] = c
        with self._send_lock:
            c.t_sent = time.monotonic()
            self.conn.send(method, list(args), on_invocation=lambda m: self._on_done(inv, m.result, m.error),
                           invocation_id=inv)
        return c

    @property
    def negotiated_id(self) -> str | None:
        if self.skip_negotiation:
            return None
        return _id_from_url(getattr(self.conn, "url", None))

    def stop(self):
        try:
            self.conn.transport._client.sock.shutdown(socket.SHUT_RDWR)
        except Exception:  # noqa: BLE001 - never connected, or already closed
            pass
        try:
            self.conn.stop()
        except Exception:  # noqa: BLE001
            pass
        self._on_close()


class DemoPySignalR(DemoClientBase):
    """pysignalr on `/demoHub`. `headers` go on negotiate and on the WebSocket request (pysignalr's own
    `access_token_factory` only sets the header after the first WebSocket is open, so it is not offered here).
    `retry_count=1` makes a client that does not come back after its replica dies."""

    kind = "pysignalr"

    def __init__(self, name: str, replica: str, url: str, headers: dict | None = None, **options):
        self._init_demo(name, replica, url)
        from pysignalr.client import SignalRClient

        self.loop = _Loop.get()
        self.task = None
        self.run_error: BaseException | None = None

        async def make():
            c = SignalRClient(url, headers=dict(headers or {}), **options)

            async def on_open():
                self._on_open()

            async def on_close():
                self._on_close()

            async def on_error(message):
                # Errors of our invocations also reach their on_invocation callback (pysignalr calls both).
                if getattr(message, "invocation_id", None) is None:
                    self.errors.append(getattr(message, "error", message))

            c.on_open(on_open)
            c.on_close(on_close)
            c.on_error(on_error)
            for event in DEMO_EVENTS:
                async def on_event(args, e=event):
                    self._on_event(e, args)

                c.on(event, on_event)
            return c

        self.client = asyncio.run_coroutine_threadsafe(make(), self.loop).result(5)

        async def make_lock():
            return asyncio.Lock()

        self._send_order = asyncio.run_coroutine_threadsafe(make_lock(), self.loop).result(5)

    def start(self):
        async def run():
            try:
                await self.client.run()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # noqa: BLE001 - recorded for diagnostics
                self.run_error = exc
                self._on_close()

        self.task = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return self

    def start_call(self, method: str, args: list) -> Call:
        import uuid

        key = str(uuid.uuid4())  # ours: pysignalr makes the invocationId itself
        c = Call(method, list(args), time.monotonic())
        with self._lock:
            self.calls[key] = c

        async def on_done(message):
            self._on_done(key, getattr(message, "result", None), getattr(message, "error", None))

        async def ordered_send():
            async with self._send_order:
                c.t_sent = time.monotonic()
                await self.client.send(method, list(args), on_invocation=on_done)

        fut = asyncio.run_coroutine_threadsafe(ordered_send(), self.loop)
        fut.result(5)
        return c

    @property
    def negotiated_id(self) -> str | None:
        return _id_from_url(getattr(self.client._transport, "_url", None))

    def stop(self):
        self._on_close()
        if self.task is not None:
            self.task.cancel()

        async def close_ws():
            ws = getattr(self.client._transport, "_ws", None)
            if ws is not None:
                try:
                    await asyncio.wait_for(ws.close(), 2)
                except BaseException:  # noqa: BLE001
                    pass

        try:
            asyncio.run_coroutine_threadsafe(close_ws(), self.loop).result(3)
        except BaseException:  # noqa: BLE001
            pass


DEMO_KINDS = ("signalrcore", "pysignalr")


def make_demo_client(kind: str, name: str, replica: str, url: str, **kw) -> DemoClientBase:
    """A started demo-hub client of `kind` ("signalrcore" or "pysignalr"); call `wait_open` next."""
    cls = {"signalrcore": DemoSignalRCore, "pysignalr": DemoPySignalR}[kind]
    return cls(name, replica, url, **kw).start()


# ================================================================================================================
# Issue 11: every transport (WebSockets, Server-Sent Events, Long Polling) and protocol (JSON, MessagePack),
# streaming and client results. Raw HTTP helpers that speak the protocol as the official JS client does, and the
# stock Python clients with the transports and protocols they offer.
# ================================================================================================================

import json as _json  # noqa: E402
import queue as _queue  # noqa: E402
import uuid as _uuid  # noqa: E402

import msgpack as _msgpack  # noqa: E402 - installed with signalrcore/pysignalr

from wsraw import OP_BIN, OP_TEXT, HttpResponse, WebSocket, WsClosed, WsEOF, http_request, read_response  # noqa: E402

TRANSPORTS = ("WebSockets", "ServerSentEvents", "LongPolling")
PROTOCOLS = ("json", "messagepack")
# What the official JS client sends from a browser (section 1.7 of the protocol notes).
JS_HEADERS = {"X-Requested-With": "XMLHttpRequest",
              "X-SignalR-User-Agent": "Microsoft SignalR/8.0 (8.0.7; Unknown OS; Browser; Unknown Runtime Version)"}
HANDSHAKE_TYPES = {"json": "Text", "messagepack": "Binary"}


# ---------------------------------------------------------------------------------------------- MessagePack


def varint(n: int) -> bytes:
    """The hub protocol's length prefix: 7 bits per byte, least significant group first."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def mp_frame(arr: list) -> bytes:
    """One MessagePack hub message on the wire: VarInt length + the packed array."""
    body = _msgpack.packb(arr, use_bin_type=True)
    return varint(len(body)) + body


def mp_split(buf: bytearray) -> list[list]:
    """Every complete VarInt-framed message at the start of `buf` (consumed), unpacked; a partial one stays."""
    out = []
    while buf:
        n, shift, i = 0, 0, 0
        while True:
            if i >= len(buf):
                return out
            if i >= 5:
                raise AssertionError(f"VarInt length prefix longer than 5 bytes: {bytes(buf[:8]).hex()}")
            b = buf[i]
            n |= (b & 0x7F) << shift
            shift += 7
            i += 1
            if not b & 0x80:
                break
        if len(buf) < i + n:
            return out
        out.append(_msgpack.unpackb(bytes(buf[i:i + n]), raw=False, strict_map_key=False))
        del buf[:i + n]
    return out


def mp_to_dict(a: list) -> dict:
    """A MessagePack hub message (array) as the dict its JSON form would be; `_len` keeps the array length."""
    t = a[0]
    m: dict = {"type": t, "_len": len(a)}
    if t in (1, 4):
        m.update(headers=a[1], target=a[3], arguments=a[4])
        if a[2] is not None:
            m["invocationId"] = a[2]
        if len(a) > 5 and a[5]:
            m["streamIds"] = a[5]
    elif t == 2:
        m.update(headers=a[1], invocationId=a[2], item=a[3])
    elif t == 3:
        m.update(headers=a[1], invocationId=a[2], _kind=a[3])
        if a[3] == 1:
            m["error"] = a[4]
        elif a[3] == 3:
            m["result"] = a[4]
    elif t == 5:
        m.update(headers=a[1], invocationId=a[2])
    elif t == 7:
        if a[1] is not None:
            m["error"] = a[1]
        if len(a) > 2:
            m["allowReconnect"] = a[2]
    elif t in (8, 9):
        m["sequenceId"] = a[1]
    return m


def dict_to_mp(m: dict) -> list:
    """The MessagePack array of a hub message given in its JSON form (6-element Invocation/StreamInvocation)."""
    t = m["type"]
    h = m.get("headers") or {}
    if t in (1, 4):
        return [t, h, m.get("invocationId"), m["target"], m.get("arguments", []), m.get("streamIds") or []]
    if t == 2:
        return [2, h, m["invocationId"], m.get("item")]
    if t == 3:
        if "error" in m:
            return [3, h, m["invocationId"], 1, m["error"]]
        if "result" in m:
            return [3, h, m["invocationId"], 3, m["result"]]
        return [3, h, m["invocationId"], 2]
    if t == 5:
        return [5, h, m["invocationId"]]
    if t == 6:
        return [6]
    if t == 7:
        return [7, m.get("error")] + ([m["allowReconnect"]] if "allowReconnect" in m else [])
    if t in (8, 9):
        return [t, m["sequenceId"]]
    raise ValueError(f"unknown message type {t}")


class HubCodec:
    """Encoding and incremental decoding of one connection's hub messages (JSON or MessagePack). The first thing a
    server sends is the JSON handshake answer (even for MessagePack); `feed` returns it as a dict with
    `_handshake: True`."""

    def __init__(self, protocol: str = "json"):
        assert protocol in PROTOCOLS, protocol
        self.protocol = protocol
        self.buf = bytearray()
        self.handshake_done = False

    @property
    def binary(self) -> bool:
        return self.protocol == "messagepack"

    def handshake_request(self, version: int = 1) -> bytes:
        return _json.dumps({"protocol": self.protocol, "version": version}).encode() + b"\x1e"

    def encode(self, m: dict) -> bytes:
        if self.binary:
            return mp_frame(dict_to_mp(m))
        return _json.dumps(m, separators=(",", ":")).encode() + b"\x1e"

    def feed(self, data: bytes) -> list[dict]:
        self.buf += data
        out: list[dict] = []
        if not self.handshake_done:
            if 0x1E not in self.buf:
                return out
            i = self.buf.index(0x1E)
            answer = _json.loads(bytes(self.buf[:i]).decode())
            del self.buf[: i + 1]
            self.handshake_done = True
            out.append({**answer, "_handshake": True})
        if self.binary:
            out.extend(mp_to_dict(a) for a in mp_split(self.buf))
        else:
            while 0x1E in self.buf:
                i = self.buf.index(0x1E)
                rec = bytes(self.buf[:i])
                del self.buf[: i + 1]
                out.append(_json.loads(rec.decode()))
        return out


# ------------------------------------------------------------------------------------------ Server-Sent Events


class SseStream:
    """`GET <path>` with `Accept: text/event-stream`, kept open. The body is de-chunked as it arrives (`body`);
    `next_event` returns the next event as (raw block, data), where data joins the block's `data:` lines with
    `\\n` and comment lines (`:`) are skipped."""

    def __init__(self, port: int, path: str, headers: dict | None = None, host: str = "127.0.0.1",
                 timeout: float = 5.0):
        hdrs = {"Host": f"{host}:{port}", "Accept": "text/event-stream", "Cache-Control": "no-cache"}
        hdrs.update(headers or {})
        req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.sendall(req.encode("latin-1"))
        self.raw = bytearray()
        self.response: HttpResponse = read_response(self.sock, self.raw, timeout, head_only=True)
        self.chunked = "chunked" in (self.response.header("transfer-encoding") or "").lower()
        self.body = bytearray()
        self.pos = 0           # events before this offset of `body` were returned
        self.eof = False
        if self.response.status != 200:
            # An error answer: read its (short) body for the assertion message.
            n = int(self.response.header("content-length") or 0)
            deadline = time.monotonic() + timeout
            while len(self.raw) < n and time.monotonic() < deadline:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.raw += chunk
            self.response.body = bytes(self.raw[:n]) if n else bytes(self.raw)
        else:
            self._decode()

    def _decode(self):
        if not self.chunked:
            self.body += self.raw
            self.raw.clear()
            return
        while True:
            if b"\r\n" not in self.raw:
                return
            i = self.raw.index(b"\r\n")
            size = int(bytes(self.raw[:i]).split(b";")[0] or b"0", 16)
            if size == 0:
                self.eof = True
                return
            if len(self.raw) < i + 2 + size + 2:
                return
            self.body += self.raw[i + 2: i + 2 + size]
            del self.raw[: i + 2 + size + 2]

    def _pump(self, deadline: float) -> bool:
        """Read more; False on timeout. Raises WsEOF at the end of the stream."""
        if self.eof:
            raise WsEOF("event stream ended")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.eof = True
            raise WsEOF("event stream closed by the server")
        self.raw += chunk
        self._decode()
        return True

    def read_body(self, n: int, timeout: float = 5.0) -> bytes:
        """The first `n` bytes of the (de-chunked) body."""
        deadline = time.monotonic() + timeout
        while len(self.body) < n:
            if not self._pump(deadline):
                break
        return bytes(self.body[:n])

    def next_event(self, timeout: float = 5.0) -> tuple[bytes, bytes]:
        deadline = time.monotonic() + timeout
        while True:
            rest = self.body[self.pos:]
            cut = [(rest.find(sep), len(sep)) for sep in (b"\r\n\r\n", b"\n\n")]
            cut = [c for c in cut if c[0] >= 0]
            if cut:
                i, n = min(cut)
                block = bytes(rest[:i + n])
                self.pos += i + n
                lines = block.replace(b"\r\n", b"\n").split(b"\n")
                data = [ln[5:][1:] if ln[5:6] == b" " else ln[5:] for ln in lines if ln.startswith(b"data:")]
                if not data:
                    continue  # a comment-only block
                # Keep the block without a leading comment line (the server's first ":\r\n").
                while block.startswith(b":"):
                    block = block[block.index(b"\n") + 1:]
                return block, b"\n".join(data)
            if not self._pump(deadline):
                raise socket.timeout(f"no complete event within {timeout}s (have {bytes(rest[:200])!r})")

    def closed(self, timeout: float) -> bool:
        """True once the server ends the event stream within `timeout` (data meanwhile is kept)."""
        deadline = time.monotonic() + timeout
        try:
            while self._pump(deadline):
                pass
        except WsEOF:
            return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------------------- raw hub connection


class TransportRefused(AssertionError):
    def __init__(self, what: str, response: HttpResponse):
        super().__init__(f"{what} refused: {response.status} {response.reason} {response.body[:200]!r}")
        self.response = response


class HubClosed(AssertionError):
    pass


def negotiate_body(port: int, hub: str = "/chatHub", query: str = "?negotiateVersion=1",
                   headers: dict | None = None) -> dict:
    r = http_request(port, "POST", f"{hub}/negotiate{query}", headers={**JS_HEADERS, **(headers or {})}, body=b"")
    assert r.status == 200, r
    return r.json()


class RawHub:
    """One hub connection over any transport and protocol, as the official JS client makes it: negotiate (v1 by
    default), then the transport request with `id=<token>` (plus `extra_query`), then the handshake. Server-Sent
    Events and Long Polling send with `POST`; polls carry `&_=<ms>` and the browser headers. A reader thread puts
    every decoded message into a queue (`recv*`).

    `connect_ports` spreads the connection over replicas: the transport request goes to the first; polls and POSTs
    cycle through the list independently (negotiate always goes to `port`)."""

    POLL_CLIENT_TIMEOUT = 100.0   # the JS client's per-poll timeout; a timeout just polls again

    def __init__(self, transport: str, protocol: str, hub: str, port: int, connect_ports: list[int] | None,
                 headers: dict | None):
        assert transport in TRANSPORTS, transport
        self.transport = transport
        self.codec = HubCodec(protocol)
        self.protocol = protocol
        self.hub = hub
        self.port = port
        self.ports = list(connect_ports or [port])
        self.headers = dict(headers or {})
        self.q: _queue.Queue = _queue.Queue()
        self.negotiated: dict = {}
        self.token = ""
        self.connection_id = ""
        self.polls: list[tuple[int, int, int, float]] = []    # (port, status, body length, monotonic time)
        self.posts: list[tuple[int, int]] = []                # (port, status)
        self.events: list[bytes] = []                         # SSE: raw event blocks
        self.frames: list[int] = []                           # WebSockets: opcodes of data frames
        self.handshake_reply: dict | None = None
        self.first_poll: HttpResponse | None = None
        self.close_reason: str | None = None
        self.ws: WebSocket | None = None
        self.sse: SseStream | None = None
        self._n_poll = 0
        self._n_post = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- opening

    @classmethod
    def open(cls, transport: str, port: int, protocol: str = "json", hub: str = "/chatHub",
             negotiate_version: int = 1, negotiate_query: str = "", connect_ports: list[int] | None = None,
             headers: dict | None = None, negotiate_headers: dict | None = None, extra_query: str = "",
             handshake: bool = True, handshake_version: int = 1, poll_loop: bool = True) -> "RawHub":
        h = cls(transport, protocol, hub, port, connect_ports, headers)
        q = f"?negotiateVersion={negotiate_version}" if negotiate_version else ""
        if negotiate_query:
            q += ("&" if q else "?") + negotiate_query
        h.negotiated = negotiate_body(port, hub, q, negotiate_headers if negotiate_headers is not None else headers)
        h.connection_id = h.negotiated["connectionId"]
        h.token = h.negotiated["connectionToken"] if negotiate_version else h.connection_id
        h.connect(extra_query, poll_loop)
        if handshake:
            h.handshake(handshake_version)
        return h

    @property
    def path(self) -> str:
        return f"{self.hub}?id={self.token}"

    def connect(self, extra_query: str = "", poll_loop: bool = True):
        first = self.ports[0]
        if self.transport == "WebSockets":
            try:
                self.ws = WebSocket.connect(first, self.path + extra_query, headers=self.headers)
            except Exception as exc:  # noqa: BLE001
                resp = getattr(exc, "response", None)
                if resp is not None:
                    raise TransportRefused("WebSocket", resp) from exc
                raise
            self._thread = threading.Thread(target=self._ws_loop, daemon=True)
        elif self.transport == "ServerSentEvents":
            self.sse = SseStream(first, self.path + extra_query, headers={**JS_HEADERS, **self.headers})
            if self.sse.response.status != 200:
                raise TransportRefused("SSE", self.sse.response)
            self._thread = threading.Thread(target=self._sse_loop, daemon=True)
        else:
            # The JS client's connect(): the first poll must answer 200 at once, or the connection fails.
            r = self.poll(extra_query=extra_query, timeout=10.0)
            self.first_poll = r
            if r.status != 200:
                raise TransportRefused("first poll", r)
            if r.body:
                self._deliver(r.body)
            self._thread = threading.Thread(target=self._poll_loop, daemon=True) if poll_loop else None
        if self._thread is not None:
            self._thread.start()

    def handshake(self, version: int = 1, timeout: float = 5.0) -> dict:
        self.send_bytes(self.codec.handshake_request(version), text=True)
        self.handshake_reply = self.recv_handshake(timeout)
        assert "error" not in self.handshake_reply, f"handshake refused: {self.handshake_reply}"
        return self.handshake_reply

    # -- reader threads

    def _deliver(self, data: bytes):
        for m in self.codec.feed(data):
            self.q.put(m)

    def _closed(self, why: str):
        if self.close_reason is None:
            self.close_reason = why
        self.q.put(("closed", why))

    def _read_loop(self, read, kept: list, ended: str):
        """Reads (`read(timeout) -> (raw, data)`) until stopped or the stream ends: `raw` goes to `kept` (frame
        opcodes, SSE event blocks), `data` to the hub decoder."""
        try:
            while not self._stop.is_set():
                try:
                    raw, data = read(1.0)
                except socket.timeout:
                    continue
                kept.append(raw)
                self._deliver(data)
        except WsClosed as c:
            self._closed(f"WebSocket Close {c.code} {c.reason!r}")
        except (WsEOF, OSError) as exc:
            self._closed(f"{ended}: {exc!r}")
        except Exception as exc:  # noqa: BLE001 - a decoding error is a test failure, reported via recv
            self._closed(f"reader failed: {exc!r}")

    def _ws_loop(self):
        self._read_loop(self.ws.recv, self.frames, "WebSocket ended")

    def _sse_loop(self):
        self._read_loop(self.sse.next_event, self.events, "event stream ended")

    def _poll_loop(self):
        while not self._stop.is_set():
            try:
                r = self.poll()
            except socket.timeout:
                continue
            except OSError as exc:
                self._closed(f"poll failed: {exc!r}")
                return
            if r.status == 204:
                self._closed("poll 204")
                return
            if r.status != 200:
                self._closed(f"poll {r.status} {r.body[:100]!r}")
                return
            if r.body:
                try:
                    self._deliver(r.body)
                except Exception as exc:  # noqa: BLE001
                    self._closed(f"reader failed: {exc!r}")
                    return

    # -- requests

    def _next(self, kind: str) -> int:
        if kind == "poll":
            self._n_poll += 1
            return self.ports[(self._n_poll - 1) % len(self.ports)]
        self._n_post += 1
        return self.ports[(self._n_post - 1) % len(self.ports)]

    def poll(self, port: int | None = None, timeout: float | None = None, extra_query: str = "") -> HttpResponse:
        """One long-polling GET (with the JS client's cache buster and headers)."""
        port = port or self._next("poll")
        path = f"{self.path}&_={int(time.time() * 1000)}{extra_query}"
        r = http_request(port, "GET", path, headers={**JS_HEADERS, **self.headers},
                         timeout=timeout or self.POLL_CLIENT_TIMEOUT)
        self.polls.append((port, r.status, len(r.body), time.monotonic()))
        return r

    def post(self, data: bytes, port: int | None = None) -> HttpResponse:
        port = port or self._next("post")
        ctype = "application/octet-stream" if self.codec.binary else "text/plain;charset=UTF-8"
        r = http_request(port, "POST", self.path, headers={**JS_HEADERS, "Content-Type": ctype, **self.headers},
                         body=data, timeout=10)
        self.posts.append((port, r.status))
        return r

    def delete(self, port: int | None = None) -> HttpResponse:
        return http_request(port or self.ports[0], "DELETE", self.path, headers={**JS_HEADERS, **self.headers})

    def send_bytes(self, data: bytes, text: bool = False):
        if self.transport == "WebSockets":
            self.ws.send_frame(OP_BIN if self.codec.binary and not text else OP_TEXT, data)
        else:
            r = self.post(data)
            assert r.status == 200, f"POST answered {r!r}"

    def send(self, m: dict):
        self.send_bytes(self.codec.encode(m))

    def invoke(self, target: str, args: list, invocation_id: str | None = None, stream_ids: list | None = None):
        m: dict = {"type": 1, "target": target, "arguments": args}
        if invocation_id is not None:
            m["invocationId"] = invocation_id
        if stream_ids:
            m["streamIds"] = stream_ids
        self.send(m)

    # -- receiving

    def recv_raw(self, timeout: float = 5.0) -> dict:
        stash = getattr(self, "_stash", None)
        if stash:
            return stash.pop(0)
        try:
            m = self.q.get(timeout=max(0.0, timeout))
        except _queue.Empty:
            raise socket.timeout(f"no hub message within {timeout:.1f}s over {self.transport}") from None
        if isinstance(m, tuple):
            self.q.put(m)  # stay closed for later calls
            raise HubClosed(f"connection ended: {m[1]}")
        return m

    def recv_handshake(self, timeout: float = 5.0) -> dict:
        m = self.recv_raw(timeout)
        assert m.pop("_handshake", False), f"expected the handshake answer first, got {m!r}"
        return m

    def recv(self, timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv_raw(deadline - time.monotonic())
            if m.get("type") != 6:
                return m

    def recv_until(self, pred, timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv(deadline - time.monotonic())
            if pred(m):
                return m

    def call(self, target: str, *args, timeout: float = 5.0) -> dict:
        """Invoke with an invocationId and return the Completion. Other messages that arrive meanwhile (a
        broadcast the method sent before completing, say) are kept for the next recv, in order."""
        inv = _uuid.uuid4().hex[:10]
        self.invoke(target, list(args), inv)
        deadline = time.monotonic() + timeout
        others = []
        try:
            while True:
                m = self.recv(deadline - time.monotonic())
                if m.get("type") == 3 and m.get("invocationId") == inv:
                    return m
                others.append(m)
        finally:
            self._stash = others + (getattr(self, "_stash", None) or [])

    def wait_closed(self, timeout: float) -> str:
        """Wait until the transport ends; return why (raises on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.recv_raw(deadline - time.monotonic())
            except HubClosed:
                return self.close_reason or "closed"

    def close(self):
        self._stop.set()
        if self.ws is not None:
            self.ws.close()
        if self.sse is not None:
            self.sse.close()
        if self.transport == "LongPolling" and self.close_reason is None:
            try:
                self.delete()
            except OSError:
                pass


# -------------------------------------------------------------------------- stock clients: more transports


@dataclass
class StreamCall:
    """A server-to-client stream as a client saw it: items in order, then the Completion (or an error)."""

    method: str
    args: list
    t_sent: float
    invocation_id: str | None = None
    items: list = field(default_factory=list)
    t_done: float | None = None
    error: str | None = None
    t_items: list = field(default_factory=list)

    def on_item(self, item):
        self.items.append(item)
        self.t_items.append(time.monotonic())

    def on_complete(self, error=None):
        if self.t_done is None:
            self.error = error or None
            self.t_done = time.monotonic()

    @property
    def done(self) -> bool:
        return self.t_done is not None

    def wait(self, timeout: float = 10.0) -> "StreamCall":
        wait_until(lambda: self.done, timeout, interval=0.005, what=f"completion of stream {self.method}{self.args}")
        return self


_SIGNALRCORE_TRANSPORT_CLASSES = {"WebsocketTransport": "WebSockets", "SSETransport": "ServerSentEvents",
                                  "LongPollingTransport": "LongPolling"}


def _signalrcore_connection(url: str, transport: str = "WebSockets", protocol: str = "json"):
    """A signalrcore connection asking for `transport` (options={"transport": ...}) and `protocol`
    (with_hub_protocol(HubProtocolEncoding.binary): handshake `messagepack` version 0)."""
    from signalrcore.hub_connection_builder import HubConnectionBuilder
    from signalrcore.types import HttpTransportType, HubProtocolEncoding

    kinds = {"WebSockets": HttpTransportType.web_sockets, "ServerSentEvents": HttpTransportType.server_sent_events,
             "LongPolling": HttpTransportType.long_polling}
    builder = HubConnectionBuilder().with_url(url, options={"transport": kinds[transport]})
    if protocol == "messagepack":
        builder = builder.with_hub_protocol(HubProtocolEncoding.binary)
    return builder.build()


def _signalrcore_used(conn) -> tuple[str | None, str | None]:
    """(transport, protocol) signalrcore really uses: it silently falls back to WebSockets when negotiate does not
    list the transport asked for, and to JSON when the transport has no Binary format."""
    t = type(getattr(conn, "transport", None)).__name__
    p = type(getattr(conn, "protocol", None)).__name__
    return (_SIGNALRCORE_TRANSPORT_CLASSES.get(t),
            {"JsonHubProtocol": "json", "MessagePackHubProtocol": "messagepack"}.get(p))


def _stop_in_thread(fn, timeout: float = 5.0):
    """Run a client's blocking stop with a bound (signalrcore's long-polling stop joins a thread that waits for the
    pending poll to end)."""
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    t.join(timeout)


class SignalRCoreChatX(SignalRCoreClient):
    """signalrcore on `/chatHub` over `transport` with `protocol`."""

    def __init__(self, name: str, replica: str, url: str, transport: str = "WebSockets", protocol: str = "json"):
        super().__init__(name, replica, url)
        self.conn = _signalrcore_connection(url, transport, protocol)
        self.conn.on_open(self._on_open)
        self.conn.on_close(self._on_close)
        self.conn.on_error(self._on_error)
        self.conn.on("ReceiveMessage", self._on_receive)
        self.wanted = (transport, protocol)

    @property
    def used(self):
        return _signalrcore_used(self.conn)

    def stop(self):
        _stop_in_thread(super().stop)


class DemoSignalRCoreX(DemoSignalRCore):
    """signalrcore on `/demoHub` over `transport` with `protocol`, with streams both ways. It never answers a
    server invocation (its `on` handlers' return values are dropped): `questions` records the GetAnswer calls."""

    def __init__(self, name: str, replica: str, url: str, transport: str = "WebSockets", protocol: str = "json"):
        super().__init__(name, replica, url)
        self.conn = _signalrcore_connection(url, transport, protocol)
        self.conn.on_open(self._on_open)
        self.conn.on_close(self._on_close)
        self.conn.on_error(self._on_error)
        for event in DEMO_EVENTS:
            self.conn.on(event, lambda args, e=event: self._on_event(e, args))
        self.questions: list = []
        self.conn.on("GetAnswer", lambda args: self.questions.append(list(args)) or "ignored by signalrcore")
        self.streams: dict[str, StreamCall] = {}
        self.wanted = (transport, protocol)

    @property
    def used(self):
        return _signalrcore_used(self.conn)

    @property
    def negotiated_id(self) -> str | None:
        return _id_from_url(getattr(self.conn, "url", None))

    def _on_error(self, message):
        inv = getattr(message, "invocation_id", None)
        s = self.streams.get(inv) if inv is not None else None
        if s is not None:
            s.on_complete(getattr(message, "error", None) or repr(message))
            return
        super()._on_error(message)

    def start_stream(self, method: str, args: list) -> StreamCall:
        """signalrcore's stream(): a StreamInvocation. (Its stream() subscribes only after sending, so the first
        items of a fast stream could reach no callback; this registers the same handler before sending.)"""
        from signalrcore.hub.handlers import StreamHandler
        from signalrcore.messages.stream_invocation_message import StreamInvocationMessage

        inv = str(_uuid.uuid4())
        sc = StreamCall(method, list(args), time.monotonic(), inv)
        self.streams[inv] = sc
        handler = StreamHandler(method, inv)
        handler.subscribe({"next": sc.on_item, "complete": lambda m: sc.on_complete(getattr(m, "error", None)),
                           "error": lambda m: sc.on_complete(getattr(m, "error", None) or "error")})
        with self._send_lock:
            self.conn.stream_handlers[inv].append(handler)
            sc.t_sent = time.monotonic()
            self.conn.transport.send(StreamInvocationMessage(inv, method, list(args), headers=self.conn.headers))
        return sc

    def cancel(self, sc: StreamCall):
        """A CancelInvocation (signalrcore has the message type but no API that sends it)."""
        from signalrcore.messages.cancel_invocation_message import CancelInvocationMessage

        with self._send_lock:
            self.conn.transport.send(CancelInvocationMessage(sc.invocation_id))

    def upload(self, method: str, items: list, with_result: bool = False) -> Call | None:
        """Client-to-server stream. Stock (`with_result=False`): signalrcore's Subject, whose Invocation has no
        invocationId, so no result comes back. `with_result=True`: the same messages with an invocationId added
        to the Invocation, so the server answers with a Completion."""
        from signalrcore.hub.handlers import InvocationHandler
        from signalrcore.messages.completion_message import CompletionClientStreamMessage
        from signalrcore.messages.invocation_message import InvocationClientStreamMessage
        from signalrcore.messages.stream_item_message import StreamItemMessage
        from signalrcore.subject import Subject

        if not with_result:
            subject = Subject()
            with self._send_lock:
                self.conn.send(method, subject)
            for item in items:
                subject.next(item)
            subject.complete()
            return None
        inv, sid = str(_uuid.uuid4()), str(_uuid.uuid4())
        c = Call(method, list(items), time.monotonic())
        with self._lock:
            self.calls[inv] = c
        with self._send_lock:
            self.conn.stream_handlers[inv].append(
                InvocationHandler(inv, lambda m: self._on_done(inv, m.result, m.error)))
            msg = InvocationClientStreamMessage([sid], method, [])
            msg.invocation_id = inv
            c.t_sent = time.monotonic()
            self.conn.transport.send(msg)
            for item in items:
                self.conn.transport.send(StreamItemMessage(sid, item))
            self.conn.transport.send(CompletionClientStreamMessage(sid))
        return c

    def stop(self):
        _stop_in_thread(super().stop)


class DemoPySignalRX(DemoPySignalR):
    """pysignalr on `/demoHub` with `protocol`, streams both ways, and client results: with `answer` (question →
    value, or an exception to raise) it handles `GetAnswer` and pysignalr sends the value back in a Completion."""

    def __init__(self, name: str, replica: str, url: str, protocol: str = "json", answer=None, **options):
        if protocol == "messagepack":
            from pysignalr.protocol.messagepack import MessagepackProtocol

            options["protocol"] = MessagepackProtocol()
        super().__init__(name, replica, url, **options)
        self.protocol_name = protocol
        self.questions: list = []
        self.streams: dict[str, StreamCall] = {}
        if answer is not None:
            async def on_question(args):
                self.questions.append(list(args))
                value = answer(*args)
                if isinstance(value, BaseException):
                    raise value
                return value

            async def register():
                self.client.on("GetAnswer", on_question)

            asyncio.run_coroutine_threadsafe(register(), self.loop).result(5)

    def start_stream(self, method: str, args: list) -> StreamCall:
        """pysignalr's stream(); the invocationId it chose is found in its handler table (for `cancel`)."""
        sc = StreamCall(method, list(args), time.monotonic())

        async def on_next(item):
            sc.on_item(item)

        async def on_complete(message):
            sc.on_complete(getattr(message, "error", None))

        async def on_error(message):
            sc.on_complete(getattr(message, "error", None) or repr(message))

        async def go():
            async with self._send_order:
                before = set(self.client._stream_handlers)
                sc.t_sent = time.monotonic()
                await self.client.stream(method, list(args), on_next=on_next, on_complete=on_complete,
                                         on_error=on_error)
                new = set(self.client._stream_handlers) - before
                sc.invocation_id = new.pop() if new else None

        asyncio.run_coroutine_threadsafe(go(), self.loop).result(5)
        if sc.invocation_id:
            self.streams[sc.invocation_id] = sc
        return sc

    def cancel(self, sc: StreamCall):
        """A CancelInvocation (pysignalr has the message type but no API that sends it)."""
        from pysignalr.messages import CancelInvocationMessage

        assert sc.invocation_id, "the stream's invocationId is unknown (it completed before it could be read)"

        async def go():
            async with self._send_order:
                await self.client._transport.send(CancelInvocationMessage(sc.invocation_id))

        asyncio.run_coroutine_threadsafe(go(), self.loop).result(5)

    def upload(self, method: str, items: list, with_result: bool = True) -> Call | None:
        """Client-to-server stream. Stock (`with_result=False`): pysignalr's client_stream(), whose Invocation has
        no invocationId (no result). `with_result=True`: pysignalr's own message types with the invocationId its
        InvocationClientStreamMessage has a field for, and a completion handler."""
        from pysignalr.messages import CompletionClientStreamMessage, InvocationClientStreamMessage, StreamItemMessage

        if not with_result:
            async def stock():
                async with self._send_order:
                    async with self.client.client_stream(method) as stream:
                        for item in items:
                            await stream.send(item)

            asyncio.run_coroutine_threadsafe(stock(), self.loop).result(10)
            return None
        inv, sid = str(_uuid.uuid4()), str(_uuid.uuid4())
        c = Call(method, list(items), time.monotonic())
        with self._lock:
            self.calls[inv] = c

        async def on_done(message):
            self._on_done(inv, getattr(message, "result", None), getattr(message, "error", None))

        async def go():
            async with self._send_order:
                self.client._invocation_handlers[inv] = on_done
                c.t_sent = time.monotonic()
                t = self.client._transport
                await t.send(InvocationClientStreamMessage([sid], method, [], invocation_id=inv))
                for item in items:
                    await t.send(StreamItemMessage(sid, item))
                await t.send(CompletionClientStreamMessage(sid))

        asyncio.run_coroutine_threadsafe(go(), self.loop).result(10)
        return c


# Which combinations each stock client offers (read from their sources; see Tests/interop/README.md).
CLIENT_MATRIX = {
    "pysignalr": [("WebSockets", "json"), ("WebSockets", "messagepack")],
    "signalrcore": [("WebSockets", "json"), ("WebSockets", "messagepack"), ("ServerSentEvents", "json"),
                    ("LongPolling", "json")],
}


def make_demo_client_x(kind: str, name: str, replica: str, url: str, transport: str = "WebSockets",
                       protocol: str = "json", **kw):
    """A started demo-hub client of `kind` over `transport` with `protocol`; call `wait_open` next."""
    if kind == "pysignalr":
        assert transport == "WebSockets", "pysignalr speaks WebSockets only"
        return DemoPySignalRX(name, replica, url, protocol=protocol, **kw).start()
    return DemoSignalRCoreX(name, replica, url, transport=transport, protocol=protocol).start()
