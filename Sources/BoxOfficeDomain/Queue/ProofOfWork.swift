import Crypto
import Foundation

/// Proof of work at the door (a concert's `powDifficulty` above 0): before a new place in line, the
/// client finds a nonce such that SHA-256 of `challenge + ":" + nonce` starts with `difficulty` zero
/// bits, about 2^difficulty hashes, which a fan's browser pays once and a script asking for
/// thousands of places pays thousands of times.
///
/// A challenge is stateless to issue: its fields and an HMAC-SHA256 under `CHALLENGE_SECRET`, which
/// every instance shares, so any instance verifies what any other issued. It names its concert and
/// expires after `lifetime`. Verifying costs one HMAC and one SHA-256 (`verify`, pure); single use
/// is the caller's (one `SET NX` in Redis, see QueueService). Text form:
/// `v1.<concertId>.<difficulty>.<expires ms>.<16 random bytes, hex>.<HMAC, base64url>`.
public struct ProofOfWork: Sendable {
    /// How long a challenge can be answered.
    public static let lifetime = 120
    /// The most leading zero bits a concert may ask for (`powDifficulty`).
    public static let maxDifficulty = 28
    /// The longest nonce accepted (a client needs far fewer characters).
    static let maxNonceLength = 64

    public struct Challenge: Sendable, Equatable, Codable {
        public let challenge: String
        public let difficulty: Int
        public let expiresAt: String
    }

    /// What a token request carries: the challenge and the client's answer.
    public struct Proof: Sendable, Equatable, Decodable {
        public let challenge: String
        public let nonce: String

        public init(challenge: String, nonce: String) {
            self.challenge = challenge
            self.nonce = nonce
        }
    }

    /// A proof that holds: the challenge's id (for single use) and when it expires (ms).
    struct Accepted: Sendable, Equatable {
        let id: String
        let expiresMilliseconds: Int
    }

    private let key: SymmetricKey

    public init(secret: [UInt8]) {
        self.key = SymmetricKey(data: secret)
    }

    /// A new challenge for `concertID` at `difficulty`, expiring `lifetime` seconds after `now` (ms).
    public func challenge(concertID: Int, difficulty: Int, nowMilliseconds: Int) -> Challenge {
        let expires = nowMilliseconds + Self.lifetime * 1000
        var random = SystemRandomNumberGenerator()
        let id = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &random)) }.joined()
        let body = "v1.\(concertID).\(difficulty).\(expires).\(id)"
        return Challenge(
            challenge: body + "." + self.signature(body), difficulty: difficulty,
            expiresAt: Timestamp.format(Date(timeIntervalSince1970: Double(expires) / 1000)))
    }

    /// Whether `proof` answers a challenge this deployment issued for `concertID`, unexpired at
    /// `nowMilliseconds`, with at least `difficulty` leading zero bits (the concert's current
    /// setting: a challenge issued at a lower one does not pass after the operator raised it).
    func verify(_ proof: Proof, concertID: Int, difficulty: Int, nowMilliseconds: Int) -> Result<Accepted, BoxOfficeError> {
        let parts = proof.challenge.split(separator: ".", omittingEmptySubsequences: false)
        guard proof.challenge.utf8.count <= 200, parts.count == 6, parts[0] == "v1", proof.nonce.utf8.count <= Self.maxNonceLength,
            let concert = Int(parts[1]), let expires = Int(parts[3]),
            HMAC<SHA256>.isValidAuthenticationCode(
                Self.base64URLDecoded(String(parts[5])) ?? [], authenticating: Array(parts[0..<5].joined(separator: ".").utf8), using: self.key)
        else { return .failure(.proofInvalid("The challenge is not one of ours; ask for a new one.")) }
        guard concert == concertID else { return .failure(.proofInvalid("The challenge is for another concert.")) }
        guard expires > nowMilliseconds else { return .failure(.proofInvalid("The challenge has expired; ask for a new one.")) }
        let digest = SHA256.hash(data: Array("\(proof.challenge):\(proof.nonce)".utf8))
        guard Self.leadingZeroBits(digest) >= difficulty else {
            return .failure(.proofInvalid("The nonce does not solve the challenge at difficulty \(difficulty)."))
        }
        return .success(Accepted(id: String(parts[4]), expiresMilliseconds: expires))
    }

    /// Leading zero bits of a digest, most significant bit of the first byte first.
    static func leadingZeroBits(_ digest: some Sequence<UInt8>) -> Int {
        var bits = 0
        for byte in digest {
            if byte == 0 {
                bits += 8
                continue
            }
            return bits + byte.leadingZeroBitCount
        }
        return bits
    }

    /// A nonce that solves `challenge` at `difficulty` (tests, the benchmark's bot farm).
    public static func solve(_ challenge: String, difficulty: Int) -> String {
        var nonce = 0
        while true {
            let digest = SHA256.hash(data: Array("\(challenge):\(nonce)".utf8))
            if Self.leadingZeroBits(digest) >= difficulty { return String(nonce) }
            nonce += 1
        }
    }

    private func signature(_ body: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Array(body.utf8), using: self.key)
        return Data(code).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private static func base64URLDecoded(_ text: String) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64).map(Array.init)
    }
}
