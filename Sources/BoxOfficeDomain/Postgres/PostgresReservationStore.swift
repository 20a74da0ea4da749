import Foundation
import LibpqClient

/// Reservations and seats in PostgreSQL.
///
/// Lock order, shared by holds, cancels, payments and the sweeper so that no two transactions
/// ever wait on each other in a cycle, written here once: reservations, then seats by
/// (date_id, number), then balances.
public struct PostgresReservationStore: ReservationStore {
    let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    public func hold(_ request: HoldRequest) async throws -> Reservation {
        do {
            return try await self.database.transaction(maxAttempts: 3) { connection in
                try IdempotencyKeys.once(
                    connection, userID: request.userID, operation: "hold", key: request.idempotencyKey, fingerprint: request.fingerprint
                ) {
                    try Self.hold(request, on: connection)
                }
            }
        } catch let error as PostgresError {
            switch error.kind {
            case .uniqueViolation: throw BoxOfficeError.holdLimit  // a racing hold of the same user won
            case .lockNotAvailable, .deadlockDetected, .serializationFailure: throw BoxOfficeError.seatUnavailable
            default: throw error
            }
        }
    }

    static func hold(_ request: HoldRequest, on connection: PostgresConnection) throws -> Reservation {
        let (userID, concertID, seats) = (request.userID, request.concertID, request.seats)
        guard let dateID = try connection.query("""
            SELECT id FROM concert_dates WHERE concert_id = \(concertID) AND date = \(request.date)::date AND date >= current_date
            """).first.map({ try $0.decode(Int.self, at: 0) })
        else { throw BoxOfficeError.dateNotFound }

        // The user's own lapsed hold no longer counts against HOLD_LIMIT.
        try connection.query("""
            UPDATE reservations SET status = 'EXPIRED', updated_at = now()
            WHERE user_id = \(userID) AND concert_id = \(concertID) AND status = 'HELD' AND expires_at <= now()
            """)
        // HOLD_LIMIT, and the payment race: a payment ends its token in Redis only after its commit,
        // so a hold with that token can get here in between. One statement, one snapshot: it sees
        // the paid reservation still HELD (HOLD_LIMIT) or the payment made with this token (the
        // token is spent), never neither, so no hold outlives the token it could be paid with.
        switch try connection.query("""
            (SELECT 'HELD' FROM reservations WHERE user_id = \(userID) AND concert_id = \(concertID) AND status = 'HELD' LIMIT 1)
            UNION ALL
            (SELECT 'SPENT' FROM payments WHERE queue_token = \(request.token) LIMIT 1)
            """).rows.map({ try $0.decode(String.self, at: 0) }).sorted().last {
        case "SPENT": throw BoxOfficeError.tokenExpired
        case "HELD": throw BoxOfficeError.holdLimit
        default: break
        }

        let rows = try connection.query("""
            SELECT number, price, status = 'AVAILABLE' OR (status = 'HELD' AND held_until <= now())
            FROM seats WHERE date_id = \(dateID) AND number = ANY(\(seats)::int[])
            ORDER BY number FOR UPDATE
            """)
        guard rows.count == seats.count else { throw BoxOfficeError.dateNotFound }
        var prices: [Int] = []
        for row in rows {
            guard try row.decode(Bool.self, at: 2) else { throw BoxOfficeError.seatUnavailable }
            prices.append(try row.decode(Int.self, at: 1))
        }
        let amount = prices.reduce(0, +)

        let expiresAt = try connection.query("""
            INSERT INTO reservations (id, user_id, concert_id, date_id, amount, status, expires_at)
            VALUES (\(request.reservationID), \(userID), \(concertID), \(dateID), \(amount), 'HELD',
                    now() + make_interval(secs => \(request.holdSeconds)))
            RETURNING expires_at
            """).first!.decode(String.self, at: 0)
        try connection.query("""
            INSERT INTO reservation_seats (reservation_id, date_id, seat_number, price)
            SELECT \(request.reservationID), \(dateID), seat, price FROM unnest(\(seats)::int[], \(prices)::bigint[]) AS s(seat, price)
            """)
        try connection.query("""
            UPDATE seats SET status = 'HELD', held_until = \(expiresAt)::timestamptz, reservation_id = \(request.reservationID)
            WHERE date_id = \(dateID) AND number = ANY(\(seats)::int[])
            """)
        return Reservation(
            reservationId: request.reservationID, concertId: concertID, date: request.date, seatNumbers: seats, amount: amount,
            status: "HELD", expiresAt: Timestamp.format(try Date(postgresText: expiresAt))
        )
    }

    public func replayHold(userID: String, idempotencyKey: String, fingerprint: String) async throws -> Reservation? {
        try await self.database.withConnection { connection in
            try IdempotencyKeys.lookup(
                connection, Reservation.self, userID: userID, operation: "hold", key: idempotencyKey, fingerprint: fingerprint)
        }
    }

    public func reservation(id: String, userID: String) async throws -> Reservation? {
        try await self.database.withConnection { connection in
            try Self.load(connection, id: id, userID: userID)
        }
    }

    public func reservations(userID: String, concertID: Int) async throws -> [Reservation] {
        try await self.database.withConnection { connection in
            try Self.load(connection, userID: userID, concertID: concertID)
        }
    }

    public func cancel(id: String, userID: String) async throws -> Reservation {
        try await self.database.transaction(maxAttempts: 3) { connection in
            guard let row = try connection.query("""
                SELECT user_id::text, status, expires_at <= now() FROM reservations WHERE id = \(id) FOR UPDATE
                """).first, try row.decode(String.self, at: 0) == userID
            else { throw BoxOfficeError.reservationNotFound }
            guard try row.decode(String.self, at: 1) == "HELD", try !row.decode(Bool.self, at: 2) else {
                throw BoxOfficeError.reservationNotHeld
            }
            try connection.query("UPDATE reservations SET status = 'CANCELLED', updated_at = now() WHERE id = \(id)")
            try Self.freeSeats(connection, reservationID: id)
            guard let reservation = try Self.load(connection, id: id, userID: userID) else { throw BoxOfficeError.reservationNotFound }
            return reservation
        }
    }

    /// Makes a reservation's HELD seats AVAILABLE, locking them in (date_id, number) order first.
    static func freeSeats(_ connection: PostgresConnection, reservationID: String) throws {
        try connection.query("""
            UPDATE seats s SET status = 'AVAILABLE', held_until = NULL, reservation_id = NULL
            FROM (SELECT date_id, number FROM seats WHERE reservation_id = \(reservationID) AND status = 'HELD'
                  ORDER BY date_id, number FOR UPDATE) AS mine
            WHERE s.date_id = mine.date_id AND s.number = mine.number
            """)
    }

    /// A reservation as its owner sees it; a lapsed hold reads EXPIRED at once.
    static func load(_ connection: PostgresConnection, id: String, userID: String) throws -> Reservation? {
        try self.load(connection, userID: userID, id: id).first
    }

    /// The owner's reservations, one (`id`) or all of a concert's (`concertID`), newest first.
    static func load(_ connection: PostgresConnection, userID: String, id: String? = nil, concertID: Int? = nil) throws -> [Reservation] {
        try connection.query("""
            SELECT r.id::text, r.concert_id, d.date::text, r.amount,
                   CASE WHEN r.status = 'HELD' AND r.expires_at <= now() THEN 'EXPIRED' ELSE r.status END,
                   r.expires_at, array_agg(rs.seat_number ORDER BY rs.seat_number)
            FROM reservations r
            JOIN concert_dates d ON d.id = r.date_id
            JOIN reservation_seats rs ON rs.reservation_id = r.id
            WHERE r.user_id = \(userID)
              AND (\(id)::uuid IS NULL OR r.id = \(id)::uuid)
              AND (\(concertID)::bigint IS NULL OR r.concert_id = \(concertID)::bigint)
            GROUP BY r.id, d.date
            ORDER BY r.created_at DESC, r.id
            LIMIT 100
            """).rows.map { row in
            Reservation(
                reservationId: try row.decode(at: 0), concertId: try row.decode(at: 1), date: try row.decode(at: 2),
                seatNumbers: try row.decode([Int].self, at: 6), amount: try row.decode(at: 3), status: try row.decode(at: 4),
                expiresAt: Timestamp.format(try row.decode(Date.self, at: 5))
            )
        }
    }
}
