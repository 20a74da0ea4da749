@testable import BoxOfficeHTTP
import Testing

@Suite("The bearer token of an Authorization header")
struct BearerTokenTests {
    @Test("the scheme in any case, blanks around the token ignored", arguments: [
        ("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER\tabc", "abc"), ("Bearer   1.0f0f  ", "1.0f0f"), ("  Bearer x", "x"),
        ("Bearer a b", "a b"), ("Bearer é", "é"),
    ])
    func accepted(header: String, token: String) {
        #expect(QueueTokenMiddleware.bearerToken(header) == token)
    }

    @Test("anything else has no token", arguments: ["", "Bearer", "Bearer ", "Bearer \t ", "Bearerabc", "Basic abc", "Bear abc", "Bearer-abc", "token"])
    func refused(header: String) {
        #expect(QueueTokenMiddleware.bearerToken(header) == nil)
    }

    @Test("no header, no token")
    func missing() {
        #expect(QueueTokenMiddleware.bearerToken(nil) == nil)
    }
}
