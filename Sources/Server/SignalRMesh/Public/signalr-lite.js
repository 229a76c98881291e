/*
 * signalr-lite.js: a small SignalR client for the replica's own web page.
 *
 * JSON hub protocol over WebSockets, Server-Sent Events or long polling. No dependencies, no build step.
 * Loaded as a plain script; exposes `window.SignalRLite = { HubConnection, HubConnectionState, TransportType, … }`.
 *
 *   const conn = new SignalRLite.HubConnection("/chatHub", { transport: "Auto" });
 *   conn.on("ReceiveMessage", (args, message) => { ... message.headers ... });
 *   conn.onstatechange = (state) => { ... conn.transport ... };
 *   await conn.start();
 *   await conn.invoke("SendMessage", "alice", "hi");
 *
 * Connection life:
 *   negotiate (POST <hub>/negotiate?negotiateVersion=1) → a transport for <hub>?id=<token>
 *   → handshake {"protocol":"json","version":1}\x1e → {}\x1e → messages.
 * Transports, tried in this order like the official client (those the server does not list in
 * availableTransports, or the browser lacks, are skipped; `options.transport` can force one):
 *   WebSockets        one socket both ways.
 *   ServerSentEvents  EventSource GET <hub>?id=<token> receives; POST <hub>?id=<token> sends.
 *   LongPolling       GET <hub>?id=<token>&_=<now> polls (the first one returns at once), POST sends,
 *                     DELETE ends the connection.
 * When a transport fails to start, the next one is tried after a fresh negotiate. A transport that drops
 * later is a lost connection (see Reconnect), and every reconnect starts again from the top of the list.
 * Keep-alive: a Ping at most 15 s after the last thing we sent; if nothing at all arrives from the
 * server for 30 s, the transport is dropped and the client reconnects. Long polling has neither (the polls
 * themselves are the keep-alive).
 * Reconnect: after an unexpected close (or a Close message with allowReconnect:true), retries forever
 * after 0, 2, 5, 10, 10, … seconds (jittered), negotiating afresh every time. A Close message without
 * allowReconnect stops the connection (state "disconnected"); start() may be called again.
 * Other replicas: `options.reconnectTarget(attempt, lastError)` may send each reconnect attempt elsewhere
 * (another replica's hub URL, its own delay and negotiate timeout); `switchTo(url)` moves a connected
 * connection to another URL without a gap: the new one is opened and handshaken first, both are read for
 * a short overlap in which a message that arrives on both is dispatched once, then the old one is closed
 * (after the answers to invocations still out on it). The page uses both to fail over and to come back.
 */
(function (global) {
  "use strict";

  const RS = "\x1e";

  /** Message type ids of the hub protocol. */
  const MessageType = Object.freeze({
    Invocation: 1,
    StreamItem: 2,
    Completion: 3,
    StreamInvocation: 4,
    CancelInvocation: 5,
    Ping: 6,
    Close: 7,
  });

  const HubConnectionState = Object.freeze({
    Disconnected: "disconnected",
    Connecting: "connecting",
    Connected: "connected",
    Reconnecting: "reconnecting",
  });

  /** Transport names as negotiate lists them, in the order "Auto" tries them. */
  const TransportType = Object.freeze({
    WebSockets: "WebSockets",
    ServerSentEvents: "ServerSentEvents",
    LongPolling: "LongPolling",
  });
  const TRANSPORT_ORDER = Object.freeze([TransportType.WebSockets, TransportType.ServerSentEvents, TransportType.LongPolling]);

  const DEFAULTS = Object.freeze({
    // "Auto" (the default), or one name of TransportType to use only that transport. Read at every (re)connect.
    transport: "Auto",
    // Send cookies on cross-origin requests and EventSource (same-origin requests always send them).
    withCredentials: false,
    keepAliveIntervalMs: 15000,
    serverTimeoutMs: 30000,
    handshakeTimeoutMs: 15000,
    negotiateTimeoutMs: 10000,
    // How long a transport may take to start (socket open, EventSource open, first poll answered).
    transportStartTimeoutMs: 15000,
    // A long poll that gets no answer for this long is abandoned and issued again (the server answers by 90 s).
    pollTimeoutMs: 100000,
    // A POST (send half of SSE and long polling) or DELETE that takes longer fails.
    sendTimeoutMs: 30000,
    // Base delays between reconnect attempts; the last one repeats forever.
    reconnectDelaysMs: [0, 2000, 5000, 10000],
    // A failed first start() keeps retrying like a reconnect instead of rejecting at once.
    retryStart: false,
    // (attempt, lastError) => {url, delayMs, negotiateTimeoutMs} (any of them) or null: where and when reconnect
    // attempt `attempt` (0-based) goes. Missing fields keep the defaults (this URL, reconnectDelaysMs).
    reconnectTarget: null,
    // switchTo(): how long both connections are read after the switch (a message on both is dispatched once),
    // and the longest the old one is kept for the answers to invocations made on it.
    switchOverlapMs: 1500,
    switchDrainMs: 10000,
    logger: null, // function (level, text) or null
  });

  /** An error that came from the server (negotiate/handshake/close/completion), not from the network. */
  class HubError extends Error {
    constructor(message, kind) {
      super(message);
      this.name = "HubError";
      this.kind = kind || "server";
    }
  }

  function sleep(ms, signal) {
    return new Promise((resolve) => {
      if (ms <= 0) return resolve();
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        if (signal) signal.removeEventListener("wake", done);
        resolve();
      }
      if (signal) signal.addEventListener("wake", done, { once: true });
    });
  }

  /** The delay before attempt `n` (0-based): the base value ±20 %, and 0..250 ms for the first. */
  function jitter(baseMs) {
    if (baseMs <= 0) return Math.floor(Math.random() * 250);
    return Math.round(baseMs * (0.8 + Math.random() * 0.4));
  }

  /** An error's message without its trailing full stop, to embed in another sentence. */
  function reasonText(err) {
    const text = err && err.message ? String(err.message) : String(err || "unknown error");
    return text.replace(/[.\s]+$/, "");
  }

  /** Whether this browser has what `name` needs. */
  function transportSupported(name) {
    switch (name) {
      case TransportType.WebSockets:
        return typeof WebSocket !== "undefined";
      case TransportType.ServerSentEvents:
        return typeof EventSource !== "undefined" && typeof fetch !== "undefined";
      case TransportType.LongPolling:
        return typeof fetch !== "undefined";
      default:
        return false;
    }
  }

  /** `base` with `?id=<token>` (plus `extra` query pairs). */
  /** `<base>/negotiate?negotiateVersion=1`, keeping any query the base has (a redirect's). */
  function negotiateUrl(base) {
    const u = new URL(base);
    u.pathname = u.pathname.replace(/\/+$/, "") + "/negotiate";
    u.searchParams.set("negotiateVersion", "1");
    return u.href;
  }

  /** `url` (absolute, or relative to the page) without trailing slashes. */
  function normalizeUrl(url) {
    return new URL(url, global.location ? global.location.href : undefined).href.replace(/\/+$/, "");
  }

  /** Invocations without id remembered for switchTo()'s overlap: this many at most, for this long. */
  const RECENT_MAX = 512;
  const RECENT_MS = 3000;

  /** Redirects followed per negotiate at most (the official client's limit). */
  const MAX_REDIRECTS = 100;

  function connectionUrl(base, token, extra) {
    const u = new URL(base);
    u.searchParams.set("id", token);
    for (const [k, v] of Object.entries(extra || {})) u.searchParams.set(k, v);
    return u.href;
  }

  /**
   * One HTTP request whose whole answer (status and body text) must arrive within `timeoutMs`.
   * Rejects with an Error whose `timedOut` is true when the time ran out, `aborted` when `stopSignal`
   * fired, and neither for network trouble. Never rejects for an HTTP status.
   */
  async function fetchText(url, init, timeoutMs, stopSignal) {
    const ctrl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctrl.abort();
    }, timeoutMs);
    const onStop = () => ctrl.abort();
    if (stopSignal) {
      if (stopSignal.aborted) ctrl.abort();
      else stopSignal.addEventListener("abort", onStop, { once: true });
    }
    try {
      const response = await fetch(url, Object.assign({ cache: "no-store" }, init, { signal: ctrl.signal }));
      const text = await response.text();
      return { status: response.status, text };
    } catch (e) {
      const err = new Error(timedOut ? "The request timed out." : ctrl.signal.aborted ? "The request was aborted." : "Cannot reach the server.");
      err.timedOut = timedOut;
      err.aborted = !timedOut && ctrl.signal.aborted;
      throw err;
    } finally {
      clearTimeout(timer);
      if (stopSignal) stopSignal.removeEventListener("abort", onStop);
    }
  }

  /**
   * The send half of SSE and long polling: POST <hub>?id=<token>, one request at a time. What is sent
   * while a POST is out waits and goes, in order, as one body with the next POST. A failed POST fails
   * the connection (`onfail`), because what it carried is lost.
   */
  class HttpSender {
    constructor(url, options, stopSignal, onfail) {
      this._url = url;
      this._options = options;
      this._stopSignal = stopSignal;
      this._onfail = onfail;
      this._queue = []; // [{text, resolve, reject}]
      this._busy = false;
      this._closed = false;
    }

    /** Queues `text`; resolves once the POST that carried it was answered 200. Throws when closed. */
    send(text) {
      if (this._closed) throw new Error("The connection is closed.");
      return new Promise((resolve, reject) => {
        this._queue.push({ text, resolve, reject });
        this._pump();
      });
    }

    close() {
      if (this._closed) return;
      this._closed = true;
      const queue = this._queue;
      this._queue = [];
      const err = new Error("The connection is closed.");
      for (const q of queue) q.reject(err);
    }

    async _pump() {
      if (this._busy || this._closed || this._queue.length === 0) return;
      this._busy = true;
      const batch = this._queue;
      this._queue = [];
      let failure = null;
      try {
        const { status } = await fetchText(
          this._url,
          {
            method: "POST",
            body: batch.map((q) => q.text).join(""),
            credentials: this._options.withCredentials ? "include" : "same-origin",
            headers: { "Content-Type": "text/plain;charset=UTF-8", "X-Requested-With": "XMLHttpRequest" },
          },
          this._options.sendTimeoutMs,
          this._stopSignal
        );
        if (status !== 200) failure = new Error(`Sending failed: HTTP ${status}.`);
      } catch (e) {
        failure = new Error(`Sending failed: ${e.message}`);
      }
      this._busy = false;
      if (failure) {
        for (const q of batch) q.reject(failure);
        if (!this._closed) {
          this.close();
          this._onfail(failure);
        }
        return;
      }
      for (const q of batch) q.resolve();
      this._pump();
    }
  }

  /*
   * Transports. Each has `name`, `inherentKeepAlive`, the callbacks `onreceive(text)` and `onclose(error)`
   * (set before connect()), and:
   *   connect()  resolves once the transport is up; rejects when it could not start (the caller then
   *              tries the next transport).
   *   send(text) throws when the transport is closed; otherwise returns a promise of the write.
   *   stop()     ends it from our side; no callback runs afterwards.
   * `onclose` runs at most once, only after connect() resolved, when the transport ends by itself.
   */

  /** What the three transports share: their callbacks, and ending once — by `stop()` (the client leaves: say so
   * politely) or by `_end(error, polite)` (the transport failed; `onclose` reports it). Each subclass releases its
   * resources in `_release(polite)`. */
  class TransportBase {
    constructor(name, inherentKeepAlive) {
      this.name = name;
      this.inherentKeepAlive = inherentKeepAlive;
      this.onreceive = null;
      this.onclose = null;
      this._done = false;
    }

    stop() {
      if (this._done) return;
      this._done = true;
      this._release(true);
    }

    _end(error, polite = false) {
      if (this._done) return;
      this._done = true;
      this._release(polite);
      if (this.onclose) this.onclose(error);
    }
  }

  class WebSocketTransport extends TransportBase {
    constructor(baseUrl, token) {
      super(TransportType.WebSockets, false);
      const u = new URL(connectionUrl(baseUrl, token));
      u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
      this._url = u.href;
      this._ws = null;
    }

    connect() {
      return new Promise((resolve, reject) => {
        let opened = false;
        const ws = new WebSocket(this._url);
        this._ws = ws;
        ws.binaryType = "arraybuffer";
        const decoder = new TextDecoder();
        ws.onopen = () => {
          opened = true;
          resolve();
        };
        ws.onerror = () => {
          /* details arrive with onclose */
        };
        ws.onmessage = (ev) => {
          if (!this._done && this.onreceive) this.onreceive(typeof ev.data === "string" ? ev.data : decoder.decode(ev.data));
        };
        ws.onclose = (ev) => {
          const detail = ev.code ? ` (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ""})` : "";
          if (!opened) {
            this._detach();
            reject(new Error(`WebSocket failed to connect${detail}.`));
            return;
          }
          this._end(new Error(`WebSocket closed${detail}.`));
        };
      });
    }

    send(text) {
      const ws = this._ws;
      if (this._done || !ws || ws.readyState !== WebSocket.OPEN) throw new Error("The WebSocket is not open.");
      ws.send(text);
      return Promise.resolve();
    }

    /** Stopping closes the socket with 1000; a failed one is only let go. */
    _release(polite) {
      const ws = this._detach();
      if (ws && polite) {
        try {
          ws.close(1000);
        } catch (_) {
          /* already closed */
        }
      }
    }

    _detach() {
      const ws = this._ws;
      if (ws) ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      return ws;
    }

  }

  class ServerSentEventsTransport extends TransportBase {
    constructor(baseUrl, token, options) {
      super(TransportType.ServerSentEvents, false);
      this._url = connectionUrl(baseUrl, token);
      this._options = options;
      this._stopper = new AbortController();
      this._sender = new HttpSender(this._url, options, this._stopper.signal, (err) => this._end(err));
      this._es = null;
    }

    connect() {
      return new Promise((resolve, reject) => {
        let opened = false;
        const es = new EventSource(this._url, { withCredentials: !!this._options.withCredentials });
        this._es = es;
        es.onopen = () => {
          opened = true;
          resolve();
        };
        // Every event's data is one or more 0x1E-terminated messages.
        es.onmessage = (ev) => {
          if (!this._done && this.onreceive) this.onreceive(String(ev.data));
        };
        // An EventSource would reconnect by itself; for SignalR any error ends the connection.
        es.onerror = () => {
          if (!opened) {
            this._closeSource();
            reject(new Error("EventSource failed to connect."));
            return;
          }
          this._end(new Error("The EventSource connection was lost."));
        };
      });
    }

    send(text) {
      if (this._done) throw new Error("The connection is closed.");
      return this._sender.send(text);
    }

    _closeSource() {
      const es = this._es;
      this._es = null;
      if (es) {
        es.onopen = es.onmessage = es.onerror = null;
        es.close();
      }
    }

    _release() {
      this._closeSource();
      this._sender.close();
      this._stopper.abort();
    }

  }

  class LongPollingTransport extends TransportBase {
    constructor(baseUrl, token, options) {
      super(TransportType.LongPolling, true);
      this._base = baseUrl;
      this._token = token;
      this._options = options;
      this._stopper = new AbortController();
      this._sender = new HttpSender(connectionUrl(baseUrl, token), options, this._stopper.signal, (err) => this._end(err, true));
    }

    async connect() {
      // The first poll comes back at once, 200 and empty; any other answer means long polling can't start.
      let first;
      try {
        first = await this._poll(this._options.transportStartTimeoutMs);
      } catch (e) {
        throw new Error(`The first long poll failed: ${e.message}`);
      }
      if (first.status !== 200) throw new Error(`The first long poll failed: HTTP ${first.status}.`);
      if (this._done) return;
      this._loop();
    }

    send(text) {
      if (this._done) throw new Error("The connection is closed.");
      return this._sender.send(text);
    }

    _poll(timeoutMs) {
      const url = connectionUrl(this._base, this._token, { _: String(Date.now()) });
      return fetchText(
        url,
        {
          method: "GET",
          credentials: this._options.withCredentials ? "include" : "same-origin",
          headers: { "X-Requested-With": "XMLHttpRequest" },
        },
        timeoutMs,
        this._stopper.signal
      );
    }

    async _loop() {
      while (!this._done) {
        let answer;
        try {
          answer = await this._poll(this._options.pollTimeoutMs);
        } catch (e) {
          if (this._done) return;
          if (e.timedOut) continue; // no answer at all for a long time: just poll again
          this._end(new Error(`Long poll failed: ${e.message}`), true);
          return;
        }
        if (this._done) return;
        if (answer.status === 204) {
          this._end(new Error("The server ended the long-polling connection."), false);
          return;
        }
        if (answer.status !== 200) {
          this._end(new Error(`Long poll failed: HTTP ${answer.status}.`), true);
          return;
        }
        // 200 with messages, or 200 empty when the server's poll timeout ran out: either way, poll again.
        if (answer.text.length > 0 && this.onreceive) this.onreceive(answer.text);
      }
    }

    /** Aborts the poll and pending sends; tells the server with DELETE unless the server ended it (204). */
    /** `sayGoodbye`: DELETE the connection on the server (a stop, or a send that failed). */
    _release(sayGoodbye) {
      this._sender.close();
      this._stopper.abort();
      if (sayGoodbye) {
        fetchText(
          connectionUrl(this._base, this._token),
          {
            method: "DELETE",
            keepalive: true, // still goes out when the page is being closed
            credentials: this._options.withCredentials ? "include" : "same-origin",
            headers: { "X-Requested-With": "XMLHttpRequest" },
          },
          this._options.sendTimeoutMs
        ).catch(() => {
          /* best effort: the server drops an unpolled connection after its disconnect timeout anyway */
        });
      }
    }

  }

  function createTransport(name, baseUrl, token, options) {
    switch (name) {
      case TransportType.WebSockets:
        return new WebSocketTransport(baseUrl, token);
      case TransportType.ServerSentEvents:
        return new ServerSentEventsTransport(baseUrl, token, options);
      case TransportType.LongPolling:
        return new LongPollingTransport(baseUrl, token, options);
      default:
        throw new Error(`Unknown transport '${name}'.`);
    }
  }

  /** Rejects with a timeout error if `promise` has not settled within `ms`. */
  function withTimeout(promise, ms, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out.`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  class HubConnection {
    /**
     * @param {string} url  hub URL, absolute or relative to the page (e.g. "/chatHub")
     * @param {object} [options]  see DEFAULTS
     */
    constructor(url, options) {
      this.options = Object.assign({}, DEFAULTS, options || {});
      /** The hub URL the connection uses now (switchTo() and reconnectTarget change it). */
      this.baseUrl = normalizeUrl(url);
      this.state = HubConnectionState.Disconnected;
      this.connectionId = null;
      /** The last error that ended or interrupted the connection (an Error), or null. */
      this.lastError = null;
      /** When reconnecting: epoch ms of the next attempt, or null. */
      this.nextRetryAt = null;
      this.reconnectAttempts = 0;
      /** The transport in use ("WebSockets", "ServerSentEvents", "LongPolling") while connected, else null. */
      this.transport = null;
      /** Why the transports before the one in use were passed over at the last start (strings), e.g. after a fallback. */
      this.transportProblems = [];

      this.onreconnecting = null; // (error) => void
      this.onreconnected = null; // (connectionId) => void
      this.onclose = null; // (error|undefined) => void
      this.onstatechange = null; // (state, previousState) => void
      this.onswitched = null; // (connectionId, url) => void: switchTo() moved the connection

      this._handlers = new Map(); // target → [handler]
      this._pending = new Map(); // invocationId → {resolve, reject, transport}
      this._retired = new Set(); // transports left by switchTo(), still read for a while
      this._switching = false;
      this._recent = []; // [{t, piece}] invocations dispatched lately (for switchTo's overlap)
      this._overlap = null; // {until, old: Map(piece → n), fresh: Map(piece → n)} after a switch
      this._nextInvocationId = 0;
      this._transport = null; // the transport object while connected
      this._ticker = null;
      this._lastSent = 0;
      this._lastReceived = 0;
      this._runId = 0; // bumped by start()/stop(); a stale loop sees a different id and quits
      this._wake = new EventTarget(); // dispatching "wake" cuts a reconnect wait short
    }

    // ---- public API -------------------------------------------------------------------------

    /** Registers `handler(args, message)` for server invocations of `target` (case-sensitive). */
    on(target, handler) {
      if (!this._handlers.has(target)) this._handlers.set(target, []);
      this._handlers.get(target).push(handler);
      return this;
    }

    /** Removes one handler, or every handler of `target` when `handler` is omitted. */
    off(target, handler) {
      if (!handler) {
        this._handlers.delete(target);
        return this;
      }
      const list = this._handlers.get(target);
      if (list) {
        const i = list.indexOf(handler);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this._handlers.delete(target);
      }
      return this;
    }

    /**
     * Connects. Resolves once connected; rejects if the first attempt fails (unless
     * `retryStart` is set, in which case it keeps retrying and resolves on the first success).
     */
    start() {
      if (this.state !== HubConnectionState.Disconnected) {
        return Promise.reject(new Error(`Cannot start a connection that is not in the 'disconnected' state (it is '${this.state}').`));
      }
      const runId = ++this._runId;
      this.lastError = null;
      this.reconnectAttempts = 0;
      this._setState(HubConnectionState.Connecting);
      return this._connectOnce(runId, () => this._setState(HubConnectionState.Connected)).then(
        () => {},
        (err) => {
          if (runId !== this._runId) throw err;
          this.lastError = err;
          if (this.options.retryStart) {
            this._setState(HubConnectionState.Reconnecting);
            this._fire("onreconnecting", err);
            return this._reconnectLoop(runId, 1).then((ok) => {
              if (!ok) throw this.lastError || err;
            });
          }
          this._setState(HubConnectionState.Disconnected);
          throw err;
        }
      );
    }

    /** Closes the connection and stops any reconnect loop. */
    stop() {
      this._runId++;
      this._wake.dispatchEvent(new Event("wake"));
      const wasRunning = this.state !== HubConnectionState.Disconnected;
      this._teardown(new Error("Invocation canceled due to the underlying connection being closed."));
      if (wasRunning) {
        this._setState(HubConnectionState.Disconnected);
        this._fire("onclose", undefined);
      }
      return Promise.resolve();
    }

    /** While reconnecting: try again now instead of waiting out the backoff. */
    retryNow() {
      this._wake.dispatchEvent(new Event("wake"));
    }

    /**
     * Moves the connected connection to the hub at `url` (another replica's, say) without a gap: negotiates and
     * handshakes there first, then makes it the connection's transport and fires `onswitched`. For
     * `switchOverlapMs` afterwards the old transport is still read, and a message that arrives on both is
     * dispatched once; then the old one is closed, once the invocations made on it are answered (at most
     * `switchDrainMs`). The state stays "connected" throughout. Rejects (and the connection stays where it is)
     * when the new one can't be opened, or the connection was lost or stopped meanwhile.
     * `options.negotiateTimeoutMs` bounds the negotiate there.
     */
    async switchTo(url, options) {
      const target = normalizeUrl(url);
      if (this.state !== HubConnectionState.Connected || !this._transport) {
        throw new Error("Cannot switch a connection that is not in the 'connected' state.");
      }
      if (this._switching) throw new Error("A switch is already in progress.");
      const runId = this._runId;
      const before = this._transport;
      this._switching = true;
      let opened;
      try {
        opened = await this._open(runId, target, options && options.negotiateTimeoutMs);
      } finally {
        this._switching = false;
      }
      if (runId !== this._runId || this.state !== HubConnectionState.Connected || this._transport !== before) {
        opened.transport.onreceive = opened.transport.onclose = null;
        opened.transport.stop();
        throw new Error("The connection changed while switching.");
      }
      // Both are read for a while: what the old one dispatched lately, or dispatches now, is not dispatched again.
      const now = Date.now();
      const old = new Map();
      for (const r of this._recent) if (now - r.t <= RECENT_MS) old.set(r.piece, (old.get(r.piece) || 0) + 1);
      this._recent = [];
      this._overlap = { until: now + this.options.switchOverlapMs, old, fresh: new Map() };
      this._retire(before, this._buffer);
      this.baseUrl = target;
      this.connectionId = opened.connectionId;
      this._attach(opened.transport, runId);
      this._log("info", `switched to ${target}`);
      this._fire("onswitched", this.connectionId, target);
      this._release(opened, runId);
    }

    /** Calls a hub method and resolves with its result (rejects with the server's error text). */
    invoke(target, ...args) {
      const id = String(this._nextInvocationId++);
      return new Promise((resolve, reject) => {
        if (this.state !== HubConnectionState.Connected || !this._transport) {
          reject(new Error("Cannot send data if the connection is not in the 'connected' state."));
          return;
        }
        this._pending.set(id, { resolve, reject, transport: this._transport });
        try {
          this._write({ type: MessageType.Invocation, invocationId: id, target, arguments: args });
        } catch (e) {
          this._pending.delete(id);
          reject(e);
        }
      });
    }

    /** Calls a hub method without waiting for (or getting) a result. Resolves once written (over SSE and long polling: once POSTed). */
    send(target, ...args) {
      if (this.state !== HubConnectionState.Connected || !this._transport) {
        return Promise.reject(new Error("Cannot send data if the connection is not in the 'connected' state."));
      }
      try {
        return this._write({ type: MessageType.Invocation, target, arguments: args });
      } catch (e) {
        return Promise.reject(e);
      }
    }

    // ---- connection -------------------------------------------------------------------------

    _log(level, text) {
      if (this.options.logger) {
        try {
          this.options.logger(level, text);
        } catch (_) {
          /* a broken logger must not break the connection */
        }
      }
    }

    _setState(state) {
      const prev = this.state;
      if (prev === state) return;
      this.state = state;
      this._log("debug", `state ${prev} → ${state}`);
      this._fire("onstatechange", state, prev);
    }

    _fire(name, ...args) {
      const fn = this[name];
      if (typeof fn === "function") {
        try {
          fn.apply(this, args);
        } catch (e) {
          this._log("error", `${name} callback threw: ${e && e.message}`);
        }
      }
    }

    /**
     * POST <hub>/negotiate, following redirects (`{"url","accessToken"}`: negotiate again there, with the token
     * as bearer token; the transports then use that URL with the token as `access_token`). Resolves with the
     * base URL to connect to, the token, the public id and the transports the server offers.
     */
    async _negotiate(baseUrl, timeoutMs) {
      let base = baseUrl;
      for (let hop = 0; ; hop++) {
        const result = await this._negotiateAt(base, timeoutMs);
        if (!result.redirect) return result;
        if (hop >= MAX_REDIRECTS) throw new Error("Negotiate redirection limit exceeded.");
        const next = new URL(result.redirect.url, base);
        if (result.redirect.accessToken) next.searchParams.set("access_token", result.redirect.accessToken);
        base = next.href;
      }
    }

    async _negotiateAt(base, timeoutMs) {
      const url = negotiateUrl(base);
      const headers = { "X-Requested-With": "XMLHttpRequest" };
      const token = new URL(base).searchParams.get("access_token");
      if (token) headers.Authorization = `Bearer ${token}`;
      let answer;
      try {
        answer = await fetchText(
          url,
          {
            method: "POST",
            credentials: this.options.withCredentials ? "include" : "same-origin",
            headers,
          },
          timeoutMs || this.options.negotiateTimeoutMs
        );
      } catch (e) {
        // fetchText rejects only for network trouble (refused, reset, offline) or the timeout, never for a status.
        throw new Error(e.timedOut ? "Negotiate timed out." : "Cannot reach the server.");
      }
      if (answer.status === 404) {
        throw new Error("Negotiate failed: 404 (not a SignalR endpoint?)");
      }
      if (answer.status < 200 || answer.status > 299) throw new Error(`Negotiate failed: HTTP ${answer.status}`);
      let body;
      try {
        body = JSON.parse(answer.text);
      } catch (e) {
        throw new Error("Negotiate failed: the response is not JSON.");
      }
      if (!body || typeof body !== "object") throw new Error("Negotiate failed: unexpected response.");
      if (body.error) throw new HubError(String(body.error), "negotiate");
      if (typeof body.url === "string" && body.url) {
        return { redirect: { url: body.url, accessToken: typeof body.accessToken === "string" ? body.accessToken : null } };
      }
      const version = typeof body.negotiateVersion === "number" ? body.negotiateVersion : 0;
      const id = version >= 1 ? body.connectionToken : body.connectionId;
      if (!id) throw new Error("Negotiate failed: no connection id in the response.");
      // Transports that carry text; a server that lists none is taken to mean WebSockets (older behaviour).
      let offered = [TransportType.WebSockets];
      if (Array.isArray(body.availableTransports)) {
        offered = body.availableTransports
          .filter((t) => t && typeof t.transport === "string" && (!Array.isArray(t.transferFormats) || t.transferFormats.includes("Text")))
          .map((t) => t.transport);
      }
      return { base, token: id, connectionId: body.connectionId || id, offered };
    }

    /** The transports `options.transport` allows, in the order to try them. */
    _wantedTransports() {
      const choice = this.options.transport;
      if (choice === undefined || choice === null || choice === "" || choice === "Auto") return TRANSPORT_ORDER;
      if (TRANSPORT_ORDER.includes(choice)) return [choice];
      throw new HubError(`Unknown transport '${choice}' (use Auto, WebSockets, ServerSentEvents or LongPolling).`, "transport");
    }

    /**
     * Negotiates and starts the first transport that works, in TRANSPORT_ORDER, skipping those that are not
     * wanted, not offered by the server or not supported by the browser. After a transport fails to start,
     * negotiates again before trying the next one (the failed attempt may have used up the token).
     */
    async _startTransport(runId, baseUrl, negotiateTimeoutMs) {
      const wanted = this._wantedTransports();
      let negotiated = await this._negotiate(baseUrl, negotiateTimeoutMs);
      if (runId !== this._runId) throw new Error("The connection was stopped.");
      const offered = negotiated.offered;
      const problems = [];
      for (const name of wanted) {
        if (!offered.includes(name)) {
          problems.push(`${name}: not offered by the server`);
          continue;
        }
        if (!transportSupported(name)) {
          problems.push(`${name}: not supported by this browser`);
          continue;
        }
        if (!negotiated) {
          negotiated = await this._negotiate(baseUrl, negotiateTimeoutMs);
          if (runId !== this._runId) throw new Error("The connection was stopped.");
        }
        const transport = createTransport(name, negotiated.base, negotiated.token, this.options);
        try {
          await withTimeout(transport.connect(), this.options.transportStartTimeoutMs, `Starting ${name}`);
        } catch (e) {
          transport.stop();
          if (runId !== this._runId) throw new Error("The connection was stopped.");
          problems.push(`${name}: ${reasonText(e)}`);
          this._log("info", `transport ${name} failed to start: ${e.message}`);
          negotiated = null;
          continue;
        }
        if (runId !== this._runId) {
          transport.stop();
          throw new Error("The connection was stopped.");
        }
        this.transportProblems = problems;
        return { transport, connectionId: negotiated.connectionId };
      }
      const detail = problems.length ? problems.join("; ") : "no transport to try";
      throw new Error(`Unable to connect with any transport (${detail}).`);
    }

    /**
     * Negotiates at `baseUrl`, starts a transport and does the handshake, without touching the connection's
     * current transport. Resolves with `{transport, connectionId, held}`: what arrives on the transport until
     * `_attach` takes it over (text after the handshake answer, or its close) waits in `held`.
     */
    async _open(runId, baseUrl, negotiateTimeoutMs) {
      const { transport, connectionId } = await this._startTransport(runId, baseUrl, negotiateTimeoutMs);
      const held = await new Promise((resolve, reject) => {
        let settled = false;
        let buffer = "";
        const fail = (err) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          transport.onreceive = transport.onclose = null;
          transport.stop();
          reject(err);
        };
        const timer = setTimeout(() => fail(new Error("Handshake timed out.")), this.options.handshakeTimeoutMs);
        transport.onclose = (err) => {
          fail(new Error(`${transport.name} closed before the handshake completed: ${reasonText(err)}.`));
        };
        transport.onreceive = (text) => {
          if (settled) return;
          buffer += text;
          const end = buffer.indexOf(RS);
          if (end < 0) return; // handshake answer not complete yet
          const answerText = buffer.slice(0, end);
          const rest = buffer.slice(end + 1);
          let answer;
          try {
            answer = JSON.parse(answerText);
          } catch (e) {
            return fail(new Error("Handshake failed: the server's answer is not JSON."));
          }
          if (answer && answer.error) return fail(new HubError(`Handshake failed: ${answer.error}`, "handshake"));
          if (runId !== this._runId) return fail(new Error("The connection was stopped."));
          settled = true;
          clearTimeout(timer);
          const kept = { text: rest, error: null };
          transport.onreceive = (more) => {
            kept.text += more;
          };
          transport.onclose = (err) => {
            if (!kept.error) kept.error = err || new Error(`${transport.name} closed.`);
          };
          resolve(kept);
        };
        if (runId !== this._runId) return fail(new Error("The connection was stopped."));
        // Over SSE and long polling this goes out as a POST; the answer comes back on the receive side.
        let sending;
        try {
          sending = transport.send(JSON.stringify({ protocol: "json", version: 1 }) + RS);
        } catch (e) {
          return fail(new Error(`Sending the handshake failed: ${reasonText(e)}.`));
        }
        sending.catch((e) => fail(new Error(`Sending the handshake failed: ${reasonText(e)}.`)));
      });
      return { transport, connectionId, held };
    }

    /**
     * One full attempt: negotiate, start a transport, handshake (at `plan.url`, else the current URL). `onReady`
     * runs synchronously once the handshake succeeds, before any message that arrived along with the
     * handshake's answer is dispatched, so the state is already "connected" when the first handler runs.
     */
    async _connectOnce(runId, onReady, plan) {
      const url = (plan && plan.url) || this.baseUrl;
      const opened = await this._open(runId, url, plan && plan.negotiateTimeoutMs);
      if (runId !== this._runId) {
        opened.transport.onreceive = opened.transport.onclose = null;
        opened.transport.stop();
        throw new Error("The connection was stopped.");
      }
      this.baseUrl = url;
      this.connectionId = opened.connectionId;
      this._attach(opened.transport, runId);
      onReady();
      this._release(opened, runId);
    }

    /** Hands what arrived between the handshake and `_attach` to the connection. */
    _release(opened, runId) {
      const { transport, held } = opened;
      if (held.text && this._transport === transport) this._onData(held.text);
      if (held.error && this._transport === transport) this._connectionLost(runId, held.error, true);
    }

    /**
     * Keeps reading a transport that switchTo() replaced: for the overlap, its invocations are dispatched unless
     * the new one brought them already; answers to invocations made on it are taken until none is left. Then
     * (or after switchDrainMs, or when it closes) it is stopped and what still waited on it fails.
     */
    _retire(transport, buffered) {
      let buffer = buffered || "";
      let done = false;
      const overlapEnds = Date.now() + this.options.switchOverlapMs;
      const canceled = () => new Error("Invocation canceled due to the underlying connection being closed.");
      const waiting = () => {
        for (const p of this._pending.values()) if (p.transport === transport) return true;
        return false;
      };
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(drainTimer);
        clearTimeout(overlapTimer);
        this._retired.delete(entry);
        transport.onreceive = transport.onclose = null;
        transport.stop();
        for (const [id, p] of this._pending) {
          if (p.transport === transport) {
            this._pending.delete(id);
            p.reject(canceled());
          }
        }
      };
      const maybeFinish = () => {
        if (Date.now() >= overlapEnds && !waiting()) finish();
      };
      const entry = { transport, finish };
      this._retired.add(entry);
      transport.onreceive = (text) => {
        buffer += text;
        let start = 0;
        let end;
        while (!done && (end = buffer.indexOf(RS, start)) >= 0) {
          const piece = buffer.slice(start, end);
          start = end + 1;
          if (piece.length > 0) this._onPiece(piece, true);
        }
        buffer = buffer.slice(start);
        maybeFinish();
      };
      transport.onclose = finish;
      const overlapTimer = setTimeout(maybeFinish, this.options.switchOverlapMs + 10);
      const drainTimer = setTimeout(finish, Math.max(this.options.switchOverlapMs, this.options.switchDrainMs));
      // Answers arrive as they come; check again whenever one might have been the last.
      entry.check = maybeFinish;
    }

    _attach(transport, runId) {
      this._transport = transport;
      this.transport = transport.name;
      this._buffer = "";
      const now = Date.now();
      this._lastReceived = now;
      this._lastSent = now;
      transport.onreceive = (text) => {
        if (this._transport !== transport) return;
        this._lastReceived = Date.now();
        this._onData(text);
      };
      transport.onclose = (error) => {
        if (this._transport !== transport) return;
        this._connectionLost(runId, error || new Error(`${transport.name} closed.`), true);
      };
      clearInterval(this._ticker);
      this._ticker = null;
      // Long polling needs neither Pings nor a server timeout: every poll shows both sides are alive.
      if (transport.inherentKeepAlive) return;
      // One ticker does both jobs; comparing timestamps stays right even when the browser throttles timers.
      this._ticker = setInterval(() => {
        if (this._transport !== transport) return;
        const t = Date.now();
        if (t - this._lastReceived >= this.options.serverTimeoutMs) {
          this._connectionLost(runId, new Error(`Server timeout: nothing received for ${Math.round((t - this._lastReceived) / 1000)} s.`), true);
          return;
        }
        if (t - this._lastSent >= this.options.keepAliveIntervalMs) {
          try {
            this._write({ type: MessageType.Ping });
          } catch (_) {
            /* onclose will follow */
          }
        }
      }, 1000);
    }

    /**
     * Sends one message. Throws when there is no open transport; otherwise returns a promise of the write
     * (over SSE and long polling it settles when the POST is answered). A failed write also fails the
     * connection, so callers may ignore the promise.
     */
    _write(message) {
      const transport = this._transport;
      if (!transport) throw new Error("The connection is not open.");
      const writing = transport.send(JSON.stringify(message) + RS);
      this._lastSent = Date.now();
      writing.catch(() => {
        /* reported through onclose */
      });
      return writing;
    }

    /** Splits on the record separator; a trailing partial message waits for the next frame. */
    _onData(text) {
      this._buffer += text;
      let start = 0;
      let end;
      while ((end = this._buffer.indexOf(RS, start)) >= 0) {
        const piece = this._buffer.slice(start, end);
        start = end + 1;
        if (piece.length === 0) continue;
        this._onPiece(piece, false);
        if (!this._transport) return; // a Close message tore the connection down
      }
      this._buffer = this._buffer.slice(start);
    }

    /**
     * One message, from the current transport or (`retired`) from one switchTo() left. After a switch, an
     * invocation that arrives on both is dispatched once; a retired transport only gives invocations (during
     * the overlap) and answers to invocations made on it.
     */
    _onPiece(piece, retired) {
      let message;
      try {
        message = JSON.parse(piece);
      } catch (e) {
        this._log("warn", `dropping a message that is not JSON: ${piece.slice(0, 80)}`);
        return;
      }
      if (!message || typeof message !== "object") return;
      const broadcast = message.type === MessageType.Invocation && (message.invocationId === undefined || message.invocationId === null);
      if (broadcast) {
        if (!this._firstOfOverlap(piece, retired)) return;
        if (!retired) this._remember(piece);
        this._onMessage(message);
        return;
      }
      if (!retired) {
        this._onMessage(message);
      } else if (message.type === MessageType.Completion) {
        this._onMessage(message);
      }
    }

    /** Notes an invocation dispatched from the current transport, for the overlap of a later switch. */
    _remember(piece) {
      const now = Date.now();
      const recent = this._recent;
      recent.push({ t: now, piece });
      if (recent.length > RECENT_MAX || now - recent[0].t > RECENT_MS) {
        let drop = Math.max(0, recent.length - RECENT_MAX);
        while (drop < recent.length && now - recent[drop].t > RECENT_MS) drop++;
        recent.splice(0, drop);
      }
    }

    /** During a switch's overlap: false for an invocation the other transport already dispatched. */
    _firstOfOverlap(piece, retired) {
      const o = this._overlap;
      if (!o) return !retired;
      if (Date.now() > o.until) {
        this._overlap = null;
        return !retired;
      }
      const mine = retired ? o.old : o.fresh;
      const theirs = retired ? o.fresh : o.old;
      const n = theirs.get(piece) || 0;
      if (n > 0) {
        if (n === 1) theirs.delete(piece);
        else theirs.set(piece, n - 1);
        this._log("debug", "dropped a message that arrived on both connections of a switch");
        return false;
      }
      if (mine.size < RECENT_MAX) mine.set(piece, (mine.get(piece) || 0) + 1);
      return true;
    }

    _onMessage(message) {
      if (!message || typeof message !== "object") return;
      switch (message.type) {
        case MessageType.Invocation:
          this._onInvocation(message);
          break;
        case MessageType.Completion: {
          const pending = this._pending.get(message.invocationId);
          if (!pending) break;
          this._pending.delete(message.invocationId);
          if (message.error !== undefined && message.error !== null) pending.reject(new HubError(String(message.error), "invocation"));
          else pending.resolve(message.result);
          if (pending.transport !== this._transport) for (const r of this._retired) if (r.transport === pending.transport) r.check();
          break;
        }
        case MessageType.Ping:
          break;
        case MessageType.Close: {
          const runId = this._runId;
          if (message.allowReconnect) {
            this._connectionLost(runId, new Error(message.error ? `Server closed the connection: ${message.error}` : "The server closed the connection (reconnect allowed)."), true);
          } else {
            const err = message.error ? new HubError(`Server returned an error on close: ${message.error}`, "close") : new HubError("The server closed the connection.", "close");
            this._connectionLost(runId, err, false);
          }
          break;
        }
        default:
          // StreamItem, Ack, Sequence and unknown types: not used by this client.
          this._log("debug", `ignoring message type ${message.type}`);
      }
    }

    _onInvocation(message) {
      const handlers = (this._handlers.get(message.target) || []).slice();
      const args = Array.isArray(message.arguments) ? message.arguments : [];
      const info = { target: message.target, headers: message.headers || {}, invocationId: message.invocationId, raw: message };
      let result;
      for (const h of handlers) {
        try {
          const r = h(args, info);
          if (r !== undefined) result = r;
        } catch (e) {
          this._log("error", `handler for '${message.target}' threw: ${e && e.message}`);
        }
      }
      if (handlers.length === 0) this._log("warn", `no handler for '${message.target}'`);
      // A server→client call that expects a result.
      if (message.invocationId !== undefined && message.invocationId !== null) {
        Promise.resolve(result).then(
          (value) => {
            try {
              if (handlers.length === 0 || value === undefined) {
                this._write({ type: MessageType.Completion, invocationId: message.invocationId, error: "Client didn't provide a result." });
              } else {
                this._write({ type: MessageType.Completion, invocationId: message.invocationId, result: value });
              }
            } catch (_) {
              /* the connection went away */
            }
          },
          (e) => {
            try {
              this._write({ type: MessageType.Completion, invocationId: message.invocationId, error: String((e && e.message) || e) });
            } catch (_) {
              /* the connection went away */
            }
          }
        );
      }
    }

    /** Stops the transport and rejects outstanding invocations. */
    _teardown(cancelError) {
      clearInterval(this._ticker);
      this._ticker = null;
      const transport = this._transport;
      this._transport = null;
      this.transport = null;
      if (transport) {
        transport.onreceive = transport.onclose = null;
        transport.stop();
      }
      const pending = this._pending;
      this._pending = new Map();
      for (const p of pending.values()) p.reject(cancelError);
      for (const r of Array.from(this._retired)) r.finish();
      this._overlap = null;
      this._recent = [];
    }

    _connectionLost(runId, error, mayReconnect) {
      if (runId !== this._runId || !this._transport) return;
      this.lastError = error;
      this._log("info", `connection lost: ${error.message}`);
      this._teardown(new Error("Invocation canceled due to the underlying connection being closed."));
      if (!mayReconnect) {
        this._runId++;
        this._setState(HubConnectionState.Disconnected);
        this._fire("onclose", error);
        return;
      }
      this._setState(HubConnectionState.Reconnecting);
      this._fire("onreconnecting", error);
      this._reconnectLoop(runId, 0);
    }

    /** Retries until connected or stopped. Resolves true when connected, false when stopped. */
    async _reconnectLoop(runId, attempt) {
      const delays = this.options.reconnectDelaysMs;
      for (;;) {
        const base = delays[Math.min(attempt, delays.length - 1)];
        const plan = this._reconnectPlan(attempt);
        const wait = plan.delayMs !== undefined ? plan.delayMs : jitter(base);
        this.reconnectAttempts = attempt + 1;
        this.nextRetryAt = Date.now() + wait;
        this._fire("onstatechange", this.state, this.state); // lets the page show the countdown
        await sleep(wait, this._wake);
        this.nextRetryAt = null;
        if (runId !== this._runId) return false;
        try {
          await this._connectOnce(runId, () => {
            this.lastError = null;
            this.reconnectAttempts = 0;
            this._setState(HubConnectionState.Connected);
            this._fire("onreconnected", this.connectionId);
          }, plan);
          return true;
        } catch (err) {
          if (runId !== this._runId) return false;
          this.lastError = err;
          this._log("info", `reconnect attempt ${attempt + 1} failed: ${err.message}`);
          attempt++;
        }
      }
    }

    /** What `options.reconnectTarget` says about attempt `attempt`, checked: {url?, delayMs?, negotiateTimeoutMs?}. */
    _reconnectPlan(attempt) {
      const hook = this.options.reconnectTarget;
      const plan = {};
      if (typeof hook !== "function") return plan;
      let given = null;
      try {
        given = hook(attempt, this.lastError);
      } catch (e) {
        this._log("error", `reconnectTarget threw: ${e && e.message}`);
      }
      if (!given || typeof given !== "object") return plan;
      if (typeof given.url === "string" && given.url) {
        try {
          plan.url = normalizeUrl(given.url);
        } catch (_) {
          this._log("warn", `reconnectTarget gave a URL that does not parse: ${given.url.slice(0, 80)}`);
        }
      }
      const ms = (v, max) => (typeof v === "number" && isFinite(v) && v >= 0 ? Math.min(v, max) : undefined);
      const delay = ms(given.delayMs, 600000);
      if (delay !== undefined) plan.delayMs = delay;
      const timeout = ms(given.negotiateTimeoutMs, 600000);
      if (timeout) plan.negotiateTimeoutMs = timeout;
      return plan;
    }
  }

  global.SignalRLite = Object.freeze({ HubConnection, HubConnectionState, HubError, MessageType, TransportType, TRANSPORT_ORDER });
})(typeof window !== "undefined" ? window : globalThis);
