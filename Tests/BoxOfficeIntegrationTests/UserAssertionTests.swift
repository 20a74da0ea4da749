import BoxOfficeDomain
import BoxOfficeHTTP
import Foundation
import JWTKit
import Testing
import TestSupport

/// Docs/api.md, Queue, "Who may speak for a user": with USER_ASSERTION_KEY (HS256) or
/// USER_ASSERTION_JWKS set, a token is issued only to the user the site's signed assertion names.
@Suite("User assertions: only the site's signed word gets a user's place in line", .tags(.redisCluster))
struct UserAssertionTests {
    typealias Kit = HoldsTestKit

    struct Assertion: JWTPayload {
        var sub: SubjectClaim
        var aud: AudienceClaim
        var exp: ExpirationClaim
        var nbf: NotBeforeClaim?
        var iat: IssuedAtClaim?
        func verify(using algorithm: some JWTAlgorithm) async throws {}

        init(
            user: String, audience: String = "boxoffice", expiresIn: TimeInterval = 300, validFromIn: TimeInterval? = nil,
            issuedIn: TimeInterval? = nil
        ) {
            self.sub = SubjectClaim(value: user)
            self.aud = AudienceClaim(value: [audience])
            self.exp = ExpirationClaim(value: Date().addingTimeInterval(expiresIn))
            self.nbf = validFromIn.map { NotBeforeClaim(value: Date().addingTimeInterval($0)) }
            self.iat = issuedIn.map { IssuedAtClaim(value: Date().addingTimeInterval($0)) }
        }
    }

    static let secret = "test-site-secret-0123456789abcdef"

    static func sharedSecretKeys(_ secret: String = Self.secret) async -> JWTKeyCollection {
        await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
    }

    static func ask(
        _ http: TestHTTPClient, _ base: String, concertID: Int, userId: String?, assertion: String?
    ) async throws -> TestHTTPClient.Reply {
        var body: [String: Any] = ["concertId": concertID]
        if let userId { body["userId"] = userId }
        return try await http.request(.POST, "\(base)/v1/queue/tokens", token: assertion, json: body)
    }

    @Test("HS256: the named user gets a token (userId optional); missing, forged, expired, wrong-audience and other-user assertions get 401 USER_UNAUTHORIZED")
    func sharedSecret() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        let site = await Self.sharedSecretKeys()
        let forger = await Self.sharedSecretKeys("not-the-site-secret-but-as-long-as-one")
        try await TestStack.withInstances(1, environment: ["USER_ASSERTION_KEY": Self.secret]) { bases in
            try await TestHTTPClient.with { http in
                let base = bases[0]
                let user = UUID().uuidString.lowercased()
                let valid = try await site.sign(Assertion(user: user))

                let first = try await Self.ask(http, base, concertID: concert.id, userId: user, assertion: valid)
                #expect(first.status == 201, "\(first.text)")
                #expect(first.json["userId"] as? String == user)
                let again = try await Self.ask(http, base, concertID: concert.id, userId: nil, assertion: valid)
                #expect(again.status == 200, "\(again.text)")
                #expect(again.json["token"] as? String == first.json["token"] as? String)
                // The token then works as in demo mode.
                let status = try await http.request(.GET, "\(base)/v1/queue/status", token: first.json["token"] as? String)
                #expect(status.status == 200)

                let victim = UUID().uuidString.lowercased()
                let refused: [(String, String?, String?)] = [
                    ("no assertion", victim, nil),
                    ("not a JWT", victim, "garbage"),
                    ("forged (another key)", victim, try await forger.sign(Assertion(user: victim))),
                    ("expired", victim, try await site.sign(Assertion(user: victim, expiresIn: -60))),
                    ("wrong audience", victim, try await site.sign(Assertion(user: victim, audience: "another-site"))),
                    ("another user's assertion", victim, valid),
                    ("a subject that is no user id", nil, try await site.sign(Assertion(user: "admin"))),
                    ("not valid yet (nbf in 5 min)", victim, try await site.sign(Assertion(user: victim, validFromIn: 300))),
                    ("issued in 5 min (iat)", victim, try await site.sign(Assertion(user: victim, issuedIn: 300))),
                    ("valid for two days", victim, try await site.sign(Assertion(user: victim, expiresIn: 2 * 86_400))),
                ]
                for (what, userId, assertion) in refused {
                    let reply = try await Self.ask(http, base, concertID: concert.id, userId: userId, assertion: assertion)
                    Kit.expectProblem(reply, 401, "USER_UNAUTHORIZED", what)
                }
                // Clocks a little apart: nbf and iat up to a minute ahead pass.
                let skewed = UUID().uuidString.lowercased()
                let early = try await site.sign(Assertion(user: skewed, validFromIn: 30, issuedIn: 30))
                #expect(try await Self.ask(http, base, concertID: concert.id, userId: nil, assertion: early).status == 201)
                // Nobody got a place in line for the victim.
                let victimsToken = try await Self.ask(http, base, concertID: concert.id, userId: victim, assertion: try await site.sign(Assertion(user: victim)))
                #expect(victimsToken.status == 201, "\(victimsToken.text)")
            }
        }
    }

    @Test("JWKS: assertions signed with the site's ES256 key pass; another key with the same kid and expired ones do not")
    func keySet() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        let siteKey = ES256PrivateKey()
        let parameters = try #require(siteKey.publicKey.parameters)
        let jwks = """
            {"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":"site-1","x":"\(parameters.x)","y":"\(parameters.y)"}]}
            """
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("boxoffice-jwks-\(UUID().uuidString).json").path
        try jwks.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let site = await JWTKeyCollection().add(ecdsa: siteKey, kid: "site-1")
        let forger = await JWTKeyCollection().add(ecdsa: ES256PrivateKey(), kid: "site-1")

        try await TestStack.withInstances(1, environment: ["USER_ASSERTION_JWKS": path]) { bases in
            try await TestHTTPClient.with { http in
                let user = UUID().uuidString.lowercased()
                let valid = try await Self.ask(http, bases[0], concertID: concert.id, userId: nil,
                                               assertion: try await site.sign(Assertion(user: user), kid: "site-1"))
                #expect(valid.status == 201, "\(valid.text)")
                #expect(valid.json["userId"] as? String == user)
                let forged = try await forger.sign(Assertion(user: UUID().uuidString), kid: "site-1")
                Kit.expectProblem(try await Self.ask(http, bases[0], concertID: concert.id, userId: nil, assertion: forged), 401, "USER_UNAUTHORIZED", "forged")
                let expired = try await site.sign(Assertion(user: UUID().uuidString, expiresIn: -60), kid: "site-1")
                Kit.expectProblem(try await Self.ask(http, bases[0], concertID: concert.id, userId: nil, assertion: expired), 401, "USER_UNAUTHORIZED", "expired")
            }
        }
    }

    @Test("demo mode (no key): the body's userId is trusted and required")
    func demoMode() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let reply = try await Self.ask(http, bases[0], concertID: concert.id, userId: UUID().uuidString, assertion: nil)
                #expect(reply.status == 201)
                Kit.expectProblem(try await Self.ask(http, bases[0], concertID: concert.id, userId: nil, assertion: nil), 400, "INVALID_REQUEST", "no userId")
            }
        }
    }

    @Test("a missing or unusable JWKS file, a key without its alg, a short key, or both settings at once stop the instance at start")
    func badKeySetFailsFast() async throws {
        // A key that does not name its algorithm would take the one a token's header names.
        let parameters = try #require(ES256PrivateKey().publicKey.parameters)
        let unnamed = """
            {"keys":[{"kty":"EC","crv":"P-256","use":"sig","kid":"no-alg","x":"\(parameters.x)","y":"\(parameters.y)"}]}
            """
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("boxoffice-jwks-\(UUID().uuidString).json").path
        try unnamed.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let withoutAlg = try TestStack.configuration(["USER_ASSERTION_JWKS": path])
        await #expect(throws: ConfigurationError.self) { _ = try await UserAssertionVerifier.make(withoutAlg.userAssertions) }

        #expect(throws: (any Error).self) { try TestStack.configuration(["USER_ASSERTION_JWKS": "/nonexistent/jwks.json"]) }
        #expect(throws: (any Error).self) { try TestStack.configuration(["USER_ASSERTION_KEY": Self.secret, "USER_ASSERTION_JWKS": "/etc/hostname"]) }
        #expect(throws: (any Error).self) { try TestStack.configuration(["USER_ASSERTION_KEY": "too-short"]) }
        let configuration = try TestStack.configuration(["USER_ASSERTION_JWKS": "/etc/hostname"])
        await #expect(throws: (any Error).self) { _ = try await UserAssertionVerifier.make(configuration.userAssertions) }
    }
}
