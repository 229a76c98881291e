/// A value a hub sends to clients or returns from a method.
protocol HubValue {
    var jsonValue: JSONValue { get }
    /// Appends the value as JSON. The default goes through ``jsonValue``; strings and optionals write
    /// themselves, so a broadcast's arguments take no intermediate values.
    func writeJSON(into out: inout [UInt8])
}

extension HubValue {
    func writeJSON(into out: inout [UInt8]) { JSONWriter.write(jsonValue, into: &out) }
}
