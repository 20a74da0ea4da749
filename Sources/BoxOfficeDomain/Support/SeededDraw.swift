import Crypto
import Foundation

/// Draws that anyone can check afterwards (commit, then reveal), pure: a 32-byte seed is drawn and
/// only its SHA-256 published; each user's ticket is HMAC-SHA256(key: the seed, message: the
/// lowercase user id); the seed is revealed when the draw has taken effect, and anyone recomputes
/// it (scripts/verify-draw.py). Used by presales (the smallest tickets win) and scheduled openings
/// (early arrivals stand in ticket order).
public enum SeededDraw {
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

    /// An early arrival's place in [0, 1): the ticket's first 48 bits as a fraction (exact in a
    /// Double), so the order of places is the order of tickets (ties once in 2^48).
    public static func place(seed: String, user: String) -> Double {
        Double(self.ticket(seed: seed, user: user).prefix(6).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) / 281_474_976_710_656
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
