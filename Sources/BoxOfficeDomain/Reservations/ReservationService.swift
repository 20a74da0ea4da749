import Foundation
import HiredisClient
import LibpqClient
import Metrics

public struct Reservation: Sendable, Encodable, Equatable {
    public let reservationId: String
    public let concertId: Int
    public let date: String
    public let seatNumbers: [Int]
    public let amount: Int
    public let status: String
    public let expiresAt: String
}

/// Seat holds. The Redis lock rejects racing losers before they reach PostgreSQL; the winner's
/// transaction locks the seat rows (FOR UPDATE, ascending number) and PostgreSQL decides.
///
/// Lock order, shared with payments, cancels and the sweeper so no two transactions wait on each
/// other in a cycle: reservations, then seats by (date_id, number), then balances.
public struct ReservationService: Sendable {
    public struct Settings: Sendable {
        public var holdSeconds: Int
        public var maxSeatsPerReservation: Int

        public init(holdSeconds: Int, maxSeatsPerReservation: Int) {
            self.holdSeconds = holdSeconds
            self.maxSeatsPerReservation = maxSeatsPerReservation
        }
    }

    /// How much longer than the hold the token's active window is kept.
    static let activeWindowMarginSeconds = 5

    let database: PostgresClient
    let seatLocks: SeatLocks
    let queue: QueueService
    let settings: Settings
    private let holds = Counter(label: "boxoffice_holds_total", dimensions: [("result", "created")])
    private let rejectedByLock = Counter(label: "boxoffice_holds_total", dimensions: [("result", "rejected_by_redis")])
    private let rejectedByDatabase = Counter(label: "boxoffice_holds_total", dimensions: [("result", "rejected_by_postgres")])

    public init(database: PostgresClient, redis: RedisClient, queue: QueueService, settings: Settings) {
        self.database = database
        self.seatLocks = SeatLocks(redis: redis)
        self.queue = queue
        self.settings = settings
    }

    /// Checks a seat selection: 1...max distinct seats, each 1...50. Returns them ascending.
    public static func validateSeats(_ seats: [Int], max: Int) throws -> [Int] {
        guard !seats.isEmpty else { throw ApiError.invalidSeat("Choose at least one seat.") }
        guard seats.count <= max else { throw ApiError.invalidSeat("At most \(max) seats per reservation.") }
        guard seats.allSatisfy({ (1...50).contains($0) }) else { throw ApiError.invalidSeat("Seat numbers run from 1 to 50.") }
        guard Set(seats).count == seats.count else { throw ApiError.invalidSeat("Each seat may be chosen once.") }
        return seats.sorted()
    }

    public func hold(userID: String, token: String, concertID: Int, date: String, seatNumbers: [Int]) async throws -> Reservation {
        let seats = try Self.validateSeats(seatNumbers, max: self.settings.maxSeatsPerReservation)
        let reservationID = UUID().uuidString.lowercased()
        let holdSeconds = self.settings.holdSeconds
        guard try await self.seatLocks.acquire(concertID: concertID, date: date, seats: seats, owner: reservationID, milliseconds: holdSeconds * 1000) else {
            self.rejectedByLock.increment()
            throw ApiError.seatUnavailable
        }
        // The token must outlive the hold, so it is extended before anything is written: a token
        // that ended meanwhile gets 401 here, never a hold it could not pay. (After the lock, so the
        // losers of a race cost one round trip less.) The margin covers clock skew between Redis
        // (window) and PostgreSQL (hold expiry).
        do {
            guard try await self.queue.extendActive(token: token, by: .seconds(holdSeconds + Self.activeWindowMarginSeconds)) != nil else {
                throw ApiError.tokenExpired
            }
        } catch {
            try? await self.seatLocks.release(concertID: concertID, date: date, seats: seats, owner: reservationID)
            throw error
        }
        let reservation: Reservation
        do {
            reservation = try await self.database.transaction(maxAttempts: 3) { connection in
                try Self.holdTransaction(
                    connection, reservationID: reservationID, userID: userID, concertID: concertID, date: date,
                    seats: seats, holdSeconds: holdSeconds
                )
            }
        } catch {
            // Our keys must not outlive a hold that does not exist.
            try? await self.seatLocks.release(concertID: concertID, date: date, seats: seats, owner: reservationID)
            if case ApiError.seatUnavailable = error { self.rejectedByDatabase.increment() }
            throw Self.mapHoldError(error)
        }
        self.holds.increment()
        return reservation
    }

    static func holdTransaction(
        _ connection: PostgresConnection, reservationID: String, userID: String, concertID: Int, date: String,
        seats: [Int], holdSeconds: Int
    ) throws -> Reservation {
        guard let dateID = try connection.query(
            "SELECT id FROM concert_dates WHERE concert_id = $1 AND date = $2::date AND date >= current_date",
            [concertID, date]
        ).first.map({ try $0.decode(Int.self, at: 0) }) else { throw ApiError.dateNotFound }

        // The user's own lapsed hold no longer counts against HOLD_LIMIT.
        try connection.query(
            """
            UPDATE reservations SET status = 'EXPIRED', updated_at = now()
            WHERE user_id = $1 AND concert_id = $2 AND status = 'HELD' AND expires_at <= now()
            """,
            [userID, concertID]
        )
        if try !connection.query(
            "SELECT 1 FROM reservations WHERE user_id = $1 AND concert_id = $2 AND status = 'HELD'", [userID, concertID]
        ).rows.isEmpty { throw ApiError.holdLimit }

        let rows = try connection.query(
            """
            SELECT number, price, status = 'AVAILABLE' OR (status = 'HELD' AND held_until <= now())
            FROM seats WHERE date_id = $1 AND number = ANY($2::int[])
            ORDER BY number FOR UPDATE
            """,
            [dateID, seats]
        )
        guard rows.count == seats.count else { throw ApiError.dateNotFound }
        var amount = 0
        var prices: [Int] = []
        for row in rows {
            guard try row.decode(Bool.self, at: 2) else { throw ApiError.seatUnavailable }
            let price = try row.decode(Int.self, at: 1)
            prices.append(price)
            amount += price
        }

        let expiresAt = try connection.query(
            """
            INSERT INTO reservations (id, user_id, concert_id, date_id, amount, status, expires_at)
            VALUES ($1, $2, $3, $4, $5, 'HELD', now() + make_interval(secs => $6))
            RETURNING expires_at
            """,
            [reservationID, userID, concertID, dateID, amount, holdSeconds]
        ).first!.decode(String.self, at: 0)
        try connection.query(
            """
            INSERT INTO reservation_seats (reservation_id, date_id, seat_number, price)
            SELECT $1, $2, seat, price FROM unnest($3::int[], $4::int[]) AS s(seat, price)
            """,
            [reservationID, dateID, seats, prices]
        )
        try connection.query(
            """
            UPDATE seats SET status = 'HELD', held_until = $3::timestamptz, reservation_id = $4
            WHERE date_id = $1 AND number = ANY($2::int[])
            """,
            [dateID, seats, expiresAt, reservationID]
        )
        return Reservation(
            reservationId: reservationID, concertId: concertID, date: date, seatNumbers: seats, amount: amount,
            status: "HELD", expiresAt: Timestamp.format(try Date(postgresText: expiresAt))
        )
    }

    /// Database outcomes that are answers, not failures.
    static func mapHoldError(_ error: any Error) -> any Error {
        guard let error = error as? PostgresError else { return error }
        switch error.kind {
        case .uniqueViolation: return ApiError.holdLimit  // a racing hold of the same user won
        case .lockNotAvailable, .deadlockDetected, .serializationFailure: return ApiError.seatUnavailable
        default: return error
        }
    }

    public func reservation(id: String, userID: String) async throws -> Reservation {
        guard UUID(uuidString: id) != nil else { throw ApiError.reservationNotFound }
        return try await self.database.withConnection { connection in
            try Self.load(connection, id: id, userID: userID)
        }
    }

    /// Cancels a HELD reservation and frees its seats at once.
    public func cancel(id: String, userID: String) async throws -> Reservation {
        guard UUID(uuidString: id) != nil else { throw ApiError.reservationNotFound }
        let reservation = try await self.database.transaction(maxAttempts: 3) { connection in
            guard let row = try connection.query(
                "SELECT user_id::text, status, expires_at <= now() FROM reservations WHERE id = $1 FOR UPDATE", [id]
            ).first, try row.decode(String.self, at: 0) == userID else { throw ApiError.reservationNotFound }
            guard try row.decode(String.self, at: 1) == "HELD", try !row.decode(Bool.self, at: 2) else {
                throw ApiError.reservationNotHeld
            }
            try connection.query("UPDATE reservations SET status = 'CANCELLED', updated_at = now() WHERE id = $1", [id])
            try Self.freeSeats(connection, reservationID: id)
            return try Self.load(connection, id: id, userID: userID)
        }
        try? await self.seatLocks.release(
            concertID: reservation.concertId, date: reservation.date, seats: reservation.seatNumbers, owner: reservation.reservationId
        )
        return reservation
    }

    /// Makes a reservation's HELD seats AVAILABLE, locking them in (date_id, number) order first.
    static func freeSeats(_ connection: PostgresConnection, reservationID: String) throws {
        try connection.query(
            """
            UPDATE seats s SET status = 'AVAILABLE', held_until = NULL, reservation_id = NULL
            FROM (SELECT date_id, number FROM seats WHERE reservation_id = $1 AND status = 'HELD'
                  ORDER BY date_id, number FOR UPDATE) AS mine
            WHERE s.date_id = mine.date_id AND s.number = mine.number
            """,
            [reservationID]
        )
    }

    /// A reservation as its owner sees it; a lapsed hold reads EXPIRED at once.
    static func load(_ connection: PostgresConnection, id: String, userID: String) throws -> Reservation {
        guard let row = try connection.query(
            """
            SELECT r.id::text, r.concert_id, d.date::text, r.amount,
                   CASE WHEN r.status = 'HELD' AND r.expires_at <= now() THEN 'EXPIRED' ELSE r.status END,
                   r.expires_at, array_agg(rs.seat_number ORDER BY rs.seat_number)
            FROM reservations r
            JOIN concert_dates d ON d.id = r.date_id
            JOIN reservation_seats rs ON rs.reservation_id = r.id
            WHERE r.id = $1 AND r.user_id = $2
            GROUP BY r.id, d.date
            """,
            [id, userID]
        ).first else { throw ApiError.reservationNotFound }
        return Reservation(
            reservationId: try row.decode(at: 0), concertId: try row.decode(at: 1), date: try row.decode(at: 2),
            seatNumbers: try row.decode([Int].self, at: 6), amount: try row.decode(at: 3), status: try row.decode(at: 4),
            expiresAt: Timestamp.format(try row.decode(Date.self, at: 5))
        )
    }
}
