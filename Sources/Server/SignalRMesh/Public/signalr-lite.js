/*
 * signalr-lite.js: a small SignalR client for the replica's own web page.
 *
 * WebSockets + JSON hub protocol only. No dependencies, no build step. Loaded as a plain
 * script; exposes `window.SignalRLite = { HubConnection, HubConnectionState }`.
 *
 *   const conn = new SignalRLite.HubConnection("/chatHub");
 *   conn.on("ReceiveMessage", (args, message) => { ... message.headers ... });
 *   conn.onstatechange = (state) => { ... };
 *   await conn.start();
 *   await conn.invoke("SendMessage", "alice", "hi");
 *
 * Connection life:
 *   negotiate (POST <hub>/negotiate?negotiateVersion=1) → WebSocket <hub>?id=<token>
 *   → handshake {"protocol":"json","version":1}\x1e → {}\x1e → messages.
 * Keep-alive: a Ping at most 15 s after the last thing we sent; if nothing at all arrives from the
 * server for 30 s, the socket is dropped and the client reconnects.
 * Reconnect: after an unexpected close (or a Close message with allowReconnect:true), retries forever
 * after 0, 2, 5, 10, 10, … seconds (jittered), negotiating afresh every time. A Close message without
 * allowReconnect stops the connection (state "disconnected"); start() may be called again.
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

  const DEFAULTS = Object.freeze({
    keepAliveIntervalMs: 15000,
    serverTimeoutMs: 30000,
    handshakeTimeoutMs: 15000,
    negotiateTimeoutMs: 10000,
    // Base delays between reconnect attempts; the last one repeats forever.
    reconnectDelaysMs: [0, 2000, 5000, 10000],
    // A failed first start() keeps retrying like a reconnect instead of rejecting at once.
    retryStart: false,
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

  class HubConnection {
    /**
     * @param {string} url  hub URL, absolute or relative to the page (e.g. "/chatHub")
     * @param {object} [options]  see DEFAULTS
     */
    constructor(url, options) {
      this.options = Object.assign({}, DEFAULTS, options || {});
      this.baseUrl = new URL(url, global.location ? global.location.href : undefined).href.replace(/\/+$/, "");
      this.state = HubConnectionState.Disconnected;
      this.connectionId = null;
      /** The last error that ended or interrupted the connection (an Error), or null. */
      this.lastError = null;
      /** When reconnecting: epoch ms of the next attempt, or null. */
      this.nextRetryAt = null;
      this.reconnectAttempts = 0;

      this.onreconnecting = null; // (error) => void
      this.onreconnected = null; // (connectionId) => void
      this.onclose = null; // (error|undefined) => void
      this.onstatechange = null; // (state, previousState) => void

      this._handlers = new Map(); // target → [handler]
      this._pending = new Map(); // invocationId → {resolve, reject}
      this._nextInvocationId = 0;
      this._ws = null;
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
      this._teardown(1000, "stopped", new Error("Invocation canceled due to the underlying connection being closed."));
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

    /** Calls a hub method and resolves with its result (rejects with the server's error text). */
    invoke(target, ...args) {
      const id = String(this._nextInvocationId++);
      return new Promise((resolve, reject) => {
        if (this.state !== HubConnectionState.Connected || !this._ws) {
          reject(new Error("Cannot send data if the connection is not in the 'connected' state."));
          return;
        }
        this._pending.set(id, { resolve, reject });
        try {
          this._write({ type: MessageType.Invocation, invocationId: id, target, arguments: args });
        } catch (e) {
          this._pending.delete(id);
          reject(e);
        }
      });
    }

    /** Calls a hub method without waiting for (or getting) a result. Resolves once written. */
    send(target, ...args) {
      if (this.state !== HubConnectionState.Connected || !this._ws) {
        return Promise.reject(new Error("Cannot send data if the connection is not in the 'connected' state."));
      }
      try {
        this._write({ type: MessageType.Invocation, target, arguments: args });
        return Promise.resolve();
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

    async _negotiate() {
      const url = `${this.baseUrl}/negotiate?negotiateVersion=1`;
      const ctrl = typeof AbortController !== "undefined" ? new AbortController() : null;
      const timer = ctrl ? setTimeout(() => ctrl.abort(), this.options.negotiateTimeoutMs) : null;
      let response;
      try {
        response = await fetch(url, {
          method: "POST",
          cache: "no-store",
          credentials: "same-origin",
          headers: { "X-Requested-With": "XMLHttpRequest" },
          signal: ctrl ? ctrl.signal : undefined,
        });
      } catch (e) {
        // fetch() rejects only for network trouble (refused, reset, offline), never for an HTTP status.
        throw new Error(ctrl && ctrl.signal.aborted ? "Negotiate timed out." : "Cannot reach the server.");
      } finally {
        if (timer) clearTimeout(timer);
      }
      if (response.status === 404) {
        throw new Error("Negotiate failed: 404 (not a SignalR endpoint?)");
      }
      if (!response.ok) throw new Error(`Negotiate failed: HTTP ${response.status}`);
      let body;
      try {
        body = await response.json();
      } catch (e) {
        throw new Error("Negotiate failed: the response is not JSON.");
      }
      if (!body || typeof body !== "object") throw new Error("Negotiate failed: unexpected response.");
      if (body.error) throw new HubError(String(body.error), "negotiate");
      if (body.url) throw new HubError("Negotiate redirects are not supported by this client.", "negotiate");
      const version = typeof body.negotiateVersion === "number" ? body.negotiateVersion : 0;
      const id = version >= 1 ? body.connectionToken : body.connectionId;
      if (!id) throw new Error("Negotiate failed: no connection id in the response.");
      if (Array.isArray(body.availableTransports)) {
        const ws = body.availableTransports.find((t) => t && t.transport === "WebSockets");
        if (!ws) throw new HubError("The server does not offer the WebSockets transport.", "negotiate");
      }
      return { token: id, connectionId: body.connectionId || id };
    }

    _socketUrl(token) {
      const u = new URL(this.baseUrl);
      u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
      u.searchParams.set("id", token);
      return u.href;
    }

    /**
     * One full attempt: negotiate, open the socket, handshake. `onReady` runs synchronously once the
     * handshake succeeds, before any message that shared the handshake's frame is dispatched, so the
     * state is already "connected" when the first handler runs.
     */
    async _connectOnce(runId, onReady) {
      const { token, connectionId } = await this._negotiate();
      if (runId !== this._runId) throw new Error("The connection was stopped.");
      await new Promise((resolve, reject) => {
        let settled = false;
        let buffer = "";
        const ws = new WebSocket(this._socketUrl(token));
        ws.binaryType = "arraybuffer";
        const decoder = new TextDecoder();
        const fail = (err) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          detach();
          try {
            ws.close();
          } catch (_) {
            /* already closed */
          }
          reject(err);
        };
        const timer = setTimeout(() => fail(new Error("Handshake timed out.")), this.options.handshakeTimeoutMs);
        const detach = () => {
          ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
        };
        ws.onopen = () => {
          if (runId !== this._runId) return fail(new Error("The connection was stopped."));
          ws.send(JSON.stringify({ protocol: "json", version: 1 }) + RS);
        };
        ws.onerror = () => {
          /* details arrive with onclose */
        };
        ws.onclose = (ev) => {
          fail(new Error(`WebSocket closed before the handshake completed${ev.code ? ` (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ""})` : ""}.`));
        };
        ws.onmessage = (ev) => {
          buffer += typeof ev.data === "string" ? ev.data : decoder.decode(ev.data);
          const end = buffer.indexOf(RS);
          if (end < 0) return; // handshake answer not complete yet
          const text = buffer.slice(0, end);
          const rest = buffer.slice(end + 1);
          let answer;
          try {
            answer = JSON.parse(text);
          } catch (e) {
            return fail(new Error("Handshake failed: the server's answer is not JSON."));
          }
          if (answer && answer.error) return fail(new HubError(`Handshake failed: ${answer.error}`, "handshake"));
          if (runId !== this._runId) return fail(new Error("The connection was stopped."));
          settled = true;
          clearTimeout(timer);
          this.connectionId = connectionId;
          this._attach(ws, runId);
          onReady();
          resolve();
          // Messages that shared the frame with the handshake answer.
          if (rest && this._ws === ws) this._onData(rest);
        };
      });
    }

    _attach(ws, runId) {
      this._ws = ws;
      this._buffer = "";
      this._decoder = new TextDecoder();
      const now = Date.now();
      this._lastReceived = now;
      this._lastSent = now;
      ws.onmessage = (ev) => {
        this._lastReceived = Date.now();
        this._onData(typeof ev.data === "string" ? ev.data : this._decoder.decode(ev.data));
      };
      ws.onerror = () => {};
      ws.onclose = (ev) => {
        if (this._ws !== ws) return;
        const why = `WebSocket closed (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ""}).`;
        this._connectionLost(runId, new Error(why), true);
      };
      // One ticker does both jobs; comparing timestamps stays right even when the browser throttles timers.
      clearInterval(this._ticker);
      this._ticker = setInterval(() => {
        if (this._ws !== ws) return;
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

    _write(message) {
      const ws = this._ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) throw new Error("The WebSocket is not open.");
      ws.send(JSON.stringify(message) + RS);
      this._lastSent = Date.now();
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
        let message;
        try {
          message = JSON.parse(piece);
        } catch (e) {
          this._log("warn", `dropping a message that is not JSON: ${piece.slice(0, 80)}`);
          continue;
        }
        this._onMessage(message);
        if (!this._ws) return; // a Close message tore the connection down
      }
      this._buffer = this._buffer.slice(start);
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

    /** Drops the socket and rejects outstanding invocations. */
    _teardown(code, reason, cancelError) {
      clearInterval(this._ticker);
      this._ticker = null;
      const ws = this._ws;
      this._ws = null;
      if (ws) {
        ws.onmessage = ws.onerror = ws.onclose = null;
        try {
          ws.close(code, reason);
        } catch (_) {
          try {
            ws.close();
          } catch (__) {
            /* already closed */
          }
        }
      }
      const pending = this._pending;
      this._pending = new Map();
      for (const p of pending.values()) p.reject(cancelError);
    }

    _connectionLost(runId, error, mayReconnect) {
      if (runId !== this._runId || !this._ws) return;
      this.lastError = error;
      this._log("info", `connection lost: ${error.message}`);
      this._teardown(1000, "", new Error("Invocation canceled due to the underlying connection being closed."));
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
        const wait = jitter(base);
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
          });
          return true;
        } catch (err) {
          if (runId !== this._runId) return false;
          this.lastError = err;
          this._log("info", `reconnect attempt ${attempt + 1} failed: ${err.message}`);
          attempt++;
        }
      }
    }
  }

  global.SignalRLite = Object.freeze({ HubConnection, HubConnectionState, HubError, MessageType });
})(typeof window !== "undefined" ? window : globalThis);
