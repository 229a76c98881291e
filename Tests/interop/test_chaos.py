"""Seeded chaos: kill -9 / restart, SIGSTOP / SIGCONT and proxy link cuts on three replicas while stock clients
on every replica chat all along. At the end: zero duplicates and zero losses.

Replay a run with CHAOS_SEED=<seed> (printed in the measurements and in the failure message).
CHAOS_SECONDS sets the length of the fault phase (default 45 s); CHAOS_STRICT=1 also fails on messages missed
by clients whose replica was SIGSTOPped (the issue's definition excuses those; the design should not need it).

Definition of a loss (from the issue): a message that a client sent and the server accepted (its invocation
completed without error) that did not reach a client that was connected throughout, while neither client's
replica was killed or stopped. Concretely, message m sent by S at time t is expected at client R when
  - R was eligible before t (connected, and shown to exchange probes with every live client) and R was never
    disconnected until the end of the run;
  - S's replica was not killed at or after t (a kill may take accepted-but-unforwarded messages with it);
  - (lenient mode) neither S's nor R's replica was SIGSTOPped at any time in [t, end].
Link cuts excuse nothing.
"""
from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass

import pytest

from clients import make_client
from harness import new_text, wait_until

pytestmark = pytest.mark.usefixtures("mesh_available")

IDS = ["a", "b", "c"]
KINDS = ("pysignalr", "signalrcore")


@dataclass
class Event:
    kind: str  # kill | stop | cut
    target: str  # replica id, or "x-y" for a link
    t0: float
    t1: float | None = None


class Chaos:
    def __init__(self, cluster, rng: random.Random, report):
        self.cluster = cluster
        self.rng = rng
        self.report = report
        self.clients = []
        self.events: list[Event] = []
        self.problems: list[str] = []
        self.stop_senders = threading.Event()
        self.lock = threading.Lock()
        self.seq = 0
        self.t_origin = time.monotonic()
        self.sender_errors = 0

    def rel(self, t: float | None) -> str:
        return "-" if t is None else f"{t - self.t_origin:6.2f}s"

    # -- clients

    def spawn(self, replica: str) -> list:
        new = []
        for kind in KINDS:
            with self.lock:
                self.seq += 1
                n = self.seq
            try:
                c = make_client(kind, f"{kind}#{n}@{replica}", replica, self.cluster.hub(replica))
                c.wait_open(10)
                new.append(c)
            except Exception as exc:  # noqa: BLE001
                self.problems.append(f"{self.rel(time.monotonic())} could not open {kind} on {replica}: {exc!r}")
        with self.lock:
            self.clients.extend(new)
        return new

    def live_clients(self):
        with self.lock:
            return [c for c in self.clients if c.connected]

    def converge(self, newcomers, timeout: float = 6.0) -> bool:
        """Probe rounds until every live client sees a probe from every live client; then the newcomers
        become eligible (from the start of that round)."""
        deadline = time.monotonic() + timeout
        rnd = 0
        while time.monotonic() < deadline:
            live = [c for c in self.live_clients() if not self.cluster[c.replica].stopped]
            t_round = time.monotonic()
            probes = []
            for c in live:
                try:
                    probes.append(c.send_message(c.name, new_text(f"probe{rnd}-{c.name}"), wait=False).text)
                except Exception:  # noqa: BLE001 - a client that can't send isn't live; try again
                    pass
            rnd += 1
            try:
                wait_until(lambda: all(not c.missing(probes) for c in live if c.connected), 1.0, interval=0.02)
            except AssertionError:
                continue
            for c in newcomers:
                if c.eligible_time is None:
                    c.eligible_time = t_round
            return True
        return False

    def sender(self, c):
        i = 0
        rng = random.Random(hash(c.name))
        while not self.stop_senders.is_set() and c.connected:
            if self.cluster[c.replica].stopped or c.in_flight >= 10:
                time.sleep(0.05)
                continue
            try:
                c.send_message(c.name, new_text(f"chat{i}-{c.name}"), wait=False)
            except Exception:  # noqa: BLE001 - counted; the message is simply not accepted
                self.sender_errors += 1
            i += 1
            time.sleep(rng.uniform(0.08, 0.2))

    def start_senders(self, clients):
        for c in clients:
            threading.Thread(target=self.sender, args=(c,), daemon=True, name=f"send-{c.name}").start()

    # -- faults

    def do_kill(self, r: str):
        ev = Event("kill", r, time.monotonic())
        self.events.append(ev)
        self.cluster[r].kill()
        for c in list(self.clients):
            if c.replica == r and c.close_time is None:
                c.close_time = ev.t0
                c.stop()
        time.sleep(self.rng.uniform(0.3, 2.0))
        self.cluster[r].start(wait=False)
        self.cluster[r].wait_ready()
        ev.t1 = time.monotonic()
        try:
            self.cluster.wait_meshed(5.0)
        except AssertionError as exc:
            self.problems.append(f"{self.rel(time.monotonic())} {r} not meshed 5 s after restart: {exc}")
        newcomers = self.spawn(r)
        if not self.converge(newcomers):
            self.problems.append(f"{self.rel(time.monotonic())} restarted {r}: clients did not converge in 6 s")
        self.start_senders(newcomers)

    def do_stop(self, r: str):
        ev = Event("stop", r, time.monotonic())
        self.events.append(ev)
        self.cluster[r].sigstop()
        time.sleep(self.rng.uniform(0.8, 4.5))
        self.cluster[r].sigcont()
        ev.t1 = time.monotonic()

    def heal_due(self, force: bool = False):
        now = time.monotonic()
        for ev in self.events:
            if ev.kind == "cut" and ev.t1 is None and (force or now >= ev.heal_at):  # type: ignore[attr-defined]
                x, y = ev.target.split("-")
                self.cluster.heal(x, y)
                ev.t1 = time.monotonic()

    def cut_active(self) -> bool:
        return any(ev.kind == "cut" and ev.t1 is None for ev in self.events)

    def run_faults(self, seconds: float):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pause = self.rng.uniform(1.0, 3.0)
            action = self.rng.choices(["kill", "stop", "cut"], weights=[3, 3, 4])[0]
            target = self.rng.choice(IDS)
            other = self.rng.choice([i for i in IDS if i != target])
            heal_after = self.rng.uniform(1.0, 4.0)
            t_wake = time.monotonic() + pause
            while time.monotonic() < t_wake:
                self.heal_due()
                time.sleep(0.02)
            if time.monotonic() >= end:
                break
            if action == "kill":
                self.do_kill(target)
            elif action == "stop":
                self.do_stop(target)
            elif not self.cut_active():
                x, y = sorted((target, other))
                ev = Event("cut", f"{x}-{y}", time.monotonic())
                ev.heal_at = ev.t0 + heal_after  # type: ignore[attr-defined]
                self.events.append(ev)
                self.cluster.cut(x, y)
            self.heal_due()
        self.heal_due(force=True)


def test_chaos(cluster_factory, report):
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1, 2**31))
    fault_seconds = float(os.environ.get("CHAOS_SECONDS", "45"))
    strict = os.environ.get("CHAOS_STRICT") == "1"
    report(f"CHAOS_SEED={seed} (fault phase {fault_seconds:.0f}s)")
    rng = random.Random(seed)
    cluster = cluster_factory(IDS, proxied=True)
    cluster.wait_meshed(10)
    chaos = Chaos(cluster, rng, report)
    try:
        first = []
        for r in IDS:
            first += chaos.spawn(r)
        assert chaos.converge(first), "initial clients did not converge"
        chaos.start_senders(first)

        chaos.run_faults(fault_seconds)

        # Quiet phase: everything healed and running, clients keep chatting.
        for r in IDS:
            if cluster[r].stopped:
                cluster[r].sigcont()
        t_quiet = time.monotonic()
        cluster.wait_meshed(10)
        wait_until(lambda: time.monotonic() - t_quiet > 6.0, 10.0)
        chaos.stop_senders.set()
        t_end = time.monotonic()

        # Drain: wait for completions and for every expected delivery (bounded).
        def expectations():
            return compute(chaos, t_end, strict=strict)

        try:
            wait_until(lambda: not expectations()["lost"], 20.0, interval=0.25, what="deliveries to drain")
        except AssertionError:
            pass
        time.sleep(0.5)  # give late duplicates a chance to show up before counting
        res = expectations()
        lenient = res if not strict else compute(chaos, t_end, strict=False)
        strict_res = res if strict else compute(chaos, t_end, strict=True)

        timeline = ", ".join(f"{e.kind} {e.target} {chaos.rel(e.t0)}..{chaos.rel(e.t1)}" for e in chaos.events)
        report(f"seed {seed}: events: {timeline}")
        report(f"seed {seed}: clients {len(chaos.clients)}, sent {res['sent']}, accepted {res['accepted']}, "
               f"expected deliveries {res['expected']} (excused: kill {res['excused_kill']}, "
               f"stop {lenient['excused_stop']}), lost {len(lenient['lost'])}, lost incl. stop-excused "
               f"{len(strict_res['lost'])}, duplicates {len(res['dups'])}, unknown {len(res['unknown'])}, "
               f"send errors {chaos.sender_errors}")
        gaps = {}
        for r in IDS:
            try:
                gaps[r] = {p["id"]: (p["gaps"], p["duplicatesDropped"]) for p in cluster.mesh_view(r)["peers"]}
            except Exception as exc:  # noqa: BLE001
                gaps[r] = repr(exc)
        report(f"seed {seed}: /api/mesh (gaps, duplicatesDropped) per peer: {gaps}")

        failures = []
        if res["dups"]:
            failures.append(f"{len(res['dups'])} duplicates, e.g. {res['dups'][:5]}")
        if res["unknown"]:
            failures.append(f"{len(res['unknown'])} received messages nobody sent, e.g. {res['unknown'][:5]}")
        lost = res["lost"]
        if lost:
            failures.append(f"{len(lost)} lost deliveries, e.g. " + "; ".join(
                f"{t} (sent {chaos.rel(ts)} by {s}) not at {rcv}" for t, s, rcv, ts in lost[:8]))
        if not strict and strict_res["lost"]:
            report(f"seed {seed}: WARNING {len(strict_res['lost'])} deliveries missed by clients of a "
                   f"SIGSTOPped replica (excused by the issue's definition)")
        unexpected = [c.name for c in chaos.clients
                      if c.close_time is not None and not any(
                          e.kind == "kill" and e.target == c.replica and abs(e.t0 - c.close_time) < 1.0
                          for e in chaos.events)]
        if unexpected:
            failures.append(f"clients disconnected without their replica being killed: {unexpected}")
        failures += chaos.problems
        if res["expected"] < 1000:
            failures.append(f"only {res['expected']} deliveries were checked: the run proves too little")
        assert not failures, f"CHAOS_SEED={seed}: " + " | ".join(failures)
    finally:
        chaos.stop_senders.set()
        for c in chaos.clients:
            c.stop()


def compute(chaos: Chaos, t_end: float, strict: bool) -> dict:
    clients = list(chaos.clients)
    events = list(chaos.events)
    kills = [e for e in events if e.kind == "kill"]
    stops = [e for e in events if e.kind == "stop"]
    all_sent = {}
    for c in clients:
        for t, s in list(c.sent.items()):
            all_sent[t] = (c, s)
    accepted = [(c, s) for c, s in all_sent.values() if s.t_done is not None and s.error is None]
    receivers = [c for c in clients if c.close_time is None and c.eligible_time is not None]
    res = {"sent": len(all_sent), "accepted": len(accepted), "expected": 0, "excused_kill": 0,
           "excused_stop": 0, "lost": [], "dups": [], "unknown": []}
    for c in clients:
        for t, n in list(c.counts.items()):
            if n > 1:
                res["dups"].append((t, c.name, n))
            if t not in all_sent:
                res["unknown"].append((t, c.name))
    for sender, s in accepted:
        killed_after = any(e.target == sender.replica and e.t0 >= s.t_start for e in kills)
        for r in receivers:
            if r.eligible_time > s.t_start:
                continue
            if killed_after:
                res["excused_kill"] += 1
                continue
            if not strict and any(e.target in (sender.replica, r.replica) and (e.t1 or t_end) >= s.t_start
                                  for e in stops):
                res["excused_stop"] += 1
                continue
            res["expected"] += 1
            if r.counts.get(s.text, 0) == 0:
                res["lost"].append((s.text, sender.name, r.name, s.t_start))
    return res
