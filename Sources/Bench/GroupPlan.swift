import Foundation
import Glibc
import NetKit
import Synchronization

/// Which group and sender each message has: fixed before the run from `--seed`, read by every loop.
struct GroupPlan: Sendable {
    let groups: Int
    let members: Int
    let replicas: Int
    /// Group of each `SendToGroup` message.
    let groupOf: [Int32]
    /// Sending connection of each `SendToGroup` message (a member of that group).
    let senderOf: [Int32]
    /// Ids of the messages sent to each group, ascending.
    let messagesOf: [[Int32]]
    /// Sending connection of each `SendToAll` message.
    let allSenderOf: [Int32]

    init(groups: Int, members: Int, replicas: Int, messages: Int, allMessages: Int, seed: UInt64) {
        self.groups = groups
        self.members = members
        self.replicas = replicas
        var random = SplitMix64(seed: seed)
        var groupOf = [Int32](repeating: 0, count: messages)
        var senderOf = [Int32](repeating: 0, count: messages)
        var messagesOf = [[Int32]](repeating: [], count: groups)
        for i in 0..<messages {
            let g = random.below(groups)
            groupOf[i] = Int32(g)
            senderOf[i] = Int32(g * members + random.below(members))
            messagesOf[g].append(Int32(i))
        }
        self.groupOf = groupOf
        self.senderOf = senderOf
        self.messagesOf = messagesOf
        let connections = groups * members
        allSenderOf = (0..<allMessages).map { _ in Int32(random.below(connections)) }
    }

    var connections: Int { groups * members }

    func replica(ofConnection c: Int) -> Int { c % replicas }

    /// Replicas other than the sender's with members of the message's group: the DATA frames routing by
    /// interest needs (flooding sends `replicas − 1`).
    func otherReplicasWithMembers(message i: Int) -> Int {
        let g = Int(groupOf[i])
        var seen = Set<Int>()
        for k in 0..<members { seen.insert(replica(ofConnection: g * members + k)) }
        seen.remove(replica(ofConnection: Int(senderOf[i])))
        return seen.count
    }
}
