"""At the descriptor limit the listener backs off (pauses accepting) instead of spinning on EMFILE, and recovers."""
import json
import os
import resource
import socket
import subprocess
import threading
import time

from harness import SECRET, SERVER_BIN, free_port, log_dir, tail, wait_until

FD_LIMIT = 64


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def http_ok(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def test_accept_backs_off_at_descriptor_limit_and_recovers(report):
    d = log_dir() / f"fd-limit-{os.getpid()}-{time.monotonic_ns()}"
    d.mkdir(parents=True, exist_ok=True)
    http, mesh = free_port(), free_port()
    peers = d / "peers.json"
    peers.write_text(json.dumps({"cluster": "fd", "secret": SECRET, "replicas": [
        {"id": "a", "http": f"127.0.0.1:{http}", "mesh": f"127.0.0.1:{mesh}"}]}))
    log_path = d / "a.log"

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))

    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(SERVER_BIN), "--node", "a", "--peers", str(peers)], stdout=subprocess.PIPE,
                                stderr=log, stdin=subprocess.DEVNULL, preexec_fn=limit, start_new_session=True)
    clients: list[socket.socket] = []
    try:
        ready = threading.Event()
        threading.Thread(target=lambda: (proc.stdout.readline(), ready.set()), daemon=True).start()
        assert ready.wait(10), tail(log_path)
        # Twice as many connections as the server has descriptors: the kernel queues the rest in the backlog.
        for _ in range(2 * FD_LIMIT):
            clients.append(socket.create_connection(("127.0.0.1", http), timeout=2))
        wait_until(lambda: "accept paused" in log_path.read_text(), 5.0, what="the 'accept paused' log line")
        before = cpu_seconds(proc.pid)
        time.sleep(1.0)  # measuring CPU use over a fixed window: this is the quantity under test, not a sync
        used = cpu_seconds(proc.pid) - before
        report(f"at the descriptor limit with a full backlog the server used {used:.2f}s CPU in 1s")
        assert used < 0.3, f"accept loop spins at the descriptor limit: {used:.2f}s CPU in 1s"
        assert proc.poll() is None, "server died at the descriptor limit"
        for c in clients:
            c.close()
        clients.clear()
        wait_until(lambda: http_ok(http), 10.0, what="server answers again after descriptors were freed")
    finally:
        for c in clients:
            c.close()
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
