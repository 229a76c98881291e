import Foundation
import Glibc
import NetKit
import Synchronization

enum GroupMessageKind: Sendable {
    case group, all

    var marker: UInt8 { self == .group ? UInt8(ascii: "M") : UInt8(ascii: "A") }
}
