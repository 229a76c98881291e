import Foundation
import Glibc
import NetKit
import Synchronization

/// Lost, duplicated and misrouted deliveries, summed over the loops.
struct DeliveryCheck: Sendable {
    var groupLost = 0
    var groupDuplicates = 0
    var groupMisrouted = 0
    var allLost = 0
    var allDuplicates = 0
    var unparsed = 0

    mutating func add(_ other: DeliveryCheck) {
        groupLost += other.groupLost
        groupDuplicates += other.groupDuplicates
        groupMisrouted += other.groupMisrouted
        allLost += other.allLost
        allDuplicates += other.allDuplicates
        unparsed += other.unparsed
    }
}
