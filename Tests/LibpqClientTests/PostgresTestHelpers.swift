import ConnectionPool
import Foundation
import LibpqClient
import NIOCore
import Testing
import TestSupport

/// A client for the shared test database. Shut down afterwards, so its connections (and their
/// temporary tables) go away.
func withSharedPostgres<Result>(
    poolSize: Int = 1,
    acquireTimeout: TimeAmount = .seconds(10),
    statementTimeoutMilliseconds: Int = 10_000,
    lockTimeoutMilliseconds: Int = 5_000,
    _ body: (PostgresClient) async throws -> Result
) async throws -> Result {
    let client = sharedPostgresClient(
        poolSize: poolSize,
        acquireTimeout: acquireTimeout,
        statementTimeoutMilliseconds: statementTimeoutMilliseconds,
        lockTimeoutMilliseconds: lockTimeoutMilliseconds
    )
    defer { client.shutdown() }
    return try await body(client)
}

func sharedPostgresClient(
    poolSize: Int = 1,
    acquireTimeout: TimeAmount = .seconds(10),
    statementTimeoutMilliseconds: Int = 10_000,
    lockTimeoutMilliseconds: Int = 5_000
) -> PostgresClient {
    let configuration = PostgresConfiguration(
        url: TestEnvironment.databaseURL,
        statementTimeoutMilliseconds: statementTimeoutMilliseconds,
        lockTimeoutMilliseconds: lockTimeoutMilliseconds,
        applicationName: "libpq-client-tests"
    )
    return PostgresClient(configuration: configuration, poolSize: poolSize, acquireTimeout: acquireTimeout)
}

/// A uniquely named real table (visible to every connection, unlike a temporary table), created
/// with `columns` and dropped afterwards.
func withUniqueTable<Result>(
    _ client: PostgresClient,
    columns: String,
    _ body: (String) async throws -> Result
) async throws -> Result {
    let table = "libpq_test_\(TestEnvironment.uniqueSuffix())"
    try await client.withConnection { try $0.simple("CREATE TABLE \(table) (\(columns))") }
    do {
        let result = try await body(table)
        try await client.withConnection { try $0.simple("DROP TABLE IF EXISTS \(table) CASCADE") }
        return result
    } catch {
        _ = try? await client.withConnection { try $0.simple("DROP TABLE IF EXISTS \(table) CASCADE") }
        throw error
    }
}

/// Records an issue unless `error` is a server error of `kind` with `sqlState`.
func expectServerError(
    _ error: (any Error)?,
    _ kind: ServerErrorKind,
    _ sqlState: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard let error else {
        Issue.record("expected \(kind) (\(sqlState)), but it succeeded", sourceLocation: sourceLocation)
        return
    }
    guard case PostgresError.server(let actualKind, let actualState, _) = error else {
        Issue.record("expected \(kind) (\(sqlState)), got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        return
    }
    #expect(actualKind == kind, "\(error)", sourceLocation: sourceLocation)
    #expect(actualState == sqlState, "\(error)", sourceLocation: sourceLocation)
}

/// The error `body` threw, or nil.
func errorOf(_ body: () async throws -> Void) async -> (any Error)? {
    do {
        try await body()
        return nil
    } catch {
        return error
    }
}

struct Abort: Error, Equatable {}

/// An Int written on a pool thread and read by the test.
final class CountBox: @unchecked Sendable {
    let lock = NSLock()
    private var stored = 0
    var value: Int { self.lock.withLock { self.stored } }
    func set(_ value: Int) { self.lock.withLock { self.stored = value } }
}
