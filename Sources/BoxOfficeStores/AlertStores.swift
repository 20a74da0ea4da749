import BoxOfficeDomain
import HiredisClient
import LibpqClient

/// The ledger in PostgreSQL (`alert_episodes`): for every alert but PostgreSQL's own unavailability.
public struct PostgresAlertLedger: AlertLedger {
    let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    public func report(key: String, active: Bool, holder: String, staleSeconds: Int) async throws -> AlertTransition? {
        if active {
            let rows = try await self.database.query("""
                INSERT INTO alert_episodes (key, holder) VALUES (\(key), \(holder))
                ON CONFLICT (key) DO UPDATE SET holder = EXCLUDED.holder, seen_at = now()
                    WHERE alert_episodes.holder = EXCLUDED.holder OR alert_episodes.seen_at < now() - make_interval(secs => \(staleSeconds))
                RETURNING (xmax = 0) AS inserted
                """)
            return try rows.first?.decode(Bool.self, column: "inserted") == true ? .opened : nil
        }
        let deleted = try await self.database.query("""
            DELETE FROM alert_episodes
            WHERE key = \(key) AND (holder = \(holder) OR seen_at < now() - make_interval(secs => \(staleSeconds)))
            """).affectedRows
        return deleted == 1 ? .closed : nil
    }

    public func openKeys() async throws -> [String] {
        try await self.database.query("SELECT key FROM alert_episodes ORDER BY key").map { try $0.decode(String.self, at: 0) }
    }
}

/// The ledger in Redis: for PostgreSQL's unavailability, which PostgreSQL cannot record. One hash
/// per episode under `bo:alerts:<key>`: holder and the time it was last seen (Redis TIME).
public struct RedisAlertLedger: AlertLedger {
    let redis: RedisClient
    /// The one key this ledger keeps.
    let key: String

    public init(redis: RedisClient, key: String) {
        self.redis = redis
        self.key = key
    }

    static let script = RedisScript(name: "alert-report", source: """
        local now = redis.call('TIME')
        local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
        local holder, seen = unpack(redis.call('HMGET', KEYS[1], 'holder', 'seen'))
        local mine_or_stale = holder == ARGV[1] or (tonumber(seen) or 0) < now_ms - tonumber(ARGV[3])
        if ARGV[2] == '1' then
          if not holder then
            redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'seen', now_ms)
            return 1
          end
          if mine_or_stale then redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'seen', now_ms) end
          return 0
        end
        if holder and mine_or_stale then
          redis.call('DEL', KEYS[1])
          return -1
        end
        return 0
        """)

    var redisKey: String { "bo:alerts:\(self.key)" }

    /// alert-report: ARGV holder, '1' (active) or '0', stale ms. Reply 1 opened, -1 closed, 0 neither.
    struct ReportCall: RedisScriptCall {
        let keys: [RedisArgument]
        let arguments: [RedisArgument]
        var script: RedisScript { RedisAlertLedger.script }

        func decode(_ reply: RedisReply) throws -> AlertTransition? {
            guard let value = reply.int else { throw RedisError.unexpectedReply("alert-report: \(reply)") }
            return value == 1 ? .opened : value == -1 ? .closed : nil
        }
    }

    public func report(key: String, active: Bool, holder: String, staleSeconds: Int) async throws -> AlertTransition? {
        try await self.redis.call(ReportCall(
            keys: [RedisArgument(self.redisKey)], arguments: [RedisArgument(holder), active ? "1" : "0", RedisArgument(staleSeconds * 1000)]))
    }

    public func openKeys() async throws -> [String] {
        try await self.redis.send(["EXISTS", RedisArgument(self.redisKey)]).checked().int == 1 ? [self.key] : []
    }
}

/// The monitor's sources: PostgreSQL for sales and the fleet's response counts, and a ping of each store.
public struct StoreAlertSources: AlertSources {
    let database: PostgresClient
    let redis: RedisClient

    public init(database: PostgresClient, redis: RedisClient) {
        self.database = database
        self.redis = redis
    }

    public func pingPostgres() async throws {
        _ = try await self.database.query("SELECT 1")
    }

    public func pingRedis() async throws {
        _ = try await self.redis.send(["PING"]).checked()
    }

    public func soldOutConcerts() async throws -> [(id: Int, title: String)] {
        try await self.database.query("""
            SELECT c.id, c.title FROM concerts c
            WHERE EXISTS (SELECT 1 FROM concert_dates d WHERE d.concert_id = c.id AND d.date >= current_date)
              AND NOT EXISTS (
                  SELECT 1 FROM concert_dates d JOIN seats s ON s.date_id = d.id AND s.status <> 'SOLD'
                  WHERE d.concert_id = c.id AND d.date >= current_date)
            ORDER BY c.id
            """).map { (try $0.decode(Int.self, column: "id"), try $0.decode(String.self, column: "title")) }
    }

    public func recordResponses(instance: String, total: Int, errors: Int, windowSeconds: Int) async throws -> (total: Int, errors: Int) {
        let window = "to_timestamp(floor(extract(epoch FROM now()) / \(windowSeconds)) * \(windowSeconds))"
        let rows = try await self.database.query("""
            WITH added AS (
                INSERT INTO alert_http_counts (instance, minute, total, errors)
                VALUES (\(instance), \(unescaped: window), \(total), \(errors))
                ON CONFLICT (minute, instance) DO UPDATE
                    SET total = alert_http_counts.total + EXCLUDED.total, errors = alert_http_counts.errors + EXCLUDED.errors),
            purged AS (DELETE FROM alert_http_counts WHERE minute < now() - interval '1 hour')
            SELECT coalesce(sum(total), 0)::bigint AS total, coalesce(sum(errors), 0)::bigint AS errors FROM alert_http_counts
            WHERE minute = \(unescaped: window) - make_interval(secs => \(windowSeconds))
            """)
        let row = try rows.first.orThrow()
        return (try row.decode(Int.self, column: "total"), try row.decode(Int.self, column: "errors"))
    }
}
