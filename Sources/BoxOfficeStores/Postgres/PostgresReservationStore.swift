import BoxOfficeDomain
import Foundation
import LibpqClient

/// Reservations and seats in PostgreSQL.
///
/// Lock order, shared by holds, cancels, payments and the sweeper so that no two transactions
/// ever wait on each other in a cycle, written here once: reservations, then seats by
/// (date_id, number), then balances. (The hold itself is the SQL function `boxoffice_hold`,
/// Functions/boxoffice_hold.sql, which keeps this order.)
public struct PostgresReservationStore: ReservationStore {
    let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    public func hold(_ request: HoldRequest) async throws -> Reservation {
        do {
            guard request.idempotencyKey != nil else {
                // One round trip: boxoffice_hold is the whole transaction (autocommit).
                return try await self.database.withConnection(maxAttempts: 3) { try Self.hold(request, on: $0) }
            }
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

    /// The hold's rules and writes are the SQL function `boxoffice_hold` (Functions/), which
    /// takes the locks in the shared order; this maps its outcome.
    static func hold(_ request: HoldRequest, on connection: PostgresConnection) throws -> Reservation {
        guard let row = try connection.query("""
            SELECT outcome, held_amount, held_until FROM boxoffice_hold(
                \(request.reservationID)::uuid, \(request.userID)::uuid, \(request.token), \(request.concertID)::bigint,
                \(request.date)::date, \(request.seats)::int[], \(request.holdSeconds)::int, \(request.maxTickets)::int)
            """).first
        else { throw PostgresError.decoding("boxoffice_hold returned no row") }
        switch try row.decode(String.self, column: "outcome") {
        case "HELD":
            return Reservation(
                reservationId: request.reservationID, concertId: request.concertID, date: request.date, seatNumbers: request.seats,
                amount: try row.decode(Int.self, column: "held_amount"), status: "HELD",
                expiresAt: Timestamp.format(try row.decode(Date.self, column: "held_until"))
            )
        case "DATE_NOT_FOUND": throw BoxOfficeError.dateNotFound
        case "TOKEN_EXPIRED": throw BoxOfficeError.tokenExpired
        case "HOLD_LIMIT": throw BoxOfficeError.holdLimit
        case "TICKET_LIMIT": throw BoxOfficeError.ticketLimit(request.maxTickets)
        case "SEAT_UNAVAILABLE": throw BoxOfficeError.seatUnavailable
        case let other: throw PostgresError.decoding("boxoffice_hold outcome \(other)")
        }
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
                SELECT user_id::text AS owner, status, expires_at <= now() AS lapsed FROM reservations WHERE id = \(id) FOR UPDATE
                """).first, try row.decode(String.self, column: "owner") == userID
            else { throw BoxOfficeError.reservationNotFound }
            guard try row.decode(String.self, column: "status") == "HELD", try !row.decode(Bool.self, column: "lapsed") else {
                throw BoxOfficeError.reservationNotHeld
            }
            try connection.query("UPDATE reservations SET status = 'CANCELLED', updated_at = now() WHERE id = \(id)")
            try Self.freeSeats(connection, reservationID: id)
            try connection.query("SELECT boxoffice_reservation_event('reservation.cancelled', \(id)::uuid)")
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
            SELECT r.id::text AS id, r.concert_id, d.date::text AS date, r.amount,
                   CASE WHEN r.status = 'HELD' AND r.expires_at <= now() THEN 'EXPIRED' ELSE r.status END AS status,
                   r.expires_at, array_agg(rs.seat_number ORDER BY rs.seat_number) AS seats
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
                reservationId: try row.decode(column: "id"), concertId: try row.decode(column: "concert_id"), date: try row.decode(column: "date"),
                seatNumbers: try row.decode([Int].self, column: "seats"), amount: try row.decode(column: "amount"),
                status: try row.decode(column: "status"), expiresAt: Timestamp.format(try row.decode(Date.self, column: "expires_at"))
            )
        }
    }
}
