import BoxOfficeDomain
import Foundation
import Hummingbird
import JWTKit

/// Who may speak for a user (Docs/api.md, "Who is asking"): with `USER_ASSERTION_KEY` (an HS256 secret shared
/// with the site's login) or `USER_ASSERTION_JWKS` (a file with the site's public keys) set,
/// `POST /v1/queue/tokens` needs a JWT signed by the site whose `sub` is the user. Without either
/// the instance runs in demo mode and trusts the body's userId.
public struct UserAssertionSettings: Sendable {
    public enum Key: Sendable, Equatable {
        /// `USER_ASSERTION_KEY`: the shared HS256 secret.
        case sharedSecret(String)
        /// `USER_ASSERTION_JWKS`: the JSON of a JWK set, read from the file at start.
        case keySet(json: String)
    }

    /// nil: demo mode.
    public var key: Key?

    public init(key: Key?) {
        self.key = key
    }

    public init(_ reader: SettingsReader) throws {
        let scope = reader.scoped(to: "user.assertion")
        let secret = scope.string("key", default: "", secret: true)
        let path = scope.string("jwks", default: "")
        switch (secret.isEmpty, path.isEmpty) {
        case (true, true):
            self.key = nil
        case (false, true):
            // RFC 7518 3.2: an HS256 key at least as long as the hash (jwt-kit asserts it too).
            guard secret.utf8.count >= 32 else {
                throw ConfigurationError(description: "USER_ASSERTION_KEY must be at least 32 bytes (HS256)")
            }
            self.key = .sharedSecret(secret)
        case (true, false):
            guard let json = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError(description: "USER_ASSERTION_JWKS=\(path) is not a readable file")
            }
            self.key = .keySet(json: json)
        case (false, false):
            throw ConfigurationError(description: "set USER_ASSERTION_KEY or USER_ASSERTION_JWKS, not both")
        }
    }
}

extension UserAssertionSettings: CustomStringConvertible {
    /// Never the secret itself.
    public var description: String {
        switch self.key {
        case nil: "demo mode (no user assertions)"
        case .sharedSecret: "HS256 user assertions (key redacted)"
        case .keySet: "user assertions verified against a JWK set"
        }
    }
}

/// The claims BoxOffice reads from a user assertion, checked on every verification: not expired,
/// for BoxOffice, not used before its `nbf` nor issued in the future (`iat`), both with a minute's
/// leeway for the clocks of the site and the instances, and never valid for more than a day from
/// now: an assertion is a login's word for the next minutes, not a credential to keep.
struct UserAssertion: JWTPayload {
    static let audience = "boxoffice"
    static let leeway: TimeInterval = 60
    static let maximumLifetime: TimeInterval = 86_400

    let sub: SubjectClaim
    let aud: AudienceClaim
    let exp: ExpirationClaim
    let nbf: NotBeforeClaim?
    let iat: IssuedAtClaim?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        let now = Date()
        try self.exp.verifyNotExpired(currentDate: now)
        try self.aud.verifyIntendedAudience(includes: Self.audience)
        try self.nbf?.verifyNotBefore(currentDate: now.addingTimeInterval(Self.leeway))
        if let issued = self.iat?.value, issued > now.addingTimeInterval(Self.leeway) {
            throw JWTError.claimVerificationFailure(failedClaim: self.iat, reason: "issued in the future")
        }
        if self.exp.value > now.addingTimeInterval(Self.maximumLifetime) {
            throw JWTError.claimVerificationFailure(failedClaim: self.exp, reason: "valid for more than a day")
        }
    }
}

/// Verifies user assertions against the site's key(s). Built once at start; a JWK set that does
/// not parse stops the instance there, not at the first fan's request.
public struct UserAssertionVerifier: Sendable {
    let keys: JWTKeyCollection

    /// nil in demo mode.
    public static func make(_ settings: UserAssertionSettings) async throws -> UserAssertionVerifier? {
        let keys = JWTKeyCollection()
        switch settings.key {
        case nil:
            return nil
        case .sharedSecret(let secret):
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        case .keySet(let json):
            // A key without `alg` would take the algorithm a token's header names, and jwt-kit
            // caches that choice per key: one forged header could pin another algorithm and lock
            // out every real assertion. So every key must say its algorithm.
            let unnamed = Self.keysWithoutAlgorithm(json)
            guard unnamed.isEmpty else {
                throw ConfigurationError(
                    description: "every key of USER_ASSERTION_JWKS needs its \"alg\" (keys without one: \(unnamed.joined(separator: ", ")))")
            }
            do {
                try await keys.add(jwksJSON: json)
            } catch {
                throw ConfigurationError(description: "USER_ASSERTION_JWKS does not hold a usable JWK set: \(error)")
            }
        }
        return UserAssertionVerifier(keys: keys)
    }

    /// The `kid`s (or positions) of the set's keys that do not name an algorithm.
    static func keysWithoutAlgorithm(_ json: String) -> [String] {
        struct KeySet: Decodable {
            struct Key: Decodable {
                var kid: String?
                var alg: String?
            }
            var keys: [Key]
        }
        guard let set = try? JSONDecoder().decode(KeySet.self, from: Data(json.utf8)) else { return [] }  // jwt-kit says why
        return set.keys.enumerated().compactMap { index, key in (key.alg ?? "").isEmpty ? key.kid ?? "key \(index + 1)" : nil }
    }

    /// The user an `Authorization: Bearer <JWT>` header speaks for, or USER_UNAUTHORIZED when it is
    /// missing, forged, expired, for another audience, or names something that is not a user id.
    func user(authorization: String?) async throws -> UUID {
        guard let jwt = QueueTokenMiddleware.bearerToken(authorization),
            let assertion = try? await self.keys.verify(jwt, as: UserAssertion.self),
            let user = UUID(uuidString: assertion.sub.value)
        else { throw ApiError.userUnauthorized }
        return user
    }
}

extension UserAssertionVerifier? {
    /// The fan a request speaks for: with user assertions, the assertion's user (a `claimed` id must
    /// be the same, else 401 USER_UNAUTHORIZED); in demo mode the claimed id, which must be a UUID.
    func fan(_ request: Request, claimed: String?) async throws -> UUID {
        guard let verifier = self else {
            guard let given = claimed.flatMap(UUID.init(uuidString:)) else { throw BoxOfficeError.invalidRequest("userId must be a UUID.") }
            return given
        }
        let user = try await verifier.user(authorization: request.headers[.authorization])
        if let claimed, UUID(uuidString: claimed) != user { throw ApiError.userUnauthorized }
        return user
    }
}
