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

/// Issue 10.8: PostgreSQL that stops answering (blackholed, not restarted) must fail calls within
/// the reply deadline, not after the kernel's ~15-minute retransmission timeout, and the pool must
/// heal once the server answers again.
@Suite("PostgreSQL that stops answering")
struct SilentPostgresTests {
    @Test(.timeLimit(.minutes(1)))
    func silentServerFailsCallsWithinTheReplyDeadline() async throws {
        let url = try #require(URLComponents(string: TestEnvironment.databaseURL))
        let proxy = try await FreezableTCPProxy.start(upstreamHost: url.host ?? "127.0.0.1", upstreamPort: url.port ?? 5432)
        defer { Task { await proxy.close() } }
        var proxied = url
        proxied.port = proxy.port
        let client = PostgresClient(
            configuration: PostgresConfiguration(
                url: proxied.string!, statementTimeoutMilliseconds: 500, replyTimeoutMilliseconds: 1_500, applicationName: "silent-postgres-test"),
            poolSize: 1, acquireTimeout: .seconds(10)
        )
        defer { client.shutdown() }
        #expect(try await client.query("SELECT 1").first?.decode(Int.self, at: 0) == 1)

        proxy.freeze()
        let start = ContinuousClock.now
        let error = await errorOf { try await client.query("SELECT 2") } as? PostgresError
        let elapsed = ContinuousClock.now - start
        guard case .connection = error else {
            Issue.record("expected a connection error, got \(String(describing: error))")
            return
        }
        #expect(error?.isUnavailable == true, "maps to 503")
        #expect(elapsed >= .milliseconds(1_400) && elapsed < .seconds(3), "\(elapsed)")

        // Answering again: the pool replaced the given-up connection and the next call works.
        proxy.thaw()
        #expect(try await client.query("SELECT 3").first?.decode(Int.self, at: 0) == 3)
    }
}
