"""The command line: refusals with one-line errors, --help, and a graceful SIGTERM."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import time


import harness
from harness import free_port, log_dir
from wsraw import HubSocket, http_request


def run_server(args: list[str], timeout: float = 10.0) -> subprocess.CompletedProcess:
    return subprocess.run([str(harness.SERVER_BIN), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def write_peers(doc, name: str) -> str:
    path = log_dir() / f"cli-{name}-{time.monotonic_ns()}.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def good_doc(n: int = 2) -> dict:
    return {"cluster": "t", "secret": harness.SECRET, "replicas": [
        {"id": chr(ord("a") + i), "http": f"127.0.0.1:{free_port()}", "mesh": f"127.0.0.1:{free_port()}"}
        for i in range(n)]}


def assert_one_line_error(p: subprocess.CompletedProcess, code: int | None = 2):
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode != 0, p
    if code is not None:
        assert p.returncode == code, (p.returncode, p.stderr)
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, f"want exactly one 'error: ' line on stderr, got: {p.stderr!r}"
    assert p.stdout.strip() == "", f"nothing on stdout for a refusal, got {p.stdout!r}"
    return errors[0]


def test_help_exits_0():
    p = run_server(["--help"])
    assert p.returncode == 0, p
    out = p.stdout + p.stderr
    for flag in ("--node", "--peers", "--ws-echo", "--log-level", "--log-format"):
        assert flag in out, f"--help does not mention {flag}"


def test_unknown_flag():
    assert_one_line_error(run_server(["--node", "a", "--no-such-flag"]))


def test_missing_node():
    p = run_server(["--peers", write_peers(good_doc(), "nonode")])
    assert_one_line_error(p)


def test_flag_missing_value():
    assert_one_line_error(run_server(["--node"]))


def test_bad_number():
    doc = write_peers(good_doc(), "badnum")
    assert_one_line_error(run_server(["--node", "a", "--peers", doc, "--keep-alive", "soon"]))


def test_bad_log_level():
    doc = write_peers(good_doc(), "badlevel")
    assert_one_line_error(run_server(["--node", "a", "--peers", doc, "--log-level", "loud"]))


def test_bad_log_format():
    doc = write_peers(good_doc(), "badformat")
    line = assert_one_line_error(run_server(["--node", "a", "--peers", doc, "--log-format", "xml"]))
    assert "--log-format" in line


def test_unreadable_peers_file():
    line = assert_one_line_error(run_server(["--node", "a", "--peers", "/nonexistent/peers.json"]))
    assert "/nonexistent/peers.json" in line or "peers" in line


def test_bad_json_peers_file():
    assert_one_line_error(run_server(["--node", "a", "--peers", write_peers('{"cluster": "x", ', "badjson")]))


def test_duplicate_id():
    doc = good_doc(2)
    doc["replicas"][1]["id"] = "a"
    line = assert_one_line_error(run_server(["--node", "a", "--peers", write_peers(doc, "dupid")]))
    assert "a" in line


def test_duplicate_address():
    doc = good_doc(2)
    doc["replicas"][1]["mesh"] = doc["replicas"][0]["http"]
    assert_one_line_error(run_server(["--node", "a", "--peers", write_peers(doc, "dupaddr")]))


def test_bad_address():
    doc = good_doc(2)
    doc["replicas"][1]["http"] = "127.0.0.1:99999"
    assert_one_line_error(run_server(["--node", "a", "--peers", write_peers(doc, "badaddr")]))


def test_unknown_node():
    line = assert_one_line_error(run_server(["--node", "zz", "--peers", write_peers(good_doc(), "unknown")]))
    assert "zz" in line


def test_non_loopback_mesh_with_demo_secret_refused():
    doc = good_doc(2)
    doc["secret"] = "demo-secret-change-me-0123456789"
    doc["replicas"][0]["mesh"] = f"0.0.0.0:{free_port()}"
    assert_one_line_error(run_server(["--node", "a", "--peers", write_peers(doc, "demosecret")]), code=None)


def test_missing_public_dir_refused():
    line = assert_one_line_error(run_server(["--node", "a", "--peers", write_peers(good_doc(), "pubdir"),
                                             "--public-dir", "/nonexistent-web-client"]), code=None)
    assert "--public-dir" in line and "/nonexistent-web-client" in line


def test_binary_without_its_web_client_serves_hubs(tmp_path, cluster_factory):
    """A binary copied away from its resource folder starts (one warning), pages 404, hubs work — no trap."""
    lone = tmp_path / "Server"
    lone.write_bytes(harness.SERVER_BIN.read_bytes())
    lone.chmod(0o755)
    doc = good_doc(1)
    proc = subprocess.Popen([str(lone), "--node", "a", "--peers", write_peers(doc, "lone")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, cwd=tmp_path)
    try:
        ready = proc.stdout.readline()
        assert ready.startswith("ready node=a"), ready
        http = doc["replicas"][0]["http"]
        port = http.rsplit(":", 1)[1]
        assert http_request(int(port), "GET", "/").status == 404
        r = http_request(int(port), "POST", "/chatHub/negotiate?negotiateVersion=1")
        assert r.status == 200 and b"connectionToken" in r.body
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert "no web client" in err and "--public-dir" in err, err
    assert proc.returncode == 0


def test_port_in_use_second_copy_fails(cluster_factory):
    c = cluster_factory(["a", "b"], start=False)
    c.start("a")
    p = run_server(["--node", "a", "--peers", str(c["a"].peers_path)])
    assert_one_line_error(p, code=None)
    assert c["a"].alive(), "the first copy must keep running"


def test_port_in_use_by_other_program(cluster_factory):
    c = cluster_factory(["a"], start=False)
    blocker = socket.socket()
    host, port = c.http["a"].rsplit(":", 1)
    blocker.bind((host, int(port)))
    blocker.listen(1)
    try:
        p = run_server(["--node", "a", "--peers", str(c["a"].peers_path)])
        line = assert_one_line_error(p, code=None)
        assert port in line, f"the error should name the address: {line}"
    finally:
        blocker.close()


def test_ready_line_format(cluster_factory):
    c = cluster_factory(["a", "b"])
    line = c["a"].ready_line
    assert line == f"ready node=a http={c.http['a']} mesh={c.mesh['a']} page=http://{c.http['a']}/", line


def test_sigterm_closes_clients_with_allow_reconnect_and_exits_0(cluster_factory, report):
    c = cluster_factory(["a"])
    hs = HubSocket.open(c.port("a"))
    try:
        t0 = time.monotonic()
        c["a"].signal(signal.SIGTERM)
        m = hs.recv_until(lambda m: m.get("type") == 7, 5.0)
        assert m.get("allowReconnect") is True, m
        assert "error" not in m, m
        c["a"].proc.wait(5.0)
        assert c["a"].proc.returncode == 0
        report(f"SIGTERM to exit: {time.monotonic() - t0:.2f}s")
    finally:
        hs.close()


def test_sigterm_with_idle_http_connection(cluster_factory):
    c = cluster_factory(["a"])
    assert http_request(c.port("a"), "GET", "/").status == 200  # serving (so this is not the race below)
    s = socket.create_connection(("127.0.0.1", c.port("a")))
    s.sendall(b"GET / HTT")  # half a request: must not keep the server from exiting
    try:
        c["a"].signal(signal.SIGTERM)
        c["a"].proc.wait(5.0)
        assert c["a"].proc.returncode == 0
    finally:
        s.close()


def test_sigterm_right_after_ready_is_not_lost(cluster_factory):
    """start.sh (Ctrl-C) and supervisors may stop a replica the moment it says ready: the signal must count."""
    c = cluster_factory(["a"], start=False)
    lost = 0
    for _ in range(10):
        c["a"].start()
        c["a"].signal(signal.SIGTERM)
        try:
            c["a"].proc.wait(5.0)
        except subprocess.TimeoutExpired:
            lost += 1
            c["a"].kill()
            continue
        assert c["a"].proc.returncode == 0, c["a"].proc.returncode
    assert lost == 0, f"{lost} of 10 SIGTERMs sent right after the ready line were ignored"
