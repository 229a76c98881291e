import Foundation
import Mesh
import NetKit
import Synchronization

/// Reloads the peers file into a running replica: on SIGHUP, and with `--watch-peers` when the file changes.
///
/// The file is read and checked off the loop exactly as at start (``MeshConfig/load(path:environment:)`` with the
/// environment the process started with, so `MESH_SECRET` still wins; ``MeshConfig/validateForNode(_:)``), then
/// applied with ``ReplicaServer/updateMembership(_:)``. Every reload logs one line: what changed, or why the file was
/// refused (the membership in force stays). Reloads run one at a time.
///
/// ```swift
/// MembershipReloader.blockReloadSignal()          // first thing in main, before any thread exists
/// let reloader = MembershipReloader(replica: replica, path: "peers.json", logger: logger)
/// reloader.handleSignals()
/// reloader.watch()                                // --watch-peers
/// ```
public final class MembershipReloader: Sendable {
    public let path: String
    private let replica: ReplicaServer
    private let environment: [String: String]
    private let logger: Logger
    /// Serialises reloads (SIGHUP and the watcher).
    private let queue = DispatchQueue(label: "peers-reload")
    /// What the watcher knows of the file.
    private struct Seen {
        /// The file as last read by a reload (or when watching started).
        var read: FileStamp?
        /// A different version seen on the last look, not yet reloaded (it may still be being written).
        var changed: FileStamp?
        var changeSeen = false
    }
    private let seen = Mutex(Seen())
    private let watching = Atomic<Bool>(false)

    /// - Parameter environment: what the replica started with (`MESH_SECRET`).
    public init(
        replica: ReplicaServer, path: String, environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger
    ) {
        self.replica = replica
        self.path = path
        self.environment = environment
        self.logger = logger
    }

    /// Blocks SIGHUP in the calling thread. Call it first thing, before any other thread exists (threads inherit the
    /// mask): a SIGHUP then waits for ``handleSignals()`` instead of killing the process (its default action).
    public static func blockReloadSignal() {
        var set = reloadSignalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    private static func reloadSignalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGHUP)
        return set
    }

    /// Starts a thread that takes each SIGHUP (see ``blockReloadSignal()``) and reloads the file.
    public func handleSignals() {
        let thread = Thread { [self] in
            var set = Self.reloadSignalSet()
            while true {
                var signal: Int32 = 0
                guard sigwait(&set, &signal) == 0 else { continue }
                queue.async { [self] in reloadNow(trigger: "SIGHUP") }
            }
        }
        thread.name = "sighup"
        thread.start()
    }

    /// Starts a thread that looks at the file every `intervalSeconds` (its modification time, size and inode) and
    /// reloads it once a change has held still for one look (a file caught mid-write is not read).
    public func watch(intervalSeconds: Double = 1) {
        let now = FileStamp(path: path)
        seen.withLock { $0 = Seen(read: now) }
        let interval = min(max(intervalSeconds, 0.01), 60)
        guard !watching.exchange(true, ordering: .relaxed) else { return }
        let thread = Thread { [self] in
            while watching.load(ordering: .relaxed) {
                Thread.sleep(forTimeInterval: interval)
                queue.sync { if watching.load(ordering: .relaxed) { look() } }
            }
        }
        thread.name = "watch-peers"
        thread.start()
    }

    /// Stops watching the file (after the current look).
    public func stopWatching() {
        watching.store(false, ordering: .relaxed)
    }

    /// Reloads now (on the reload queue) and returns the line it logged.
    @discardableResult
    public func reload(trigger: String) -> String {
        queue.sync { reloadNow(trigger: trigger) }
    }

    private func look() {
        let current = FileStamp(path: path)
        let due: Bool = seen.withLock { seen in
            if current == seen.read {
                seen.changeSeen = false
                return false
            }
            if seen.changeSeen && seen.changed == current {
                seen.changeSeen = false
                return true
            }
            seen.changed = current
            seen.changeSeen = true
            return false
        }
        if due { reloadNow(trigger: "file changed") }
    }

    /// Reads, checks and applies the file; logs one line and returns it. On the reload queue.
    private func reloadNow(trigger: String) -> String {
        let stamp = FileStamp(path: path)
        seen.withLock { $0.read = stamp }
        let before = replica.config.replicas.map(\.id)
        let config: MeshConfig
        do {
            config = try MeshConfig.load(path: path, environment: environment)
        } catch {
            return refused("\(error)", trigger: trigger, keeping: before)
        }
        do {
            let change = try replica.updateMembership(config)
            let now = change.replicas.joined(separator: ", ")
            let line: String
            if change.isEmpty {
                line = "peers file \(path) reloaded (\(trigger)): membership unchanged (\(now))"
            } else {
                line = "peers file \(path) reloaded (\(trigger)): \(change.summary); replicas now \(now)"
            }
            logger.info(line)
            return line
        } catch {
            return refused("\(error)", trigger: trigger, keeping: before)
        }
    }

    private func refused(_ reason: String, trigger: String, keeping: [String]) -> String {
        let line =
            "peers file \(path) refused (\(trigger)): \(reason); keeping the current membership (\(keeping.joined(separator: ", ")))"
        logger.warning(line)
        return line
    }
}
