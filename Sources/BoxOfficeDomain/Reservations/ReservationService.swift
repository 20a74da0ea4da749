import Foundation
import Metrics

/// Seat holds: the orchestration of the Redis seat locks, the token's active window and the hold
/// transaction. The lock rejects racing losers before they reach the database; the winner's
/// transaction decides (see `PostgresReservationStore` for the lock order).
public struct ReservationService: Sendable {
    public struct Settings: Sendable {
        public var holdSeconds: Int
        public var maxSeatsPerReservation: Int

        public init(holdSeconds: Int, maxSeatsPerReservation: Int) {
            self.holdSeconds = holdSeconds
            self.maxSeatsPerReservation = maxSeatsPerReservation
        }

        /// `HOLD_SECONDS`, `MAX_SEATS_PER_RESERVATION`.
        public init(_ reader: SettingsReader) throws {
            self.init(
                holdSeconds: try reader.int("hold.seconds", default: 300, in: 1...86_400),
                maxSeatsPerReservation: try reader.int("max.seats.per.reservation", default: 4, in: 1...50)
            )
        }
    }

    /// How much longer than the hold the token's active window is kept: covers clock skew between
    /// Redis (the window) and PostgreSQL (the hold's expiry).
    public static let activeWindowMarginSeconds = 5

    /// How long a seat lock lasts at most (a hold shorter than this uses its own length).
    public static let seatLockSeconds = 10

    let store: any ReservationStore
    let seatLocks: any SeatLocking
    let window: any ActiveWindow
    let settings: Settings
    private let holds = Counter(label: "boxoffice_holds_total", dimensions: [("result", "created")])
    private let rejectedByLock = Counter(label: "boxoffice_holds_total", dimensions: [("result", "rejected_by_redis")])
    private let rejectedByDatabase = Counter(label: "boxoffice_holds_total", dimensions: [("result", "rejected_by_postgres")])

    public init(store: any ReservationStore, seatLocks: any SeatLocking, window: any ActiveWindow, settings: Settings) {
        self.store = store
        self.seatLocks = seatLocks
        self.window = window
        self.settings = settings
    }

    /// Checks a seat selection: 1...max distinct seats, each 1...50. Returns them ascending.
    public static func validateSeats(_ seats: [Int], max: Int) throws -> [Int] {
        guard !seats.isEmpty else { throw BoxOfficeError.invalidSeat("Choose at least one seat.") }
        guard seats.count <= max else { throw BoxOfficeError.invalidSeat("At most \(max) seats per reservation.") }
        guard seats.allSatisfy({ (1...50).contains($0) }) else { throw BoxOfficeError.invalidSeat("Seat numbers run from 1 to 50.") }
        guard Set(seats).count == seats.count else { throw BoxOfficeError.invalidSeat("Each seat may be chosen once.") }
        return seats.sorted()
    }

    /// Holds the seats for the ticket's user. With an Idempotency-Key, a retry (a response lost to
    /// a timeout) gets the first answer again instead of 409 HOLD_LIMIT.
    public func hold(ticket: QueueTicket, date: String, seatNumbers: [Int], idempotencyKey: String? = nil) async throws -> Reservation {
        guard let userID = ticket.userID else { throw BoxOfficeError.tokenInvalid }
        let seats = try Self.validateSeats(seatNumbers, max: self.settings.maxSeatsPerReservation)
        let key = try IdempotencyKey.validate(idempotencyKey)
        let replay = { () async throws -> Reservation? in
            guard let key else { return nil }
            let fingerprint = HoldRequest.fingerprint(concertID: ticket.concertID, date: date, seats: seats)
            return try await self.store.replayHold(userID: userID, idempotencyKey: key, fingerprint: fingerprint)
        }
        if let earlier = try await replay() { return earlier }
        let reservationID = UUID().uuidString.lowercased()
        // The lock only has to last until the transaction has decided; kept short, a lock left by
        // an instance that died before committing frees the seat within seconds.
        let lockMilliseconds = min(self.settings.holdSeconds, Self.seatLockSeconds) * 1000
        guard try await self.seatLocks.acquire(
            concertID: ticket.concertID, date: date, seats: seats, owner: reservationID, milliseconds: lockMilliseconds
        ) else {
            // A duplicate of a request still in flight lost the lock to it; if that one has
            // committed by now, its answer is this one's too.
            if let earlier = try await replay() { return earlier }
            self.rejectedByLock.increment()
            throw BoxOfficeError.seatUnavailable
        }
        var extended: WindowExtension?
        do {
            // The token must outlive the hold, so it is extended before anything is written: a token
            // that ended meanwhile gets 401 here, never a hold it could not pay. (After the lock, so
            // the losers of a race cost one round trip less.) A refused hold gives the extension back.
            let margin = Self.activeWindowMarginSeconds
            guard let window = try await self.window.extendActive(token: ticket.token, by: .seconds(self.settings.holdSeconds + margin)) else {
                throw BoxOfficeError.tokenExpired
            }
            extended = window
            // Near the end of the longest window the rules allow, the hold is shortened to end
            // inside it; with less than a second left there is nothing to hold.
            let holdSeconds = min(self.settings.holdSeconds, Int(window.until.timeIntervalSinceNow.rounded()) - margin)
            guard holdSeconds >= 1 else { throw BoxOfficeError.tokenExpired }
            let request = HoldRequest(
                reservationID: reservationID, userID: userID, token: ticket.token, concertID: ticket.concertID, date: date, seats: seats,
                holdSeconds: holdSeconds, maxTickets: try await self.window.maxTicketsPerUser(concertID: ticket.concertID), idempotencyKey: key
            )
            let reservation = try await self.store.hold(request)
            self.holds.increment()
            return reservation
        } catch {
            // Neither the extension nor our locks may outlive a hold that does not exist.
            if let extended { try? await self.window.giveBack(extended, token: ticket.token) }
            try? await self.seatLocks.release(concertID: ticket.concertID, date: date, seats: seats, owner: reservationID)
            if case BoxOfficeError.seatUnavailable = error { self.rejectedByDatabase.increment() }
            throw error
        }
    }

    public func reservation(id: String, userID: String) async throws -> Reservation {
        guard UUID(uuidString: id) != nil, let reservation = try await self.store.reservation(id: id.lowercased(), userID: userID) else {
            throw BoxOfficeError.reservationNotFound
        }
        return reservation
    }

    /// The user's reservations for one concert, newest first (at most 100).
    public func reservations(userID: String, concertID: Int) async throws -> [Reservation] {
        try await self.store.reservations(userID: userID, concertID: concertID)
    }

    /// Cancels the user's HELD reservations for a concert (a fan who leaves the line); returns how
    /// many. One that lapsed or was paid meanwhile is left as it is.
    public func cancelHolds(userID: String, concertID: Int) async throws -> Int {
        var cancelled = 0
        for reservation in try await self.store.reservations(userID: userID, concertID: concertID) where reservation.status == "HELD" {
            do {
                _ = try await self.cancel(id: reservation.reservationId, userID: userID)
                cancelled += 1
            } catch BoxOfficeError.reservationNotHeld {}
        }
        return cancelled
    }

    /// Cancels a HELD reservation; its seats are free at once.
    public func cancel(id: String, userID: String) async throws -> Reservation {
        guard UUID(uuidString: id) != nil else { throw BoxOfficeError.reservationNotFound }
        let reservation = try await self.store.cancel(id: id.lowercased(), userID: userID)
        try? await self.seatLocks.release(
            concertID: reservation.concertId, date: reservation.date, seats: reservation.seatNumbers, owner: reservation.reservationId
        )
        return reservation
    }
}
