"""start.sh: starts the replicas of a peers file in the foreground, one ready line each, stops them all on
Ctrl-C/SIGTERM with exit 0, `./start.sh b` starts only b, flags after `--` reach every replica; `./start.sh reload`
(SIGHUP to the running replicas, what is missing or extra) and `./start.sh stop`; `Server --list-replicas`, with
which start.sh reads peers files (no Python)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

import harness
from harness import Cluster, wait_until
from wsraw import HubSocket, http_request

START = harness.REPO / "start.sh"


def start_env(logs, server_bin=None, **extra) -> dict:
    return dict(os.environ, SERVER_BIN=str(server_bin or harness.SERVER_BIN), START_LOG_DIR=str(logs), **extra)


class StartSh:
    def __init__(self, args: list[str], logs, server_bin=None, env: dict | None = None, drain: bool = False):
        """`drain`: keep the replicas' default drain on SIGTERM (2 s); otherwise `--drain-delay 0` goes to every
        replica, so the suite doesn't wait 2 s per stop (one test keeps the default)."""
        env = env or start_env(logs, server_bin)
        if not drain:
            args = [*args, "--drain-delay", "0"] if "--" in args else [*args, "--", "--drain-delay", "0"]
        self.proc = subprocess.Popen([str(START), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        self.lines: list[str] = []
        self.logs = logs
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def wait_line(self, pred, timeout=20.0) -> str:
        try:
            return wait_until(lambda: next((line for line in self.lines if pred(line)), None), timeout,
                              what="a start.sh output line")
        except AssertionError as exc:
            state = "running" if self.proc.poll() is None else f"exited {self.proc.returncode}"
            logs = "".join(f"\n--- {p}\n{harness.tail(p, 8)}" for p in sorted(self.logs.glob("*.log")))
            raise AssertionError(f"{exc}; start.sh {state}, its output: {self.lines}{logs}") from None

    def stop(self, sig=signal.SIGTERM, timeout=10.0) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        return self.proc.wait(timeout)


def listening(hostport: str) -> bool:
    host, port = hostport.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture
def three(tmp_path):
    c = Cluster(["a", "b", "c"], name="start-sh")  # only for its free ports; start.sh starts the processes
    path = tmp_path / "peers.json"
    path.write_text(json.dumps(c.peers_doc()))
    yield c, path, tmp_path / "logs"
    for hp in c.http.values():
        assert not listening(hp), f"a replica is still listening on {hp} after the test"


def test_starts_all_and_stops_on_sigterm(three):
    c, peers, logs = three
    s = StartSh(["--peers", str(peers)], logs, drain=True)
    try:
        for r in ("a", "b", "c"):
            line = s.wait_line(lambda ln, r=r: ln.startswith(f"replica {r} ready"))
            assert f"http://{c.http[r]}/" in line, line
        for r in ("a", "b", "c"):
            assert http_request(c.port(r), "GET", "/").status == 200
            assert (logs / f"{r}.log").exists()
    finally:
        rc = s.stop(signal.SIGTERM)
    assert rc == 0, s.lines
    wait_until(lambda: not any(listening(hp) for hp in c.http.values()), 5.0, what="replicas gone")


def test_ctrl_c_stops_all_exit_0(three):
    c, peers, logs = three
    s = StartSh(["--peers", str(peers)], logs)
    try:
        s.wait_line(lambda ln: ln.startswith("running:"))
    finally:
        rc = s.stop(signal.SIGINT)
    assert rc == 0, s.lines
    wait_until(lambda: not any(listening(hp) for hp in c.http.values()), 5.0, what="replicas gone")


def test_only_named_replica(three):
    c, peers, logs = three
    s = StartSh(["--peers", str(peers), "b"], logs)
    try:
        s.wait_line(lambda ln: ln.startswith("replica b ready"))
        assert listening(c.http["b"])
        assert not listening(c.http["a"]) and not listening(c.http["c"])
        assert not any(ln.startswith("replica a") or ln.startswith("replica c") for ln in s.lines), s.lines
    finally:
        assert s.stop() == 0


def test_unknown_replica_is_refused(three):
    c, peers, logs = three
    s = StartSh(["--peers", str(peers), "zz"], logs)
    assert s.proc.wait(10) != 0
    s.wait_line(lambda ln: "zz" in ln and "error" in ln)


def test_failed_replica_is_named_with_reason(three):
    c, peers, logs = three
    blocker = socket.socket()
    host, port = c.http["a"].rsplit(":", 1)
    blocker.bind((host, int(port)))
    blocker.listen(1)
    s = StartSh(["--peers", str(peers)], logs)
    try:
        line = s.wait_line(lambda ln: ln.startswith("replica a failed"))
        assert len(line) > len("replica a failed to start (exit 1): "), line
        s.wait_line(lambda ln: ln.startswith("replica b ready"))
        s.wait_line(lambda ln: ln.startswith("replica c ready"))
    finally:
        blocker.close()
        assert s.stop() == 0


def test_flags_after_double_dash_reach_replicas(three):
    c, peers, logs = three
    s = StartSh(["--peers", str(peers), "a", "--", "--keep-alive", "1"], logs)
    try:
        s.wait_line(lambda ln: ln.startswith("replica a ready"))
        hs = HubSocket.open(c.port("a"))
        try:
            assert hs.recv_raw(2.5) == {"type": 6}
        finally:
            hs.close()
    finally:
        assert s.stop() == 0


def test_reports_a_replica_that_dies(three):
    c, peers, logs = three
    s = StartSh(["--peers", str(peers), "a", "b"], logs)
    try:
        line = s.wait_line(lambda ln: ln.startswith("replica b ready"))
        pid = int(line.split("(pid ")[1].split(",")[0])
        os.kill(pid, signal.SIGKILL)
        s.wait_line(lambda ln: ln.startswith("replica b stopped"))
        assert listening(c.http["a"]), "a must keep running"
        time.sleep(0.1)
        assert s.proc.poll() is None, "start.sh must stay in the foreground while a runs"
    finally:
        assert s.stop() == 0


def test_reports_a_replica_that_dies_while_others_still_start(three, tmp_path):
    """b dies while start.sh still waits for a's ready line: its exit must still be reported (bash's `wait -n`
    alone would miss it)."""
    c, peers, logs = three
    slow = tmp_path / "slow-a.sh"
    slow.write_text(f'#!/bin/sh\ncase " $* " in *" --node a "*) sleep 1.5;; esac\nexec "{harness.SERVER_BIN}" "$@"\n')
    slow.chmod(0o755)
    s = StartSh(["--peers", str(peers), "a", "b"], logs, server_bin=slow)
    try:
        line = s.wait_line(lambda ln: ln.startswith("replica b ready"))
        os.kill(int(line.split("(pid ")[1].split(",")[0]), signal.SIGKILL)
        s.wait_line(lambda ln: ln.startswith("replica a ready"))
        s.wait_line(lambda ln: ln.startswith("replica b stopped"), 5.0)
    finally:
        assert s.stop() == 0


# ---------------------------------------------------------------------------------- membership commands

IDS5 = ["a", "b", "c", "d", "e"]


def run_start(args: list[str], logs, env: dict | None = None, timeout: float = 20.0) -> subprocess.CompletedProcess:
    """A start.sh command that ends by itself (reload, stop)."""
    return subprocess.run([str(START), *args], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env=env or start_env(logs), timeout=timeout)


def write_peers(cluster, path, ids):
    doc = cluster.peers_doc()
    doc["replicas"] = [r for r in doc["replicas"] if r["id"] in ids]
    path.write_text(json.dumps(doc))


def line_with(text: str, needle: str) -> str:
    found = [ln for ln in text.splitlines() if needle in ln]
    assert len(found) == 1, f"expected one line with {needle!r} in:\n{text}"
    return found[0]


@pytest.fixture
def five(tmp_path):
    c = Cluster(IDS5, name="start-sh-5")  # ports only
    path = tmp_path / "peers.json"
    write_peers(c, path, IDS5[:3])
    yield c, path, tmp_path / "logs"
    for hp in c.http.values():
        assert not listening(hp), f"a replica is still listening on {hp} after the test"


def test_list_replicas_prints_id_http_mesh(three, tmp_path):
    c, peers, logs = three
    out = subprocess.run([str(harness.SERVER_BIN), "--list-replicas", "--peers", str(peers)], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"{r} {c.http[r]} {c.mesh[r]}" for r in ("a", "b", "c")]
    bad = tmp_path / "bad.json"
    bad.write_text('{"cluster": "x", "secret": "s", "replicas": [{"id": "a"}]}')
    out = subprocess.run([str(harness.SERVER_BIN), "--list-replicas", "--peers", str(bad)], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.splitlines() == ['error: peers.json: missing or empty "replicas[0].http"'], out.stderr
    # start.sh says the same, and starts nothing.
    out = run_start(["--peers", str(bad)], logs)
    assert out.returncode == 2 and 'missing or empty "replicas[0].http"' in out.stderr, out


def test_start_sh_needs_no_python(three, tmp_path):
    """Every python on the PATH fails loudly: start.sh, reload and stop must not need one."""
    c, peers, logs = three
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    marker = tmp_path / "python-was-called"
    for name in ("python", "python3"):
        script = fake / name
        script.write_text(f"#!/bin/sh\necho called >> {marker}\nexit 3\n")
        script.chmod(0o755)
    env = start_env(logs, PATH=f"{fake}:{os.environ['PATH']}")
    s = StartSh(["--peers", str(peers), "a", "b"], logs, env=env)
    try:
        s.wait_line(lambda ln: ln.startswith("running: a b"))
        out = run_start(["reload", "--peers", str(peers)], logs, env=env)
        assert out.returncode == 0, out
        assert "not running (in peers.json): c" in out.stdout, out.stdout
    finally:
        out = run_start(["stop"], logs, env=env)
        assert out.returncode == 0 and "stopped: a b" in out.stdout, out
        s.proc.wait(10)
    assert not marker.exists(), "start.sh ran python"


def test_reload_grow_and_shrink_with_a_second_start_sh(five):
    c, peers, logs = five
    first = StartSh(["--peers", str(peers)], logs)
    second = None
    try:
        first.wait_line(lambda ln: ln.startswith("running: a b c"))
        for r in ("a", "b", "c"):
            pid_lines = (logs / f"{r}.pid").read_text().splitlines()
            assert pid_lines[1] == str(peers) and int(pid_lines[0]) > 0, pid_lines

        # Grow: the file gets d and e; reload signals a, b, c and says how to start the two new ones.
        write_peers(c, peers, IDS5)
        out = run_start(["reload", "--peers", str(peers)], logs)
        assert out.returncode == 0, out
        for r in ("a", "b", "c"):
            line = line_with(out.stdout, f"replica {r}: ")
            assert "reloaded (SIGHUP): added d, e; removed none" in line, line
        assert line_with(out.stdout, "not running").endswith(
            f"not running (in peers.json): d e — start them with: ./start.sh --peers {peers} d e"), out.stdout
        second = StartSh(["--peers", str(peers), "d", "e"], logs)
        second.wait_line(lambda ln: ln.startswith("running: d e"))
        wait_until(lambda: c.fully_meshed(), 10.0, what="five replicas linked")
        out = run_start(["reload", "--peers", str(peers)], logs)
        assert out.stdout.count("membership unchanged (a, b, c, d, e)") == 5, out.stdout
        assert "not running" not in out.stdout and "no longer" not in out.stdout, out.stdout
        # A replica another start.sh runs is left alone.
        out = run_start(["--peers", str(peers), "a"], logs)
        assert out.returncode == 1 and "replica a is already running (pid" in out.stdout, out

        # Shrink: back to three; reload says d and e are extra and how to stop them; stop does.
        write_peers(c, peers, IDS5[:3])
        out = run_start(["reload", "--peers", str(peers)], logs)
        for r in ("a", "b", "c"):
            assert "added none; removed d, e" in line_with(out.stdout, f"replica {r}: "), out.stdout
        for r in ("d", "e"):
            assert "refused (SIGHUP): this replica" in line_with(out.stdout, f"replica {r}: "), out.stdout
        assert line_with(out.stdout, "no longer").endswith(
            "running but no longer in peers.json: d e — stop them with: ./start.sh stop d e"), out.stdout
        out = run_start(["stop", "d", "e"], logs)
        assert out.returncode == 0 and out.stdout.strip().endswith("stopped: d e"), out
        second.wait_line(lambda ln: ln.startswith("replica d stopped (exit 0)"))
        second.wait_line(lambda ln: ln.startswith("replica e stopped (exit 0)"))
        assert second.proc.wait(10) == 1  # all its replicas stopped
        assert not (logs / "d.pid").exists() and not (logs / "e.pid").exists()
        for r in ("a", "b", "c"):
            assert sorted(p["id"] for p in c.mesh_view(r)["peers"]) == [x for x in "abc" if x != r]
        assert first.proc.poll() is None, "the first start.sh keeps a, b, c running"
    finally:
        if second is not None and second.proc.poll() is None:
            second.stop()
        rc = first.stop()
    assert rc == 0, first.lines
    assert not list(logs.glob("*.pid")), list(logs.glob("*.pid"))


def test_stop_without_ids_stops_every_replica(three):
    c, peers, logs = three
    s = StartSh(["--peers", str(peers)], logs)
    s.wait_line(lambda ln: ln.startswith("running: a b c"))
    out = run_start(["stop"], logs)
    assert out.returncode == 0 and out.stdout.strip().endswith("stopped: a b c"), out
    s.wait_line(lambda ln: ln == "all replicas have stopped")
    assert s.proc.wait(10) == 1
    assert not list(logs.glob("*.pid"))
    out = run_start(["stop"], logs)
    assert out.returncode == 0 and "no replica is running" in out.stdout, out
