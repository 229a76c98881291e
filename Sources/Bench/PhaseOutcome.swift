import Foundation
import Glibc
import NetKit
import Synchronization

/// What one send phase measured, summed over the loops.
struct PhaseOutcome {
    var expected: Int
    var sendSeconds: Double
    var delivered = 0
    var deliveriesPerSecond: Double = 0
    /// Send → delivery, for receivers on the sender's replica and on the others.
    var same: [UInt64] = []
    var cross: [UInt64] = []

    init(expected: Int, sendSeconds: Double) {
        self.expected = expected
        self.sendSeconds = sendSeconds
    }
}
