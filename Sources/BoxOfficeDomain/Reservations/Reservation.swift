import Foundation

/// A hold on one to `MAX_SEATS_PER_RESERVATION` seats of one date, as its owner sees it.
public struct Reservation: Sendable, Codable, Equatable {
    public let reservationId: String
    public let concertId: Int
    public let date: String
    public let seatNumbers: [Int]
    public let amount: Int
    /// HELD, CONFIRMED, EXPIRED or CANCELLED.
    public let status: String
    public let expiresAt: String

    public init(reservationId: String, concertId: Int, date: String, seatNumbers: [Int], amount: Int, status: String, expiresAt: String) {
        self.reservationId = reservationId
        self.concertId = concertId
        self.date = date
        self.seatNumbers = seatNumbers
        self.amount = amount
        self.status = status
        self.expiresAt = expiresAt
    }
}

/// What a hold transaction writes.
public struct HoldRequest: Sendable, Equatable {
    public let reservationID: String
    public let userID: String
    /// The queue token the hold is made with; a payment already made with it refuses the hold.
    public let token: String
    public let concertID: Int
    public let date: String
    /// Distinct and ascending.
    public let seats: [Int]
    public let holdSeconds: Int
    /// The concert's cap on one user's seats held or bought, these included; 0: none.
    public let maxTickets: Int
    /// A client's Idempotency-Key: a retry with it gets this hold's answer again.
    public let idempotencyKey: String?

    /// What a retry with the same Idempotency-Key must ask for again.
    public var fingerprint: String { Self.fingerprint(concertID: self.concertID, date: self.date, seats: self.seats) }

    static func fingerprint(concertID: Int, date: String, seats: [Int]) -> String {
        "\(concertID)|\(date)|\(seats.map(String.init).joined(separator: ","))"
    }
}

/// Reservations and their seats in the database of record.
public protocol ReservationStore: Sendable {
    /// Writes the hold in one transaction, or nothing. Throws `dateNotFound`, `holdLimit`,
    /// `ticketLimit` or `seatUnavailable` when a rule refuses it, `tokenExpired` when a payment was already made
    /// with the request's token (the payment is about to end it).
    func hold(_ request: HoldRequest) async throws -> Reservation
    /// The answer a hold with this Idempotency-Key got, nil when the key is unknown. Throws
    /// `idempotencyKeyReused` when the key was used for another selection.
    func replayHold(userID: String, idempotencyKey: String, fingerprint: String) async throws -> Reservation?
    /// The user's reservations for a concert, newest first.
    func reservations(userID: String, concertID: Int) async throws -> [Reservation]
    /// The owner's reservation; a lapsed hold reads EXPIRED. Nil when unknown or someone else's.
    func reservation(id: String, userID: String) async throws -> Reservation?
    /// Cancels a HELD reservation and frees its seats. Throws `reservationNotFound` or `reservationNotHeld`.
    func cancel(id: String, userID: String) async throws -> Reservation
}

/// The fast path in front of holds: one short-lived lock per seat, taken all or none. It only turns
/// racing losers away early; the database still decides.
public protocol SeatLocking: Sendable {
    /// True when every seat's lock was taken for `owner`.
    func acquire(concertID: Int, date: String, seats: [Int], owner: String, milliseconds: Int) async throws -> Bool
    /// Releases the locks still held by `owner`.
    func release(concertID: Int, date: String, seats: [Int], owner: String) async throws
}

/// An extension of a token's active window, as made: what it was before and what it is now
/// (milliseconds on the queue's clock), so that it can be given back exactly.
public struct WindowExtension: Sendable, Equatable {
    public let previousMilliseconds: Int
    public let untilMilliseconds: Int

    public init(previousMilliseconds: Int, untilMilliseconds: Int) {
        self.previousMilliseconds = previousMilliseconds
        self.untilMilliseconds = untilMilliseconds
    }

    public var until: Date { Date(timeIntervalSince1970: Double(self.untilMilliseconds) / 1000) }
}

/// The active window of a queue token, as holds and payments need it.
public protocol ActiveWindow: Sendable {
    /// Keeps an ACTIVE token active for `duration` from now, but never past the end of its
    /// admission window plus `duration`. Nil when it is not ACTIVE any more.
    func extendActive(token: String, by duration: Duration) async throws -> WindowExtension?
    /// Undoes `extension` (its hold was refused), unless the window has moved since.
    func giveBack(_ extension: WindowExtension, token: String) async throws
    /// Ends the token at once, freeing its slot for the next in line.
    func endToken(_ token: String) async throws
    /// The most seats of the concert one user may hold or have bought across their orders (the
    /// queue setting `maxTicketsPerUser`, at most a second old); 0: no cap.
    func maxTicketsPerUser(concertID: Int) async throws -> Int
}
