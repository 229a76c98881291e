import Foundation
import Glibc
import NetKit
import Synchronization

/// Why a run stopped early: one line.
struct GroupRunFailure: Error, CustomStringConvertible {
    var description: String
    init(_ text: String) { description = text }
}
