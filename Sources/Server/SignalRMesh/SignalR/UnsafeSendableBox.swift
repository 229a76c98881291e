/// Carries a loop-confined object through a `@Sendable` closure that only touches it back on its loop.
struct UnsafeSendableBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
