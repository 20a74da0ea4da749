import Foundation

/// A presale (issue 27): fans register until `registrationClosesAt`; then a draw picks `winners` of
/// them; between `saleOpensAt` and `saleClosesAt` only winners, each with a code bound to them, get
/// queue tokens; after that the general sale follows the normal rules.
///
/// The draw is verifiable: a 32-byte seed is drawn when the presale is created and only its SHA-256
/// (`seedCommitment`) is published; the draw ranks registrations by HMAC-SHA256(key: seed, message:
/// the lowercase user id) as byte strings and takes the smallest; the seed is revealed with the
/// result. Anyone with the registration list can recompute the winners and check the commitment
/// (SeededDraw, scripts/verify-draw.py), and nobody (the operator included, once committed) can choose them.
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

    /// When only code holders get queue tokens.
    public var saleWindow: Range<Date> { self.saleOpensAt..<self.saleClosesAt }
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
