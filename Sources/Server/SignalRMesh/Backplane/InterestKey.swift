/// A group or a user of one hub that a replica has members for: what routing by interest is keyed on.
struct InterestKey: Hashable, Sendable {
    enum Kind: UInt8, Sendable {
        case group = 1
        case user = 2
    }

    var hub: String
    var kind: Kind
    var name: String

    init(hub: String, kind: Kind, name: String) {
        self.hub = hub
        self.kind = kind
        self.name = name
    }
}
