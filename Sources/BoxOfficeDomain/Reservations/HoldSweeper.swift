import LibpqClient

/// Tidies lapsed holds: reservations HELD past their end become EXPIRED, and their seats
/// AVAILABLE. Reads never wait for this (they compare with now()); it keeps the tables honest.
/// SKIP LOCKED lets every instance sweep at once without blocking each other or a payment.
/// It also deletes idempotency keys older than their retention, so that table does not grow forever.
public struct HoldSweeper: Sendable {
    let database: PostgresClient
    let batchSize: Int
    let idempotencyKeySeconds: Int

    public init(database: PostgresClient, batchSize: Int = 500, idempotencyKeySeconds: Int = 86_400) {
        self.database = database
        self.batchSize = batchSize
        self.idempotencyKeySeconds = idempotencyKeySeconds
    }

    /// Deletes one batch of idempotency keys past their retention; returns how many.
    public func expireIdempotencyKeys() async throws -> Int {
        let (batch, retention) = (self.batchSize, self.idempotencyKeySeconds)
        return try await self.database.query(
            """
            DELETE FROM idempotency_keys k
            USING (SELECT user_id, operation, key FROM idempotency_keys
                   WHERE created_at < now() - make_interval(secs => $2)
                   ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED) AS old
            WHERE k.user_id = old.user_id AND k.operation = old.operation AND k.key = old.key
            """,
            [batch, retention]
        ).affectedRows
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
