import NetKit

/// Negotiated connections of one hub endpoint, looked up by their secret token (`id=` on the transport request).
///
/// A negotiated connection nobody connects to is dropped after the negotiate timeout, and the number waiting is
/// capped so a client looping on /negotiate can't grow memory without bound.
final class ConnectionManager {
    final class Record {
        let connectionId: String
        let token: String
        let negotiatedAt: UInt64
        var claimed = false
        init(connectionId: String, token: String, negotiatedAt: UInt64) {
            self.connectionId = connectionId
            self.token = token
            self.negotiatedAt = negotiatedAt
        }
    }

    private(set) var byToken: [String: Record] = [:]
    private var unclaimed = 0
    let maxUnclaimed: Int

    init(maxUnclaimed: Int = 100_000) {
        self.maxUnclaimed = maxUnclaimed
    }

    /// A fresh 128-bit random id, base64url without padding (22 characters).
    static func randomId() -> String {
        var rng = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<16 { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        var s = Base64.encode(bytes)
        s = String(s.prefix { $0 != "=" })
        return String(s.map { $0 == "+" ? "-" : ($0 == "/" ? "_" : $0) })
    }

    /// Creates a negotiated connection: under v1 the token is a second secret id; under v0 it equals the connectionId.
    func negotiate(version: Int, now: UInt64) -> Record? {
        guard unclaimed < maxUnclaimed else { return nil }
        let id = Self.randomId()
        let token = version >= 1 ? Self.randomId() : id
        let record = Record(connectionId: id, token: token, negotiatedAt: now)
        byToken[token] = record
        unclaimed += 1
        return record
    }

    /// A WebSocket request without `id` (skipNegotiation): a new connection, already claimed.
    func createClaimed(now: UInt64) -> Record {
        let id = Self.randomId()
        let record = Record(connectionId: id, token: id, negotiatedAt: now)
        record.claimed = true
        byToken[id] = record
        return record
    }

    func lookup(token: String) -> Record? { byToken[token] }

    func claim(_ record: Record) {
        guard !record.claimed else { return }
        record.claimed = true
        unclaimed -= 1
    }

    func remove(token: String) {
        guard let r = byToken.removeValue(forKey: token) else { return }
        if !r.claimed { unclaimed -= 1 }
    }

    /// Drops negotiated connections that no transport claimed within `timeoutNanos`.
    func sweep(now: UInt64, timeoutNanos: UInt64) {
        guard unclaimed > 0 else { return }
        var expired: [String] = []
        for (token, r) in byToken where !r.claimed && now &- r.negotiatedAt >= timeoutNanos {
            expired.append(token)
        }
        for t in expired { remove(token: t) }
    }
}
