import Foundation
import Glibc
import NetKit
import Synchronization

/// Replicas this benchmark starts itself (`--server`): a private peers file on free ports, one process each,
/// their output in a temporary directory (kept, and named, if they fail to start).
final class BenchReplicas {
    let directory: String
    let hubURLs: [HubURL]
    private let processes: [Process]

    private init(directory: String, hubURLs: [HubURL], processes: [Process]) {
        self.directory = directory
        self.hubURLs = hubURLs
        self.processes = processes
    }

    static func start(server: String, count: Int, statusMaxAge: Double) throws(GroupRunFailure) -> BenchReplicas {
        let directory = NSTemporaryDirectory() + "/bench-groups-" + SystemInfo.randomHex(bytes: 6)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw GroupRunFailure("cannot create \(directory): \(error)")
        }
        var ports: [UInt16] = []
        while ports.count < 2 * count {
            guard let p = SystemInfo.freePort() else { throw GroupRunFailure("no free port") }
            if !ports.contains(p) { ports.append(p) }
        }
        let ids = (0..<count).map { String(UnicodeScalar(UInt8(ascii: "a") + UInt8($0))) }
        let entries = ids.enumerated().map { i, id in
            "{\"id\":\"\(id)\",\"http\":\"127.0.0.1:\(ports[2 * i])\",\"mesh\":\"127.0.0.1:\(ports[2 * i + 1])\"}"
        }
        let peersPath = directory + "/peers.json"
        let peers = "{\"cluster\":\"bench-groups\",\"secret\":\"\(SystemInfo.randomHex())\",\"replicas\":[\(entries.joined(separator: ","))]}"
        guard FileManager.default.createFile(atPath: peersPath, contents: Data(peers.utf8)) else {
            throw GroupRunFailure("cannot write \(peersPath)")
        }
        var processes: [Process] = []
        var urls: [HubURL] = []
        for (i, id) in ids.enumerated() {
            let logPath = directory + "/\(id).log"
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: server)
            p.arguments = [
                "--node", id, "--peers", peersPath, "--log-level", "warning", "--status-max-age", "\(statusMaxAge)",
            ]
            p.standardInput = FileHandle.nullDevice
            if let log = FileHandle(forWritingAtPath: logPath) {
                p.standardOutput = log
                p.standardError = log
            }
            do {
                try p.run()
            } catch {
                for q in processes { q.terminate() }
                throw GroupRunFailure("cannot start \(server): \(error)")
            }
            processes.append(p)
            do {
                urls.append(try HubURL(parsing: "http://127.0.0.1:\(ports[2 * i])/demoHub"))
            } catch {
                throw GroupRunFailure("\(error)")
            }
        }
        let replicas = BenchReplicas(directory: directory, hubURLs: urls, processes: processes)
        // Ready once every replica answers /api/mesh with all its peers up.
        let deadline = monotonicNanos() + 30_000_000_000
        var pending = Set(urls.indices)
        while !pending.isEmpty {
            for i in pending {
                guard processes[i].isRunning else {
                    replicas.stop(keepDirectory: true)
                    throw GroupRunFailure("replica \(ids[i]) exited (log: \(directory)/\(ids[i]).log)")
                }
                if allPeersUp(urls[i], peers: count - 1) { pending.remove(i) }
            }
            if pending.isEmpty { break }
            guard monotonicNanos() < deadline else {
                replicas.stop(keepDirectory: true)
                throw GroupRunFailure("replicas not all linked after 30 s (logs in \(directory))")
            }
            usleep(100_000)
        }
        return replicas
    }

    private static func allPeersUp(_ url: HubURL, peers: Int) -> Bool {
        guard let body = SystemInfo.httpGet(host: url.host, port: url.port, path: "/api/mesh", timeoutSeconds: 2),
            let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let list = object["peers"] as? [[String: Any]]
        else { return false }
        return list.count == peers && list.allSatisfy { $0["state"] as? String == "up" }
    }

    /// SIGTERM, then SIGKILL after 5 s; removes the directory unless told to keep it.
    func stop(keepDirectory: Bool = false) {
        for p in processes where p.isRunning { kill(p.processIdentifier, SIGTERM) }
        let deadline = monotonicNanos() + 5_000_000_000
        while processes.contains(where: \.isRunning), monotonicNanos() < deadline { usleep(50_000) }
        for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        for p in processes { p.waitUntilExit() }
        if !keepDirectory { try? FileManager.default.removeItem(atPath: directory) }
    }
}
