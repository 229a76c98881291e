import NetKit

/// `GET /readyz` and `GET /metrics` of a replica: readiness fed by the mesh and the router, the SIGTERM drain, and
/// the figures a scrape shows. Loop thread unless said otherwise.
extension ReplicaServer {
    /// SIGTERM's first step: `GET /readyz` answers 503 from now on while everything else is served as before, for
    /// `delay` seconds (long enough for a load balancer's probes to take the replica out of rotation); then the
    /// graceful ``shutdown(timeout:completion:)``. Safe from any thread.
    public func drain(delay: Double, timeout: Double = 4, completion: @escaping @Sendable () -> Void) {
        loop.execute {
            self.readiness.drain()
            self.stopReadinessTimer()
            self.loop.schedule(afterNanos: UInt64(max(0, delay) * 1e9)) {
                self.shutdown(timeout: timeout, completion: completion)
            }
        }
    }

    /// HTTP listens: readiness starts waiting for the first mesh sync, looked at every 50 ms until it is done.
    func startReadiness() {
        readiness.listening(now: loop.now)
        refreshReadiness()
        guard !readiness.isReady && !readiness.isDraining else { return }
        readinessTimer = loop.scheduleRepeating(everyNanos: 50_000_000) { [weak self] in self?.refreshReadiness() }
    }

    /// Feeds readiness the other replicas' progress (see ``Readiness``). Loop thread.
    func refreshReadiness() {
        guard case .syncing = readiness.phase else { return }
        let others = config.replicas.map(\.id).filter { $0 != options.nodeId }
        let peers = others.map { id -> (id: String, progress: Readiness.PeerProgress) in
            if router.synced.contains(id) { return (id, .synced) }
            if !mesh.isReachable(id) && mesh.dialFailures(of: id) > 0 { return (id, .failed) }
            return (id, .pending)
        }
        guard let outcome = readiness.update(now: loop.now, peers: peers) else { return }
        stopReadinessTimer()
        let logger = Logger(label: "replica", metadata: ["node": options.nodeId])
        switch outcome {
        case .settled:
            logger.info("ready: first mesh sync done (GET /readyz answers 200)")
        case .timedOut(let pending):
            logger.warning(
                "ready: first mesh sync not finished with \(pending.joined(separator: ", ")) after "
                    + "\(Readiness.seconds(Double(readiness.syncTimeoutNanos) / 1e9)); serving anyway (GET /readyz answers 200)")
        }
    }

    func stopReadinessTimer() {
        if let t = readinessTimer { loop.cancel(t) }
        readinessTimer = nil
    }

    /// What `/metrics` shows now. Loop thread.
    func metricsInput() -> MetricsInput {
        refreshReadiness()
        return MetricsInput(
            node: options.nodeId, cluster: config.cluster, ready: readiness.isReady, draining: readiness.isDraining,
            hubs: http.endpoints.map { $0.stats() }, mesh: mesh.snapshot(), loopTurns: loop.turnTimes,
            wakeToFirstWrite: loop.wakeToFirstWrite, process: ProcessStats.current())
    }
}
