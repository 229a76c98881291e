extension MeshNode {
    /// Everything kept per origin, so that a DATA frame costs one dictionary lookup instead of five.
    final class OriginState {
        /// Our own messages (seq = 1, 2, 3… per epoch), or the remote ones we relay.
        var log: OriginLog
        /// What we delivered of it (unused for our own origin).
        var receive = ReceiveState()
        /// Messages known lost (GAP_BEFORE).
        var gaps: UInt64 = 0
        /// The relayer whose NOT_HELD skips we take as gaps: chosen as a last resort by `updateRoutes`.
        var acceptsUnheldFrom: String?
        /// Since when no route could feed us this origin without skipping what it may still hold (nil: one can).
        var uncoveredSince: UInt64?

        init(log: OriginLog) { self.log = log }
    }
}
