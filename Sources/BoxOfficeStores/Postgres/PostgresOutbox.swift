import BoxOfficeDomain
import Foundation
import LibpqClient

/// The outbox tables (migrations 12 and 14): `outbox_events`, written by the same transactions as
/// the changes (Functions/boxoffice_events.sql and the stores), and `outbox_relay`, the one lease
/// row, which also says whether the relay sleeps (and new events notify it).
public struct PostgresOutbox: Outbox {
    let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    public func claim(holder: String, limit: Int, leaseMilliseconds: Int) async throws -> [OutboxEvent] {
        // The lease and the read are one statement: no rows unless this holder has the lease now.
        // A holder that finds nothing to publish asks to be notified of the next event.
        try await self.database.query("""
            WITH lease AS (
                UPDATE outbox_relay SET holder = \(holder), lease_until = now() + make_interval(secs => \(Double(leaseMilliseconds) / 1000)),
                    sleeping = NOT EXISTS (SELECT 1 FROM outbox_events WHERE published_at IS NULL)
                WHERE id = 1 AND (holder = \(holder) OR lease_until < now())
                RETURNING 1)
            SELECT e.id, e.type, e.created_at, e.payload::text, (e.payload->>'concertId')::bigint AS concert_id FROM outbox_events e, lease
            WHERE e.published_at IS NULL
            ORDER BY e.id
            LIMIT \(limit)
            """).map {
            OutboxEvent(
                id: try $0.decode(column: "id"), type: try $0.decode(column: "type"), createdAt: try $0.decode(column: "created_at"),
                data: try $0.decode(column: "payload"), concertID: try $0.decode(Int?.self, column: "concert_id"))
        }
    }

    public func markPublished(ids: [Int], holder: String) async throws {
        // Marking fans each event out to its webhook deliveries in the same statement: once per
        // event and endpoint, however often a batch is published.
        try await self.database.query("""
            WITH marked AS (
                UPDATE outbox_events SET published_at = now()
                WHERE id = ANY(\(ids)::bigint[]) AND published_at IS NULL
                  AND EXISTS (SELECT 1 FROM outbox_relay WHERE id = 1 AND holder = \(holder))
                RETURNING id, type)
            INSERT INTO webhook_deliveries (endpoint_id, event_id)
            SELECT w.id, m.id FROM marked m JOIN webhook_endpoints w ON w.enabled AND (m.type = ANY(w.events) OR '*' = ANY(w.events))
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
    /// after the same retention.
    public func purge(olderThanSeconds seconds: Int, limit: Int) async throws -> Int {
        try await self.database.query("""
            DELETE FROM webhook_deliveries WHERE id IN (
                SELECT id FROM webhook_deliveries
                WHERE status <> 'PENDING' AND next_attempt_at < now() - make_interval(secs => \(seconds))
                LIMIT \(limit))
            """)
        return try await self.database.query("""
            DELETE FROM outbox_events WHERE id IN (
                SELECT e.id FROM outbox_events e
                WHERE e.published_at < now() - make_interval(secs => \(seconds))
                  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = 'PENDING')
                LIMIT \(limit))
            """).affectedRows
    }
}
