import LibpqClient

/// Tidies lapsed holds: reservations HELD past their end become EXPIRED, and their seats
/// AVAILABLE. Reads never wait for this (they compare with now()); it keeps the tables honest.
/// SKIP LOCKED lets every instance sweep at once without blocking each other or a payment.
public struct HoldSweeper: Sendable {
    let database: PostgresClient
    let batchSize: Int

    public init(database: PostgresClient, batchSize: Int = 500) {
        self.database = database
        self.batchSize = batchSize
    }

    /// One batch; returns the ids of the reservations it expired and how many seats it freed.
    public func sweepOnce() async throws -> (expiredReservations: [String], freedSeats: Int) {
        let batch = self.batchSize
        return try await self.database.withConnection { connection in
            let expired = try connection.query(
                """
                UPDATE reservations r SET status = 'EXPIRED', updated_at = now()
                FROM (SELECT id FROM reservations WHERE status = 'HELD' AND expires_at <= now()
                      ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED) AS lapsed
                WHERE r.id = lapsed.id
                RETURNING r.id::text
                """,
                [batch]
            ).map { try $0.decode(String.self, at: 0) }
            let freed = try connection.query(
                """
                UPDATE seats s SET status = 'AVAILABLE', held_until = NULL, reservation_id = NULL
                FROM (SELECT date_id, number FROM seats WHERE status = 'HELD' AND held_until <= now()
                      ORDER BY date_id, number LIMIT $1 FOR UPDATE SKIP LOCKED) AS lapsed
                WHERE s.date_id = lapsed.date_id AND s.number = lapsed.number
                """,
                [batch * 4]
            ).affectedRows
            return (expired, freed)
        }
    }
}
