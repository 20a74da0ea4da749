import AsyncHTTPClient
import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import LibpqClient
import Logging
import NIOCore
import Testing
import TestSupport

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

    @Test("a migrator waits for another session holding the migration lock past the statement timeout, then finds nothing to do")
    func migratorOutwaitsTheStatementTimeout() async throws {
        try await Self.withFreshDatabase { url in
            let client = PostgresClient(
                configuration: PostgresConfiguration(url: url, statementTimeoutMilliseconds: 1_000), poolSize: 2, acquireTimeout: .seconds(30))
            defer { client.shutdown() }
            let logger = Logger(label: "migrate-test")
            try await Migrator(database: client, logger: logger).migrate()
            // Another instance migrating (a session of its own): it holds the lock for three statement timeouts.
            let other = PostgresClient(configuration: PostgresConfiguration(url: url), poolSize: 1, acquireTimeout: .seconds(30))
            defer { other.shutdown() }
            let holding = Task {
                try await other.withConnection { connection in
                    try connection.query("SELECT pg_advisory_lock(\(Migrator.advisoryLockKey))")
                    Thread.sleep(forTimeInterval: 3)
                    try connection.query("SELECT pg_advisory_unlock(\(Migrator.advisoryLockKey))")
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            let started = ContinuousClock.now
            #expect(try await Migrator(database: client, logger: logger).migrate().isEmpty)
            #expect(ContinuousClock.now - started > .seconds(2), "it waited for the lock")
            try await holding.value
            // A lock held past the migrator's patience: it gives up with a clear error.
            _ = try await other.withConnection { try $0.query("SELECT pg_advisory_lock(\(Migrator.advisoryLockKey))") }
            await #expect(throws: MigrationLockTimeout.self) {
                try await Migrator(database: client, logger: logger, patience: .milliseconds(600)).migrate()
            }
            _ = try await other.withConnection { try $0.query("SELECT pg_advisory_unlock(\(Migrator.advisoryLockKey))") }
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
