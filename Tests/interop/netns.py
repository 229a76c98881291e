"""Network namespaces for the interop tests: replicas on their own (non-loopback) addresses, a fault-injecting
proxy on the path between them, and a packet capture of the mesh link.

Topology (every name and address exists only inside the namespaces a `Topology` creates; nothing here sends a
packet outside them):

    ns 0: eth0 10.199.0.1/24 ──veth── v0 ┐
                                         ├─ br0 10.199.0.254/24   ns M (bridge + the TamperProxies)
    ns 1: eth0 10.199.0.2/24 ──veth── v1 ┘

Each replica runs under `ip netns exec` with its HTTP and mesh addresses on its own eth0 address. Its peers file
points every other replica's mesh address at a `TamperProxy` in M (10.199.0.254:<port>), so every mesh byte crosses
the bridge twice and can be captured on the first replica's eth0 (client traffic stays on each namespace's loopback:
it never shows up there). The test process itself stays in the root namespace: sockets are created inside a namespace by a short-lived
thread that joined it with setns(2) (a socket keeps its namespace for life), so clients reach each replica through
an `NsForwarder` (127.0.0.1:<port> in the root namespace → the replica's HTTP address, dialed from 127.0.0.1 inside
its namespace, so the replica sees a loopback client).

The second topology, `Hosts` (used by `HostsCluster`), stands for replicas on several machines: each namespace's eth0
is a TUN device with its own address, and a `Wire` in the test process carries IPv4 packets between them with a
delay, jitter and loss per direction and cuts on demand; peers files name the real addresses (no proxy, TCP end
to end). Clients reach the replicas through `NsForwarder`s as above.

Requires root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2's `ip`; `unavailable_reason()` says why not
(`hosts_unavailable_reason()` for `Hosts`, which also need /dev/net/tun).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import heapq
import json
import math
import os
import random
import re
import select
import secrets
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import harness
from harness import Cluster, Replica, free_port

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
IP_CMD_TIMEOUT = 10.0
NS_PREFIX = "snx"

SUBNET_PREFIX = "10.199.0"
MIDDLE_ADDR = f"{SUBNET_PREFIX}.254"
MAX_REPLICAS = 8


def host_addr(index: int) -> str:
    """The address of the index-th replica namespace (10.199.0.1, .2, …)."""
    assert 0 <= index < MAX_REPLICAS
    return f"{SUBNET_PREFIX}.{index + 1}"
HTTP_PORT = 8001
MESH_PORT = 7001

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


# ------------------------------------------------------------------------------------------- namespaces


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["ip", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=IP_CMD_TIMEOUT)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


_probe: dict[str, str | None] = {}


def unavailable_reason() -> str | None:
    """Why namespaces can't be used here (None when they can): not root, no `ip`, or `ip netns add` refused."""
    if "why" in _probe:
        return _probe["why"]
    why: str | None = None
    if os.geteuid() != 0:
        why = "network namespaces need root (euid is not 0)"
    elif shutil.which("ip") is None:
        why = "iproute2's `ip` is not installed"
    else:
        name = f"{NS_PREFIX}-{os.getpid()}-probe"
        try:
            r = _ip("netns", "add", name, check=False)
            if r.returncode != 0:
                why = f"`ip netns add` failed: {r.stderr.strip()}"
            else:
                r = _ip("-n", name, "link", "add", "p0", "type", "veth", "peer", "name", "p1", check=False)
                if r.returncode != 0:
                    why = f"cannot create a veth pair in a namespace: {r.stderr.strip()}"
        except (OSError, subprocess.SubprocessError) as exc:
            why = f"`ip netns` is unavailable: {exc!r}"
        finally:
            _ip("netns", "del", name, check=False)
    _probe["why"] = why
    return why


def remove_stale_namespaces():
    """Delete namespaces left by an earlier run whose process is gone (named snx-<pid>-…)."""
    r = _ip("netns", "list", check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(rf"{NS_PREFIX}-(\d+)-[0-9a-f]+-\w+", name)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            _ip("netns", "del", name, check=False)


def run_in_netns(ns: str, fn: Callable[[], object]) -> object:
    """Run `fn` on a fresh thread that has joined network namespace `ns`; return its result (or raise its error).

    Only that thread changes namespace, so the rest of the process is not affected; sockets it creates stay in
    `ns` after it ends."""
    box: dict = {}

    def body():
        try:
            enter_netns(ns)
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    t = threading.Thread(target=body, daemon=True, name=f"in-{ns}")
    t.start()
    t.join(IP_CMD_TIMEOUT)
    if t.is_alive():
        raise TimeoutError(f"work inside namespace {ns} did not finish within {IP_CMD_TIMEOUT}s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def enter_netns(ns: str):
    """Move the calling thread (only) into network namespace `ns`. Threads it starts afterwards inherit it."""
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({ns}): {os.strerror(err)}")
    finally:
        os.close(fd)


class Topology:
    """One namespace per replica id plus M, wired through a bridge in M, as in the module docstring.

    Names are unique per run (snx-<pid>-<hex>-<index>, …-m); `close()` deletes them (idempotent, never raises)."""

    def __init__(self, ids: list[str]):
        self.ids = list(ids)
        self.tag = f"{NS_PREFIX}-{os.getpid()}-{secrets.token_hex(3)}"
        self.ns = {i: f"{self.tag}-{k}" for k, i in enumerate(self.ids)}
        self.middle = f"{self.tag}-m"
        self.addr = {i: host_addr(k) for k, i in enumerate(self.ids)}
        self._made: list[str] = []

    def create(self) -> "Topology":
        try:
            for name in [self.middle, *self.ns.values()]:
                _ip("netns", "add", name)
                self._made.append(name)
                _ip("-n", name, "link", "set", "lo", "up")
            m = self.middle
            _ip("-n", m, "link", "add", "br0", "type", "bridge")
            _ip("-n", m, "addr", "add", f"{MIDDLE_ADDR}/24", "dev", "br0")
            _ip("-n", m, "link", "set", "br0", "up")
            for k, i in enumerate(self.ids):
                # Created directly inside the namespaces: no interface name ever exists in the root namespace.
                _ip("-n", self.ns[i], "link", "add", "eth0", "type", "veth", "peer", "name", f"v{k}", "netns", m)
                _ip("-n", self.ns[i], "addr", "add", f"{self.addr[i]}/24", "dev", "eth0")
                _ip("-n", self.ns[i], "link", "set", "eth0", "up")
                _ip("-n", m, "link", "set", f"v{k}", "master", "br0")
                _ip("-n", m, "link", "set", f"v{k}", "up")
            self.wait_carrier()
        except BaseException:
            self.close()
            raise
        return self

    def wait_carrier(self, timeout: float = 5.0):
        """Each replica namespace can open a TCP connection to a listener in M (the bridge forwards)."""

        def listen():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((MIDDLE_ADDR, 0))
            s.listen(8)
            return s

        listener: socket.socket = run_in_netns(self.middle, listen)  # type: ignore[assignment]
        port = listener.getsockname()[1]
        try:
            for i in self.ids:
                def probe():
                    with socket.create_connection((MIDDLE_ADDR, port), timeout=0.5):
                        return True
                harness.wait_until(lambda: run_in_netns(self.ns[i], probe), timeout, interval=0.05,
                                   what=f"namespace {self.ns[i]} to reach {MIDDLE_ADDR}")
        finally:
            listener.close()

    def close(self):
        for name in reversed(self._made):
            try:
                _ip("netns", "del", name, check=False)
            except (OSError, subprocess.SubprocessError):
                pass
        self._made.clear()


# ------------------------------------------------------------------------------------ hosts on a wire
#
# The kernels this suite runs on may lack `sch_netem` (CONFIG_NET_SCH_NETEM; the CI VM has neither netem nor
# `prio`), so delay, jitter, loss and cuts are applied in user space: every host's eth0 is a TUN device whose
# IPv4 packets a `Wire` in the test process hands to the destination host's TUN device, late or not at all. TCP
# runs end to end between the hosts' own kernels (nothing terminates or rewrites a connection), as across real
# machines.

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
TUN_MTU_READ = 65535
WIRE_JOIN_TIMEOUT = 3.0


@dataclass(frozen=True)
class PathShape:
    """What one direction of the path between two hosts does to IPv4 packets: a one-way `delay` (s), give or take
    a uniform `jitter` (s; packets of one direction keep their order, as on one route), and a `loss` probability
    per packet."""
    delay: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0

    def __post_init__(self):
        assert 0 <= self.jitter <= self.delay <= 5.0 and 0.0 <= self.loss <= 1.0, self


@dataclass
class PathStats:
    """Packets of one direction of one path: handed on, lost at random, dropped by a cut."""
    forwarded: int = 0
    lost: int = 0
    blocked: int = 0


class Wire:
    """Moves IPv4 packets between the TUN devices of `Hosts`, shaped per direction (`PathShape`), with directions
    that can be blocked (every packet dropped, as by a pulled cable or a firewall: the sender hears nothing).

    One thread reads every device and schedules each packet; another writes it to its destination when due.
    Non-IPv4 packets (IPv6 router solicitations and the like) and packets for unknown addresses are dropped.
    `seed` makes the loss and jitter draws repeatable."""

    def __init__(self, seed: int):
        self.seed = seed
        self._rng = random.Random(seed)
        self._cond = threading.Condition()
        self._fds: dict[str, int] = {}
        self._host_of: dict[bytes, str] = {}  # packed IPv4 address -> host
        self._shapes: dict[tuple[str, str], PathShape] = {}
        self._blocked: set[tuple[str, str]] = set()
        self._last_due: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, int, str, str, bytes]] = []
        self._seq = 0
        self.stats: dict[tuple[str, str], PathStats] = {}
        self.dropped_other = 0
        self.write_errors = 0
        self._closed = False
        self._wake_r, self._wake_w = os.pipe()
        self._threads: list[threading.Thread] = []

    def attach(self, host: str, fd: int, addr: str):
        """Adds `host`'s TUN device (non-blocking `fd`) with IPv4 address `addr`. Before `start()` only."""
        assert not self._threads
        self._fds[host] = fd
        self._host_of[socket.inet_aton(addr)] = host

    def shape(self, x: str, y: str, shape: PathShape):
        """Packets from x to y get `shape` from now on (those already scheduled keep their time)."""
        with self._cond:
            self._shapes[(x, y)] = shape

    def block(self, x: str, y: str):
        """Packets from x to y are dropped from now on, those already on the way too."""
        with self._cond:
            self._blocked.add((x, y))

    def unblock(self, x: str, y: str):
        with self._cond:
            self._blocked.discard((x, y))

    def is_blocked(self, x: str, y: str) -> bool:
        with self._cond:
            return (x, y) in self._blocked

    def totals(self) -> PathStats:
        with self._cond:
            return PathStats(*(sum(getattr(s, f) for s in self.stats.values())
                               for f in ("forwarded", "lost", "blocked")))

    def start(self) -> "Wire":
        for target, name in ((self._read_loop, "wire-read"), (self._write_loop, "wire-write")):
            t = threading.Thread(target=target, daemon=True, name=name)
            t.start()
            self._threads.append(t)
        return self

    def _read_loop(self):
        by_fd = {fd: host for host, fd in self._fds.items()}
        watch = [*by_fd, self._wake_r]
        while not self._closed:
            try:
                ready, _, _ = select.select(watch, [], [], 0.5)
            except (OSError, ValueError):
                return
            for fd in ready:
                if fd == self._wake_r:
                    continue
                for _ in range(256):  # then give the other devices a turn
                    try:
                        packet = os.read(fd, TUN_MTU_READ)
                    except BlockingIOError:
                        break
                    except OSError:
                        return
                    self._route(by_fd[fd], packet)

    def _route(self, src: str, packet: bytes):
        if len(packet) < 20 or packet[0] >> 4 != 4:
            self.dropped_other += 1
            return
        dst = self._host_of.get(packet[16:20])
        if dst is None or dst == src:
            self.dropped_other += 1
            return
        key = (src, dst)
        with self._cond:
            stats = self.stats.setdefault(key, PathStats())
            if key in self._blocked:
                stats.blocked += 1
                return
            shape = self._shapes.get(key, PathShape())
            if shape.loss and self._rng.random() < shape.loss:
                stats.lost += 1
                return
            now = time.monotonic()
            due = now + shape.delay + (self._rng.uniform(-shape.jitter, shape.jitter) if shape.jitter else 0.0)
            due = max(due, self._last_due.get(key, 0.0))
            self._last_due[key] = due
            self._seq += 1
            heapq.heappush(self._heap, (due, self._seq, src, dst, packet))
            stats.forwarded += 1
            self._cond.notify()

    def _write_loop(self):
        while True:
            with self._cond:
                while not self._closed:
                    if self._heap:
                        wait = self._heap[0][0] - time.monotonic()
                        if wait <= 0:
                            break
                    else:
                        wait = 0.5
                    self._cond.wait(wait)
                if self._closed:
                    return
                _, _, src, dst, packet = heapq.heappop(self._heap)
                if (src, dst) in self._blocked:  # cut while on the way
                    stats = self.stats[(src, dst)]
                    stats.forwarded -= 1
                    stats.blocked += 1
                    continue
                fd = self._fds[dst]
            try:
                os.write(fd, packet)
            except OSError:
                self.write_errors += 1

    def close(self):
        """Stops both threads (and waits for them, so the caller may close the devices afterwards)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        for t in self._threads:
            t.join(WIRE_JOIN_TIMEOUT)
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass


def open_tun(name: str = "eth0") -> int:
    """A TUN device (IPv4 packets without a header) named `name` in the calling thread's network namespace;
    returns its non-blocking descriptor (the device goes away with it)."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


def hosts_unavailable_reason() -> str | None:
    """Why `Hosts` can't be built here (None when they can): `unavailable_reason()`, or no TUN device."""
    why = unavailable_reason()
    if why or "tun" in _probe:
        return why or _probe["tun"]
    tun: str | None = None
    name = f"{NS_PREFIX}-{os.getpid()}-tunprobe"
    try:
        r = _ip("netns", "add", name, check=False)
        if r.returncode != 0:
            tun = f"`ip netns add` failed: {r.stderr.strip()}"
        else:
            os.close(run_in_netns(name, open_tun))  # type: ignore[arg-type]
    except (OSError, subprocess.SubprocessError) as exc:
        tun = f"cannot create a TUN device (/dev/net/tun) in a namespace: {exc!r}"
    finally:
        _ip("netns", "del", name, check=False)
    _probe["tun"] = tun
    return tun


class Hosts:
    """One network namespace per host id, each with its own address on `eth0` (10.199.0.1, .2, … /24), the hosts
    joined by a `Wire` that delays, jitters, loses and cuts their packets (see the comment above `PathShape`).

        ns 0: eth0 10.199.0.1 (TUN) ┐
        ns 1: eth0 10.199.0.2 (TUN) ├─ Wire (in the test process): PathShape per direction, cuts
        ns 2: eth0 10.199.0.3 (TUN) ┘

    `shapes`: one `PathShape` for every direction, or {(x, y): PathShape} (missing directions get none).
    Names are unique per run (snx-<pid>-<hex>-<index>); `close()` removes everything (idempotent, never raises)."""

    def __init__(self, ids: list[str], shapes: PathShape | dict[tuple[str, str], PathShape] = PathShape(),
                 seed: int | None = None):
        self.ids = list(ids)
        self.tag = f"{NS_PREFIX}-{os.getpid()}-{secrets.token_hex(3)}"
        self.ns = {i: f"{self.tag}-{k}" for k, i in enumerate(self.ids)}
        self.addr = {i: host_addr(k) for k, i in enumerate(self.ids)}
        self.shapes = dict(shapes) if isinstance(shapes, dict) else {
            (x, y): shapes for x in self.ids for y in self.ids if x != y}
        self.wire = Wire(seed if seed is not None else secrets.randbits(32))
        self._made: list[str] = []
        self._fds: list[int] = []

    def create(self) -> "Hosts":
        try:
            for i in self.ids:
                ns = self.ns[i]
                _ip("netns", "add", ns)
                self._made.append(ns)
                _ip("-n", ns, "link", "set", "lo", "up")
                fd: int = run_in_netns(ns, open_tun)  # type: ignore[assignment]
                self._fds.append(fd)
                _ip("-n", ns, "addr", "add", f"{self.addr[i]}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                self.wire.attach(i, fd, self.addr[i])
            for (x, y), shape in self.shapes.items():
                self.wire.shape(x, y, shape)
            self.wire.start()
            self.wait_paths()
        except BaseException:
            self.close()
            raise
        return self

    def wait_paths(self, timeout: float = 10.0):
        """Every host can open a TCP connection to every other one (a lost SYN costs a 1 s retry)."""
        for y in self.ids:
            def listen():
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind((self.addr[y], 0))
                s.listen(8)
                return s

            listener: socket.socket = run_in_netns(self.ns[y], listen)  # type: ignore[assignment]
            port = listener.getsockname()[1]
            try:
                for x in self.ids:
                    if x == y:
                        continue

                    def probe():
                        with socket.create_connection((self.addr[y], port), timeout=3):
                            return True
                    harness.wait_until(lambda: run_in_netns(self.ns[x], probe), timeout, interval=0.05,
                                       what=f"host {x} to reach {y} ({self.addr[y]})")
            finally:
                listener.close()

    def cut(self, x: str, y: str):
        """Drops every packet between x and y, both ways (each still reaches the others)."""
        self.wire.block(x, y)
        self.wire.block(y, x)

    def heal(self, x: str, y: str):
        self.wire.unblock(x, y)
        self.wire.unblock(y, x)

    def isolate(self, x: str):
        """Cuts x off from every other host (its own loopback, and so its local clients, still work)."""
        for y in self.ids:
            if y != x:
                self.cut(x, y)

    def rejoin(self, x: str):
        for y in self.ids:
            if y != x:
                self.heal(x, y)

    def heal_all(self) -> list[tuple[str, str]]:
        """Removes every cut; returns the directions that were cut."""
        cut = [(x, y) for x in self.ids for y in self.ids if x != y and self.wire.is_blocked(x, y)]
        for x, y in cut:
            self.wire.unblock(x, y)
        return cut

    def is_cut(self, x: str, y: str) -> bool:
        return self.wire.is_blocked(x, y) or self.wire.is_blocked(y, x)

    def close(self):
        self.wire.close()
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds.clear()
        for name in reversed(self._made):
            try:
                _ip("netns", "del", name, check=False)
            except (OSError, subprocess.SubprocessError):
                pass
        self._made.clear()


# ------------------------------------------------------------------------------------------ mesh framing

# Frame types of the clear handshake (Sources/Mesh/Wire/MeshFrame.swift, protocol 2): the dialer sends HELLO,
# SHARE, CONFIRM; the acceptor HELLO, SHARE, CONFIRM, ACCEPT (or REJECT). Protocol 1 had AUTH (2) and no CONFIRM.
HELLO, SHARE, ACCEPT, REJECT, CONFIRM = 1, 2, 3, 4, 12
HANDSHAKE_TYPES = {HELLO, SHARE, ACCEPT, REJECT, CONFIRM}
ENCRYPT_FLAG = 0x01  # HELLO flags (its last byte): the sender asks for an encrypted link
MAX_FRAME = 4 << 20
RECORD_TAG = 16  # ChaCha20-Poly1305
MAX_RECORD = 64 << 10


def split_frames(stream: bytes) -> tuple[list[bytes], int]:
    """Cut a clear mesh stream at its u32 big-endian length prefixes (`u32 length | u8 type | body`): (frames
    without their prefix, bytes consumed). Stops at a truncated or implausible frame."""
    frames, i = [], 0
    while i + 4 <= len(stream):
        n = struct.unpack("!I", stream[i:i + 4])[0]
        if n == 0 or n > MAX_FRAME or i + 4 + n > len(stream):
            break
        frames.append(stream[i + 4:i + 4 + n])
        i += 4 + n
    return frames, i


def split_records(stream: bytes) -> tuple[list[bytes], int]:
    """Cut an encrypted link's stream into records (`u32 plaintext length | ciphertext | 16-byte tag`): (ciphertext
    + tag of each record, bytes consumed). Stops at a truncated or implausible record."""
    records, i = [], 0
    while i + 4 <= len(stream):
        n = struct.unpack("!I", stream[i:i + 4])[0]
        if n == 0 or n > MAX_RECORD or i + 4 + n + RECORD_TAG > len(stream):
            break
        records.append(stream[i + 4:i + 4 + n + RECORD_TAG])
        i += 4 + n + RECORD_TAG
    return records, i


def handshake_length(stream: bytes, dialer: bool) -> int:
    """Bytes at the start of a mesh stream taken by its clear handshake frames: up to and including the dialer's
    CONFIRM, or the acceptor's ACCEPT or REJECT (whatever follows is the link's traffic, perhaps encrypted, so it
    is not parsed). A stream that stops inside the handshake counts whole."""
    i = 0
    while i + 5 <= len(stream):
        n = struct.unpack("!I", stream[i:i + 4])[0]
        kind = stream[i + 4]
        if n == 0 or n > MAX_FRAME or kind not in HANDSHAKE_TYPES:
            return i
        i = min(len(stream), i + 4 + n)
        if (dialer and kind == CONFIRM) or (not dialer and kind in (ACCEPT, REJECT)):
            return i
    return len(stream)


# ---------------------------------------------------------------------------------------------- sockets


def _hard_close(s: socket.socket):
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    for op in (lambda: s.shutdown(socket.SHUT_RDWR), s.close):
        try:
            op()
        except OSError:
            pass


def accept_and_dial(listener: socket.socket, ns: str, target: tuple[str, int], keep_going: Callable[[], bool],
                    on_pair: Callable[[socket.socket, socket.socket], bool], source: str | None = None):
    """The accept loop both forwarders run on their own thread: enters `ns` (so the dial is made inside it; the
    listener stays wherever it was bound), then for each accepted client dials `target` (from `source`, if given)
    and hands the pair to `on_pair`, which returns False to stop. A failed dial drops only that client."""
    try:
        enter_netns(ns)
    except OSError:
        listener.close()
        return
    while keep_going():
        try:
            client, _ = listener.accept()
        except OSError:
            return
        try:
            upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            upstream.settimeout(2)
            if source is not None:
                upstream.bind((source, 0))
            upstream.connect(target)
            upstream.settimeout(None)
        except OSError:
            _hard_close(client)
            continue
        if not on_pair(client, upstream):
            return


class NsForwarder:
    """127.0.0.1:<free port> in the root namespace → `target` inside namespace `ns`, dialed from 127.0.0.1."""

    def __init__(self, ns: str, target: tuple[str, int], name: str = ""):
        self.ns = ns
        self.target = target
        self.name = name
        self._closed = False
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", free_port()))
        self._listener.listen(128)
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept_loop, daemon=True, name=f"fwd-{name}").start()

    def _accept_loop(self):
        # This thread dials inside the namespace; the listener stays in the root one.
        accept_and_dial(self._listener, self.ns, self.target, lambda: not self._closed, self._forward,
                        source="127.0.0.1")

    def _forward(self, client: socket.socket, upstream: socket.socket) -> bool:
        with self._lock:
            if self._closed:
                _hard_close(client)
                _hard_close(upstream)
                return False
            self._socks += [client, upstream]
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()
        return True

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self._closed = True
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            _hard_close(s)
        try:
            self._listener.close()
        except OSError:
            pass


class StreamCutter:
    """Cuts one direction of a mesh connection into whole units as bytes arrive: the clear handshake frames
    ("frame"), then, on an encrypted link, AEAD records ("record"). Without `records`, or as soon as something
    doesn't parse as expected, the rest passes through as it comes ("raw")."""

    def __init__(self, dialer: bool, records: bool):
        self.dialer = dialer
        self.records = records
        self.phase = "handshake"
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        self.buf += data
        out: list[tuple[str, bytes]] = []
        while self.buf:
            if self.phase == "raw":
                out.append(("raw", bytes(self.buf)))
                self.buf.clear()
            elif len(self.buf) < 5:
                break
            elif self.phase == "handshake":
                n = struct.unpack("!I", self.buf[:4])[0]
                kind = self.buf[4]
                if n == 0 or n > MAX_FRAME or kind not in HANDSHAKE_TYPES:
                    self.phase = "records" if self.records else "raw"
                    continue
                if len(self.buf) < 4 + n:
                    break
                out.append(("frame", bytes(self.buf[:4 + n])))
                del self.buf[:4 + n]
                if (self.dialer and kind == CONFIRM) or (not self.dialer and kind in (ACCEPT, REJECT)):
                    self.phase = "records" if self.records else "raw"
            else:
                n = struct.unpack("!I", self.buf[:4])[0]
                if n == 0 or n > MAX_RECORD:
                    self.phase = "raw"
                    continue
                if len(self.buf) < 4 + n + RECORD_TAG:
                    break
                out.append(("record", bytes(self.buf[:4 + n + RECORD_TAG])))
                del self.buf[:4 + n + RECORD_TAG]
        return out


def flip_record_body(unit: bytes) -> bytes:
    """One bit of the ciphertext (the middle byte) changed."""
    b = bytearray(unit)
    b[4 + (len(unit) - 4 - RECORD_TAG) // 2] ^= 0x01
    return bytes(b)


def flip_record_tag(unit: bytes) -> bytes:
    """One bit of the tag (its last byte) changed."""
    b = bytearray(unit)
    b[-1] ^= 0x01
    return bytes(b)


def flip_record_length(unit: bytes) -> bytes:
    """The length header's lowest bit changed (the header is the AEAD's associated data, and the record boundary
    moves by one byte)."""
    b = bytearray(unit)
    b[3] ^= 0x01
    return bytes(b)


def strip_encrypt_flag(unit: bytes) -> bytes | None:
    """A HELLO whose encryption request is removed (its last byte is the flags); None for other frames."""
    if len(unit) < 6 or unit[4] != HELLO or not unit[-1] & ENCRYPT_FLAG:
        return None
    b = bytearray(unit)
    b[-1] &= ~ENCRYPT_FLAG & 0xFF
    return bytes(b)


ACTIONS: dict[str, Callable[[bytes], bytes | None]] = {
    "flip-body": flip_record_body,
    "flip-tag": flip_record_tag,
    "flip-length": flip_record_length,
    "drop": lambda unit: b"",
    "replay": lambda unit: unit + unit,
    "strip-encrypt-flag": strip_encrypt_flag,
}


class Tamper:
    """Shared by a cluster's proxies. Armed with an action, it rewrites the next `times` units of the given kind
    ("record" after the handshake of an encrypted link, "frame" in the handshake) that any proxy forwards on a
    connection at least `min_age` s old, then disarms itself. `events` lists what it did; `done` is set at the
    first."""

    def __init__(self):
        self._lock = threading.Lock()
        self._action: Callable[[bytes], bytes | None] | None = None
        self._name = ""
        self._kind = "record"
        self._min_age = 0.0
        self._left = 0
        self.events: list[dict] = []
        self.done = threading.Event()

    def arm(self, action: str, kind: str = "record", times: int = 1, min_age: float = 0.0):
        with self._lock:
            self._action = ACTIONS[action]
            self._name = action
            self._kind = kind
            self._min_age = min_age
            self._left = times
            self.events = []
            self.done.clear()

    def disarm(self):
        with self._lock:
            self._left = 0

    @property
    def record(self) -> dict | None:
        return self.events[0] if self.events else None

    def apply(self, proxy: str, direction: str, pair: "_Pair", kind: str, offset: int, unit: bytes) -> bytes:
        with self._lock:
            if self._left <= 0 or kind != self._kind or time.monotonic() - pair.opened < self._min_age:
                return unit
            out = self._action(unit)  # type: ignore[misc]
            if out is None:
                return unit
            self._left -= 1
            self.events.append({"action": self._name, "proxy": proxy, "direction": direction, "pair": pair,
                                "stream_offset": offset, "unit_len": len(unit), "at": time.monotonic()})
        self.done.set()
        return out


@dataclass
class _Pair:
    client: socket.socket
    upstream: socket.socket
    opened: float
    sent: dict = field(default_factory=lambda: {"c2u": 0, "u2c": 0})
    closed_at: float | None = None


class TamperProxy:
    """A TCP forwarder listening inside namespace `ns` on (`host`, free port) → `target` (dialed inside `ns`).

    Directions: "c2u" carries what the dialing replica sends, "u2c" what the listening replica sends. With
    `records` (for encrypted links) each direction is forwarded in whole units (handshake frames, then records;
    see `StreamCutter`), each offered to `tamper`; otherwise bytes pass as they come. `pairs` keeps every
    connection it forwarded (open and closed)."""

    def __init__(self, ns: str, host: str, target: tuple[str, int], tamper: Tamper, name: str = "",
                 records: bool = True):
        self.ns = ns
        self.target = target
        self.tamper = tamper
        self.name = name
        self.records = records
        self.is_cut = False  # harness.Cluster.link_cut reads it
        self._closed = False
        self._lock = threading.Lock()
        self.pairs: list[_Pair] = []

        def listen():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, 0))
            s.listen(64)
            return s

        self._listener: socket.socket = run_in_netns(ns, listen)  # type: ignore[assignment]
        self.address = f"{host}:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept_loop, daemon=True, name=f"proxy-{name}").start()

    def _accept_loop(self):
        accept_and_dial(self._listener, self.ns, self.target, lambda: not self._closed, self._forward)

    def _forward(self, client: socket.socket, upstream: socket.socket) -> bool:
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = _Pair(client, upstream, time.monotonic())
        with self._lock:
            if self._closed:
                _hard_close(client)
                _hard_close(upstream)
                return False
            self.pairs.append(pair)
        threading.Thread(target=self._pump, args=(pair, "c2u"), daemon=True).start()
        threading.Thread(target=self._pump, args=(pair, "u2c"), daemon=True).start()
        return True

    def _pump(self, pair: _Pair, direction: str):
        src, dst = (pair.client, pair.upstream) if direction == "c2u" else (pair.upstream, pair.client)
        cutter = StreamCutter(dialer=direction == "c2u", records=self.records)
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                out = bytearray()
                for kind, unit in cutter.feed(data):
                    out += self.tamper.apply(self.name, direction, pair, kind, pair.sent[direction], unit)
                    pair.sent[direction] += len(unit)
                if out:
                    dst.sendall(out)
        except OSError:
            pass
        # A mesh link is useless half-open: end both sides.
        with self._lock:
            if pair.closed_at is None:
                pair.closed_at = time.monotonic()
        _hard_close(src)
        _hard_close(dst)

    def open_pairs(self) -> list[_Pair]:
        with self._lock:
            return [p for p in self.pairs if p.closed_at is None]

    def close(self):
        self._closed = True
        with self._lock:
            pairs = list(self.pairs)
        for p in pairs:
            _hard_close(p.client)
            _hard_close(p.upstream)
        try:
            self._listener.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------- capture


@dataclass
class Segment:
    t: float
    src: tuple[str, int]
    dst: tuple[str, int]
    seq: int
    flags: int
    payload: bytes


class PacketCapture:
    """Every IPv4/TCP packet on interface `iface` of namespace `ns`, both directions, via an AF_PACKET socket
    (no tcpdump needed). `start()` … `stop()`; then `streams()` gives each direction's reassembled bytes."""

    SYN = 0x02

    def __init__(self, ns: str, iface: str = "eth0", max_bytes: int = 64 << 20):
        self.ns = ns
        self.iface = iface
        self.max_bytes = max_bytes
        self.segments: list[Segment] = []
        self.frames = 0
        self.truncated = False
        self._bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def start(self) -> "PacketCapture":
        def open_sock():
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            try:
                s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE (root)
            except OSError:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
            s.bind((self.iface, ETH_P_ALL))
            s.settimeout(0.05)
            return s

        self._sock = run_in_netns(self.ns, open_sock)  # type: ignore[assignment]
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"capture-{self.ns}")
        self._thread.start()
        return self

    def _loop(self):
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                frame = self._sock.recv(1 << 18)
            except socket.timeout:
                continue
            except OSError:
                return
            self.frames += 1
            seg = self._parse(frame)
            if seg is None:
                continue
            if self._bytes + len(seg.payload) > self.max_bytes:
                self.truncated = True
                continue
            self._bytes += len(seg.payload)
            self.segments.append(seg)

    @staticmethod
    def _parse(frame: bytes) -> Segment | None:
        if len(frame) < 14 + 20 or frame[12:14] != b"\x08\x00":
            return None
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[0] >> 4 != 4 or ip[9] != 6 or len(ip) < ihl + 20:
            return None
        total = struct.unpack("!H", ip[2:4])[0]
        end = min(len(ip), total) if total else len(ip)  # GSO super-packets may carry 0
        tcp = ip[ihl:end]
        sport, dport, seq = struct.unpack("!HHI", tcp[:8])
        off = (tcp[12] >> 4) * 4
        src = (socket.inet_ntoa(ip[12:16]), sport)
        dst = (socket.inet_ntoa(ip[16:20]), dport)
        return Segment(time.monotonic(), src, dst, seq, tcp[13], bytes(tcp[off:]))

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        if self._sock is not None:
            self._sock.close()

    def streams(self) -> dict[tuple[tuple[str, int], tuple[str, int]], bytes]:
        """(src, dst) → that direction's payload bytes in sequence order (retransmissions counted once, a hole
        left by a lost capture ends the stream there)."""
        by_flow: dict[tuple, list[Segment]] = {}
        for s in self.segments:
            by_flow.setdefault((s.src, s.dst), []).append(s)
        out = {}
        for flow, segs in by_flow.items():
            syn = next((s for s in segs if s.flags & self.SYN), None)
            base = (syn.seq + 1) if syn else min(s.seq for s in segs if s.payload) if any(
                s.payload for s in segs) else 0
            buf = bytearray()
            pieces = sorted(((s.seq - base) % (1 << 32), s.payload) for s in segs if s.payload)
            for rel, data in pieces:
                if rel > len(buf):
                    break  # hole
                buf += data[len(buf) - rel:]
            out[flow] = bytes(buf)
        return out


# -------------------------------------------------------------------------------------------- analysis


def byte_entropy(data: bytes) -> float:
    """Shannon entropy in bits per byte (8.0 = uniform)."""
    if not data:
        return 0.0
    n = len(data)
    return -sum(c / n * math.log2(c / n) for c in Counter(data).values())


def random_entropy_floor(n: int, slack: float = 0.05) -> float:
    """A floor for the entropy of n uniformly random bytes: the expected value is about 8 − 255/(2n·ln 2)
    (the bias of the plug-in estimator); `slack` bits below that leave room for chance."""
    return 8.0 - 255.0 / (2.0 * n * math.log(2)) - slack


def find_all(haystack: bytes, needle: bytes) -> list[int]:
    out, i = [], haystack.find(needle)
    while i >= 0:
        out.append(i)
        i = haystack.find(needle, i + 1)
    return out


# --------------------------------------------------------------------------------------------- replicas


class NetnsReplica(Replica):
    """A `Replica` started with `ip netns exec NS` (iproute2 execs the server: the pid is the server's)."""

    def __init__(self, ns: str, *args, **kw):
        super().__init__(*args, **kw)
        self.ns = ns

    @property
    def cmd(self) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *super().cmd]


class NetnsCluster(Cluster):
    """Replicas in their own namespaces (see the module docstring), mesh links through `TamperProxy`s in M.

    `http`/`mesh` hold the addresses inside the namespaces (as in peers.json); `url()` goes through a root-namespace
    forwarder so clients and `mesh_view` work as with `Cluster`. `encryption` goes into the peers files: one value
    for all, or {id: value} (None = leave the field out). The proxies cut the links into records unless every
    replica has it "off"."""

    def __init__(self, ids: list[str], name: str, encryption: str | None | dict[str, str | None] = "auto",
                 args: list[str] | None = None):
        self.ids = list(ids)
        self.name = name
        self.args = list(args or [])
        self.secret = secrets.token_hex(16)  # non-loopback mesh: ≥ 16 bytes and not the demo secret
        self.cluster_name = f"netns-{secrets.token_hex(3)}"
        self.encryption = dict(encryption) if isinstance(encryption, dict) else {i: encryption for i in ids}
        records = any(v != "off" for v in self.encryption.values())
        self.dir = harness.log_dir() / f"{name}-{os.getpid()}-{int(time.time() * 1000) % 10_000_000}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.topology = self._make_topology()
        self.forwarders: dict[str, NsForwarder] = {}
        self.proxies: dict[tuple[str, str], TamperProxy] = {}
        self.replicas: dict[str, Replica] = {}
        self.tamper = Tamper()
        self.http = {i: f"{self.topology.addr[i]}:{HTTP_PORT}" for i in self.ids}
        self.mesh = {i: f"{self.topology.addr[i]}:{MESH_PORT}" for i in self.ids}
        self.topology.create()
        try:
            self._make_proxies(records)
            for i in self.ids:
                self.forwarders[i] = NsForwarder(self.topology.ns[i], (self.topology.addr[i], HTTP_PORT), name=i)
                path = self.dir / f"peers-{i}.json"
                path.write_text(json.dumps(self.peers_doc(i), indent=2))
                self.replicas[i] = NetnsReplica(self.topology.ns[i], i, path, self.args, self.dir / f"{i}.log")
        except BaseException:
            self.close()
            raise

    def _make_topology(self) -> "Topology | Hosts":
        return Topology(self.ids)

    def _make_proxies(self, records: bool):
        for x in self.ids:
            for y in self.ids:
                if x != y:
                    self.proxies[(x, y)] = TamperProxy(self.topology.middle, MIDDLE_ADDR,
                                                       (self.topology.addr[y], MESH_PORT),
                                                       self.tamper, name=f"{x}->{y}", records=records)

    def peers_doc(self, me: str | None = None) -> dict:
        doc = super().peers_doc(me)
        doc["cluster"] = self.cluster_name
        if me is not None and self.encryption.get(me) is not None:
            doc["encryption"] = self.encryption[me]
        return doc

    def url(self, node: str, path: str = "") -> str:
        return f"http://{self.forwarders[node].address}{path}"

    def port(self, node: str) -> int:
        return int(self.forwarders[node].address.rsplit(":", 1)[1])

    def link_proxies(self, x: str, y: str) -> list[TamperProxy]:
        return [self.proxies[(x, y)], self.proxies[(y, x)]]

    def close(self):
        for r in self.replicas.values():
            try:
                r.terminate()
            except Exception:  # noqa: BLE001 - best effort cleanup
                pass
        for p in list(self.proxies.values()) + list(self.forwarders.values()):
            try:
                p.close()
            except Exception:  # noqa: BLE001
                pass
        self.topology.close()


class HostsCluster(NetnsCluster):
    """Replicas on `Hosts`: each in its own namespace, bound to its own address (10.199.0.k:8001 for HTTP,
    :7001 for the mesh), and the peers files name those very addresses: mesh links go straight from host to host
    over the `Wire`, no proxy. `cut`/`heal` act on the wire (so `fully_meshed` ignores cut links), `isolate`/
    `rejoin` cut a host off from all others. `shapes` and `seed` go to `Hosts`."""

    def __init__(self, ids: list[str], name: str, shapes: PathShape | dict[tuple[str, str], PathShape] = PathShape(),
                 seed: int | None = None, encryption: str | None | dict[str, str | None] = "auto",
                 args: list[str] | None = None):
        self._shapes = shapes
        self._seed = seed
        super().__init__(ids, name, encryption=encryption, args=harness.replica_args(list(args or [])))

    def _make_topology(self) -> Hosts:
        return Hosts(self.ids, self._shapes, self._seed)

    def _make_proxies(self, records: bool):
        pass

    @property
    def wire(self) -> Wire:
        return self.topology.wire

    def link_cut(self, x: str, y: str) -> bool:
        return self.topology.is_cut(x, y)

    def cut(self, x: str, y: str):
        self.topology.cut(x, y)

    def heal(self, x: str, y: str):
        self.topology.heal(x, y)

    def isolate(self, x: str):
        self.topology.isolate(x)

    def rejoin(self, x: str):
        self.topology.rejoin(x)

    def restore(self, timeout: float = 10.0) -> list[str]:
        healed = [f"healed {x}->{y}" for x, y in self.topology.heal_all()]
        return healed + super().restore(timeout)
