import BoxOfficeDomain
import Foundation
import LibpqClient

/// The webhook tables (migration 13): endpoints, one delivery per endpoint and event (fanned out by
/// `PostgresOutbox.markPublished`), and the log of attempts. Text arrays cross as JSON.
public struct PostgresWebhookStore: WebhookStore {
    let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    private static let endpointColumns = "id, url, array_to_json(events)::text AS events, enabled, disabled_reason, created_at"

    private static func endpoint(_ row: PostgresRow) throws -> WebhookEndpoint {
        WebhookEndpoint(
            id: try row.decode(String.self, column: "id"), url: try row.decode(String.self, column: "url"),
            events: try JSON.decode([String].self, from: try row.decode(String.self, column: "events")),
            enabled: try row.decode(Bool.self, column: "enabled"), disabledReason: try row.decode(String?.self, column: "disabled_reason"),
            createdAt: try row.decode(Date.self, column: "created_at"))
    }

    public func create(id: String, url: String, events: [String], secret: String) async throws -> WebhookEndpoint {
        let rows = try await self.database.query("""
            INSERT INTO webhook_endpoints (id, url, events, secret)
            VALUES (\(id), \(url), ARRAY(SELECT jsonb_array_elements_text(\(try JSON.encode(events))::jsonb)), \(secret))
            RETURNING \(unescaped: Self.endpointColumns)
            """)
        return try Self.endpoint(rows.first!)
    }

    public func list() async throws -> [WebhookEndpoint] {
        try await self.database.query("SELECT \(unescaped: Self.endpointColumns) FROM webhook_endpoints ORDER BY created_at, id").map(Self.endpoint)
    }

    public func delete(id: String) async throws -> Bool {
        try await self.database.query("DELETE FROM webhook_endpoints WHERE id = \(id)").affectedRows == 1
    }

    public func attempts(endpointID: String, limit: Int) async throws -> [WebhookAttempt]? {
        let rows = try await self.database.query("""
            SELECT e.id AS endpoint, a.attempt, a.attempted_at, a.http_status, a.error, a.duration_ms, a.next_attempt_at,
                   d.event_id, o.type
            FROM webhook_endpoints e
            LEFT JOIN webhook_attempts a ON a.endpoint_id = e.id
            LEFT JOIN webhook_deliveries d ON d.id = a.delivery_id
            LEFT JOIN outbox_events o ON o.id = d.event_id
            WHERE e.id = \(endpointID)
            ORDER BY a.id DESC NULLS LAST
            LIMIT \(limit)
            """)
        guard !rows.rows.isEmpty else { return nil }
        return try rows.compactMap { row in
            guard let attempt = try row.decode(Int?.self, column: "attempt") else { return nil }
            return WebhookAttempt(
                eventID: "evt_\(try row.decode(Int.self, column: "event_id"))", type: try row.decode(String?.self, column: "type") ?? "",
                attempt: attempt, attemptedAt: try row.decode(Date.self, column: "attempted_at"),
                httpStatus: try row.decode(Int?.self, column: "http_status"), error: try row.decode(String?.self, column: "error"),
                durationMilliseconds: try row.decode(Int.self, column: "duration_ms"), nextAttemptAt: try row.decode(Date?.self, column: "next_attempt_at"))
        }
    }

    public func redeliver(eventID: Int) async throws -> Int? {
        let rows = try await self.database.query("""
            WITH event AS (SELECT id, type FROM outbox_events WHERE id = \(eventID)),
            queued AS (
                INSERT INTO webhook_deliveries (endpoint_id, event_id)
                SELECT w.id, event.id FROM event JOIN webhook_endpoints w ON w.enabled AND (event.type = ANY(w.events) OR '*' = ANY(w.events))
                ON CONFLICT (endpoint_id, event_id) DO UPDATE
                    SET status = 'PENDING', attempts = 0, first_due_at = now(), next_attempt_at = now()
                RETURNING 1)
            SELECT (SELECT count(*) FROM event) AS known, (SELECT count(*) FROM queued) AS queued
            """)
        let row = try rows.first.orThrow()
        return try row.decode(Int.self, column: "known") == 0 ? nil : try row.decode(Int.self, column: "queued")
    }

    public func claim(limit: Int, perEndpoint: Int, busy: [String: Int], leaseSeconds: Int) async throws -> [WebhookDelivery] {
        // Each enabled endpoint picks its own oldest due deliveries, up to its share (`perEndpoint`
        // less this instance's in flight): a backlog of one endpoint's retries never keeps another
        // endpoint's fresh deliveries out of the claim.
        try await self.database.query("""
            WITH picked AS (
                SELECT due.id FROM webhook_endpoints w
                CROSS JOIN LATERAL (
                    SELECT d.id FROM webhook_deliveries d
                    WHERE d.endpoint_id = w.id AND d.status = 'PENDING' AND d.next_attempt_at <= now()
                    ORDER BY d.next_attempt_at, d.id
                    LIMIT greatest(0, \(perEndpoint) - coalesce((\(try JSON.encode(busy))::jsonb ->> w.id)::int, 0))
                    FOR UPDATE SKIP LOCKED) due
                WHERE w.enabled
                ORDER BY random()  -- past `limit`, no endpoint is always the one left out
                LIMIT \(limit)),
            claimed AS (
                UPDATE webhook_deliveries d SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => \(leaseSeconds))
                FROM picked WHERE d.id = picked.id
                RETURNING d.id, d.endpoint_id, d.event_id, d.attempts, d.first_due_at)
            SELECT c.id, c.endpoint_id, w.url, w.secret, c.attempts, c.first_due_at, o.id AS event, o.type, o.created_at, o.payload::text AS data
            FROM claimed c JOIN webhook_endpoints w ON w.id = c.endpoint_id JOIN outbox_events o ON o.id = c.event_id
            """).map { row in
            WebhookDelivery(
                id: try row.decode(Int.self, column: "id"), endpointID: try row.decode(String.self, column: "endpoint_id"),
                url: try row.decode(String.self, column: "url"), secret: try row.decode(String.self, column: "secret"),
                attempt: try row.decode(Int.self, column: "attempts"), firstDueAt: try row.decode(Date.self, column: "first_due_at"),
                event: OutboxEvent(
                    id: try row.decode(Int.self, column: "event"), type: try row.decode(String.self, column: "type"),
                    createdAt: try row.decode(Date.self, column: "created_at"), data: try row.decode(String.self, column: "data")))
        }
    }

    public func record(_ delivery: WebhookDelivery, outcome: WebhookOutcome, durationMilliseconds: Int) async throws {
        let (status, httpStatus, error, next): (String, Int?, String?, Date?) =
            switch outcome {
            case .delivered(let code): ("DELIVERED", code, nil, nil)
            case .failed(let code, let error, let next): (next == nil ? "FAILED" : "PENDING", code, error, next)
            case .gone: ("FAILED", 410, "410 Gone: the endpoint is disabled", nil)
            }
        // The attempt is logged whatever happens; the delivery settles only if no later claim took it
        // over (its attempt number is still this one), and a 410 disables the endpoint.
        try await self.database.query("""
            WITH attempt AS (
                INSERT INTO webhook_attempts (delivery_id, endpoint_id, attempt, http_status, error, duration_ms, next_attempt_at)
                VALUES (\(delivery.id), \(delivery.endpointID), \(delivery.attempt), \(httpStatus), \(error), \(durationMilliseconds), \(next))),
            settled AS (
                UPDATE webhook_deliveries SET status = \(status), next_attempt_at = coalesce(\(next), now())
                WHERE id = \(delivery.id) AND attempts = \(delivery.attempt) AND status = 'PENDING')
            UPDATE webhook_endpoints SET enabled = false, disabled_reason = 'answered 410 Gone at ' || now()::text
            WHERE id = \(delivery.endpointID) AND \(status == "FAILED" && httpStatus == 410)
            """)
    }
}

extension Optional {
    func orThrow() throws -> Wrapped {
        guard let value = self else { throw PostgresError.decoding("no row") }
        return value
    }
}
