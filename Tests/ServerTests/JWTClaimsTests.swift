import Testing

@testable import SignalRMesh

/// Which user a token names, and the default provider that reports it.
@Suite struct JWTClaimsTests {
    private func claims(_ payload: String) throws -> JWTClaims {
        try JWTValidator(key: JWTTestToken.key, now: { 0 }).validate(JWTTestToken.sign(payload: payload))
    }

    @Test func userIdComesFromSubFirst() throws {
        let c = try claims(#"{"sub":"alice","nameid":"bob","http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier":"carol"}"#)
        #expect(c.userId == "alice")
        #expect(c.subject == "alice")
        #expect(c.nameIdentifier == "bob")
    }

    @Test func withoutSubTheShortNameIdCounts() throws {
        let c = try claims(#"{"nameid":"bob","http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier":"carol"}"#)
        #expect(c.subject == nil)
        #expect(c.userId == "bob")
    }

    @Test func withoutSubOrNameIdTheLongClaimTypeCounts() throws {
        let c = try claims(#"{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier":"carol","name":"Carol"}"#)
        #expect(c.nameIdentifier == "carol")
        #expect(c.userId == "carol")
        #expect(JWTClaims.nameIdentifierClaimType == "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier")
    }

    @Test func noIdentifierNoUser() throws {
        #expect(try claims(#"{"name":"nobody","email":"n@example.com"}"#).userId == nil)
        #expect(try claims("{}").userId == nil)
    }

    /// A `sub` that is not a string names nobody: `42` is not the user "42".
    @Test func nonStringSubNamesNobody() throws {
        for payload in [#"{"sub":42}"#, #"{"sub":null}"#, #"{"sub":true}"#, #"{"sub":["a"]}"#, #"{"sub":{"id":"a"}}"#] {
            let c = try claims(payload)
            #expect(c.userId == nil, "\(payload)")
            #expect(c.subject == nil)
            #expect(c.contains("sub"))
        }
        // …and does not hide a string name identifier.
        #expect(try claims(#"{"sub":42,"nameid":"bob"}"#).userId == "bob")
        #expect(try claims(#"{"nameid":7}"#).userId == nil)
    }

    @Test func emptyIdentifiersAreSkipped() throws {
        #expect(try claims(#"{"sub":""}"#).userId == nil)
        #expect(try claims(#"{"sub":"","nameid":"bob"}"#).userId == "bob")
    }

    /// Ids are taken as decoded strings: escapes resolved, no trimming or case folding.
    @Test func idsAreDecodedNotNormalised() throws {
        #expect(try claims(#"{"sub":"Ren\u00e9e \ud83d\ude00"}"#).userId == "Renée 😀")
        #expect(try claims(#"{"sub":" Alice "}"#).userId == " Alice ")
    }

    @Test func repeatedClaimKeepsTheLastValue() throws {
        #expect(try claims(#"{"sub":"first","sub":"last"}"#).userId == "last")
    }

    @Test func accessors() throws {
        let c = try claims(#"{"sub":"a","role":"admin","n":1.5,"flag":true,"list":["x"],"none":null}"#)
        #expect(c.names == ["flag", "list", "n", "none", "role", "sub"])
        #expect(c.stringClaims == ["sub": "a", "role": "admin"])
        #expect(c[string: "role"] == "admin")
        #expect(c[string: "n"] == nil)
        #expect(c[number: "n"] == 1.5)
        #expect(c[number: "role"] == nil)
        #expect(c.contains("none"))
        #expect(!c.contains("missing"))
    }

    @Test func stringClaimsInitializer() {
        let c = JWTClaims(strings: ["nameid": "bob", "role": "x"])
        #expect(c.userId == "bob")
        #expect(c == JWTClaims(strings: ["role": "x", "nameid": "bob"]))
        #expect(c != JWTClaims(strings: ["nameid": "bob"]))
    }

    // MARK: - Providers

    @Test func defaultProviderReportsTheClaimsUser() throws {
        let provider = DefaultUserIdProvider()
        let request = HubRequestInfo(headers: [("Host", "x")], query: [("id", "1")])
        #expect(provider.userId(claims: try claims(#"{"sub":"alice"}"#), request: request) == "alice")
        #expect(provider.userId(claims: try claims(#"{"nameid":"bob"}"#), request: request) == "bob")
        #expect(provider.userId(claims: nil, request: request) == nil, "no token, no user")
    }

    /// A custom provider, as an app would write one, reading another claim and the request.
    @Test func customProvider() {
        struct EmailOrHeader: UserIdProvider {
            func userId(claims: JWTClaims?, request: HubRequestInfo) -> String? {
                claims?[string: "email"] ?? request.header("x-user")
            }
        }
        let provider: any UserIdProvider = EmailOrHeader()
        let claims = JWTClaims(strings: ["sub": "alice", "email": "a@example.com"])
        #expect(provider.userId(claims: claims, request: HubRequestInfo(claims: claims)) == "a@example.com")
        let request = HubRequestInfo(headers: [("X-User", "hdr")])
        #expect(provider.userId(claims: nil, request: request) == "hdr")
    }

    @Test func requestInfoLookupsIgnoreCase() {
        let request = HubRequestInfo(
            headers: [("Authorization", "Bearer t"), ("X-A", "1"), ("x-a", "2")], query: [("ID", "7"), ("id", "8")])
        #expect(request.header("authorization") == "Bearer t")
        #expect(request.header("x-a") == "1")
        #expect(request.header("missing") == nil)
        #expect(request.queryValue("id") == "7")
        #expect(request.claims == nil)
    }
}
