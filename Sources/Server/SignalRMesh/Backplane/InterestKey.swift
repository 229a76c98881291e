/// A group or a user of one hub that a replica has members for, or a hub protocol its clients of that hub use:
/// what routing by interest is keyed on.
struct InterestKey: Hashable, Sendable {
    enum Kind: UInt8, Sendable {
        case group = 1
        case user = 2
        /// `name` is a hub protocol (`messagepack`): a sender includes that encoding in what it sends over the
        /// backplane only while some replica has clients that use it.
        case hubProtocol = 3
        /// `name` is a name some connection here is online under (``PresenceRoster``): replicated like interest so
        /// that every replica knows who is online mesh-wide, and forgotten with a replica that can't be reached.
        case presence = 4
    }

    var hub: String
    var kind: Kind
    var name: String

    init(hub: String, kind: Kind, name: String) {
        self.hub = hub
        self.kind = kind
        self.name = name
    }

    /// Byte for byte (see ``ExactName``): names that are only canonically equivalent are different keys.
    static func == (a: InterestKey, b: InterestKey) -> Bool {
        a.kind == b.kind && ExactName(a.name) == ExactName(b.name) && ExactName(a.hub) == ExactName(b.hub)
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
        hasher.combine(ExactName(hub))
        hasher.combine(ExactName(name))
    }
}
