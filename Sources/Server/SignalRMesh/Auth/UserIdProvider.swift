/// Decides which user a hub connection belongs to; `Clients.User(id)` and `requireUser` go by this id.
///
/// The server calls it once per connection, when the connection is created, with the claims of the request's
/// bearer token (if there was a valid one) and the request itself. A nil or empty id means "no user": the
/// connection still works unless its hub or method requires a user.
///
/// ```swift
/// /// Users are named by an `email` claim instead of `sub`.
/// struct EmailUserIdProvider: UserIdProvider {
///     func userId(claims: JWTClaims?, request: HubRequestInfo) -> String? { claims?[string: "email"] }
/// }
/// ```
public protocol UserIdProvider: Sendable {
    /// The user id of a new connection, or nil for none.
    /// - Parameters:
    ///   - claims: the validated token's claims; nil when the request had no token or an invalid one.
    ///   - request: the request that opened the connection.
    func userId(claims: JWTClaims?, request: HubRequestInfo) -> String?
}

/// The default: the token's ``JWTClaims/userId`` (`sub`, else `nameid`, else the long `nameidentifier` claim), as
/// ASP.NET Core's `DefaultUserIdProvider` reads `ClaimTypes.NameIdentifier`. No token, no user.
public struct DefaultUserIdProvider: UserIdProvider {
    public init() {}

    public func userId(claims: JWTClaims?, request: HubRequestInfo) -> String? {
        claims?.userId
    }
}
