/*
 * Mesh Chat: the page each replica serves at "/".
 *
 * Chat over the replica's own hub (/chatHub, via signalr-lite.js), rooms over the demo hub (/demoHub:
 * JoinGroup / LeaveGroup / SendToGroup → GroupMessage) and a live view of the mesh (GET /api/mesh,
 * polled every second). Who is online comes from the chat hub's presence (Join(name) → Presence(names,
 * total)). When this page's replica dies, both connections move to a live replica of the last mesh view
 * and come back once it is up again (failover.js). All user- and server-provided text goes into the DOM
 * through textContent / setAttribute, never through innerHTML.
 */
(function () {
  "use strict";

  const MAX_ITEMS = 500; // messages + system lines kept in the list
  const MESH_POLL_MS = 1000;
  /** After a 403/404 (status restricted or off on this replica) ask again only this often. */
  const MESH_REFUSED_POLL_MS = 30000;
  const MESH_TIMEOUT_MS = 2500;
  const GROUP_WINDOW_MS = 3 * 60 * 1000; // same sender + replica within this → compact follow-up line
  const NAME_KEY = "meshchat.name";
  const TRANSPORT_KEY = "meshchat.transport";
  /** What the transport picker offers: "Auto" or one of SignalRLite.TransportType. */
  const TRANSPORT_CHOICES = ["Auto", ...SignalRLite.TRANSPORT_ORDER];
  const TRANSPORT_NAMES = { WebSockets: "WebSockets", ServerSentEvents: "Server-Sent Events", LongPolling: "long polling" };
  const SVG_NS = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);
  const ui = {
    replicaLabel: $("replica-label"),
    clusterLabel: $("cluster-label"),
    badge: $("status-badge"),
    badgeText: $("status-text"),
    banner: $("conn-banner"),
    bannerText: $("conn-banner-text"),
    bannerAlt: $("conn-banner-alt"),
    reconnectBtn: $("reconnect-btn"),
    transportSelect: $("transport-select"),
    transportUsed: $("transport-used"),
    list: $("messages"),
    empty: $("empty-state"),
    jump: $("jump-btn"),
    composer: $("composer"),
    nameInput: $("name-input"),
    messageInput: $("message-input"),
    sendBtn: $("send-btn"),
    composerError: $("composer-error"),
    meshMeta: $("mesh-meta"),
    meshUnavailable: $("mesh-unavailable"),
    meshBody: $("mesh-body"),
    meshGraph: $("mesh-graph"),
    meshNodes: $("mesh-nodes"),
    presence: $("presence"),
    presenceLabel: $("presence-label"),
    presenceList: $("presence-list"),
    presenceMore: $("presence-more"),
    presenceNote: $("presence-note"),
  };

  /** Id of the replica serving this page, once its /api/mesh has answered. */
  let selfId = null;
  /** Where the hub connections go: this page's replica, or another one while it is down. */
  const failover = new MeshFailover({ homeOrigin: location.origin });
  /** Peers that were up at the last good /api/mesh answer: offered as a way out when this replica is gone. */
  let fallbackPeers = [];

  // ---- small helpers ----------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const k in attrs) node.setAttribute(k, String(attrs[k]));
    return node;
  }

  /** Anything a server sends us, as display text. */
  function asText(value) {
    if (value === undefined || value === null) return "";
    if (typeof value === "string") return value;
    try {
      return JSON.stringify(value);
    } catch (_) {
      return String(value);
    }
  }

  function hashHue(text) {
    let h = 2166136261;
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 16777619);
    }
    return (h >>> 0) % 360;
  }

  // Distinct, readable hues for replica badges; a replica keeps its colour on every page.
  const REPLICA_HUES = [222, 158, 28, 280, 340, 190, 48, 100];
  function replicaHue(id) {
    return REPLICA_HUES[hashHue(String(id)) % REPLICA_HUES.length];
  }

  // toLocale*String builds a formatter per call (slow under a flood of messages); these are built once.
  const clockFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

  function formatClock(date) {
    return clockFormat.format(date);
  }

  function formatDuration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
    const h = Math.floor(m / 60);
    if (h < 24) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
    return `${Math.floor(h / 24)}d ${h % 24}h`;
  }

  function formatRtt(micros) {
    if (typeof micros !== "number" || !isFinite(micros) || micros <= 0) return "—";
    if (micros < 1000) return `${Math.round(micros)} µs`;
    if (micros < 1e6) return `${(micros / 1000).toFixed(micros < 10000 ? 2 : 1)} ms`;
    return `${(micros / 1e6).toFixed(2)} s`;
  }

  function formatBytes(n) {
    if (typeof n !== "number" || !isFinite(n)) return "0 B";
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  }

  function formatCount(n) {
    return typeof n === "number" && isFinite(n) ? n.toLocaleString() : "0";
  }

  /** http://<host:port>/ for a peer, with a wildcard listen address replaced by this page's host. */
  function peerHref(addr) {
    if (typeof addr !== "string" || addr.length === 0 || addr.length > 300) return null;
    let hostPort = addr;
    const wildcard = /^(0\.0\.0\.0|\[::\]|\*):(\d+)$/.exec(addr);
    if (wildcard) hostPort = `${location.hostname}:${wildcard[2]}`;
    const scheme = location.protocol === "https:" ? "https:" : "http:";
    try {
      const url = new URL(`${scheme}//${hostPort}/`);
      if (url.protocol !== scheme || url.pathname !== "/" || url.username || url.password) return null;
      return url.href;
    } catch (_) {
      return null;
    }
  }

  const storage = {
    get(key) {
      try {
        return window.localStorage.getItem(key);
      } catch (_) {
        return null;
      }
    },
    set(key, value) {
      try {
        window.localStorage.setItem(key, value);
      } catch (_) {
        /* private mode or storage full: the name just isn't remembered */
      }
    },
  };

  // ---- name ---------------------------------------------------------------------------------------

  (function initName() {
    let name = storage.get(NAME_KEY);
    if (!name) {
      name = `guest-${Math.floor(1000 + Math.random() * 9000)}`;
      storage.set(NAME_KEY, name);
    }
    ui.nameInput.value = name;
    ui.nameInput.addEventListener("input", () => {
      const v = ui.nameInput.value.trim();
      if (v) storage.set(NAME_KEY, v);
      hideComposerError();
    });
    ui.nameInput.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        ui.messageInput.focus();
      }
    });
  })();

  // ---- transport ----------------------------------------------------------------------------------
  //
  // Both hub connections use the transport picked in the top bar: "Auto" (WebSockets, then Server-Sent
  // Events, then long polling) or one forced transport. ?transport=<name> in the address wins over the
  // choice remembered in localStorage; picking another one saves it, keeps the address in step and
  // reconnects both hubs with it.

  /** `value` as one of TRANSPORT_CHOICES (case-insensitive), or null. */
  function transportChoice(value) {
    if (typeof value !== "string") return null;
    const v = value.trim().toLowerCase();
    return TRANSPORT_CHOICES.find((c) => c.toLowerCase() === v) || null;
  }

  function transportFromUrl() {
    try {
      return transportChoice(new URL(location.href).searchParams.get("transport"));
    } catch (_) {
      return null;
    }
  }

  const initialTransport = transportFromUrl() || transportChoice(storage.get(TRANSPORT_KEY)) || "Auto";
  ui.transportSelect.value = initialTransport;

  /** Saves `choice` and, when the address names a transport, puts the new one there (a reload keeps it). */
  function rememberTransport(choice) {
    storage.set(TRANSPORT_KEY, choice);
    try {
      const url = new URL(location.href);
      if (url.searchParams.has("transport")) {
        url.searchParams.set("transport", choice);
        history.replaceState(history.state, "", url.href);
      }
    } catch (_) {
      /* the address just keeps its old value */
    }
  }

  /** "via WebSockets" while connected; the title says why earlier transports were passed over. */
  function renderTransportUsed(node, connection) {
    const used = connection.state === "connected" ? connection.transport : null;
    node.hidden = !used;
    node.dataset.transport = used || "";
    node.textContent = used ? `via ${TRANSPORT_NAMES[used] || used}` : "";
    const problems = used ? connection.transportProblems || [] : [];
    node.title = problems.length ? `Fell back to ${TRANSPORT_NAMES[used] || used}: ${problems.join("; ")}` : "";
  }

  /**
   * The life of one hub connection on this page (the chat's and the rooms' alike): start it (it keeps
   * retrying until it connects), the Reconnect / Retry now button, re-rendering the countdown while
   * reconnecting, closing when the page is left and starting again when it comes back from the
   * back/forward cache. `restart(transport)` reconnects with another transport choice; `restarting` is
   * true while that closes the old connection, so the state change is not reported as a lost connection.
   */
  function superviseConnection(connection, button, render) {
    const supervisor = {
      restarting: false,
      start() {
        connection.start().catch(() => {
          /* the status, the banner and the Reconnect button already tell the story */
        });
      },
      restart(transport) {
        connection.options.transport = transport;
        supervisor.restarting = true;
        try {
          connection.stop();
        } finally {
          supervisor.restarting = false;
        }
        supervisor.start();
      },
    };
    button.addEventListener("click", () => {
      if (connection.state === "reconnecting") connection.retryNow();
      else if (connection.state === "disconnected") supervisor.start();
    });
    // The reconnect countdown.
    setInterval(() => {
      if (connection.state === "reconnecting") render();
    }, 500);
    window.addEventListener("pagehide", () => {
      connection.stop();
    });
    window.addEventListener("pageshow", (e) => {
      if (e.persisted && connection.state === "disconnected") supervisor.start();
    });
    return supervisor;
  }

  /** An error's text as a sentence fragment: no trailing full stop, so it can be embedded. */
  function reasonOf(err, fallback) {
    const text = err && err.message ? String(err.message) : fallback;
    return text.replace(/[.\s]+$/, "");
  }

  function currentName() {
    return ui.nameInput.value.trim();
  }

  // ---- message list -------------------------------------------------------------------------------

  let unseen = 0;
  // Whether the view follows new messages: true at the bottom, false while the user reads history.
  let pinned = true;

  function isNearBottom() {
    const l = ui.list;
    return l.scrollHeight - l.scrollTop - l.clientHeight < 80;
  }

  function scrollToBottom() {
    ui.list.scrollTop = ui.list.scrollHeight;
    pinned = true;
    unseen = 0;
    ui.jump.hidden = true;
  }

  // Items wait here until the next frame and are built then, all at once: a flood of messages (a benchmark
  // hitting the same hub, say) costs one layout per frame, and what the cap would drop is never built.
  const queue = []; // {build: () => HTMLLIElement, force: boolean, isMsg: boolean}
  let flushScheduled = false;
  let lastBatch = 0;

  function enqueue(build, opts) {
    queue.push({ build, force: !!(opts && opts.forceScroll), isMsg: !!(opts && opts.isMsg) });
    // Only the newest MAX_ITEMS can ever be shown; trim in bulk, not one shift per message.
    if (queue.length >= 2 * MAX_ITEMS) queue.splice(0, queue.length - MAX_ITEMS);
    if (flushScheduled) return;
    flushScheduled = true;
    // Background tabs get no animation frames; under a flood, four renders a second are plenty.
    if (document.hidden || lastBatch >= 100) setTimeout(flush, 250);
    else requestAnimationFrame(flush);
  }

  function flush() {
    flushScheduled = false;
    if (queue.length === 0) return;
    const batch = queue.splice(0);
    lastBatch = batch.length;
    const stick = pinned || batch.some((b) => b.force) || isNearBottom();
    let newMessages = 0;
    const first = Math.max(0, batch.length - MAX_ITEMS);
    for (let i = 0; i < batch.length; i++) {
      if (batch[i].isMsg) newMessages++;
      if (i >= first) ui.list.appendChild(batch[i].build());
    }
    const excess = ui.list.children.length - MAX_ITEMS;
    for (let i = 0; i < excess; i++) ui.list.removeChild(ui.list.firstElementChild);
    // A follow-up line that lost its group head shows its own header again.
    if (excess > 0 && ui.list.firstElementChild) ui.list.firstElementChild.classList.remove("cont");
    ui.empty.hidden = true;
    if (stick) {
      scrollToBottom();
    } else if (newMessages > 0) {
      unseen += newMessages;
      ui.jump.textContent = unseen === 1 ? "1 new message ↓" : `${unseen} new messages ↓`;
      ui.jump.hidden = false;
    }
  }

  ui.list.addEventListener("scroll", () => {
    pinned = isNearBottom();
    if (pinned && !ui.jump.hidden) {
      unseen = 0;
      ui.jump.hidden = true;
    }
  });
  ui.jump.addEventListener("click", scrollToBottom);
  // The banner coming and going (or a window resize) changes the list's height: stay at the bottom.
  if (typeof ResizeObserver === "function") {
    new ResizeObserver(() => {
      if (pinned) ui.list.scrollTop = ui.list.scrollHeight;
    }).observe(ui.list);
  }

  function replicaBadge(replica) {
    const badge = el("span", "replica-badge");
    badge.style.setProperty("--hue", String(replicaHue(replica)));
    badge.appendChild(el("span", "replica-dot"));
    badge.appendChild(el("span", "replica-via", "via"));
    badge.appendChild(el("span", "replica-id", replica));
    badge.title = replica === selfId ? `Sent through replica ${replica} (this one)` : `Sent through replica ${replica}`;
    return badge;
  }

  function buildMessage(user, text, replica, when) {
    const li = el("li", "msg");
    const avatar = el("span", "avatar", (user.trim()[0] || "?").toUpperCase());
    avatar.style.setProperty("--hue", String(hashHue(user)));
    avatar.setAttribute("aria-hidden", "true");

    const body = el("div", "msg-body");
    const head = el("div", "msg-head");
    head.appendChild(el("span", "msg-user", user || "(no name)"));
    if (replica) head.appendChild(replicaBadge(replica));
    const time = el("time", "msg-time", formatClock(when));
    time.dateTime = when.toISOString();
    time.title = fullFormat.format(when);
    head.appendChild(time);

    body.appendChild(head);
    body.appendChild(el("div", "msg-text", text));
    li.appendChild(avatar);
    li.appendChild(body);
    return li;
  }

  function addMessage(user, text, replica) {
    const now = new Date();
    const mine = user === currentName();
    enqueue(
      () => {
        const li = buildMessage(user, text, replica, now);
        li.dataset.user = user;
        li.dataset.replica = replica || "";
        li.dataset.at = String(now.getTime());
        if (mine) li.classList.add("mine");
        const prev = ui.list.lastElementChild;
        if (
          prev &&
          prev.classList.contains("msg") &&
          !prev.classList.contains("failed") &&
          prev.dataset.user === user &&
          prev.dataset.replica === (replica || "") &&
          now.getTime() - Number(prev.dataset.at) < GROUP_WINDOW_MS
        ) {
          li.classList.add("cont");
        }
        return li;
      },
      { forceScroll: mine, isMsg: true }
    );
  }

  function addSystem(text, kind) {
    const now = new Date();
    enqueue(() => {
      const li = el("li", `sys${kind ? ` sys-${kind}` : ""}`);
      li.appendChild(el("span", "sys-text", text));
      li.appendChild(el("time", "sys-time", formatClock(now)));
      return li;
    });
  }

  /** A message the hub refused (or that never reached it): shown inline with the reason and a retry. */
  function addFailed(user, text, reason) {
    const now = new Date();
    enqueue(
      () => {
        const li = buildMessage(user, text, null, now);
        li.classList.add("failed");
        li.dataset.user = user;
        const err = el("div", "msg-error");
        err.appendChild(el("span", "msg-error-text", `Not sent: ${reason}`));
        const retry = el("button", "link-btn", "Retry");
        retry.type = "button";
        retry.addEventListener("click", () => {
          if (conn.state !== "connected") {
            showComposerError("Not connected: wait for the connection to come back, then retry.");
            return;
          }
          li.remove();
          sendMessage(user, text);
        });
        err.appendChild(retry);
        li.querySelector(".msg-body").appendChild(err);
        return li;
      },
      { forceScroll: true }
    );
  }

  // ---- connection ---------------------------------------------------------------------------------

  const conn = new SignalRLite.HubConnection("/chatHub", {
    retryStart: true,
    transport: initialTransport,
    reconnectTarget: failover.reconnectTarget("/chatHub"),
    logger: (level, text) => {
      if (level === "error" || level === "warn") console.warn(`[signalr] ${text}`);
    },
  });

  conn.on("ReceiveMessage", (args, message) => {
    const replica = message.headers && typeof message.headers.replica === "string" && message.headers.replica ? message.headers.replica : null;
    addMessage(asText(args[0]), asText(args[1]), replica);
  });

  let everConnected = false;
  /** When the page first showed that it is connected through another replica (for the tests), or null. */
  let failoverShownAt = null;

  /** Id of the replica a connection is on (from its URL and the mesh view), or null. */
  function replicaOf(connection) {
    try {
      return failover.idOf(new URL(connection.baseUrl).origin);
    } catch (_) {
      return null;
    }
  }

  // System lines in the list follow the state changes; the banner and badge show the details.
  conn.onstatechange = (state, prev) => {
    if (state !== prev) {
      if (state === "connected") {
        const replica = replicaOf(conn);
        const away = replica && selfId && replica !== selfId;
        const where = `${replica ? ` to replica ${replica}` : ""}${conn.transport ? ` via ${TRANSPORT_NAMES[conn.transport] || conn.transport}` : ""}`;
        if (away) addSystem(`Replica ${selfId} is down: connected to replica ${replica} instead. This page returns to ${selfId} once it is back.`, "warn");
        else addSystem(everConnected ? `Reconnected${where}.` : `Connected${where}.`, "ok");
        everConnected = true;
        if (away && failoverShownAt === null) failoverShownAt = Date.now();
        joinPresence();
      } else if (state === "reconnecting" && prev === "connected") {
        addSystem(`Connection lost: ${reasonOf(conn.lastError, "unknown reason")}. Reconnecting…`, "warn");
      } else if (state === "disconnected" && prev === "connected" && !chat.restarting) {
        addSystem(`Disconnected: ${reasonOf(conn.lastError, "closed")}.`, "error");
      }
    }
    renderConnection();
  };

  const chat = superviseConnection(conn, ui.reconnectBtn, renderConnection);

  // Back home (or moved to another replica) without dropping the connection: the new one must join again.
  conn.onswitched = () => {
    const replica = replicaOf(conn);
    addSystem(replica === selfId ? `Replica ${selfId} is back: connected to it again.` : `Moved to replica ${replica || "?"}.`, "ok");
    joinPresence();
    renderConnection();
  };
  failover.track(conn, "/chatHub");
  failover.onchange = () => {
    renderConnection();
    renderRoomsConnection();
  };

  function renderConnection() {
    const state = conn.state;
    ui.badge.dataset.state = state;
    let badgeText;
    let bannerText = null;
    let button = null;
    const via = replicaOf(conn);
    switch (state) {
      case "connected":
        badgeText = "Connected";
        if (selfId && via && via !== selfId) {
          bannerText = failover.homeAlive
            ? `Connected through replica ${via}: replica ${selfId} is back, returning to it…`
            : `Replica ${selfId} is down: connected through replica ${via}. This page returns to ${selfId} once it is back.`;
        }
        break;
      case "connecting":
        badgeText = "Connecting";
        break;
      case "reconnecting": {
        badgeText = "Reconnecting";
        const reason = reasonOf(conn.lastError, "Connection lost");
        const waitMs = conn.nextRetryAt ? conn.nextRetryAt - Date.now() : 0;
        bannerText = waitMs > 500 ? `${reason}. Retrying in ${Math.ceil(waitMs / 1000)} s…` : `${reason}. Reconnecting…`;
        if (waitMs > 500) button = "Retry now";
        break;
      }
      default:
        badgeText = "Disconnected";
        bannerText = `${reasonOf(conn.lastError, "Disconnected from the server")}.`;
        button = "Reconnect";
    }
    ui.badgeText.textContent = badgeText;
    renderTransportUsed(ui.transportUsed, conn);

    if (bannerText) {
      ui.banner.hidden = false;
      ui.banner.dataset.state = state === "connected" ? "failover" : state;
      ui.bannerText.textContent = bannerText;
      ui.reconnectBtn.hidden = !button;
      if (button) ui.reconnectBtn.textContent = button;
    } else {
      ui.banner.hidden = true;
    }
    renderFallbackLinks(state === "disconnected" || (state === "reconnecting" && conn.reconnectAttempts >= 2));

    const connected = state === "connected";
    ui.sendBtn.disabled = !connected;
    // The message box stays usable while reconnecting so a draft isn't lost; only sending waits.
    ui.messageInput.disabled = false;
    ui.messageInput.placeholder = connected ? "Write a message…" : state === "disconnected" ? "Disconnected: press Reconnect to send" : "Waiting for the connection…";
    renderReplicaLabel();
    renderPresence();
  }

  /** "Or open replica b · c": other replicas' pages, once this one looks unreachable. */
  function renderFallbackLinks(show) {
    const peers = show ? fallbackPeers.slice(0, 4) : [];
    const key = JSON.stringify(peers);
    if (ui.bannerAlt.dataset.key === key) return;
    ui.bannerAlt.dataset.key = key;
    ui.bannerAlt.replaceChildren();
    ui.bannerAlt.hidden = peers.length === 0;
    if (peers.length === 0) return;
    ui.bannerAlt.append("Or open ");
    peers.forEach((p, i) => {
      if (i > 0) ui.bannerAlt.append(" · ");
      const a = el("a", null, `replica ${p.id}`);
      a.href = p.href;
      ui.bannerAlt.append(a);
    });
  }

  function renderReplicaLabel() {
    const id = selfId;
    const via = replicaOf(conn);
    let text;
    switch (conn.state) {
      case "connected":
        if (id && via && via !== id) {
          text = failover.homeAlive ? `Connected via replica ${via} — returning to ${id}…` : `Connected via replica ${via} — ${id} is down`;
        } else {
          text = id ? `Connected to replica ${id}` : "Connected";
        }
        break;
      case "disconnected":
        text = id ? `Disconnected from replica ${id}` : "Disconnected";
        break;
      case "reconnecting":
        text = id ? `Reconnecting to replica ${id}…` : "Reconnecting…";
        break;
      default:
        text = id ? `Connecting to replica ${id}…` : "Connecting…";
    }
    ui.replicaLabel.textContent = text;
  }


  // ---- composer -----------------------------------------------------------------------------------

  function showComposerError(text) {
    ui.composerError.textContent = text;
    ui.composerError.hidden = false;
  }

  function hideComposerError() {
    ui.composerError.hidden = true;
  }

  function sendMessage(user, text) {
    conn.invoke("SendMessage", user, text).then(
      () => {},
      (err) => addFailed(user, text, (err && err.message) || String(err))
    );
  }

  ui.composer.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = ui.messageInput.value.trim();
    if (!text) return;
    const user = currentName();
    if (!user) {
      showComposerError("Enter a name first.");
      ui.nameInput.focus();
      return;
    }
    if (conn.state !== "connected") return;
    hideComposerError();
    ui.messageInput.value = "";
    ui.messageInput.focus();
    sendMessage(user, text);
  });

  ui.messageInput.addEventListener("input", hideComposerError);

  // ---- presence -----------------------------------------------------------------------------------
  //
  // The chat connection joins the hub's presence under the name in the Name field (Join(name)); the hub then
  // sends Presence(names, total) whenever who is online on the whole mesh changes, and at once on joining. A
  // replica without Join (an older one) leaves the list hidden. After a reconnect or a move to another replica
  // the new connection joins again; the name shows once however many connections have it.

  const PRESENCE_SHOWN = 60;
  let presenceNames = null; // the last list received, or null
  let presenceTotal = 0;
  let presenceSupported = true;
  let presenceError = "";
  let joinedAs = null; // the name the current connection joined under
  let joinTimer = null;

  function joinPresence() {
    joinedAs = null;
    sendJoin();
  }

  function sendJoin() {
    clearTimeout(joinTimer);
    joinTimer = null;
    if (!presenceSupported || conn.state !== "connected") return;
    const name = currentName();
    if (!name || name === joinedAs) return;
    const connectionId = conn.connectionId;
    conn.invoke("Join", name).then(
      () => {
        if (conn.connectionId !== connectionId) return;
        joinedAs = name;
        presenceError = "";
        renderPresence();
      },
      (err) => {
        if (conn.connectionId !== connectionId) return;
        const reason = hubReason(err);
        if (/Method does not exist/.test(reason)) presenceSupported = false;
        else if (conn.state === "connected") presenceError = `Not listed: ${reason}.`;
        renderPresence();
      }
    );
  }

  conn.on("Presence", (args) => {
    if (!Array.isArray(args[0])) return;
    presenceNames = args[0].filter((n) => typeof n === "string").slice(0, 1000);
    presenceTotal = typeof args[1] === "number" && isFinite(args[1]) ? Math.max(args[1], presenceNames.length) : presenceNames.length;
    renderPresence();
  });

  ui.nameInput.addEventListener("input", () => {
    clearTimeout(joinTimer);
    joinTimer = setTimeout(sendJoin, 600);
  });
  ui.nameInput.addEventListener("change", sendJoin);

  function renderPresence() {
    const show = presenceSupported && presenceNames !== null;
    ui.presence.hidden = !show;
    if (!show) return;
    const stale = conn.state !== "connected";
    ui.presence.classList.toggle("stale", stale);
    ui.presence.title = stale ? "Not connected: the list may be out of date" : "Who is online on the whole mesh";
    ui.presenceLabel.textContent = `Online (${presenceTotal})`;
    const me = joinedAs;
    const names = presenceNames.slice().sort((a, b) => a.localeCompare(b, undefined, { sensitivity: "base" }) || (a < b ? -1 : a > b ? 1 : 0));
    const key = JSON.stringify([names, me]);
    if (ui.presenceList.dataset.key !== key) {
      ui.presenceList.dataset.key = key;
      ui.presenceList.replaceChildren();
      for (const name of names.slice(0, PRESENCE_SHOWN)) {
        const li = el("li", `presence-name${name === me ? " me" : ""}`, name);
        li.style.setProperty("--hue", String(hashHue(name)));
        if (name === me) li.title = "you";
        ui.presenceList.appendChild(li);
      }
    }
    const more = presenceTotal - Math.min(names.length, PRESENCE_SHOWN);
    ui.presenceMore.hidden = more <= 0;
    ui.presenceMore.textContent = more > 0 ? `+${more} more` : "";
    ui.presenceNote.hidden = !presenceError;
    ui.presenceNote.textContent = presenceError;
  }

  // ---- mesh panel ---------------------------------------------------------------------------------

  const STATE_ORDER = ["up", "connecting", "down", "left"];
  const nodeItems = new Map(); // id → {li, refs}
  let lastGraphKey = "";
  let meshLoadedOnce = false;

  function peerList(data) {
    return Array.isArray(data.peers) ? data.peers.filter((p) => p && typeof p.id === "string" && p.id) : [];
  }

  function normState(s) {
    return STATE_ORDER.includes(s) ? s : "unknown";
  }

  /** State of the link x–y, combining self's view with each live peer's own `links`. */
  function edgeState(x, y, byId) {
    const views = [];
    const view = (a, b) => {
      if (a.self) {
        views.push(normState(byId.get(b.id).state));
      } else if (a.state === "up" && a.links && typeof a.links === "object" && Object.prototype.hasOwnProperty.call(a.links, b.id)) {
        // A peer that is not up has a stale view of its own links: ignore it.
        views.push(normState(a.links[b.id]));
      }
    };
    view(x, y);
    view(y, x);
    if (views.length === 0) return "unknown";
    if (views.every((v) => v === "up")) return "up";
    for (const s of ["down", "connecting", "left"]) if (views.includes(s)) return s;
    return "unknown";
  }

  function renderGraph(nodes, byId) {
    const n = nodes.length;
    const W = 240;
    const R = n <= 1 ? 0 : n === 2 ? 62 : 72;
    const r = n > 8 ? 12 : 16;
    const raw = nodes.map((_, i) => {
      const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
      return { x: W / 2 + R * Math.cos(a), y: R * Math.sin(a) };
    });
    // The viewBox is as tall as the drawing (a triangle needs less height than a square).
    const pad = r + 8;
    const minY = Math.min(...raw.map((p) => p.y));
    const maxY = Math.max(...raw.map((p) => p.y));
    const H = Math.round(maxY - minY + 2 * pad);
    const pos = raw.map((p) => ({ x: p.x, y: p.y - minY + pad }));
    ui.meshGraph.setAttribute("viewBox", `0 0 ${W} ${H}`);

    const edges = [];
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) edges.push({ i, j, state: edgeState(nodes[i], nodes[j], byId) });

    // This replica knows whether its own links are encrypted (not those between two peers).
    const secured = (e) => (nodes[e.i].self && nodes[e.j].encrypted === true) || (nodes[e.j].self && nodes[e.i].encrypted === true);
    const key = JSON.stringify([nodes.map((d) => [d.id, d.state]), edges.map((e) => [e.state, e.state === "up" && secured(e)])]);
    if (key === lastGraphKey) return;
    lastGraphKey = key;

    const g = ui.meshGraph;
    while (g.firstChild) g.removeChild(g.firstChild);

    const edgeLayer = svg("g", { class: "edges" });
    for (const e of edges) {
      const a = pos[e.i];
      const b = pos[e.j];
      const dx = b.x - a.x;
      const dy = b.y - a.y;
      const len = Math.hypot(dx, dy) || 1;
      const ux = dx / len;
      const uy = dy / len;
      const line = svg("line", {
        x1: (a.x + ux * (r + 3)).toFixed(1),
        y1: (a.y + uy * (r + 3)).toFixed(1),
        x2: (b.x - ux * (r + 3)).toFixed(1),
        y2: (b.y - uy * (r + 3)).toFixed(1),
        class: `edge edge-${e.state}`,
      });
      const title = svg("title", {});
      const lock = e.state === "up" && secured(e) ? ", encrypted (ChaCha20-Poly1305)" : "";
      title.textContent = `${nodes[e.i].id} ↔ ${nodes[e.j].id}: ${e.state}${lock}`;
      line.appendChild(title);
      edgeLayer.appendChild(line);
    }
    g.appendChild(edgeLayer);

    const nodeLayer = svg("g", { class: "gnodes" });
    nodes.forEach((d, i) => {
      const p = pos[i];
      const group = svg("g", { class: `gnode gnode-${normState(d.state)}${d.self ? " gnode-self" : ""}`, transform: `translate(${p.x.toFixed(1)} ${p.y.toFixed(1)})` });
      if (d.self) group.appendChild(svg("circle", { r: r + 5, class: "gnode-halo" }));
      group.appendChild(svg("circle", { r, class: "gnode-circle" }));
      const label = svg("text", { class: "gnode-label", "text-anchor": "middle", dy: "0.35em" });
      label.textContent = d.id.length <= 3 ? d.id : `${d.id.slice(0, 2)}…`;
      group.appendChild(label);
      const title = svg("title", {});
      title.textContent = `${d.id}${d.self ? (d.id === selfId ? " (this replica)" : " (connected via)") : ""}: ${d.state}`;
      group.appendChild(title);
      nodeLayer.appendChild(group);
    });
    g.appendChild(nodeLayer);
  }

  function nodeItem(id) {
    let item = nodeItems.get(id);
    if (item) return item;
    const li = el("li", "node");
    const dot = el("span", "node-dot");
    dot.setAttribute("aria-hidden", "true");
    const main = el("div", "node-main");
    const line1 = el("div", "node-line");
    const name = el("span", "node-id", id);
    const tag = el("span", "node-tag", "this replica");
    const state = el("span", "node-state");
    const lock = el("span", "node-lock");
    lock.title = "encrypted (ChaCha20-Poly1305)";
    lock.setAttribute("role", "img");
    lock.setAttribute("aria-label", "encrypted");
    lock.appendChild(lockIcon());
    lock.hidden = true;
    const rtt = el("span", "node-rtt");
    line1.append(name, tag, state, lock, rtt);
    const line2 = el("div", "node-line node-line2");
    const link = el("a", "node-link");
    const since = el("span", "node-since");
    line2.append(link, since);
    const stats = el("div", "node-stats");
    main.append(line1, line2, stats);
    li.append(dot, main);
    item = { li, refs: { tag, state, lock, since, link, rtt, stats } };
    nodeItems.set(id, item);
    return item;
  }

  /** A small padlock (the link to this peer is encrypted). */
  function lockIcon() {
    const icon = svg("svg", { viewBox: "0 0 12 12", width: 11, height: 11, "aria-hidden": "true", focusable: "false" });
    icon.appendChild(svg("path", { d: "M3.75 5.5V4a2.25 2.25 0 0 1 4.5 0v1.5", fill: "none", stroke: "currentColor", "stroke-width": 1.5 }));
    icon.appendChild(svg("rect", { x: 2, y: 5.25, width: 8, height: 6, rx: 1.25, fill: "currentColor" }));
    return icon;
  }

  function stat(label, value, title, warn) {
    const s = el("span", `stat${warn ? " stat-warn" : ""}`);
    s.title = title;
    s.appendChild(el("span", "stat-label", label));
    s.appendChild(el("span", "stat-value", value));
    return s;
  }

  function renderNodes(nodes, now) {
    const seen = new Set();
    nodes.forEach((d, index) => {
      seen.add(d.id);
      const { li, refs } = nodeItem(d.id);
      const state = normState(d.state);
      li.dataset.state = state;
      li.classList.toggle("node-self", !!d.self);
      // The view may come from another replica while this page's own is down.
      refs.tag.hidden = !(d.self || d.id === selfId);
      refs.tag.textContent = d.id === selfId ? "this replica" : "connected via";
      refs.state.textContent = d.state ? String(d.state) : "unknown";
      // Only a live link is encrypted or not; the API says false for a link that is down.
      refs.lock.hidden = d.self || state !== "up" || d.encrypted !== true;
      refs.since.textContent = typeof d.since === "number" && d.since > 0 ? `${d.self ? "up" : String(d.state)} for ${formatDuration(now - d.since)}` : "";
      refs.since.title = typeof d.since === "number" && d.since > 0 ? `since ${new Date(d.since).toLocaleString()}` : "";

      if (d.self) {
        refs.link.textContent = d.id === selfId ? "serving this page" : "this page's connections go through it";
        refs.link.removeAttribute("href");
        refs.link.removeAttribute("title");
        refs.rtt.textContent = "";
      } else {
        const href = peerHref(d.http);
        if (href) {
          refs.link.href = href;
          refs.link.textContent = `${new URL(href).host} ↗`;
          refs.link.title = `Open replica ${d.id}'s page`;
        } else {
          refs.link.removeAttribute("href");
          refs.link.removeAttribute("title");
          refs.link.textContent = d.http ? String(d.http) : "no address";
        }
        refs.rtt.textContent = state === "up" ? `RTT ${formatRtt(d.rttMicros)}` : "";
        refs.rtt.title = "Round-trip time of the mesh heartbeat";
      }

      // Counters are rebuilt only when they change, so nothing flickers under the pointer.
      const statsKey = d.self
        ? JSON.stringify([d.refusedHandshakes])
        : JSON.stringify([
            d.dataSent, d.dataReceived, d.relayed, d.duplicatesDropped, d.gaps, d.unexpectedOrigin, d.replayBufferedMessages, d.replayBufferedBytes,
          ]);
      if (refs.stats.dataset.key !== statsKey) {
        refs.stats.dataset.key = statsKey;
        refs.stats.replaceChildren();
        const refused = d.self && typeof d.refusedHandshakes === "number" && d.refusedHandshakes > 0;
        if (refused) {
          refs.stats.append(
            stat(
              "refused handshakes",
              formatCount(d.refusedHandshakes),
              "Mesh connections this replica closed before authenticating them: too many were in handshake at once, " +
                "or their address had failed to authenticate too often (wrong secret)",
              true
            )
          );
        }
        if (!d.self) {
          refs.stats.append(
            stat("sent", formatCount(d.dataSent), "Messages sent to this peer"),
            stat("recv", formatCount(d.dataReceived), "Messages received from this peer"),
            stat("relayed", formatCount(d.relayed), "Messages relayed on behalf of other replicas"),
            stat("dups", formatCount(d.duplicatesDropped), "Duplicate messages dropped")
          );
          // Trouble indicators only take space when there is trouble.
          if (d.gaps > 0) refs.stats.append(stat("gaps", formatCount(d.gaps), "Messages known to be lost (evicted before delivery)", true));
          if (d.unexpectedOrigin > 0) {
            const why = "Messages for other replicas this peer was never asked to relay: dropped (a misbehaving peer)";
            refs.stats.append(stat("unexpected", formatCount(d.unexpectedOrigin), why, true));
          }
          if (d.replayBufferedMessages > 0) {
            refs.stats.append(stat("buffered", `${formatCount(d.replayBufferedMessages)} · ${formatBytes(d.replayBufferedBytes)}`, "Messages kept for replay until this peer catches up", true));
          }
        }
        refs.stats.hidden = !!d.self && !refused;
      }

      if (ui.meshNodes.children[index] !== li) ui.meshNodes.insertBefore(li, ui.meshNodes.children[index] || null);
    });
    for (const [id, item] of nodeItems) {
      if (!seen.has(id)) {
        item.li.remove();
        nodeItems.delete(id);
      }
    }
  }

  /** Renders an /api/mesh answer; `fromHome`: it came from this page's replica (else from the one the page is
   * connected through while its own is down). */
  function renderMesh(data, fromHome) {
    const now = Date.now();
    if (fromHome && typeof data.node === "string" && data.node && data.node !== selfId) {
      selfId = data.node;
      document.title = `Mesh Chat · replica ${selfId}`;
      renderReplicaLabel();
    }
    if (typeof data.cluster === "string" && data.cluster) {
      ui.clusterLabel.textContent = `cluster ${data.cluster}`;
      ui.clusterLabel.hidden = false;
    }

    const peers = peerList(data).slice().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    // The centre of the view is the replica that gave it: this page's own, or (while that one is down) the one the
    // page is connected through; the page's own replica then shows among the peers with the state the other sees.
    const viewer = fromHome || typeof data.node !== "string" || !data.node ? selfId || "?" : data.node;
    const self = {
      id: viewer,
      self: true,
      state: "up",
      // epoch is microseconds at boot.
      since: typeof data.epoch === "number" && data.epoch > 0 ? Math.floor(data.epoch / 1000) : null,
      refusedHandshakes: data.refusedHandshakes,
    };
    const nodes = [self, ...peers.filter((p) => p.id !== self.id)];
    const byId = new Map(nodes.map((d) => [d.id, d]));

    fallbackPeers = peers
      .filter((p) => p.state === "up" && p.id !== self.id && p.id !== selfId)
      .map((p) => ({ id: p.id, href: peerHref(p.http) }))
      .filter((p) => p.href);

    const up = peers.filter((p) => p.state === "up").length;
    ui.meshMeta.textContent = peers.length === 0 ? "no peers configured" : `${up} of ${peers.length} peer${peers.length === 1 ? "" : "s"} up`;
    ui.meshMeta.dataset.health = peers.length === 0 || up === peers.length ? "ok" : up === 0 ? "bad" : "partial";

    renderGraph(nodes, byId);
    renderNodes(nodes, now);
  }

  const MESH_UNAVAILABLE_TEXT = ui.meshUnavailable.textContent;

  function setMeshAvailable(ok) {
    ui.meshUnavailable.textContent = MESH_UNAVAILABLE_TEXT;
    ui.meshUnavailable.hidden = ok;
    ui.meshBody.classList.toggle("stale", !ok);
    ui.meshBody.hidden = !ok && !meshLoadedOnce;
    if (!ok) {
      ui.meshMeta.textContent = "";
    }
  }

  /** The replica doesn't show its mesh status to this page (403: only to local clients; 404: turned off). */
  function setMeshRefused(status) {
    ui.meshUnavailable.textContent =
      status === 403
        ? "Mesh status is only shown to browsers on the replica's own machine."
        : "Mesh status is turned off on this replica.";
    ui.meshUnavailable.hidden = false;
    ui.meshBody.hidden = true;
    ui.meshMeta.textContent = "";
  }

  /** The mesh view as the page saw it last: {node, from, at, peers: {id: state}} (for the tests and the console). */
  let lastView = null;

  async function pollMesh() {
    const started = Date.now();
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), MESH_TIMEOUT_MS);
    let next = MESH_POLL_MS;
    // While this page's replica is down, the view comes from the replica the page is connected through.
    const origin = failover.away ? failover.target : location.origin;
    try {
      const response = await fetch(origin === location.origin ? "/api/mesh" : `${origin}/api/mesh`, { cache: "no-store", signal: ctrl.signal });
      if (response.status === 403 || response.status === 404) {
        setMeshRefused(response.status);
        next = MESH_REFUSED_POLL_MS;
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const data = await response.json();
      if (!data || typeof data !== "object") throw new Error("bad JSON");
      meshLoadedOnce = true;
      setMeshAvailable(true);
      failover.updateView(data, origin);
      const fromHome = origin === location.origin;
      renderMesh(data, fromHome);
      const states = {};
      for (const p of peerList(data)) states[p.id] = String(p.state);
      lastView = { node: String(data.node), from: fromHome ? "home" : "other", at: Date.now(), peers: states };
    } catch (_) {
      setMeshAvailable(false);
    } finally {
      clearTimeout(timer);
      setTimeout(pollMesh, Math.max(100, next - (Date.now() - started)));
    }
  }

  // ---- rooms ----------------------------------------------------------------------------------------
  //
  // A second connection, to the demo hub (/demoHub): JoinGroup / LeaveGroup / SendToGroup → GroupMessage.
  // The hub's message argument is one string; the page sends {"user": name, "text": text} as JSON text and
  // shows any other string as an unnamed message, so other clients can post plain text. Memberships belong
  // to a connection, so every room is joined again after a reconnect.

  const ROOM_MAX_ITEMS = 300; // messages + system lines kept per room
  const MAX_ROOMS = 50;
  const ROOMS_KEY = "meshchat.rooms";
  const ACTIVE_ROOM_KEY = "meshchat.activeRoom";

  const rui = {
    status: $("rooms-status"),
    statusText: $("rooms-status-text"),
    retry: $("rooms-retry"),
    connId: $("rooms-conn-id"),
    user: $("rooms-user"),
    reconnectBtn: $("rooms-reconnect-btn"),
    transportUsed: $("rooms-transport-used"),
    joinForm: $("room-join-form"),
    roomInput: $("room-input"),
    joinBtn: $("room-join-btn"),
    joinError: $("room-join-error"),
    list: $("room-list"),
    logs: $("room-logs"),
    empty: $("room-empty"),
    composer: $("room-composer"),
    messageLabel: $("room-message-label"),
    messageInput: $("room-message-input"),
    sendBtn: $("room-send-btn"),
    composerError: $("room-composer-error"),
  };

  const roomsConn = new SignalRLite.HubConnection("/demoHub", {
    retryStart: true,
    transport: initialTransport,
    reconnectTarget: failover.reconnectTarget("/demoHub"),
    logger: (level, text) => {
      if (level === "error" || level === "warn") console.warn(`[signalr demoHub] ${text}`);
    },
  });

  /**
   * name → room. A room's `status`: "waiting" (to be joined once connected), "joining", "joined", "leaving",
   * or "error" (a rejoin failed; retried on the next connect or when the user joins it again).
   */
  const rooms = new Map();
  let activeRoom = null;
  /** Bumped whenever the connection drops: answers to older JoinGroup calls are then ignored. */
  let roomEpoch = 0;
  let roomsEverConnected = false;

  /** A room name fit for a sentence: long names are cut (the full name stays in the title). */
  function shortName(name) {
    const chars = Array.from(name);
    return chars.length > 48 ? `${chars.slice(0, 45).join("")}…` : name;
  }

  /** The hub's error text without the server's generic prefix. */
  function hubReason(err) {
    let text = err && err.message ? String(err.message) : String(err || "unknown error");
    const m = /HubException: ([\s\S]+)$/.exec(text);
    if (m) text = m[1];
    return text.replace(/[.\s]+$/, "");
  }

  /** {user, text} of a GroupMessage: the page's JSON form, or any other string as an unnamed message. */
  function parseRoomMessage(raw) {
    if (typeof raw === "string" && raw.charAt(0) === "{") {
      try {
        const obj = JSON.parse(raw);
        if (obj && typeof obj.user === "string" && typeof obj.text === "string") return { user: obj.user, text: obj.text };
      } catch (_) {
        /* not ours: shown as it is */
      }
    }
    return { user: "", text: asText(raw) };
  }

  // Items wait until the next frame and are built then, per room, like the chat's list.
  const roomQueue = []; // {room, build, force, isMsg}
  let roomFlushScheduled = false;

  function roomEnqueue(room, build, opts) {
    roomQueue.push({ room, build, force: !!(opts && opts.forceScroll), isMsg: !!(opts && opts.isMsg) });
    if (roomQueue.length >= 4 * ROOM_MAX_ITEMS) roomQueue.splice(0, roomQueue.length - 2 * ROOM_MAX_ITEMS);
    if (roomFlushScheduled) return;
    roomFlushScheduled = true;
    if (document.hidden) setTimeout(roomFlush, 250);
    else requestAnimationFrame(roomFlush);
  }

  function logNearBottom(log) {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  function roomFlush() {
    roomFlushScheduled = false;
    const byRoom = new Map();
    for (const item of roomQueue.splice(0)) {
      if (rooms.get(item.room.name) !== item.room) continue; // left meanwhile
      if (!byRoom.has(item.room)) byRoom.set(item.room, []);
      byRoom.get(item.room).push(item);
    }
    for (const [room, batch] of byRoom) {
      const log = room.log;
      const visible = room === activeRoom;
      const stick = room.pinned || batch.some((b) => b.force) || (visible && logNearBottom(log));
      const first = Math.max(0, batch.length - ROOM_MAX_ITEMS);
      let newMessages = 0;
      for (let i = 0; i < batch.length; i++) {
        if (batch[i].isMsg) newMessages++;
        if (i >= first) log.appendChild(batch[i].build(log));
      }
      const excess = log.children.length - ROOM_MAX_ITEMS;
      for (let i = 0; i < excess; i++) log.removeChild(log.firstElementChild);
      if (excess > 0 && log.firstElementChild) log.firstElementChild.classList.remove("cont");
      if (stick) {
        room.pinned = true;
        if (visible) log.scrollTop = log.scrollHeight;
      }
      if (!visible && newMessages > 0) {
        room.unread += newMessages;
        renderRoomItem(room);
      }
    }
  }

  function addRoomMessage(room, user, text, replica) {
    const now = new Date();
    const mine = user !== "" && user === currentName();
    roomEnqueue(
      room,
      (log) => {
        const li = buildMessage(user, text, replica, now);
        li.dataset.user = user;
        li.dataset.replica = replica || "";
        li.dataset.at = String(now.getTime());
        if (mine) li.classList.add("mine");
        const prev = log.lastElementChild;
        if (
          prev &&
          prev.classList.contains("msg") &&
          !prev.classList.contains("failed") &&
          prev.dataset.user === user &&
          prev.dataset.replica === (replica || "") &&
          now.getTime() - Number(prev.dataset.at) < GROUP_WINDOW_MS
        ) {
          li.classList.add("cont");
        }
        return li;
      },
      { forceScroll: mine, isMsg: true }
    );
  }

  /** A system line in one room; `retry` adds a button that runs it. */
  function addRoomSystem(room, text, kind, retry) {
    const now = new Date();
    roomEnqueue(room, () => {
      const li = el("li", `sys${kind ? ` sys-${kind}` : ""}`);
      li.appendChild(el("span", "sys-text", text));
      if (retry) {
        const btn = el("button", "link-btn", "Retry");
        btn.type = "button";
        btn.addEventListener("click", retry);
        li.appendChild(btn);
      }
      li.appendChild(el("time", "sys-time", formatClock(now)));
      return li;
    });
  }

  /** A message the hub refused (or that never reached it), with the reason and a retry. */
  function addRoomFailed(room, user, text, reason) {
    const now = new Date();
    roomEnqueue(
      room,
      () => {
        const li = buildMessage(user, text, null, now);
        li.classList.add("failed");
        li.dataset.user = user;
        const err = el("div", "msg-error");
        err.appendChild(el("span", "msg-error-text", `Not sent: ${reason}`));
        const retry = el("button", "link-btn", "Retry");
        retry.type = "button";
        retry.addEventListener("click", () => {
          if (!canSendTo(room)) {
            showRoomComposerError(`Not in room “${shortName(room.name)}” right now: wait until it is joined, then retry.`);
            return;
          }
          li.remove();
          sendToRoom(room, user, text);
        });
        err.appendChild(retry);
        li.querySelector(".msg-body").appendChild(err);
        return li;
      },
      { forceScroll: true }
    );
  }

  // ---- rooms: the list --------------------------------------------------------------------------------

  const ROOM_STATE_TEXT = { waiting: "waiting…", joining: "joining…", leaving: "leaving…", error: "not joined" };

  function createRoom(name) {
    const log = el("ol", "messages room-log");
    log.setAttribute("role", "log");
    log.setAttribute("aria-live", "polite");
    log.setAttribute("aria-label", `Messages in room ${shortName(name)}`);
    log.hidden = true;

    const li = el("li", "room-item");
    const select = el("button", "room-select");
    select.type = "button";
    select.title = name;
    const hash = el("span", "room-hash", "#");
    hash.setAttribute("aria-hidden", "true");
    const nameEl = el("span", "room-name", name);
    const stateEl = el("span", "room-state");
    const unread = el("span", "room-unread");
    const unreadCount = el("span", "room-unread-count");
    unread.append(unreadCount, el("span", "sr-only", " unread"));
    select.append(hash, nameEl, stateEl, unread);
    const leave = el("button", "room-leave", "×");
    leave.type = "button";
    leave.title = `Leave ${shortName(name)}`;
    leave.setAttribute("aria-label", `Leave room ${shortName(name)}`);
    li.append(select, leave);

    const room = { name, status: "waiting", unread: 0, pinned: true, everJoined: false, log, li, refs: { select, stateEl, unread, unreadCount, leave } };
    select.addEventListener("click", () => selectRoom(room));
    leave.addEventListener("click", () => leaveRoom(room));
    log.addEventListener("scroll", () => {
      if (room === activeRoom) room.pinned = logNearBottom(log);
    });
    rooms.set(name, room);
    rui.list.appendChild(li);
    rui.logs.appendChild(log);
    renderRoomItem(room);
    return room;
  }

  function renderRoomItem(room) {
    const r = room.refs;
    room.li.dataset.state = room.status;
    r.select.setAttribute("aria-pressed", room === activeRoom ? "true" : "false");
    r.stateEl.textContent = ROOM_STATE_TEXT[room.status] || "";
    r.stateEl.hidden = !ROOM_STATE_TEXT[room.status];
    r.unreadCount.textContent = room.unread > 99 ? "99+" : String(room.unread);
    r.unread.hidden = room.unread === 0;
    // A leave racing a join in flight could end with the join winning on the server: wait for the join's answer.
    r.leave.disabled = room.status === "leaving" || room.status === "joining";
  }

  function removeRoom(room) {
    if (rooms.get(room.name) !== room) return;
    const hadFocus = room.li.contains(document.activeElement);
    rooms.delete(room.name);
    room.li.remove();
    room.log.remove();
    if (activeRoom === room) {
      activeRoom = null;
      const next = rooms.values().next();
      selectRoom(next.done ? null : next.value);
    }
    // Keyboard users keep a place in the page instead of falling back to <body>.
    if (hadFocus) (activeRoom ? activeRoom.refs.select : rui.roomInput).focus();
    saveRooms();
  }

  function selectRoom(room) {
    const prev = activeRoom;
    activeRoom = room;
    for (const r of rooms.values()) {
      r.log.hidden = r !== room;
      if (r === prev || r === room) renderRoomItem(r);
    }
    rui.empty.hidden = !!room;
    if (room) {
      room.unread = 0;
      renderRoomItem(room);
      if (room.pinned) room.log.scrollTop = room.log.scrollHeight;
    }
    hideRoomComposerError();
    renderRoomComposer();
    storage.set(ACTIVE_ROOM_KEY, room ? room.name : "");
  }

  function saveRooms() {
    const names = [];
    for (const r of rooms.values()) if (r.status !== "leaving") names.push(r.name);
    storage.set(ROOMS_KEY, JSON.stringify(names));
  }

  function restoreRooms() {
    let names = [];
    try {
      const parsed = JSON.parse(storage.get(ROOMS_KEY) || "[]");
      if (Array.isArray(parsed)) names = parsed;
    } catch (_) {
      /* nothing usable stored */
    }
    for (const name of names.slice(0, MAX_ROOMS)) {
      if (typeof name === "string" && name.trim() && name.length <= 2000 && !rooms.has(name)) createRoom(name);
    }
    const active = storage.get(ACTIVE_ROOM_KEY);
    selectRoom(rooms.get(active) || rooms.values().next().value || null);
  }

  // ---- rooms: joining, leaving, sending ---------------------------------------------------------------

  function showJoinError(text) {
    rui.joinError.textContent = text;
    rui.joinError.hidden = false;
  }

  function hideJoinError() {
    rui.joinError.hidden = true;
  }

  /**
   * Asks the hub for the membership. `fresh`: the user (or a stored list) asked for a room the page is not in
   * yet; if the hub refuses, the room goes away again and the reason shows under the Join form.
   * `focusAfter`: the user pressed Join; once joined, the message box gets the focus (if it is still in the form).
   */
  function joinOnHub(room, fresh, focusAfter) {
    if (roomsConn.state !== "connected") {
      room.status = "waiting";
      renderRoomItem(room);
      renderRoomComposer();
      return;
    }
    const epoch = roomEpoch;
    const rejoin = room.everJoined;
    room.status = "joining";
    renderRoomItem(room);
    renderRoomComposer();
    roomsConn.invoke("JoinGroup", room.name).then(
      () => {
        if (epoch !== roomEpoch || rooms.get(room.name) !== room || room.status !== "joining") return;
        room.status = "joined";
        room.everJoined = true;
        const replica = replicaOf(roomsConn);
        const where = replica ? ` through replica ${replica}` : "";
        addRoomSystem(room, rejoin ? `Rejoined${where}.` : `Joined${where}.`, "ok");
        renderRoomItem(room);
        renderRoomComposer();
        saveRooms();
        if (focusAfter && room === activeRoom && rui.joinForm.contains(document.activeElement) && !rui.roomInput.value) {
          rui.messageInput.focus();
        }
      },
      (err) => {
        if (epoch !== roomEpoch || rooms.get(room.name) !== room || room.status !== "joining") return;
        const reason = hubReason(err);
        if (fresh && !room.everJoined) {
          removeRoom(room);
          showJoinError(`Could not join “${shortName(room.name)}”: ${reason}.`);
          return;
        }
        room.status = "error";
        addRoomSystem(room, `Could not rejoin: ${reason}.`, "error", () => {
          if (room.status === "error") joinOnHub(room, false);
        });
        renderRoomItem(room);
        renderRoomComposer();
      }
    );
  }

  function joinRoom(rawName) {
    const name = rawName.trim();
    if (!name) {
      showJoinError("Enter a room name.");
      rui.roomInput.focus();
      return;
    }
    const existing = rooms.get(name);
    if (existing) {
      hideJoinError();
      rui.roomInput.value = "";
      selectRoom(existing);
      if (existing.status === "error") joinOnHub(existing, false);
      return;
    }
    if (rooms.size >= MAX_ROOMS) {
      showJoinError(`This page joins at most ${MAX_ROOMS} rooms: leave one first.`);
      return;
    }
    hideJoinError();
    rui.roomInput.value = "";
    const room = createRoom(name);
    selectRoom(room);
    saveRooms();
    joinOnHub(room, true, true);
  }

  function leaveRoom(room) {
    if (room.status === "leaving" || room.status === "joining") return;
    // Without a live membership (never joined, or the connection that held it is gone) there is nothing to undo.
    if (roomsConn.state !== "connected" || room.status === "waiting" || room.status === "error") {
      removeRoom(room);
      return;
    }
    const epoch = roomEpoch;
    room.status = "leaving";
    renderRoomItem(room);
    renderRoomComposer();
    saveRooms();
    roomsConn.invoke("LeaveGroup", room.name).then(
      () => {
        if (epoch === roomEpoch) removeRoom(room);
      },
      (err) => {
        if (epoch !== roomEpoch || rooms.get(room.name) !== room) return;
        room.status = "joined";
        addRoomSystem(room, `Could not leave: ${hubReason(err)}.`, "error");
        renderRoomItem(room);
        renderRoomComposer();
        saveRooms();
      }
    );
  }

  function canSendTo(room) {
    return !!room && rooms.get(room.name) === room && room.status === "joined" && roomsConn.state === "connected";
  }

  function sendToRoom(room, user, text) {
    roomsConn.invoke("SendToGroup", room.name, JSON.stringify({ user, text })).then(
      () => {},
      (err) => {
        if (rooms.get(room.name) === room) addRoomFailed(room, user, text, hubReason(err));
      }
    );
  }

  function showRoomComposerError(text) {
    rui.composerError.textContent = text;
    rui.composerError.hidden = false;
  }

  function hideRoomComposerError() {
    rui.composerError.hidden = true;
  }

  function renderRoomComposer() {
    const room = activeRoom;
    const name = currentName();
    const as = name ? ` as ${name}` : "";
    rui.messageLabel.textContent = room ? `Message to ${shortName(room.name)}${as}` : "Message";
    rui.messageInput.disabled = !room; // a draft survives a reconnect; only sending waits
    let placeholder = "Join a room first";
    if (room) {
      if (canSendTo(room)) placeholder = `Write to ${shortName(room.name)}…`;
      else if (roomsConn.state === "disconnected") placeholder = "Disconnected: press Reconnect to send";
      else if (room.status === "error") placeholder = "Not in this room: join it again to send";
      else placeholder = "Waiting for the room…";
    }
    rui.messageInput.placeholder = placeholder;
    rui.sendBtn.disabled = !canSendTo(room);
  }

  rui.joinForm.addEventListener("submit", (e) => {
    e.preventDefault();
    joinRoom(rui.roomInput.value);
  });
  rui.roomInput.addEventListener("input", hideJoinError);

  rui.composer.addEventListener("submit", (e) => {
    e.preventDefault();
    const room = activeRoom;
    const text = rui.messageInput.value.trim();
    if (!room || !text) return;
    const user = currentName();
    if (!user) {
      showRoomComposerError("Enter a name first (the Name field of the chat).");
      ui.nameInput.focus();
      return;
    }
    if (!canSendTo(room)) return;
    hideRoomComposerError();
    rui.messageInput.value = "";
    rui.messageInput.focus();
    sendToRoom(room, user, text);
  });
  rui.messageInput.addEventListener("input", hideRoomComposerError);
  ui.nameInput.addEventListener("input", renderRoomComposer);

  // ---- rooms: the connection ----------------------------------------------------------------------------

  roomsConn.on("GroupMessage", (args, message) => {
    if (typeof args[0] !== "string") return;
    const group = args[0];
    let room = rooms.get(group);
    if (!room) {
      // Another connection put this one in the group (AddToGroup): show the room rather than drop its messages.
      if (rooms.size >= MAX_ROOMS) return;
      room = createRoom(group);
      room.status = "joined";
      room.everJoined = true;
      renderRoomItem(room);
      addRoomSystem(room, "Added to this room by another connection.", "ok");
      if (!activeRoom) selectRoom(room);
      saveRooms();
    }
    const replica = message.headers && typeof message.headers.replica === "string" && message.headers.replica ? message.headers.replica : null;
    const { user, text } = parseRoomMessage(args[1]);
    addRoomMessage(room, user, text, replica);
  });

  function roomsConnected() {
    rui.connId.textContent = roomsConn.connectionId || "—";
    const epoch = roomEpoch;
    roomsConn.invoke("GetConnectionId").then(
      (id) => {
        if (epoch === roomEpoch && typeof id === "string" && id) rui.connId.textContent = id;
      },
      () => {}
    );
    roomsConn.invoke("WhoAmI").then(
      (user) => {
        if (epoch !== roomEpoch) return;
        rui.user.hidden = !(typeof user === "string" && user);
        rui.user.textContent = rui.user.hidden ? "" : `user ${user}`;
      },
      () => {}
    );
    for (const room of rooms.values()) {
      if (room.status === "waiting" || room.status === "error") joinOnHub(room, !room.everJoined);
    }
  }

  function roomsLost() {
    roomEpoch++;
    rui.connId.textContent = "—";
    const reason = reasonOf(roomsConn.lastError, roomsConn.state === "disconnected" ? "closed" : "unknown reason");
    for (const room of Array.from(rooms.values())) {
      if (room.status === "leaving") {
        removeRoom(room); // the membership ended with the connection
        continue;
      }
      if (room.status === "joined") {
        addRoomSystem(room, `Connection lost: ${reason}. Messages sent meanwhile are missed; the room is rejoined once the connection is back.`, "warn");
      }
      room.status = "waiting";
      renderRoomItem(room);
    }
  }

  roomsConn.onstatechange = (state, prev) => {
    if (state !== prev) {
      if (state === "connected") {
        roomsEverConnected = true;
        roomsConnected();
      } else if (prev === "connected") {
        roomsLost();
      }
    }
    renderRoomsConnection();
  };

  function renderRoomsConnection() {
    const state = roomsConn.state;
    rui.status.dataset.state = state;
    let text;
    let retry = "";
    let button = null;
    switch (state) {
      case "connected":
        text = "Connected";
        break;
      case "connecting":
        text = "Connecting";
        break;
      case "reconnecting": {
        // The countdown lives outside the status (a live region), so screen readers don't read every tick.
        const waitMs = roomsConn.nextRetryAt ? roomsConn.nextRetryAt - Date.now() : 0;
        text = "Reconnecting";
        if (waitMs > 500) {
          retry = `retry in ${Math.ceil(waitMs / 1000)} s`;
          button = "Retry now";
        }
        break;
      }
      default:
        text = roomsEverConnected ? "Disconnected" : "Not connected";
        button = "Reconnect";
    }
    if (rui.statusText.textContent !== text) rui.statusText.textContent = text;
    rui.retry.textContent = retry;
    rui.retry.hidden = !retry;
    rui.status.title = state === "connected" || !roomsConn.lastError ? "" : reasonOf(roomsConn.lastError, "");
    rui.reconnectBtn.hidden = !button;
    if (button) rui.reconnectBtn.textContent = button;
    renderTransportUsed(rui.transportUsed, roomsConn);
    renderRoomComposer();
  }

  const roomsSupervisor = superviseConnection(roomsConn, rui.reconnectBtn, renderRoomsConnection);

  // Moved to another replica without a drop: memberships belong to a connection, so the rooms are joined again
  // on the new one (the old one is still read for a moment, so nothing sent meanwhile is missed).
  roomsConn.onswitched = () => {
    roomEpoch++;
    for (const room of Array.from(rooms.values())) {
      if (room.status === "leaving") {
        removeRoom(room);
        continue;
      }
      room.status = "waiting";
      renderRoomItem(room);
    }
    roomsConnected();
    renderRoomsConnection();
  };
  failover.track(roomsConn, "/demoHub");

  // ---- transport picker -----------------------------------------------------------------------------

  ui.transportSelect.addEventListener("change", () => {
    const choice = transportChoice(ui.transportSelect.value) || "Auto";
    rememberTransport(choice);
    addSystem(
      choice === "Auto"
        ? "Transport: Auto (WebSockets, then Server-Sent Events, then long polling). Reconnecting…"
        : `Transport: ${TRANSPORT_NAMES[choice]} only. Reconnecting…`,
      "warn"
    );
    chat.restart(choice);
    roomsSupervisor.restart(choice);
  });

  // ---- go -----------------------------------------------------------------------------------------

  // For the console and for browser tests.
  window.meshChat = Object.freeze({
    connection: conn,
    rooms: roomsConn,
    failover,
    get home() {
      return selfId;
    },
    get via() {
      return replicaOf(conn);
    },
    get failoverShownAt() {
      return failoverShownAt;
    },
    get presence() {
      return presenceNames === null ? null : { names: presenceNames.slice(), total: presenceTotal, joinedAs };
    },
    get meshView() {
      return lastView;
    },
  });

  renderConnection();
  pollMesh();
  chat.start();
  restoreRooms();
  renderRoomsConnection();
  roomsSupervisor.start();
})();
