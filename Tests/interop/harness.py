"""Process harness for the interop tests: free ports, peer files, replica processes, TCP proxies.

Everything here is synchronous and thread-based so tests can drive several replicas, proxies and clients
at once. Nothing sleeps to synchronise: `wait_until` polls a condition with a deadline.
"""
from __future__ import annotations

import json
import re
import os
import shlex
import signal
import socket
import struct
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

import requests

REPO = Path(__file__).resolve().parents[2]
SERVER_BIN = Path(os.environ.get("SERVER_BIN", REPO / ".build" / "release" / "Server"))
SECRET = "interop-secret-0123456789abcdef"
READY_TIMEOUT = 10.0
STOP_GRACE = 5.0


class WaitTimeout(AssertionError):
    pass


def wait_until(cond: Callable[[], object], timeout: float, interval: float = 0.02, what: str = "condition"):
    """Poll `cond` until it returns a truthy value; return that value. Raise WaitTimeout after `timeout` s.

    Exceptions raised by `cond` count as "not yet" (the last one is reported on timeout)."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = cond()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - polling: any failure means "not yet"
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {what}{detail}")
        time.sleep(interval)


# -------------------------------------------------------------------------------------------- messages


def new_text(prefix: str = "m") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def is_receive(m: dict, text: str) -> bool:
    """m is the ReceiveMessage invocation carrying message text `text`."""
    args = m.get("arguments") or []
    return m.get("type") == 1 and m.get("target") == "ReceiveMessage" and len(args) >= 2 and args[1] == text


# ------------------------------------------------------------------------------------------------ JWT

JWT_KEY = "interop-jwt-key-0123456789abcdef-0123456789"  # >= 32 bytes, as --jwt-key requires


def b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_token(claims: dict, key: str | bytes = JWT_KEY, header: dict | None = None, sign: bool = True,
              lifetime: float | None = 3600.0) -> str:
    """A compact JWS: `header` (default HS256) and `claims` signed with HMAC-SHA256 under `key`.

    `lifetime` adds `exp` (now + lifetime) and `iat` unless `claims` has them; None leaves them out.
    `sign=False` leaves the signature empty (for `alg: none`)."""
    import hashlib
    import hmac

    claims = dict(claims)
    if lifetime is not None:
        now = int(time.time())
        claims.setdefault("iat", now)
        claims.setdefault("exp", now + int(lifetime))
    head = header if header is not None else {"alg": "HS256", "typ": "JWT"}
    signing_input = b64url(json.dumps(head, separators=(",", ":")).encode()) + "." + \
        b64url(json.dumps(claims, separators=(",", ":")).encode())
    if not sign:
        return signing_input + "."
    raw_key = key.encode() if isinstance(key, str) else key
    sig = hmac.new(raw_key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


# ---------------------------------------------------------------------------------------------- ports

_port_lock = threading.Lock()
_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now and was not handed out before in this process."""
    with _port_lock:
        for _ in range(200):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            finally:
                s.close()
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError("no free port")


def log_dir() -> Path:
    d = Path(os.environ.get("INTEROP_LOG_DIR") or (Path("/tmp") / f"interop-logs-{os.getpid()}"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def tail(path: Path, lines: int = 30) -> str:
    try:
        data = Path(path).read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(data[-lines:])


def log_excerpt(path: Path, lines: int = 25) -> str:
    """The interesting part of a replica log: around the first crash report if there is one, else the tail."""
    try:
        data = Path(path).read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    for i, line in enumerate(data):
        if "Fatal error" in line or "Program crashed" in line or "Crash" in line[:10]:
            noise = re.compile(r"^\s*((r[0-9a-z]+|cs|fs|gs) 0x|0x)")
            keep = [x for x in data[max(0, i - 3): i + 40] if x.strip() and not noise.match(x)]
            return "\n".join(keep[:lines])
    return "\n".join(data[-lines:])


# ------------------------------------------------------------------------------------------- replicas

_help_text: str | None = None


def server_supports(flag: str) -> bool:
    """Whether the Server binary under test knows `flag` (per its --help), so the suite can still run against an
    older binary to show that a regression test fails there."""
    global _help_text
    if _help_text is None:
        try:
            _help_text = subprocess.run([str(SERVER_BIN), "--help"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            _help_text = ""
    return flag in _help_text


def replica_args(args: list[str]) -> list[str]:
    """The replica flags tests run with: `args`, plus a fresh GET /api/mesh on every request (the tests poll it
    to time failure detection to the millisecond; by default a rendering is served again for 1 s)."""
    args = list(args)
    if "--status-max-age" not in args and server_supports("--status-max-age"):
        args += ["--status-max-age", "0.001"]
    return args



class Replica:
    """One `Server` process. Stdout is read by a thread that waits for the `ready` line; stderr goes to a log."""

    def __init__(self, node: str, peers_path: Path, args: list[str], log_path: Path):
        self.node = node
        self.peers_path = peers_path
        self.args = list(args)
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.ready_line: str | None = None
        self.ready_at: float | None = None
        self.stdout_lines: list[str] = []
        self._ready = threading.Event()
        self.stopped = False  # SIGSTOPped
        self.env: dict[str, str] = {}  # extra environment for the next start()

    @property
    def cmd(self) -> list[str]:
        args = list(self.args)
        # The suite stops hundreds of replicas with SIGTERM: no load-balancer drain (--drain-delay, 2 s by
        # default) unless a test asks for one.
        if not any(a.startswith("--drain-delay") for a in args) and server_supports("--drain-delay"):
            args += ["--drain-delay", "0"]
        # REPLICA_ARGS (e.g. "--loops 2") runs every replica of the suite with more flags; a test's own win.
        extra = shlex.split(os.environ.get("REPLICA_ARGS", ""))
        own = {a.split("=", 1)[0] for a in args if a.startswith("--")}
        k = 0
        while k < len(extra):
            flag = extra[k].split("=", 1)[0]
            takes_value = "=" not in extra[k] and k + 1 < len(extra) and not extra[k + 1].startswith("--")
            if flag not in own:
                args += extra[k:k + 2] if takes_value else [extra[k]]
            k += 2 if takes_value else 1
        return [str(SERVER_BIN), "--node", self.node, "--peers", str(self.peers_path), *args]

    def start(self, wait: bool = True) -> "Replica":
        self._ready.clear()
        self.ready_line = None
        self.ready_at = None
        self.stopped = False
        log = open(self.log_path, "ab")
        log.write(f"\n===== start {' '.join(self.cmd)} at {time.time():.3f}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, cwd=str(REPO),
            start_new_session=True, env={**os.environ, **self.env})
        log.close()
        proc = self.proc
        threading.Thread(target=self._read_stdout, args=(proc,), daemon=True).start()
        if wait:
            self.wait_ready()
        return self

    def _read_stdout(self, proc: subprocess.Popen):
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.stdout_lines.append(line)
            if line.startswith("ready ") and proc is self.proc and not self._ready.is_set():
                self.ready_line = line
                self.ready_at = time.monotonic()
                self._ready.set()

    def wait_ready(self, timeout: float = READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.02):
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"replica {self.node} exited with {self.proc.returncode} before 'ready'; log {self.log_path}:\n"
                    + tail(self.log_path))
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"replica {self.node} printed no 'ready' line within {timeout}s; log {self.log_path}:\n"
                    + tail(self.log_path))
        return self.ready_line

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def kill(self):
        """kill -9 and reap."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.stopped = False

    def process_state(self) -> str | None:
        """The kernel's state letters of the process's threads, sorted and joined (`T` once every thread is
        stopped), or None when it isn't running."""
        if not self.alive():
            return None
        states = set()
        try:
            for task in os.listdir(f"/proc/{self.proc.pid}/task"):
                with open(f"/proc/{self.proc.pid}/task/{task}/stat", encoding="ascii", errors="replace") as f:
                    states.add(f.read().rsplit(")", 1)[1].split()[0])
        except (OSError, IndexError):
            return None
        return "".join(sorted(states))

    def sigstop(self):
        """SIGSTOP, and wait (up to 2 s) until the kernel shows the whole process stopped: a test that acts right
        after must not race the stop."""
        assert self.alive(), f"SIGSTOP: replica {self.node} is not running"
        self.signal(signal.SIGSTOP)
        self.stopped = True
        deadline = time.monotonic() + 2.0
        while self.process_state() != "T":
            assert time.monotonic() < deadline, f"replica {self.node} not stopped 2 s after SIGSTOP ({self.process_state()})"
            time.sleep(0.001)

    def sigcont(self):
        self.signal(signal.SIGCONT)
        self.stopped = False

    def terminate(self, grace: float = STOP_GRACE) -> int | None:
        """SIGTERM, then SIGKILL after `grace` seconds. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if self.stopped:
                self.sigcont()
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.returncode


class Cluster:
    """N replicas from one (or, with proxies, per-replica) peers file, all on fresh loopback ports.

    With `proxied=True` every replica X gets its own peers file in which each OTHER replica Y's mesh address
    points at a proxy P(X→Y) forwarding to Y's real mesh port, so the X–Y link can be cut by cutting
    P(X→Y) and P(Y→X)."""

    def __init__(self, ids: list[str], name: str, args: list[str] | None = None, proxied: bool = False,
                 secret: str = SECRET):
        self.ids = list(ids)
        self.name = name
        self.args = replica_args(list(args or []))
        self.secret = secret
        self.dir = log_dir() / f"{name}-{os.getpid()}-{int(time.time() * 1000) % 10_000_000}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.http = {i: f"127.0.0.1:{free_port()}" for i in ids}
        self.mesh = {i: f"127.0.0.1:{free_port()}" for i in ids}
        self.proxies: dict[tuple[str, str], "TcpProxy"] = {}
        self.replicas: dict[str, Replica] = {}
        if proxied:
            for x in ids:
                for y in ids:
                    if x != y:
                        host, port = self.mesh[y].rsplit(":", 1)
                        self.proxies[(x, y)] = TcpProxy((host, int(port)), name=f"{x}->{y}")
        for i in ids:
            path = self.dir / f"peers-{i}.json"
            path.write_text(json.dumps(self.peers_doc(i), indent=2))
            self.replicas[i] = Replica(i, path, self.args, self.dir / f"{i}.log")

    def peers_doc(self, me: str | None = None) -> dict:
        reps = []
        for i in self.ids:
            mesh = self.mesh[i]
            if me is not None and i != me and (me, i) in self.proxies:
                mesh = self.proxies[(me, i)].address
            reps.append({"id": i, "http": self.http[i], "mesh": mesh})
        return {"cluster": "interop", "secret": self.secret, "replicas": reps}

    def __getitem__(self, node: str) -> Replica:
        return self.replicas[node]

    def start(self, *nodes: str, wait: bool = True):
        nodes = nodes or tuple(self.ids)
        for n in nodes:
            self.replicas[n].start(wait=False)
        if wait:
            for n in nodes:
                self.replicas[n].wait_ready()
        return self

    def url(self, node: str, path: str = "") -> str:
        return f"http://{self.http[node]}{path}"

    def hub(self, node: str) -> str:
        return self.url(node, "/chatHub")

    def demo_hub(self, node: str) -> str:
        """URL of the demo hub (`/demoHub`) on `node`."""
        return self.url(node, "/demoHub")

    def peer_counters(self, node: str, field: str) -> dict[str, int]:
        """One numeric field of every peer in `node`'s GET /api/mesh (e.g. `dataReceived`), by peer id."""
        return {p["id"]: p[field] for p in self.mesh_view(node)["peers"]}

    def port(self, node: str) -> int:
        return int(self.http[node].rsplit(":", 1)[1])

    def mesh_view(self, node: str, timeout: float = 1.0) -> dict:
        r = requests.get(self.url(node, "/api/mesh"), timeout=timeout)
        r.raise_for_status()
        return r.json()

    def peer_states(self, node: str) -> dict[str, str]:
        return {p["id"]: p["state"] for p in self.mesh_view(node)["peers"]}

    def link_cut(self, x: str, y: str) -> bool:
        p = self.proxies.get((x, y))
        q = self.proxies.get((y, x))
        return bool((p and p.is_cut) or (q and q.is_cut))

    def fully_meshed(self, among: list[str] | None = None) -> bool:
        """Every running, not stopped replica sees every other such replica `up`, except across cut links."""
        live = [n for n in (among or self.ids) if self.replicas[n].alive() and not self.replicas[n].stopped]
        for x in live:
            states = self.peer_states(x)
            for y in live:
                if y != x and not self.link_cut(x, y) and states.get(y) != "up":
                    return False
        return True

    def wait_meshed(self, timeout: float = 10.0, among: list[str] | None = None):
        wait_until(lambda: self.fully_meshed(among), timeout, interval=0.05, what="full mesh")

    def cut(self, x: str, y: str):
        self.proxies[(x, y)].cut()
        self.proxies[(y, x)].cut()

    def heal(self, x: str, y: str):
        self.proxies[(x, y)].heal()
        self.proxies[(y, x)].heal()

    def restore(self, timeout: float = 10.0) -> list[str]:
        """Bring a cluster that a test left damaged back to full health: continue stopped replicas, heal cut
        links, restart dead replicas, wait for the full mesh. Returns what had to be repaired."""
        repaired = []
        for (x, y), p in self.proxies.items():
            if p.is_cut:
                p.heal()
                repaired.append(f"healed {x}->{y}")
        for n, r in self.replicas.items():
            if r.stopped:
                r.sigcont()
                repaired.append(f"continued {n}")
            if not r.alive():
                code = r.proc.returncode if r.proc else None
                r.start()
                repaired.append(f"restarted {n} (exit {code})")
        self.wait_meshed(timeout)
        return repaired

    def logs(self) -> list[Path]:
        return [r.log_path for r in self.replicas.values()]

    def close(self):
        for r in self.replicas.values():
            try:
                r.terminate()
            except Exception:  # noqa: BLE001 - best effort cleanup
                pass
        for p in self.proxies.values():
            p.close()


# ---------------------------------------------------------------------------------------------- proxy


class TcpProxy:
    """A fault-injecting TCP forwarder on 127.0.0.1:<free port> → `target`.

    `cut()` closes every forwarded connection (both sides, with RST) and makes new ones close at once;
    `heal()` lets new connections through again."""

    def __init__(self, target: tuple[str, int], name: str = ""):
        self.target = target
        self.name = name
        self.is_cut = False
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._closed = False
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", free_port()))
        self._listener.listen(64)
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self.connections_accepted = 0
        threading.Thread(target=self._accept_loop, daemon=True, name=f"proxy-{name}").start()

    @staticmethod
    def _hard_close(s: socket.socket):
        # Linger 0 makes close() send RST; shutdown() first wakes a pump thread blocked in recv().
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        TcpProxy._close_quietly(s)

    @staticmethod
    def _close_quietly(s: socket.socket):
        """Shut down and close, ignoring a socket that is already gone."""
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            s.close()
        except OSError:
            pass

    def _accept_loop(self):
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                refuse = self.is_cut or self._closed
            if refuse:
                self._hard_close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
                upstream.settimeout(None)
            except OSError:
                self._hard_close(client)
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self.is_cut or self._closed:
                    self._hard_close(client)
                    self._hard_close(upstream)
                    continue
                self._pairs.append((client, upstream))
                self.connections_accepted += 1
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        # One side ended: end both (a mesh link is useless half-open).
        with self._lock:
            pair = next((p for p in self._pairs if src in p), None)
            if pair:
                self._pairs.remove(pair)
        for s in (src, dst):
            TcpProxy._close_quietly(s)

    def cut(self):
        with self._lock:
            self.is_cut = True
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            self._hard_close(a)
            self._hard_close(b)

    def heal(self):
        with self._lock:
            self.is_cut = False

    def close(self):
        self._closed = True
        self.cut()
        try:
            self._listener.close()
        except OSError:
            pass
