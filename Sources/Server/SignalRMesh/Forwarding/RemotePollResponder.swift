/// A long poll that reached another replica (the front) and was forwarded here, to the connection's owner: the
/// answer goes back over the backplane. Confined to the loop.
final class RemotePollResponder: LongPollResponder {
    var onGone: (() -> Void)?
    private var answer: ((Int, String?, [UInt8]) -> Void)?

    init(answer: @escaping (Int, String?, [UInt8]) -> Void) { self.answer = answer }

    func respond(status: Int, contentType: String?, body: [UInt8]) {
        guard let answer else { return }
        self.answer = nil
        answer(status, contentType, body)
    }

    /// The front's socket closed (or the front became unreachable): nobody waits for this poll any more.
    func gone() {
        answer = nil
        let cb = onGone
        onGone = nil
        cb?()
    }
}
