/// A hub method parameter type: built from the JSON argument the client sent.
protocol HubArgument {
    init(hubArgument json: JSONValue) throws
}

extension String: HubArgument, HubValue {
    init(hubArgument json: JSONValue) throws {
        guard case .string(let s) = json else { throw ArgumentTypeMismatch() }
        self = s
    }
    var jsonValue: JSONValue { .string(self) }
    func writeJSON(into out: inout [UInt8]) { JSONWriter.writeString(self, into: &out) }
}

extension Int: HubArgument, HubValue {
    init(hubArgument json: JSONValue) throws {
        guard case .number = json, let v = json.intValue else { throw ArgumentTypeMismatch() }
        self = v
    }
    var jsonValue: JSONValue { .number(String(self)) }
}

extension Double: HubArgument, HubValue {
    init(hubArgument json: JSONValue) throws {
        guard case .number = json, let v = json.doubleValue else { throw ArgumentTypeMismatch() }
        self = v
    }
    var jsonValue: JSONValue { .number(self.isFinite ? "\(self)" : "0") }
}

extension Bool: HubArgument, HubValue {
    init(hubArgument json: JSONValue) throws {
        guard case .bool(let b) = json else { throw ArgumentTypeMismatch() }
        self = b
    }
    var jsonValue: JSONValue { .bool(self) }
}

extension JSONValue: HubArgument, HubValue {
    init(hubArgument json: JSONValue) throws { self = json }
    var jsonValue: JSONValue { self }
}

extension Optional: HubArgument where Wrapped: HubArgument {
    init(hubArgument json: JSONValue) throws {
        if case .null = json { self = nil } else { self = try Wrapped(hubArgument: json) }
    }
}

extension Optional: HubValue where Wrapped: HubValue {
    var jsonValue: JSONValue { self?.jsonValue ?? .null }
    func writeJSON(into out: inout [UInt8]) {
        if let self { self.writeJSON(into: &out) } else { JSONWriter.appendASCII("null", to: &out) }
    }
}

extension Array: HubArgument where Element: HubArgument {
    init(hubArgument json: JSONValue) throws {
        guard case .array(let items) = json else { throw ArgumentTypeMismatch() }
        self = try items.map { try Element(hubArgument: $0) }
    }
}

extension Array: HubValue where Element: HubValue {
    var jsonValue: JSONValue { .array(map(\.jsonValue)) }
}
