/*
 * failover.js: where the page's hub connections go when the replica that served the page dies, and how they
 * come back to it.
 *
 *   const failover = new MeshFailover({ homeOrigin: location.origin });
 *   failover.updateView(meshJson, origin);         // every /api/mesh answer, with the origin that gave it
 *   conn.options.reconnectTarget = failover.reconnectTarget("/chatHub");
 *   failover.track(conn, "/chatHub");              // brought home with switchTo() once home is back
 *
 * The page's own replica ("home") is where the connections go while it lives. When a connection is lost, the
 * first attempt goes back to where it was (a restart or a blip), then to the replicas that were up in the last
 * mesh view, one after the other, each with a short negotiate timeout, so that a dead replica costs a second at
 * most, not the default ten. The connections share one target, so the chat and the rooms end up on the same
 * replica. While away, home's /api/mesh is asked every second; once it answers and sees the replica the page
 * is on as up (the two are linked, so nothing sent on either is missed), every tracked connection is moved
 * back with switchTo() (a new connection first, then the old one is closed: no gap).
 *
 * Another replica's hub is another origin: its --allowed-origins must allow this page's (the default,
 * `loopback`, allows pages served from 127.0.0.1, [::1] or localhost).
 */
(function (global) {
  "use strict";

  const DEFAULTS = Object.freeze({
    homeOrigin: global.location ? global.location.origin : "",
    // While away: how often home is asked whether it is back, and how long one answer may take.
    probeIntervalMs: 1000,
    probeTimeoutMs: 1000,
    // Reconnect attempts to other replicas: negotiate timeout, and the pause before each attempt of the
    // first round (later rounds use the connection's own backoff).
    failoverNegotiateTimeoutMs: 1500,
    failoverDelayMs: 100,
    // A replica that failed an attempt is tried again only after the others, for this long.
    suspectMs: 5000,
    fetch: global.fetch ? global.fetch.bind(global) : null,
    now: () => Date.now(),
  });

  /** `http(s)://host:port` of a peer's HTTP address from /api/mesh (a wildcard host becomes this page's). */
  function originOf(addr, pageUrl) {
    if (typeof addr !== "string" || addr.length === 0 || addr.length > 300) return null;
    let hostPort = addr;
    const wildcard = /^(0\.0\.0\.0|\[::\]|\*):(\d+)$/.exec(addr);
    if (wildcard) hostPort = `${pageUrl.hostname}:${wildcard[2]}`;
    const scheme = pageUrl.protocol === "https:" ? "https:" : "http:";
    try {
      const url = new URL(`${scheme}//${hostPort}/`);
      if (url.protocol !== scheme || url.pathname !== "/" || url.username || url.password) return null;
      return url.origin;
    } catch (_) {
      return null;
    }
  }

  class MeshFailover {
    constructor(options) {
      this.options = Object.assign({}, DEFAULTS, options || {});
      this.homeOrigin = this.options.homeOrigin;
      /** This page's replica's id, once its /api/mesh answered. */
      this.homeId = null;
      /** id → {origin, up} from the last mesh view. */
      this.replicas = new Map();
      /** Origin the connections go to now (home, or another replica while home is down). */
      this.target = this.homeOrigin;
      /** Whether home answered its last probe (only asked while away). */
      this.homeAlive = true;
      /** When the connections left home, and when they came back (epoch ms), or null. */
      this.leftHomeAt = null;
      this.backHomeAt = null;
      /** (state) => void: the target or home's state changed. */
      this.onchange = null;
      this._tracked = []; // [{conn, path}]
      this._suspect = new Map(); // origin → epoch ms of its last failed attempt
      this._probeTimer = null;
      this._probing = false;
      this._returning = false;
      this._pageUrl = new URL(this.homeOrigin || "http://localhost/");
    }

    /** Whether the connections are on another replica than the page's own. */
    get away() {
      return this.target !== this.homeOrigin;
    }

    /** Id of the replica at `origin`, if the mesh view names it. */
    idOf(origin) {
      if (origin === this.homeOrigin && this.homeId) return this.homeId;
      for (const [id, r] of this.replicas) if (r.origin === origin) return id;
      return null;
    }

    /** What the page shows: {home, via, away, homeAlive, leftHomeAt, backHomeAt}. */
    get state() {
      return {
        home: this.homeId,
        via: this.idOf(this.target),
        away: this.away,
        homeAlive: this.homeAlive,
        leftHomeAt: this.leftHomeAt,
        backHomeAt: this.backHomeAt,
      };
    }

    /** Takes in an /api/mesh answer given by the replica at `origin`. */
    updateView(data, origin) {
      if (!data || typeof data !== "object" || typeof data.node !== "string" || !data.node) return;
      if (origin === this.homeOrigin) {
        this.homeId = data.node;
        this.homeAlive = true;
      }
      this.replicas.set(data.node, { origin, up: true });
      const peers = Array.isArray(data.peers) ? data.peers : [];
      for (const p of peers.slice(0, 256)) {
        if (!p || typeof p.id !== "string" || !p.id || p.id === data.node) continue;
        // Home is this page's origin (however the peers file spells its address); whether it is back is
        // for the probe to say.
        if (p.id === this.homeId) continue;
        const peerOrigin = originOf(p.http, this._pageUrl);
        if (peerOrigin) this.replicas.set(p.id, { origin: peerOrigin, up: p.state === "up" });
      }
    }

    /**
     * The reconnectTarget option for a connection to the hub at `path` (such as "/chatHub"). Attempt 0 goes where
     * the page's connections are; after a failed attempt, the replica it went to is suspect for a while, and
     * when that is the page's target, the target moves on to the next candidate.
     */
    reconnectTarget(path) {
      let last = null;
      return (attempt) => {
        const now = this.options.now();
        if (attempt > 0 && last) this._suspect.set(last, now);
        if (attempt > 0 && this._isSuspect(this.target, now)) {
          const next = this._candidate(now);
          if (next !== this.target) this._moveTo(next);
        }
        last = this.target;
        const plan = { url: this.target + path };
        if (attempt > 0 && attempt <= this.replicas.size + 1) {
          // The first round: quick, with a short negotiate timeout (a dead host must not cost 10 s).
          plan.delayMs = this.options.failoverDelayMs * (0.5 + Math.random());
          plan.negotiateTimeoutMs = this.options.failoverNegotiateTimeoutMs;
        }
        return plan;
      };
    }

    /** Lets the failover bring `conn` (a SignalRLite.HubConnection to `path`) back home when home is up again. */
    track(conn, path) {
      this._tracked.push({ conn, path });
    }

    _isSuspect(origin, now) {
      const at = this._suspect.get(origin);
      return at !== undefined && now - at < this.options.suspectMs;
    }

    /** Home if it is alive, else the replicas up in the last view (by id), those that failed lately last. */
    _candidate(now) {
      const list = [];
      if (this.homeAlive || this.replicas.size === 0) list.push(this.homeOrigin);
      const ids = Array.from(this.replicas.keys()).sort();
      for (const id of ids) {
        const r = this.replicas.get(id);
        if (r.up && r.origin !== this.homeOrigin && !list.includes(r.origin)) list.push(r.origin);
      }
      if (!list.includes(this.homeOrigin)) list.push(this.homeOrigin);
      const fresh = list.filter((o) => !this._isSuspect(o, now));
      if (fresh.length > 0) return fresh[0];
      // Every one failed lately: the one that failed longest ago.
      return list.reduce((a, b) => ((this._suspect.get(a) || 0) <= (this._suspect.get(b) || 0) ? a : b));
    }

    _moveTo(origin) {
      const wasAway = this.away;
      this.target = origin;
      if (this.away && !wasAway) {
        this.homeAlive = false;
        this.leftHomeAt = this.options.now();
        this._startProbe();
      } else if (!this.away && wasAway) {
        this.backHomeAt = this.options.now();
        this._stopProbe();
      }
      this._changed();
    }

    _changed() {
      if (typeof this.onchange === "function") {
        try {
          this.onchange(this.state);
        } catch (_) {
          /* the page's problem */
        }
      }
    }

    // ---- coming back ----------------------------------------------------------------------------

    _startProbe() {
      if (this._probeTimer !== null) return;
      this._probeTimer = setInterval(() => this._probe(), this.options.probeIntervalMs);
    }

    _stopProbe() {
      if (this._probeTimer !== null) clearInterval(this._probeTimer);
      this._probeTimer = null;
    }

    /** Asks home's /api/mesh whether it is back and linked to the replica the page is on. */
    async _probe() {
      if (this._probing || !this.away || !this.options.fetch) return;
      this._probing = true;
      const ctrl = new AbortController();
      const timer = setTimeout(() => ctrl.abort(), this.options.probeTimeoutMs);
      let back = false;
      try {
        const response = await this.options.fetch(this.homeOrigin + "/api/mesh", { cache: "no-store", signal: ctrl.signal });
        if (response.ok) {
          const data = await response.json();
          const via = this.idOf(this.target);
          const peers = data && Array.isArray(data.peers) ? data.peers : [];
          const linked = !via || peers.some((p) => p && p.id === via && p.state === "up");
          back = !!data && data.node === this.homeId && linked;
        }
      } catch (_) {
        back = false;
      } finally {
        clearTimeout(timer);
        this._probing = false;
      }
      if (back !== this.homeAlive) {
        this.homeAlive = back;
        this._changed();
      }
      if (back) this._comeHome();
    }

    /** Moves every tracked connection home: connected ones with switchTo(), reconnecting ones at once. */
    async _comeHome() {
      if (this._returning || !this.away) return;
      this._returning = true;
      try {
        const results = await Promise.all(
          this._tracked.map(({ conn, path }) => {
            if (conn.state === "connected") {
              if (conn.baseUrl.startsWith(this.homeOrigin + "/")) return true;
              return conn.switchTo(this.homeOrigin + path, { negotiateTimeoutMs: this.options.failoverNegotiateTimeoutMs }).then(
                () => true,
                () => false
              );
            }
            return true; // reconnecting or stopped: the next attempt goes to the target, home
          })
        );
        if (results.every(Boolean)) {
          this._suspect.delete(this.homeOrigin);
          this._moveTo(this.homeOrigin);
          for (const { conn } of this._tracked) if (conn.state === "reconnecting") conn.retryNow();
        }
      } finally {
        this._returning = false;
      }
    }
  }

  global.MeshFailover = MeshFailover;
})(typeof window !== "undefined" ? window : globalThis);
