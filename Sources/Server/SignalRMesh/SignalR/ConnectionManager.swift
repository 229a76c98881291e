import NetKit

/// Negotiated connections of one hub endpoint, looked up by their secret token (`id=` on the transport request).
///
/// A negotiation nobody connects to ("unclaimed") is dropped after the negotiate timeout. Unclaimed negotiations
/// are also capped, so that a client looping on /negotiate can neither grow memory nor lock others out:
///
/// - **per source address** (``maxUnclaimedPerSource``): when one address is at its cap, its own oldest unclaimed
///   negotiation is dropped to make room. A flood from one address only ever evicts its own work; everyone else's
///   negotiations are untouched.
/// - **overall** (``maxUnclaimed``), a memory bound: when it is reached the oldest unclaimed negotiation of all is
///   dropped. Clients connect within milliseconds of negotiating, so the oldest is almost surely abandoned; and a
///   negotiate never fails (it used to answer 503 for the whole negotiate timeout once the table was full).
///
/// Every operation is O(1) except ``sweep(now:timeoutNanos:)``, which is O(expired): unclaimed negotiations are
/// kept in two intrusive lists, oldest first (all of them, and one per source).
final class ConnectionManager {
    /// One negotiated (or skipNegotiation) connection.
    final class Record {
        let connectionId: String
        let token: String
        let negotiatedAt: UInt64
        /// Per-address key of the client that negotiated (``LoopbackAddress/sourceKey(_:)``); nil when created
        /// already claimed.
        let source: String?
        /// The user the negotiate request authenticated, kept for the transport request.
        var user: AuthenticatedUser?
        /// Negotiate granted stateful reconnect (the client asked and the server allows it).
        var useStatefulReconnect = false
        /// The transport that took the connection (nil: none yet).
        private(set) var transport: TransportKind?
        var claimed: Bool { transport != nil }
        fileprivate var all = Links()
        fileprivate var ofSource = Links()

        init(connectionId: String, token: String, negotiatedAt: UInt64, source: String?, transport: TransportKind? = nil) {
            self.connectionId = connectionId
            self.token = token
            self.negotiatedAt = negotiatedAt
            self.source = source
            self.transport = transport
        }

        fileprivate func markClaimed(_ kind: TransportKind) { transport = kind }
    }

    /// Links of one list: strong towards the newer neighbour, unowned towards the older, so no cycle. Unowned
    /// rather than weak: a weak reference gives its record a side table (32 bytes) for the rest of its life, and the
    /// older neighbour is alive whenever this link is followed (it holds this record through its `newer`; `remove`
    /// relinks both sides).
    fileprivate struct Links {
        var newer: Record?
        unowned(safe) var older: Record?
    }

    /// A list of unclaimed records, oldest first.
    fileprivate struct Queue {
        private(set) var oldest: Record?
        private var newest: Record?
        private(set) var count = 0

        mutating func append(_ r: Record, _ links: ReferenceWritableKeyPath<Record, Links>) {
            r[keyPath: links] = Links(newer: nil, older: newest)
            if let last = newest { last[keyPath: links].newer = r } else { oldest = r }
            newest = r
            count += 1
        }

        mutating func remove(_ r: Record, _ links: ReferenceWritableKeyPath<Record, Links>) {
            let newer = r[keyPath: links].newer
            let older = r[keyPath: links].older
            if let older { older[keyPath: links].newer = newer } else { oldest = newer }
            if let newer { newer[keyPath: links].older = older } else { newest = older }
            r[keyPath: links] = Links()
            count -= 1
        }
    }

    /// Why a negotiation was dropped to make room for a new one.
    enum Eviction: Equatable {
        /// The same source address was at ``ConnectionManager/maxUnclaimedPerSource``.
        case sourceAtCap
        /// The whole table was at ``ConnectionManager/maxUnclaimed``.
        case tableFull
    }

    private(set) var byToken: [String: Record] = [:]
    private var unclaimedAll = Queue()
    private var unclaimedBySource: [String: Queue] = [:]
    let maxUnclaimed: Int
    let maxUnclaimedPerSource: Int
    /// Makes connection ids that name their replica (nil: fully random ids).
    let owners: ConnectionOwners?

    /// - Parameters:
    ///   - maxUnclaimed: unclaimed negotiations kept at most, over all sources (a memory bound).
    ///   - maxUnclaimedPerSource: unclaimed negotiations kept at most per source address.
    ///   - owners: makes the connection ids (tagged with this replica); nil: fully random ids.
    init(maxUnclaimed: Int = 100_000, maxUnclaimedPerSource: Int = 10_000, owners: ConnectionOwners? = nil) {
        precondition(maxUnclaimed >= 1 && maxUnclaimedPerSource >= 1)
        self.owners = owners
        self.maxUnclaimed = maxUnclaimed
        self.maxUnclaimedPerSource = maxUnclaimedPerSource
    }

    deinit {
        // Unlink one by one: releasing a long chain of strong `newer` links recursively could overflow the stack.
        while let r = unclaimedAll.oldest { unlink(r) }
    }

    /// Unclaimed negotiations, over all sources.
    var unclaimedCount: Int { unclaimedAll.count }

    /// Unclaimed negotiations of one source.
    func unclaimedCount(source: String) -> Int { unclaimedBySource[source]?.count ?? 0 }

    /// Sources with unclaimed negotiations (tests).
    var sourceCount: Int { unclaimedBySource.count }

    private func newConnectionId() -> String { owners?.newConnectionId() ?? Self.randomId() }

    /// A fresh 128-bit random id, base64url without padding (22 characters).
    static func randomId() -> String {
        // Two draws of 64 bits (the system generator costs a getrandom call per draw, not per byte).
        var rng = SystemRandomNumberGenerator()
        var bytes = [UInt8]()
        bytes.reserveCapacity(16)
        for _ in 0..<2 { withUnsafeBytes(of: rng.next()) { bytes.append(contentsOf: $0) } }
        return Base64URL.encode(bytes)
    }

    /// Creates a negotiated connection for a client at `source`: under v1 the token is a second secret id; under
    /// v0 it equals the connectionId. Makes room first if a cap is reached, and says what it dropped.
    func negotiate(version: Int, source: String, now: UInt64) -> (record: Record, evicted: Eviction?) {
        var evicted: Eviction?
        if let queue = unclaimedBySource[source], queue.count >= maxUnclaimedPerSource, let oldest = queue.oldest {
            remove(token: oldest.token)
            evicted = .sourceAtCap
        } else if unclaimedAll.count >= maxUnclaimed, let oldest = unclaimedAll.oldest {
            remove(token: oldest.token)
            evicted = .tableFull
        }
        let id = newConnectionId()
        // The token names its replica too (same tag as the id), so any replica can send its requests to the owner.
        let token = version >= 1 ? newConnectionId() : id
        let record = Record(connectionId: id, token: token, negotiatedAt: now, source: source)
        byToken[token] = record
        unclaimedAll.append(record, \.all)
        unclaimedBySource[source, default: Queue()].append(record, \.ofSource)
        return (record, evicted)
    }

    /// A WebSocket request without `id` (skipNegotiation): a new connection, already claimed (its socket is
    /// the limit: it is removed when the connection ends).
    func createClaimed(now: UInt64) -> Record {
        let id = newConnectionId()
        let record = Record(connectionId: id, token: id, negotiatedAt: now, source: nil, transport: .webSockets)
        byToken[id] = record
        return record
    }

    func lookup(token: String) -> Record? { byToken[token] }

    /// A transport took the negotiated connection: it no longer counts against any cap.
    func claim(_ record: Record, as kind: TransportKind = .webSockets) {
        guard !record.claimed else { return }
        unlink(record)
        record.markClaimed(kind)
    }

    func remove(token: String) {
        guard let r = byToken.removeValue(forKey: token) else { return }
        if !r.claimed { unlink(r) }
    }

    /// Drops negotiated connections that no transport claimed within `timeoutNanos`, oldest first.
    func sweep(now: UInt64, timeoutNanos: UInt64) {
        while let oldest = unclaimedAll.oldest, now &- oldest.negotiatedAt >= timeoutNanos {
            remove(token: oldest.token)
        }
    }

    private func unlink(_ r: Record) {
        unclaimedAll.remove(r, \.all)
        if let source = r.source, var queue = unclaimedBySource[source] {
            queue.remove(r, \.ofSource)
            unclaimedBySource[source] = queue.count == 0 ? nil : queue
        }
    }
}
