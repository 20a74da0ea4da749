import BoxOfficeDomain
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
            // The expiry and its events in one statement (one transaction): no expiry without its event.
            let expired = try connection.query("""
                WITH expired AS (
                    UPDATE reservations r SET status = 'EXPIRED', updated_at = now()
                    FROM (SELECT id FROM reservations WHERE status = 'HELD' AND expires_at <= now()
                          ORDER BY expires_at LIMIT \(batch) FOR UPDATE SKIP LOCKED) AS lapsed
                    WHERE r.id = lapsed.id
                    RETURNING r.id)
                SELECT id::text, boxoffice_reservation_event('reservation.expired', id) FROM expired
                """).map { try $0.decode(String.self, at: 0) }
            let freed = try connection.query("""
                UPDATE seats s SET status = 'AVAILABLE', held_until = NULL, reservation_id = NULL
                FROM (SELECT date_id, number FROM seats WHERE status = 'HELD' AND held_until <= now()
                      ORDER BY date_id, number LIMIT \(batch * 4) FOR UPDATE SKIP LOCKED) AS lapsed
                WHERE s.date_id = lapsed.date_id AND s.number = lapsed.number
                """).affectedRows
            return (expired, freed)
        }
    }
}

/// Deletes idempotency keys older than their retention (`IDEMPOTENCY_KEY_SECONDS`), oldest first,
/// in batches, so that table does not grow forever. SKIP LOCKED shares the work between instances.
public struct IdempotencyKeySweeper: Sendable {
    let database: PostgresClient
    let batchSize: Int
    let retentionSeconds: Int

    public init(database: PostgresClient, batchSize: Int = 500, retentionSeconds: Int = 86_400) {
        self.database = database
        self.batchSize = batchSize
        self.retentionSeconds = retentionSeconds
    }

    /// Deletes one batch; returns how many keys.
    public func sweepOnce() async throws -> Int {
        try await self.database.query("""
            DELETE FROM idempotency_keys k
            USING (SELECT user_id, operation, key FROM idempotency_keys
                   WHERE created_at < now() - make_interval(secs => \(self.retentionSeconds))
                   ORDER BY created_at LIMIT \(self.batchSize) FOR UPDATE SKIP LOCKED) AS old
            WHERE k.user_id = old.user_id AND k.operation = old.operation AND k.key = old.key
            """).affectedRows
    }
}
