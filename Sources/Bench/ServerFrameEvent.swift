/// What ``ServerFrameParser`` produces.
enum ServerFrameEvent: Equatable {
    /// A whole text message (fragments joined).
    case text([UInt8])
    case binary([UInt8])
    case ping([UInt8])
    case pong
    case close(code: UInt16?)
}
