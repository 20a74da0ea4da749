import BoxOfficeDomain
import LibpqClient
import Logging

/// Applies `Migrations.all`. Several instances may run it at once: a session advisory lock lets one
/// apply while the others wait and then find nothing left to do. They wait by asking for the lock
/// again every 250 ms (`pg_try_advisory_lock`) rather than blocking in `pg_advisory_lock`, so the
/// wait is bounded by `patience`, not cut short by the connection's statement and reply timeouts
/// (a second instance starting while the first migrates used to fail after a few seconds).
public struct Migrator: Sendable {
    /// Arbitrary constant shared by every instance ("boxoffice" in ASCII, truncated).
    public static let advisoryLockKey = 0x626f_786f_6666

    let database: PostgresClient
    let logger: Logger
    let patience: Duration

    public init(database: PostgresClient, logger: Logger, patience: Duration = .seconds(600)) {
        self.database = database
        self.logger = logger
        self.patience = patience
    }

    /// Returns the versions it applied (empty when already up to date).
    @discardableResult
    public func migrate() async throws -> [Int] {
        let deadline = ContinuousClock.now + self.patience
        var waited = false
        while true {
            if let applied = try await self.database.withConnection({ try Self.applyIfFirst(on: $0) }) {
                if applied.isEmpty {
                    self.logger.info("schema up to date", metadata: ["version": "\(Migrations.all.last?.version ?? 0)"])
                } else {
                    self.logger.info("applied migrations", metadata: ["versions": "\(applied)"])
                }
                return applied
            }
            guard ContinuousClock.now < deadline else {
                throw MigrationLockTimeout(patience: self.patience)
            }
            if !waited {
                self.logger.info("waiting for another instance's migration")
                waited = true
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    /// With the lock, applies what is missing and returns those versions; nil when another session holds it.
    private static func applyIfFirst(on connection: PostgresConnection) throws -> [Int]? {
        guard try connection.query("SELECT pg_try_advisory_lock(\(Self.advisoryLockKey))::int").first?.decode(Int.self, at: 0) == 1 else {
            return nil
        }
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
                try connection.query("INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))")
            }
            applied.append(migration.version)
        }
        try connection.transaction { connection in
            for function in SQLFunctions.all { try connection.simple(function) }
        }
        return applied
    }
}

/// Another session held the migration lock for longer than the migrator's patience.
public struct MigrationLockTimeout: Error, CustomStringConvertible {
    public let patience: Duration
    public var description: String { "another session has held the migration lock for \(self.patience); is a migration stuck?" }
}
