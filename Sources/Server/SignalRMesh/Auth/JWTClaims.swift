/// The claims of a validated JWT (the members of its payload object).
///
/// Only string and number claims have accessors: that is what user-id providers need, and it keeps the
/// server's JSON type out of the public API. A claim that repeats in the payload keeps its last value.
public struct JWTClaims: Sendable, Equatable {
    /// The long claim type ASP.NET Core maps both `sub` and `nameid` to (`ClaimTypes.NameIdentifier`); tokens
    /// issued by .NET code sometimes carry it verbatim.
    public static let nameIdentifierClaimType = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"

    /// The short form `JwtSecurityTokenHandler` writes for a name-identifier claim (`JwtRegisteredClaimNames.NameId`).
    public static let nameIdClaim = "nameid"

    /// Every claim by name.
    let values: [String: JSONValue]

    init(values: [String: JSONValue]) {
        self.values = values
    }

    /// Claims made of strings only, e.g. for tests of a custom ``UserIdProvider``.
    public init(strings: [String: String]) {
        values = strings.mapValues { JSONValue.string($0) }
    }

    /// The names of all claims, sorted.
    public var names: [String] { values.keys.sorted() }

    /// Whether the payload has a claim named `name`, whatever its type.
    public func contains(_ name: String) -> Bool { values[name] != nil }

    /// The claim `name` if it is a JSON string; nil when absent or of another type.
    public subscript(string name: String) -> String? { values[name]?.stringValue }

    /// The claim `name` if it is a JSON number (as the nearest `Double`); nil when absent or of another type.
    public subscript(number name: String) -> Double? { values[name]?.doubleValue }

    /// All string-valued claims. Numbers, booleans, arrays, objects and null are left out.
    public var stringClaims: [String: String] { values.compactMapValues { $0.stringValue } }

    /// `sub` (RFC 7519 §4.1.2), if it is a string.
    public var subject: String? { self[string: "sub"] }

    /// The name identifier in its .NET spellings: `nameid`, else the long `nameidentifier` claim type. Strings only.
    public var nameIdentifier: String? {
        self[string: Self.nameIdClaim] ?? self[string: Self.nameIdentifierClaimType]
    }

    /// The user id the default provider reports: the first non-empty string among `sub`, `nameid` and the long
    /// `nameidentifier` claim. ASP.NET Core maps all three to `ClaimTypes.NameIdentifier`, which its
    /// `DefaultUserIdProvider` reads. A claim of another type (`"sub": 42`) counts as absent.
    public var userId: String? {
        for name in ["sub", Self.nameIdClaim, Self.nameIdentifierClaimType] {
            if let value = self[string: name], !value.isEmpty { return value }
        }
        return nil
    }
}
