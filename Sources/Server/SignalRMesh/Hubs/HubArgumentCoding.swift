/// Hub method arguments and results to and from JSON: scalars and strings through ``HubArgument``/``HubValue``
/// (no intermediate values), anything else through `Codable`.
enum HubArgumentCoding {
    /// The argument's JSON didn't fit the parameter's type; `detail` says how (for `--detailed-errors`).
    struct Mismatch: Error, CustomStringConvertible {
        var detail: String
        var description: String { detail }
    }

    static func decode<T: Decodable>(_ type: T.Type, from json: JSONValue) throws -> T {
        if let fast = type as? any HubArgument.Type {
            do {
                return try fast.init(hubArgument: json) as! T
            } catch {
                throw Mismatch(detail: "the argument is not a \(T.self)")
            }
        }
        do {
            return try JSONValueDecoder.decode(type, from: json)
        } catch {
            throw Mismatch(detail: "\(error)")
        }
    }

    static func write<T: Encodable>(_ value: T, into out: inout [UInt8]) throws {
        if let fast = value as? any HubValue {
            fast.writeJSON(into: &out)
        } else {
            try JSONValueEncoder.write(value, into: &out)
        }
    }

    static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        if let fast = value as? any HubValue { return fast.jsonValue }
        return try JSONValueEncoder.encode(value)
    }
}
