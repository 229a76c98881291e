/// Who a hub request authenticated as: its token's claims and the user id the provider took from them.
struct AuthenticatedUser: Sendable {
    var userId: String?
    var claims: JWTClaims?

    init(userId: String? = nil, claims: JWTClaims? = nil) {
        self.userId = userId
        self.claims = claims
    }
}
