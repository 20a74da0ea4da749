import AsyncHTTPClient
import BoxOfficeDomain
import Foundation
import LibpqClient
import Logging
import NIOCore
import Testing
import TestSupport

@Suite("Health, readiness, headers and problem details")
struct OperationsHTTPTests {
    @Test("live and ready answer 200 with the instance id; every response carries X-Instance-Id and X-Request-Id")
    func healthAndHeaders() async throws {
        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                for (index, base) in bases.enumerated() {
                    let live = try await http.request(.GET, "\(base)/health/live")
                    #expect(live.status == 200)
                    #expect(live.json["instance"] as? String == "test-\(index + 1)")
                    let ready = try await http.request(.GET, "\(base)/health/ready")
                    #expect(ready.status == 200, "\(ready.text)")
                    #expect(ready.headers["X-Instance-Id"].first == "test-\(index + 1)")
                    #expect(ready.headers["X-Request-Id"].first?.isEmpty == false)
                }
                // A caller's request id is kept; errors carry both headers too.
                let missing = try await http.request(.GET, "\(bases[0])/v1/nope", headers: [("X-Request-Id", "trace-123")])
                #expect(missing.headers["X-Request-Id"].first == "trace-123")
                #expect(missing.headers["X-Instance-Id"].first == "test-1")
            }
        }
    }

    @Test("unknown route → 404 NOT_FOUND problem+json")
    func unknownRoute() async throws {
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let reply = try await http.request(.GET, "\(bases[0])/v1/does-not-exist")
                #expect(reply.status == 404)
                #expect(reply.code == "NOT_FOUND")
                #expect(reply.headers["Content-Type"].first == "application/problem+json")
                #expect(reply.json["status"] as? Int == 404)
                #expect(reply.json["title"] is String)
                #expect(reply.json["type"] is String)
            }
        }
    }

    @Test("malformed JSON, wrong types and missing fields → 400 INVALID_REQUEST")
    func badJSON() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let url = "\(bases[0])/v1/queue/tokens"
                let bodies: [Data] = [
                    Data("{not json".utf8),
                    Data("[]".utf8),
                    Data(#"{"userId": 5, "concertId": \#(concert.id)}"#.utf8),
                    Data(#"{"concertId": \#(concert.id)}"#.utf8),
                    Data(#"{"userId": "not-a-uuid", "concertId": \#(concert.id)}"#.utf8),
                    Data(),
                ]
                for body in bodies {
                    let reply = try await http.request(.POST, url, rawBody: body)
                    #expect(reply.status == 400, "\(String(decoding: body, as: UTF8.self)) → \(reply.text)")
                    #expect(reply.code == "INVALID_REQUEST")
                    #expect(reply.headers["Content-Type"].first == "application/problem+json")
                }
            }
        }
    }

    @Test("a body over 64 KiB → 413 PAYLOAD_TOO_LARGE, and the instance keeps serving")
    func bodyTooLarge() async throws {
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let big = Data(#"{"userId": ""#.utf8) + Data(repeating: UInt8(ascii: "a"), count: 70 * 1024) + Data(#"", "concertId": 1}"#.utf8)
                let reply = try await http.request(.POST, "\(bases[0])/v1/queue/tokens", rawBody: big)
                #expect(reply.status == 413)
                #expect(reply.code == "PAYLOAD_TOO_LARGE")
                let live = try await http.request(.GET, "\(bases[0])/health/live")
                #expect(live.status == 200)
            }
        }
    }

    @Test("readiness is 503 naming Redis when Redis is unreachable")
    func readinessRedisDown() async throws {
        try await TestStack.withInstances(1, environment: ["REDIS_URL": "redis://127.0.0.1:1/0", "POOL_TIMEOUT_MS": "1000"]) { bases in
            try await TestHTTPClient.with { http in
                let reply = try await http.request(.GET, "\(bases[0])/health/ready")
                #expect(reply.status == 503)
                #expect(reply.json["failing"] as? [String] == ["redis"])
                #expect(reply.json["instance"] as? String == "test-1")
                // A route that needs Redis answers 503 SERVICE_UNAVAILABLE, not 500.
                let status = try await http.request(.GET, "\(bases[0])/v1/queue/status", token: "1.0123456789abcdef0123456789abcdef")
                #expect(status.status == 503)
                #expect(status.code == "SERVICE_UNAVAILABLE")
            }
        }
    }

    @Test("readiness is 503 naming PostgreSQL when PostgreSQL is unreachable")
    func readinessPostgresDown() async throws {
        let environment = ["DATABASE_URL": "postgres://boxoffice@127.0.0.1:1/boxoffice", "POOL_TIMEOUT_MS": "1000"]
        try await TestStack.withInstances(1, environment: environment) { bases in
            try await TestHTTPClient.with { http in
                let reply = try await http.request(.GET, "\(bases[0])/health/ready")
                #expect(reply.status == 503)
                #expect(reply.json["failing"] as? [String] == ["postgres"])
                let concerts = try await http.request(.GET, "\(bases[0])/v1/concerts")
                #expect(concerts.status == 503)
                #expect(concerts.code == "SERVICE_UNAVAILABLE")
            }
        }
    }

    /// Request counters come from the process-wide metrics factory that `boxoffice serve` bootstraps;
    /// in-process test instances share one process, so here only the instance's own gauges are checked.
    @Test("/metrics serves Prometheus text with the pool gauges")
    func metrics() async throws {
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                _ = try await http.request(.GET, "\(bases[0])/health/live")
                let reply = try await http.request(.GET, "\(bases[0])/metrics")
                #expect(reply.status == 200)
                #expect(reply.headers["Content-Type"].first?.hasPrefix("text/plain") == true)
                let size = TestStack.defaultEnvironment["DB_POOL_SIZE"]!
                #expect(reply.text.contains("boxoffice_pool_connections{pool=\"postgres\",state=\"size\"} \(size)"), "\(reply.text)")
                #expect(reply.text.contains("boxoffice_pool_waiting"))
            }
        }
    }
}

@Suite("Migrations and seed")
struct SchemaTests {
    /// A throwaway database, so migrating from scratch does not disturb the shared one.
    static func withFreshDatabase(_ body: (String) async throws -> Void) async throws {
        let admin = TestDatabase.client(poolSize: 1)
        defer { admin.shutdown() }
        let name = "bo_schema_" + TestEnvironment.uniqueSuffix()
        try await admin.withConnection { try $0.simple("CREATE DATABASE \(name)") }
        do {
            var components = URLComponents(string: TestEnvironment.databaseURL)!
            components.path = "/" + name
            try await body(components.string!)
        } catch {
            try? await admin.withConnection { try $0.simple("DROP DATABASE \(name) WITH (FORCE)") }
            throw error
        }
        try await admin.withConnection { try $0.simple("DROP DATABASE \(name) WITH (FORCE)") }
    }

    @Test("four migrators at once apply each version exactly once; a second run is a no-op")
    func concurrentMigrations() async throws {
        try await Self.withFreshDatabase { url in
            let client = PostgresClient(configuration: PostgresConfiguration(url: url), poolSize: 4, acquireTimeout: .seconds(30))
            defer { client.shutdown() }
            let logger = Logger(label: "migrate-test")
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<4 { group.addTask { try await Migrator(database: client, logger: logger).migrate() } }
                return try await group.reduce(into: [Int]()) { $0 += $1 }
            }
            #expect(applied.sorted() == Migrations.all.map(\.version))
            #expect(try await Migrator(database: client, logger: logger).migrate().isEmpty)
            let versions = try await client.query("SELECT version FROM schema_migrations ORDER BY version").map { try $0.decode(Int.self, at: 0) }
            #expect(versions == Migrations.all.map(\.version))
        }
    }

    @Test("seeding twice leaves the same demo data: 3 concerts, 4 dates each, 50 seats per date")
    func seedTwice() async throws {
        try await Self.withFreshDatabase { url in
            let client = PostgresClient(configuration: PostgresConfiguration(url: url), poolSize: 2, acquireTimeout: .seconds(30))
            defer { client.shutdown() }
            let logger = Logger(label: "seed-test")
            try await Migrator(database: client, logger: logger).migrate()
            func counts() async throws -> [Int] {
                let row = try await client.query("""
                    SELECT (SELECT count(*) FROM concerts), (SELECT count(*) FROM concert_dates),
                           (SELECT count(*) FROM seats), (SELECT count(DISTINCT price) FROM seats)
                    """).first!
                return try (0..<4).map { try row.decode(Int.self, at: $0) }
            }
            try await Seeder(database: client, logger: logger).seed()
            let first = try await counts()
            try await Seeder(database: client, logger: logger).seed()
            #expect(try await counts() == first)
            #expect(first[0] == 3)
            #expect(first[1] == 12)
            #expect(first[2] == 600)
            #expect(first[3] >= 3)
            let past = try await client.query("SELECT count(*) FROM concert_dates WHERE date <= current_date").first!.decode(Int.self, at: 0)
            #expect(past == 0)
        }
    }
}
