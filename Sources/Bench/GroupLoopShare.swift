import Foundation
import Glibc
import NetKit
import Synchronization

/// The clients of one loop and everything they record. Confined to `loop` (hence `@unchecked Sendable`).
final class GroupLoopShare: @unchecked Sendable {
    let loop: EventLoop
    let plan: GroupPlan
    let window: Int
    private var clients: [HubClient] = []
    /// Global connection index of each local client.
    private let connection: [Int]
    private let localIndex: [Int: Int]

    private(set) var opened = 0
    private(set) var connectFailed = 0
    private(set) var connectFailure: String?
    private var nextToOpen = 0
    private var opening = 0

    private(set) var joined = 0
    private(set) var joinFailed = 0
    private(set) var joinFailure: String?
    private var nextToJoin = 0
    private var joining = 0

    private(set) var broken: String?
    private var unparsed = 0

    /// Ids of the group messages each local client got, in arrival order.
    private var groupReceived: [[Int32]]
    /// One bit per `SendToAll` message per local client.
    private var allSeen: [[UInt64]]
    private var allDuplicates = 0
    private var groupDelivered = 0
    private var allDelivered = 0
    private var same: [UInt64] = []
    private var cross: [UInt64] = []
    private var lastDelivery: UInt64 = 0

    private var sendList: [(id: Int, local: Int)] = []
    private var sendKind = GroupMessageKind.group
    private var sendStart: UInt64 = 0
    private var sendRate = 1.0
    private(set) var sent = 0
    private var timer: TimerID?
    private var payload: [UInt8]
    private var record: [UInt8] = []

    var clientCount: Int { clients.count }

    init(loop: EventLoop, urls: [HubURL], plan: GroupPlan, connections: [Int], window: Int, size: Int) {
        self.loop = loop
        self.plan = plan
        self.window = window
        connection = connections
        var index: [Int: Int] = [:]
        for (li, c) in connections.enumerated() { index[c] = li }
        localIndex = index
        clients = connections.map { HubClient(loop: loop, url: urls[plan.replica(ofConnection: $0)]) }
        groupReceived = Array(repeating: [], count: connections.count)
        allSeen = Array(repeating: [UInt64](repeating: 0, count: (plan.allSenderOf.count + 63) / 64), count: connections.count)
        payload = [UInt8](repeating: UInt8(ascii: "x"), count: size)
    }

    // MARK: Connect and join (windowed)

    func startConnecting() {
        for (li, client) in clients.enumerated() {
            client.onRecord = { [unowned self] record, now in received(li, record, now) }
            client.onClose = { [unowned self] reason in
                broken = broken ?? "connection \(connection[li]) to \(client.url.hostHeader): \(reason)"
            }
        }
        pumpConnect()
    }

    private func pumpConnect() {
        while opening < window, nextToOpen < clients.count {
            let li = nextToOpen
            nextToOpen += 1
            opening += 1
            clients[li].start(skipNegotiation: true) { [unowned self] result in
                opening -= 1
                switch result {
                case .success:
                    opened += 1
                case .failure(let e):
                    connectFailed += 1
                    connectFailure = connectFailure ?? "connection \(connection[li]) to \(clients[li].url.hostHeader): \(e)"
                }
                pumpConnect()
            }
        }
    }

    func startJoining() { pumpJoin() }

    private func pumpJoin() {
        while joining < window, nextToJoin < clients.count {
            let li = nextToJoin
            nextToJoin += 1
            joining += 1
            record.removeAll(keepingCapacity: true)
            record.append(contentsOf: "{\"type\":1,\"invocationId\":\"\(li)\",\"target\":\"JoinGroup\",\"arguments\":[\"g".utf8)
            record.append(contentsOf: String(connection[li] / plan.members).utf8)
            record.append(contentsOf: "\"]}".utf8)
            record.append(HubMessages.recordSeparator)
            record.withUnsafeBytes { clients[li].send(record: $0) }
        }
    }

    private func joinCompleted(_ li: Int, error: String?) {
        joining -= 1
        if let error {
            joinFailed += 1
            joinFailure = joinFailure ?? "JoinGroup of connection \(connection[li]) failed: \(error)"
        } else {
            joined += 1
        }
        pumpJoin()
    }

    // MARK: Sending

    func startSending(_ kind: GroupMessageKind, start: UInt64, rate: Double) {
        sendKind = kind
        sendStart = start
        sendRate = rate
        sent = 0
        sendList = []
        let senders = kind == .group ? plan.senderOf : plan.allSenderOf
        for (id, c) in senders.enumerated() {
            if let li = localIndex[Int(c)] { sendList.append((id, li)) }
        }
        timer = loop.scheduleRepeating(everyNanos: 1_000_000) { [weak self] in self?.tick() }
    }

    private func tick() {
        let now = monotonicNanos()
        var burst = 0
        while sent < sendList.count, burst < 10_000 {
            let (id, li) = sendList[sent]
            let due = sendStart + UInt64(Double(id) * 1e9 / sendRate)
            guard due <= now else { break }
            sendOne(id: id, from: li)
            sent += 1
            burst += 1
        }
        if sent >= sendList.count, let timer {
            loop.cancel(timer)
            self.timer = nil
        }
    }

    private func sendOne(id: Int, from li: Int) {
        let t = monotonicNanos()
        payload[0] = sendKind.marker
        payload[1] = UInt8(ascii: "|")
        writeDigits(UInt64(id), count: 10, at: 2)
        payload[12] = UInt8(ascii: "|")
        writeDigits(t, count: 20, at: 13)
        payload[33] = UInt8(ascii: "|")
        record.removeAll(keepingCapacity: true)
        if sendKind == .group {
            record.append(contentsOf: "{\"type\":1,\"target\":\"SendToGroup\",\"arguments\":[\"g".utf8)
            record.append(contentsOf: String(plan.groupOf[id]).utf8)
            record.append(contentsOf: "\",\"".utf8)
        } else {
            record.append(contentsOf: "{\"type\":1,\"target\":\"SendToAll\",\"arguments\":[\"".utf8)
        }
        record.append(contentsOf: payload)
        record.append(contentsOf: "\"]}".utf8)
        record.append(HubMessages.recordSeparator)
        record.withUnsafeBytes { clients[li].send(record: $0) }
    }

    private func writeDigits(_ value: UInt64, count: Int, at offset: Int) {
        var v = value
        var i = offset + count - 1
        while i >= offset {
            payload[i] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
            i -= 1
        }
    }

    // MARK: Receiving

    private func received(_ li: Int, _ record: UnsafeRawBufferPointer, _ now: UInt64) {
        guard let (kind, id, sentAt) = Self.findPayload(record) else {
            return otherRecord(li, record)
        }
        let latency = now >= sentAt ? now - sentAt : 0
        let sender: Int
        switch kind {
        case .group:
            guard id < plan.senderOf.count else { unparsed += 1; return }
            groupReceived[li].append(Int32(id))
            groupDelivered += 1
            sender = Int(plan.senderOf[id])
        case .all:
            guard id < plan.allSenderOf.count else { unparsed += 1; return }
            let bit: UInt64 = 1 << UInt64(id & 63)
            if allSeen[li][id >> 6] & bit != 0 {
                allDuplicates += 1
                return
            }
            allSeen[li][id >> 6] |= bit
            allDelivered += 1
            sender = Int(plan.allSenderOf[id])
        }
        lastDelivery = max(lastDelivery, now)
        if plan.replica(ofConnection: sender) == plan.replica(ofConnection: connection[li]) {
            same.append(latency)
        } else {
            cross.append(latency)
        }
    }

    /// Completions (of JoinGroup), pings, close messages, anything else.
    private func otherRecord(_ li: Int, _ record: UnsafeRawBufferPointer) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(record)) as? [String: Any],
            let type = (object["type"] as? NSNumber)?.intValue
        else {
            unparsed += 1
            return
        }
        switch type {
        case 3: joinCompleted(li, error: object["error"] as? String)
        case 6: break
        case 7: broken = broken ?? "connection \(connection[li]): server sent Close \(object["error"] as? String ?? "")"
        default: unparsed += 1
        }
    }

    /// The kind, id and send time of a group (`"M|…`) or send-to-all (`"A|…`) stamp in `record`.
    static func findPayload(_ record: UnsafeRawBufferPointer) -> (GroupMessageKind, Int, UInt64)? {
        guard let stamp = BenchStamp.find(in: record, kinds: (UInt8(ascii: "M"), UInt8(ascii: "A"))) else { return nil }
        return (stamp.kind == UInt8(ascii: "M") ? .group : .all, Int(stamp.id), stamp.sentAt)
    }

    // MARK: Results

    func delivered(_ kind: GroupMessageKind) -> Int { kind == .group ? groupDelivered : allDelivered }

    /// Hands over (and clears) the latencies of the phase that just ended.
    func finishPhase(_ kind: GroupMessageKind) -> (delivered: Int, same: [UInt64], cross: [UInt64], lastDelivery: UInt64) {
        if let timer { loop.cancel(timer) }
        timer = nil
        let result = (delivered(kind), same, cross, lastDelivery)
        same = []
        cross = []
        lastDelivery = 0
        return result
    }

    /// Each local client's group deliveries against its group's messages; its `SendToAll` bits against all.
    func check() -> DeliveryCheck {
        var c = DeliveryCheck()
        c.unparsed = unparsed
        c.allDuplicates = allDuplicates
        let allCount = plan.allSenderOf.count
        for li in clients.indices {
            let got = groupReceived[li].sorted()
            var unique: [Int32] = []
            unique.reserveCapacity(got.count)
            for id in got where unique.last != id { unique.append(id) }
            c.groupDuplicates += got.count - unique.count
            let expected = plan.messagesOf[connection[li] / plan.members]
            var a = 0
            var b = 0
            var matched = 0
            while a < unique.count, b < expected.count {
                if unique[a] == expected[b] {
                    matched += 1
                    a += 1
                    b += 1
                } else if unique[a] < expected[b] {
                    a += 1
                } else {
                    b += 1
                }
            }
            c.groupMisrouted += unique.count - matched
            c.groupLost += expected.count - matched
            let seen = allSeen[li].reduce(0) { $0 + $1.nonzeroBitCount }
            c.allLost += allCount - seen
        }
        return c
    }

    func closeAll() {
        if let timer { loop.cancel(timer) }
        timer = nil
        for c in clients {
            c.onClose = nil
            c.close()
        }
    }
}
