import Crypto
import Foundation

/// A presale (issue 27): fans register until `registrationClosesAt`; then a draw picks `winners` of
/// them; between `saleOpensAt` and `saleClosesAt` only winners, each with a code bound to them, get
/// queue tokens; after that the general sale follows the normal rules.
///
/// The draw is verifiable: a 32-byte seed is drawn when the presale is created and only its SHA-256
/// (`seedCommitment`) is published; the draw ranks registrations by HMAC-SHA256(key: seed, message:
/// the lowercase user id) as byte strings and takes the smallest; the seed is revealed with the
/// result. Anyone with the registration list can recompute the winners and check the commitment
/// (scripts/verify-draw.py), and nobody (the operator included, once committed) can choose them.
public struct Presale: Sendable, Equatable {
    public var concertID: Int
    public var registrationClosesAt: Date
    public var saleOpensAt: Date
    public var saleClosesAt: Date
    public var winners: Int
    public var registered: Int
    public var seedCommitment: String
    /// Revealed after the draw (64 lowercase hex characters); nil before.
    public var seed: String?
    public var drawnAt: Date?

    public init(concertID: Int, registrationClosesAt: Date, saleOpensAt: Date, saleClosesAt: Date, winners: Int, registered: Int,
                seedCommitment: String, seed: String?, drawnAt: Date?) {
        self.concertID = concertID
        self.registrationClosesAt = registrationClosesAt
        self.saleOpensAt = saleOpensAt
        self.saleClosesAt = saleClosesAt
        self.winners = winners
        self.registered = registered
        self.seedCommitment = seedCommitment
        self.seed = seed
        self.drawnAt = drawnAt
    }

    /// Whether only code holders get queue tokens at `now`.
    public func codesRequired(at now: Date) -> Bool { now >= self.saleOpensAt && now < self.saleClosesAt }
}

/// A fan's registration as they see it.
public struct PresaleEntry: Sendable, Equatable, Codable {
    public enum Status: String, Sendable, Codable { case registered = "REGISTERED", won = "WON", lost = "LOST" }

    public var status: Status
    /// The winner's code, bound to them; nil otherwise.
    public var code: String?

    public init(status: Status, code: String?) {
        self.status = status
        self.code = code
    }
}

/// The arithmetic of a presale, pure: seeds, commitments, the draw and codes.
public enum PresaleDraw {
    /// 32 random bytes from the system's cryptographic generator, as 64 lowercase hex characters.
    public static func newSeed() -> String { self.hex((0..<32).map { _ in UInt8.random(in: 0...255) }) }

    /// SHA-256 of the seed's 32 bytes, hex: published before the draw.
    public static func commitment(seed: String) -> String { self.hex(Array(SHA256.hash(data: self.bytes(hex: seed)))) }

    /// A registration's ticket in the draw: HMAC-SHA256(key: the seed's bytes, message: the user id, lowercase).
    public static func ticket(seed: String, user: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(user.lowercased().utf8), using: SymmetricKey(data: self.bytes(hex: seed))))
    }

    /// The `count` users with the smallest tickets (compared as byte strings), smallest first.
    public static func winners(seed: String, users: [String], count: Int) -> [String] {
        users.map { (user: $0.lowercased(), ticket: self.ticket(seed: seed, user: $0)) }
            .sorted { $0.ticket.lexicographicallyPrecedes($1.ticket) }
            .prefix(max(0, count)).map(\.user)
    }

    /// A winner's code: 12 random characters of an alphabet without look-alikes (about 60 bits),
    /// random rather than derived from the seed, which is published.
    public static func newCode() -> String {
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        return String((0..<12).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] })
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func bytes(hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) {
            bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return bytes
    }
}
