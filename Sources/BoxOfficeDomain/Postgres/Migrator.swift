import LibpqClient
import Logging

/// Applies `Migrations.all`. Several instances may run it at once: a session advisory lock lets one
/// apply while the others wait and then find nothing left to do.
public struct Migrator: Sendable {
    /// Arbitrary constant shared by every instance ("boxoffice" in ASCII, truncated).
    static let advisoryLockKey = 0x626f_786f_6666

    let database: PostgresClient
    let logger: Logger

    public init(database: PostgresClient, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// Returns the versions it applied (empty when already up to date).
    @discardableResult
    public func migrate() async throws -> [Int] {
        let applied = try await self.database.withConnection { connection -> [Int] in
            try connection.query("SELECT pg_advisory_lock(\(Self.advisoryLockKey))")
            defer { _ = try? connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))") }
            try connection.simple("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version     INT PRIMARY KEY,
                    name        TEXT NOT NULL,
                    applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """)
            let done = Set(try connection.query("SELECT version FROM schema_migrations").map { try $0.decode(Int.self, at: 0) })
            var applied: [Int] = []
            for migration in Migrations.all where !done.contains(migration.version) {
                try connection.transaction { connection in
                    try connection.simple(migration.sql)
                    try connection.query(
                        "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))")
                }
                applied.append(migration.version)
            }
            return applied
        }
        if applied.isEmpty {
            self.logger.info("schema up to date", metadata: ["version": "\(Migrations.all.last?.version ?? 0)"])
        } else {
            self.logger.info("applied migrations", metadata: ["versions": "\(applied)"])
        }
        return applied
    }
}
