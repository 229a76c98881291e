"""start.sh: starts the replicas of a peers file in the foreground, one ready line each, stops them all on
Ctrl-C/SIGTERM with exit 0, `./start.sh b` starts only b, flags after `--` reach every replica."""
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


class StartSh:
    def __init__(self, args: list[str], logs, server_bin=None):
        env = dict(os.environ, SERVER_BIN=str(server_bin or harness.SERVER_BIN), START_LOG_DIR=str(logs))
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
    s = StartSh(["--peers", str(peers)], logs)
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
