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
