"""signalr-lite.js (the replica's own web client) over every transport, in headless Chromium.

The browser runs the real client against fake_transports.py (a fake SSE / long-polling server side that
refuses WebSockets), so this checks the fallback order, the SSE and long-polling wire behaviour and the
reconnect after the server ends a connection, without depending on the replica's own SSE/LP code.
Skipped when no Chromium is installed.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests

from fake_transports import FakeSignalRServer, RS
from harness import Cluster, wait_until

PUBLIC = Path(__file__).resolve().parents[2] / "Sources" / "Server" / "SignalRMesh" / "Public"
BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)

ROUTES = {
    "/all": ["WebSockets", "ServerSentEvents", "LongPolling"],  # WS refused → SSE
    "/nosse": ["WebSockets", "ServerSentEvents", "LongPolling"],  # WS and SSE refused → LP
    "/lponly": ["LongPolling"],
}

# Each scenario runs one HubConnection to the end and reports what it saw; the page posts them all to /result.
HARNESS = """<!doctype html><meta charset="utf-8"><title>signalr-lite transports</title>
<script src="/signalr-lite.js"></script>
<script>
"use strict";
const within = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(what + " timed out")), ms))]);
async function scenario(route, transport, opts) {
  const out = { route, transport };
  const c = new SignalRLite.HubConnection(route, { transport, reconnectDelaysMs: [0, 500] });
  const welcome = new Promise((resolve) => c.on("Welcome", (args) => resolve(args[0])));
  try {
    await within(c.start(), 20000, "start");
    out.used = c.transport;
    out.problems = c.transportProblems;
    out.welcome = await within(welcome, 5000, "Welcome");
    out.echo = await within(c.invoke("Echo", "h\\u00e9llo \\u2603"), 5000, "Echo");
    out.many = await within(Promise.all(Array.from({ length: 12 }, (_, i) => c.invoke("Echo", i))), 10000, "12 Echos");
    if (opts.end) {
      const back = new Promise((resolve) => { c.onreconnected = resolve; });
      // The POST carrying End may be cut off by the drop it causes: that rejects the send, which is fine.
      c.send("End").catch(() => {});
      await within(back, 15000, "reconnect after End");
      out.afterReconnect = c.transport;
      out.echoAfter = await within(c.invoke("Echo", "again"), 5000, "Echo after reconnect");
    }
    if (opts.idle) {
      // Longer than the fake's 2 s poll timeout: "200 empty" must lead to another poll, not a drop.
      await new Promise((r) => setTimeout(r, opts.idle));
      out.echoIdle = await within(c.invoke("Echo", "idle"), 5000, "Echo after idle");
    }
  } catch (e) {
    out.error = String(e && e.message || e);
  }
  out.stateBeforeStop = c.state;
  await c.stop();
  return out;
}
(async () => {
  const results = [];
  results.push(await scenario("/all", "Auto", { end: true }));
  results.push(await scenario("/all", "LongPolling", { end: true, idle: 2600 }));
  results.push(await scenario("/nosse", "Auto", {}));
  results.push(await scenario("/lponly", "WebSockets", {}));
  results.push(await scenario("/lponly", "Auto", {}));
  await fetch("/result", { method: "POST", body: JSON.stringify(results) });
})();
</script>
"""


@pytest.fixture
def browser_run():
    if BROWSER is None:
        pytest.skip("no Chromium installed")

    def run(server: FakeSignalRServer, page: str, timeout: float = 90.0) -> list[dict]:
        profile = tempfile.mkdtemp(prefix="webclient-chromium-")
        args = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                f"--user-data-dir={profile}", f"http://127.0.0.1:{server.port}{page}"]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            assert server.result_ready.wait(timeout), "the test page did not report within the deadline"
            return server.result
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            shutil.rmtree(profile, ignore_errors=True)

    return run


def test_transports_fall_back_and_work(browser_run):
    # /nosse lists SSE but refuses the EventSource, so Auto must get to long polling.
    with FakeSignalRServer(PUBLIC, ROUTES, {"/harness.html": HARNESS}, refuse_sse=frozenset({"/nosse"})) as server:
        results = browser_run(server, "/harness.html")
        by = {(r["route"], r["transport"]): r for r in results}
        want = list(range(12))

        # Auto: WebSockets refused (404 on the upgrade) → Server-Sent Events.
        auto = by[("/all", "Auto")]
        assert "error" not in auto, auto
        assert auto["used"] == "ServerSentEvents", auto
        assert auto["problems"] and auto["problems"][0].startswith("WebSockets:"), auto
        assert auto["welcome"] == "hi" and auto["echo"] == "héllo ☃" and auto["many"] == want, auto
        assert auto["afterReconnect"] == "ServerSentEvents" and auto["echoAfter"] == "again", auto
        assert server.events_of("/all", "ws"), "Auto did not try WebSockets first"

        # Forced long polling on a route that offers everything: no WebSocket or SSE attempt for it.
        lp = by[("/all", "LongPolling")]
        assert "error" not in lp, lp
        assert lp["used"] == "LongPolling" and lp["problems"] == [], lp
        assert lp["welcome"] == "hi" and lp["echo"] == "héllo ☃" and lp["many"] == want, lp
        assert lp["afterReconnect"] == "LongPolling" and lp["echoAfter"] == "again", lp
        assert lp["echoIdle"] == "idle", lp

        # /nosse: WebSockets and SSE refused → long polling.
        nosse = by[("/nosse", "Auto")]
        assert "error" not in nosse, nosse
        assert nosse["used"] == "LongPolling", nosse
        assert [p.split(":")[0] for p in nosse["problems"]] == ["WebSockets", "ServerSentEvents"], nosse
        # A fresh negotiate before each next transport: one per transport tried.
        assert len(server.events_of("/nosse", "negotiate")) == 3, server.events_of("/nosse", "negotiate")

        # Forcing a transport the server does not list fails with a clear reason; Auto then finds long polling.
        forced = by[("/lponly", "WebSockets")]
        assert "not offered by the server" in forced.get("error", ""), forced
        assert forced["stateBeforeStop"] == "disconnected", forced
        assert by[("/lponly", "Auto")]["used"] == "LongPolling", by[("/lponly", "Auto")]
        assert not server.events_of("/lponly", "ws"), "WebSockets tried although the server does not list it"

        # Wire details, for every connection that used SSE or long polling.
        posts = [e for e in server.events if e["kind"] == "post"]
        assert posts and all(e["content_type"] == "text/plain;charset=UTF-8" for e in posts), posts
        first_posts: dict[str, str] = {}
        for e in posts:
            first_posts.setdefault(e["token"], e["body"])
        assert all(b.startswith('{"protocol":"json","version":1}' + RS) for b in first_posts.values()), first_posts
        assert server.max_posts_in_flight == 1, "more than one POST outstanding on a connection"
        # 12 invocations at once behind a slow POST: they go out in fewer POSTs than messages.
        lp_tokens = {e["token"] for e in server.events_of("/all", "poll")}
        lp_posts = [e for e in posts if e["token"] in lp_tokens]
        assert len(lp_posts) < 12, f"{len(lp_posts)} POSTs: sends were not batched"
        polls = [e for e in server.events if e["kind"] == "poll"]
        assert all(e["cache_buster"] for e in polls), polls
        # Long polling connections stopped by the client are ended with DELETE.
        deleted = {e["token"] for e in server.events if e["kind"] == "delete"}
        assert deleted, "no DELETE after stopping a long-polling connection"


# ---------------------------------------------------------------------------- the real page on a real replica


class _Page:
    """One Chromium tab driven over the DevTools protocol (Runtime.evaluate only)."""

    def __init__(self, url: str):
        import websocket  # websocket-client, already an interop requirement

        self.profile = tempfile.mkdtemp(prefix="webclient-chromium-")
        self.proc = subprocess.Popen(
            [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        port_file = Path(self.profile) / "DevToolsActivePort"
        port = int(wait_until(lambda: port_file.read_text().split()[0], 20, what="DevTools port"))
        target = wait_until(lambda: next(t for t in requests.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                                         if t.get("type") == "page"), 20, what="the page target")
        self.ws = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=10, suppress_origin=True)
        self.next_id = 0

    def eval(self, expression: str):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": "Runtime.evaluate",
                                 "params": {"expression": expression, "returnByValue": True}}))
        while True:
            answer = json.loads(self.ws.recv())
            if answer.get("id") == self.next_id:
                result = answer["result"]
                assert "exceptionDetails" not in result, result
                return result["result"].get("value")

    def close(self):
        try:
            self.ws.close()
        finally:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            shutil.rmtree(self.profile, ignore_errors=True)


STATE_JS = """(() => {
  const c = window.meshChat && window.meshChat.connection, r = window.meshChat && window.meshChat.rooms;
  const used = document.getElementById("transport-used");
  return { chat: c && c.state, chatTransport: c && c.transport, rooms: r && r.state, roomsTransport: r && r.transport,
           label: used.hidden ? "" : used.textContent, pick: document.getElementById("transport-select").value,
           banner: document.getElementById("conn-banner").hidden ? "" : document.getElementById("conn-banner-text").textContent,
           stored: localStorage.getItem("meshchat.transport"), href: location.href };
})()"""


@pytest.fixture
def page_replica():
    """One replica serving this tree's page files (whatever the binary's bundle holds)."""
    c = Cluster(["a"], name="webclient-page", args=["--public-dir", str(PUBLIC)])
    try:
        c.start()
        yield c
    finally:
        c.close()


def test_real_page_transport_picker(page_replica):
    """The page on a replica: ?transport= picks the transport and the page says which one is in use;
    changing the picker saves the choice, updates the address and reconnects both hubs with it."""
    if BROWSER is None:
        pytest.skip("no Chromium installed")
    port = page_replica.port("a")
    negotiate = requests.post(f"http://127.0.0.1:{port}/chatHub/negotiate?negotiateVersion=1", timeout=5).json()
    offered = {t["transport"] for t in negotiate["availableTransports"]}
    page = _Page(f"http://127.0.0.1:{port}/?transport=websockets")
    try:
        st = wait_until(lambda: (lambda s: s if s["chat"] == "connected" and s["rooms"] == "connected" else None)(page.eval(STATE_JS)),
                        20, what="both hubs connected")
        assert st["pick"] == "WebSockets" and st["chatTransport"] == "WebSockets" and st["roomsTransport"] == "WebSockets", st
        assert st["label"] == "via WebSockets", st
        assert st["stored"] is None, st  # the address chose it; nothing saved until the picker is used

        page.eval("""(() => { const s = document.getElementById("transport-select");
                     s.value = "LongPolling"; s.dispatchEvent(new Event("change")); })()""")
        st = page.eval(STATE_JS)
        assert st["stored"] == "LongPolling" and st["href"].endswith("?transport=LongPolling"), st
        if "LongPolling" in offered:
            st = wait_until(lambda: (lambda s: s if s["chatTransport"] == "LongPolling" and s["roomsTransport"] == "LongPolling" else None)(page.eval(STATE_JS)),
                            20, what="both hubs over long polling")
            assert st["label"] == "via long polling", st
        else:
            # Until the replica serves long polling: a clear reason, and no silent use of another transport.
            st = wait_until(lambda: (lambda s: s if "LongPolling: not offered by the server" in s["banner"] else None)(page.eval(STATE_JS)),
                            20, what="the 'not offered' reason")
            assert st["chatTransport"] is None and st["label"] == "", st

        # Back to Auto: WebSockets first, as the official client does.
        page.eval("""(() => { const s = document.getElementById("transport-select");
                     s.value = "Auto"; s.dispatchEvent(new Event("change")); })()""")
        st = wait_until(lambda: (lambda s: s if s["chatTransport"] == "WebSockets" and s["roomsTransport"] == "WebSockets" else None)(page.eval(STATE_JS)),
                        20, what="both hubs back on WebSockets")
        assert st["stored"] == "Auto" and st["href"].endswith("?transport=Auto") and st["label"] == "via WebSockets", st
    finally:
        page.close()
