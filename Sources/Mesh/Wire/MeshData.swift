/// DATA body: one message of `origin`'s life `epoch`, numbered `seq`.
///
/// Wire form: `origin (u16 string) · epoch u64 · seq u64 · flags u8 · [destinations] · [filtered] · payload (u32 bytes)`.
/// With ``hasDestinationsFlag``: `u8 count · count × (u8 length + UTF-8 replica id)`. With ``filteredBeforeFlag``:
/// `from u64 · u8 count · count × (u8 length + UTF-8 replica id · seq u64)` (see ``FilteredRange``).
public struct MeshData: Sendable, Hashable {
    /// Bit 0: the sender knowingly skipped messages before this one (they were evicted from its log, or the
    /// origin reported them lost): nobody has them any more.
    public static let gapBeforeFlag: UInt8 = 0x01
    /// Bit 1: a relayer skipped messages before this one that it never held (it joined the origin's life
    /// later); the origin may still have them. The receiver decides: it takes the skip only when it chose
    /// this relayer knowing that, and otherwise drops the frame and looks for a better route.
    public static let notHeldBeforeFlag: UInt8 = 0x02
    /// Bit 2 (HAS_DESTINATIONS): the message is for the listed replicas only (``destinations``); without it, for all.
    public static let hasDestinationsFlag: UInt8 = 0x04
    /// Bit 3 (FILTERED_BEFORE): the seqs between the previous frame of this feed and this one were not sent to the
    /// receiver because none was for it (``filtered``).
    public static let filteredBeforeFlag: UInt8 = 0x08
    /// Most destinations one message can name (a u8 count on the wire).
    public static let maxDestinations = 255

    public var origin: String
    public var epoch: UInt64
    public var seq: UInt64
    /// ``gapBeforeFlag`` and ``notHeldBeforeFlag`` (other low bits are reserved: sent as 0, ignored). The
    /// ``hasDestinationsFlag`` and ``filteredBeforeFlag`` bits always mirror whether ``destinations`` and
    /// ``filtered`` are set.
    public var flags: UInt8
    /// The replicas this message is for (nil: every replica). Relayers carry messages that are not for them.
    public var destinations: [String]?
    /// What was skipped on purpose right before this message (FILTERED_BEFORE).
    public var filtered: FilteredRange?
    public var payload: [UInt8]

    public init(
        origin: String, epoch: UInt64, seq: UInt64, flags: UInt8 = 0, destinations: [String]? = nil,
        filtered: FilteredRange? = nil, payload: [UInt8]
    ) {
        self.origin = origin
        self.epoch = epoch
        self.seq = seq
        self.flags = MeshData.flags(flags, destinations: destinations, filtered: filtered)
        self.destinations = destinations
        self.filtered = filtered
        self.payload = payload
    }

    /// `flags` with the two bits that say which optional parts follow set from the parts themselves.
    @inline(__always)
    static func flags(_ flags: UInt8, destinations: [String]?, filtered: FilteredRange?) -> UInt8 {
        var result = flags & ~(hasDestinationsFlag | filteredBeforeFlag)
        if destinations != nil { result |= hasDestinationsFlag }
        if filtered != nil { result |= filteredBeforeFlag }
        return result
    }

    public var gapBefore: Bool { flags & MeshData.gapBeforeFlag != 0 }
    public var notHeldBefore: Bool { flags & MeshData.notHeldBeforeFlag != 0 }

    /// Whether `replica` is one of the message's destinations (true for a message to all).
    public func isFor(_ replica: String) -> Bool { destinations?.contains(replica) ?? true }
}
