import BoxOfficeDomain
import Foundation
import LibpqClient

/// The outbox tables: `outbox_events`, written by the same transactions as the changes
/// (Functions/boxoffice_events.sql and the stores), and `outbox_relay`, the one lease row, which
/// also holds the relay's cursor (migration 16) and says whether the relay sleeps (and new events
/// notify it).
///
/// The cursor: an event row is written once and never marked. `outbox_relay.published` is a
/// snapshot whose transactions' events are all published; a batch is the events of the
/// transactions that a newer snapshot (`batch`) sees and `published` does not, in the order of
/// their transactions' ids and then their own, read `limit` at a time after the last one
/// published. When a batch is done, `batch` becomes `published` (at the next claim). One
/// reservation's events stay in commit order: each later change of a reservation is a request
/// (or a sweep) that began after the earlier change committed, so its transaction id is higher,
/// and a transaction still running when a snapshot is taken is in a later batch, never skipped.
public struct PostgresOutbox: Outbox {
    let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    public func claim(holder: String, limit: Int, leaseMilliseconds: Int) async throws -> [OutboxEvent] {
        try await self.database.query(Self.claimQuery(holder: holder, limit: limit, leaseMilliseconds: leaseMilliseconds)).map {
            OutboxEvent(
                id: try $0.decode(column: "id"), type: try $0.decode(column: "type"), createdAt: try $0.decode(column: "created_at"),
                data: try $0.decode(column: "payload"), concertID: try $0.decode(Int?.self, column: "concert_id"))
        }
    }

    /// The lease, the batch and the read are one statement: no rows unless this holder has the lease
    /// now. A batch with nothing left after its last published event is done: it becomes
    /// `published`, and a new one starts with this statement's snapshot. A holder that finds nothing
    /// to publish asks to be notified of the next event. Every look walks the index on (xid, id) up
    /// from the cursor, in its order, so it costs the same however many published rows the table holds.
    package static func claimQuery(holder: String, limit: Int, leaseMilliseconds: Int) -> PostgresQuery {
        """
        WITH cursor AS MATERIALIZED (
            -- Each a walk of the index up from the cursor, stopping at the first event it finds.
            SELECT (SELECT e.xid FROM outbox_events e
                    WHERE c.batch IS NOT NULL
                      AND boxoffice_outbox_in_batch(e.xid, e.id, c.published, c.batch, c.batch_after_xid, c.batch_after_id)
                    ORDER BY e.xid, e.id LIMIT 1) IS NULL AS batch_done,
                   (SELECT e.xid FROM outbox_events e WHERE boxoffice_outbox_unseen(e.xid, coalesce(c.batch, c.published))
                    ORDER BY e.xid, e.id LIMIT 1) IS NULL AS nothing_after
            FROM outbox_relay c WHERE c.id = 1),
        lease AS (
            UPDATE outbox_relay r SET holder = \(holder), lease_until = now() + make_interval(secs => \(Double(leaseMilliseconds) / 1000)),
                sleeping = cursor.batch_done AND cursor.nothing_after,
                published = CASE WHEN r.batch IS NOT NULL AND cursor.batch_done THEN r.batch ELSE r.published END,
                batch = CASE WHEN r.batch IS NULL OR cursor.batch_done THEN pg_current_snapshot() ELSE r.batch END,
                batch_after_xid = CASE WHEN cursor.batch_done THEN '0' ELSE r.batch_after_xid END,
                batch_after_id = CASE WHEN cursor.batch_done THEN 0 ELSE r.batch_after_id END
            FROM cursor
            WHERE r.id = 1 AND (r.holder = \(holder) OR r.lease_until < now())
            RETURNING r.published, r.batch, r.batch_after_xid, r.batch_after_id)
        SELECT e.id, e.type, e.created_at, e.payload::text, (e.payload->>'concertId')::bigint AS concert_id
        FROM lease CROSS JOIN LATERAL (
            SELECT * FROM outbox_events e
            WHERE boxoffice_outbox_in_batch(e.xid, e.id, lease.published, lease.batch, lease.batch_after_xid, lease.batch_after_id)
            ORDER BY e.xid, e.id
            LIMIT \(limit)) e
        ORDER BY e.xid, e.id
        """
    }

    public func markPublished(ids: [Int], holder: String) async throws {
        // Moving the cursor fans each event out to its webhook deliveries in the same statement:
        // once per event and endpoint, however often a batch is published, and only to endpoints
        // registered by the time the event happened. A holder that lost the lease moves nothing
        // (the next one publishes the batch again).
        try await self.database.query("""
            WITH moved AS (
                UPDATE outbox_relay SET (batch_after_xid, batch_after_id) = (
                    SELECT e.xid, e.id FROM outbox_events e WHERE e.id = ANY(\(ids)::bigint[]) ORDER BY e.xid DESC, e.id DESC LIMIT 1)
                WHERE id = 1 AND holder = \(holder) AND batch IS NOT NULL AND cardinality(\(ids)::bigint[]) > 0
                RETURNING 1)
            INSERT INTO webhook_deliveries (endpoint_id, event_id)
            SELECT w.id, e.id FROM moved, outbox_events e
            JOIN webhook_endpoints w ON w.enabled AND (e.type = ANY(w.events) OR '*' = ANY(w.events)) AND w.created_at <= e.created_at
            WHERE e.id = ANY(\(ids)::bigint[])
            ON CONFLICT (endpoint_id, event_id) DO NOTHING
            """)
    }

    public func recordSoldOut(concertIDs: [Int]) async throws -> Int {
        try await self.database.query("""
            INSERT INTO outbox_events (type, aggregate_id, payload)
            SELECT 'concert.sold_out', c::text, jsonb_build_object('concertId', c)
            FROM unnest(\(concertIDs)::bigint[]) AS c
            WHERE EXISTS (SELECT 1 FROM concert_dates d WHERE d.concert_id = c AND d.date >= current_date)
              AND NOT EXISTS (
                  SELECT 1 FROM concert_dates d JOIN seats s ON s.date_id = d.id AND s.status <> 'SOLD'
                  WHERE d.concert_id = c AND d.date >= current_date)
              AND NOT EXISTS (SELECT 1 FROM outbox_events o WHERE o.type = 'concert.sold_out' AND o.aggregate_id = c::text)
            """).affectedRows
    }

    /// Events a webhook delivery still waits for stay; settled deliveries (and their attempts) go
    /// after the same retention. Events leave oldest first, looked for among the `limit` oldest ids
    /// (ids follow time): a transaction older than the cursor's oldest running one is published.
    public func purge(olderThanSeconds seconds: Int, limit: Int) async throws -> Int {
        try await self.database.query("""
            DELETE FROM webhook_deliveries WHERE id IN (
                SELECT id FROM webhook_deliveries
                WHERE status <> 'PENDING' AND next_attempt_at < now() - make_interval(secs => \(seconds))
                LIMIT \(limit))
            """)
        return try await self.database.query("""
            DELETE FROM outbox_events WHERE id IN (
                SELECT e.id FROM (SELECT id, xid, created_at FROM outbox_events ORDER BY id LIMIT \(limit)) e, outbox_relay r
                WHERE r.id = 1 AND e.xid < pg_snapshot_xmin(r.published)
                  AND e.created_at < now() - make_interval(secs => \(seconds))
                  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = 'PENDING'))
            """).affectedRows
    }
}
