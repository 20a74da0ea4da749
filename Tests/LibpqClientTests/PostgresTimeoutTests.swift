import ConnectionPool
import Dispatch
import Foundation
import LibpqClient
import Testing
import TestSupport

@Suite("PostgreSQL lock and statement timeouts (shared server)")
struct PostgresTimeoutTests {
    @Test(.timeLimit(.minutes(1)))
    func rowLockedElsewhereFailsWithLockNotAvailableAfterLockTimeout() async throws {
        try await withSharedPostgres { holder in
            let waiter = sharedPostgresClient(lockTimeoutMilliseconds: 200)
            defer { waiter.shutdown() }
            try await withUniqueTable(holder, columns: "id int PRIMARY KEY") { table in
                try await holder.query("INSERT INTO \(unescaped: table) VALUES (1)")
                let locked = DispatchSemaphore(value: 0)
                let release = DispatchSemaphore(value: 0)

                async let holding: Void = holder.transaction { connection in
                    try connection.query("SELECT id FROM \(unescaped: table) WHERE id = 1 FOR UPDATE")
                    locked.signal()
                    _ = release.wait(timeout: .now() + 10)
                }

                let (error, elapsed) = try await waiter.withConnection { connection -> (PostgresError?, Duration) in
                    guard locked.wait(timeout: .now() + 10) == .success else { return (nil, .zero) }
                    let start = ContinuousClock.now
                    do {
                        try connection.query("SELECT id FROM \(unescaped: table) WHERE id = 1 FOR UPDATE")
                        return (nil, ContinuousClock.now - start)
                    } catch let error as PostgresError {
                        return (error, ContinuousClock.now - start)
                    }
                }
                release.signal()
                try await holding

                expectServerError(error, .lockNotAvailable, "55P03")
                #expect(elapsed >= .milliseconds(150), "\(elapsed)")
                #expect(elapsed < .seconds(1), "\(elapsed)")
                // The lock is free again.
                #expect(try await waiter.query("SELECT id FROM \(unescaped: table) WHERE id = 1 FOR UPDATE").count == 1)
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func slowStatementIsCanceledByStatementTimeout() async throws {
        try await withSharedPostgres(statementTimeoutMilliseconds: 200) { client async throws in
            let start = ContinuousClock.now
            let error = await errorOf { try await client.query("SELECT pg_sleep(2)") }
            let elapsed = ContinuousClock.now - start
            expectServerError(error, .queryCanceled, "57014")
            #expect(elapsed < .seconds(1.5), "\(elapsed)")
            // A canceled statement does not break the connection.
            #expect(try await client.query("SELECT 1").first?.decode(Int.self, at: 0) == 1)
            #expect(try await client.query("SHOW lock_timeout").first?.decode(String.self, at: 0) == "5s")
        }
    }
}
