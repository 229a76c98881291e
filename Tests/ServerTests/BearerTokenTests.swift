import Testing

@testable import SignalRMesh

/// Where the token is read from, and how it is kept out of logs.
@Suite struct BearerTokenTests {
    private func extract(_ authorization: String?, _ query: String? = nil) -> String? {
        BearerToken.extract(authorization: authorization, query: query)
    }

    @Test func bearerHeader() {
        #expect(extract("Bearer abc.def.ghi") == "abc.def.ghi")
        #expect(extract("bearer abc") == "abc")
        #expect(extract("BEARER abc") == "abc")
        #expect(extract("BeArEr abc") == "abc")
    }

    @Test func whitespace() {
        #expect(extract("Bearer    abc") == "abc")
        #expect(extract("Bearer\tabc") == "abc")
        #expect(extract("  Bearer abc  ") == "abc")
        #expect(extract("Bearer abc\t") == "abc")
        // Inner whitespace is kept: such a token is then refused by the validator, not silently cut.
        #expect(extract("Bearer a b") == "a b")
    }

    /// " \u{346}" is one grapheme: trimming by `Character` dropped the combining mark with the space, so the
    /// header and the query gave different tokens (found by the jwt fuzz target).
    @Test func aTokenStartingWithACombiningMarkKeepsIt() {
        let token = "\u{346}abc"
        #expect(BearerToken.extract(authorization: "Bearer " + token, query: nil) == token)
        #expect(BearerToken.extract(authorization: nil, query: " " + token) == token)
        #expect(BearerToken.extract(authorization: "Bearer x\t\u{301}", query: nil) == "x\t\u{301}")
    }

    @Test func otherSchemesAndEmptyValuesAreNoToken() {
        for value in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer   ", "Bearerabc", "Bearer-abc", "", "   ",
            "Digest username=x", "Token abc", "Bear abc", "earer abc"]
        {
            #expect(extract(value) == nil, "\(value.debugDescription)")
        }
        #expect(extract(nil) == nil)
        #expect(extract(nil, nil) == nil)
    }

    @Test func queryWhenTheHeaderHasNone() {
        #expect(extract(nil, "qtok") == "qtok")
        #expect(extract("Basic dXNlcjpwYXNz", "qtok") == "qtok", "another scheme falls through to the query")
        #expect(extract("Bearer ", "qtok") == "qtok", "an empty bearer value falls through to the query")
        #expect(extract(nil, "") == nil)
        #expect(extract(nil, "  ") == nil)
    }

    /// When both are present the header wins (it is what a client sets deliberately on HTTP requests).
    @Test func headerBeforeQuery() {
        #expect(extract("Bearer htok", "qtok") == "htok")
    }

    /// The caller passes `HTTPRequest.queryValue("access_token")`: key matched case-insensitively, value
    /// percent-decoded. Base64url tokens have no `+`, so reading `+` as a space cannot damage one.
    @Test func queryValueFromAParsedRequest() {
        let request = HTTPRequest(method: "GET", target: "/chat?id=x&ACCESS_TOKEN=a%2Eb.c_d-e&x=1")
        #expect(extract(nil, request.queryValue(BearerToken.queryName)) == "a.b.c_d-e")
    }

    // MARK: - Redaction

    @Test func redactsTheAccessTokenValue() {
        #expect(BearerToken.redactingAccessToken("/chat?id=abc&access_token=eyJ.eyJ.sig") == "/chat?id=abc&access_token=***")
        #expect(BearerToken.redactingAccessToken("/chat?access_token=eyJ.eyJ.sig&id=abc") == "/chat?access_token=***&id=abc")
        #expect(BearerToken.redactingAccessToken("/chat?access_token=t") == "/chat?access_token=***")
    }

    @Test func redactsEveryOccurrenceAndEverySpelling() {
        #expect(
            BearerToken.redactingAccessToken("/h?access_token=1&Access_Token=2&ACCESS_TOKEN=3&%61ccess_token=4&access%5Ftoken=5")
                == "/h?access_token=***&Access_Token=***&ACCESS_TOKEN=***&%61ccess_token=***&access%5Ftoken=***")
    }

    @Test func redactsInAbsoluteFormTargets() {
        #expect(
            BearerToken.redactingAccessToken("http://host:5000/chat/negotiate?negotiateVersion=1&access_token=abc")
                == "http://host:5000/chat/negotiate?negotiateVersion=1&access_token=***")
    }

    /// The HTTP parser gives `#` no meaning in a request target, so neither does redaction: what the server would
    /// read as a token is redacted, even after a `#`.
    @Test func aHashHidesNothing() {
        #expect(BearerToken.redactingAccessToken("/c?x=1#&access_token=abc") == "/c?x=1#&access_token=***")
        #expect(BearerToken.redactingAccessToken("/c?access_token=abc#frag") == "/c?access_token=***")
        let request = HTTPRequest(method: "GET", target: "/c?x=1#&access_token=abc")
        #expect(request.queryValue("access_token") == "abc", "the parser's reading, which redaction follows")
    }

    @Test func leavesEverythingElseAlone() {
        for target in [
            "/", "/chat", "/chat?", "/chat?id=1", "/chat?access_token", "/chat?my_access_token=x", "/chat?access_tokens=x",
            "/chat?x=access_token=y", "/access_token=x", "/chat?a=1&&b=2&", "/chat#access_token=x", "/é?ü=1", "/c?x=1#access_token=y",
        ] {
            #expect(BearerToken.redactingAccessToken(target) == target, "\(target)")
        }
    }

    @Test func emptyValueIsRedactedToo() {
        #expect(BearerToken.redactingAccessToken("/c?access_token=&x=1") == "/c?access_token=***&x=1")
    }

    /// Nothing of a real token survives redaction of a target the JS client builds.
    @Test func noTokenPartSurvives() {
        let token = JWTTestToken.sign(payload: #"{"sub":"alice"}"#)
        let target = "/chatHub?id=AbCdEf&access_token=\(token)"
        let redacted = BearerToken.redactingAccessToken(target)
        for piece in token.split(separator: ".") {
            #expect(!redacted.contains(piece))
        }
        #expect(redacted == "/chatHub?id=AbCdEf&access_token=***")
    }
}
