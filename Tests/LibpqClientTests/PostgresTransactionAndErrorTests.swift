import ConnectionPool
import Dispatch
import Foundation
import LibpqClient
import Testing
import TestSupport

private struct Abort: Error, Equatable {}

/// An Int written on a pool thread and read by the test.
private final class CountBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = 0
    var value: Int { self.lock.withLock { self.stored } }
    func set(_ value: Int) { self.lock.withLock { self.stored = value } }
}

@Suite("PostgreSQL transactions and SQLSTATE mapping (shared server)")
struct PostgresTransactionTests {
    @Test func thrownErrorRollsBackAndReturningCommits() async throws {
        try await withSharedPostgres(poolSize: 2) { client in
            try await withUniqueTable(client, columns: "id int PRIMARY KEY, note text") { table in
                let seenInside = CountBox()
                await #expect(throws: Abort.self) {
                    try await client.transaction { connection in
                        try connection.query("INSERT INTO \(unescaped: table) VALUES (\(1), \("rolled back"))")
                        // Visible inside the transaction...
                        seenInside.set(try connection.query("SELECT count(*) FROM \(unescaped: table)").first?.decode(Int.self, at: 0) ?? -1)
                        throw Abort()
                    }
                }
                #expect(seenInside.value == 1)
                // ...and gone after it.
                #expect(try await client.query("SELECT count(*) FROM \(unescaped: table)").first?.decode(Int.self, at: 0) == 0)

                let returned = try await client.transaction { connection in
                    try connection.query("INSERT INTO \(unescaped: table) VALUES (\(2), \("committed"))")
                    return "done"
                }
                #expect(returned == "done")
                // Committed: visible from a connection of another client.
                let other = sharedPostgresClient()
                defer { other.shutdown() }
                let notes = try await other.query("SELECT note FROM \(unescaped: table) ORDER BY id").map { try $0.decode(String.self, at: 0) }
                #expect(notes == ["committed"])
            }
        }
    }

    @Test func serverErrorInTransactionRollsBackEarlierStatementsAndConnectionStaysUsable() async throws {
        try await withSharedPostgres { client in
            try await withUniqueTable(client, columns: "id int PRIMARY KEY") { table in
                let error = await errorOf {
                    try await client.transaction { connection in
                        try connection.query("INSERT INTO \(unescaped: table) VALUES (\(1))")
                        try connection.query("INSERT INTO \(unescaped: table) VALUES (\(2))")
                        try connection.query("INSERT INTO \(unescaped: table) VALUES (\(1))")
                    }
                }
                expectServerError(error, .uniqueViolation, "23505")
                #expect(try await client.query("SELECT count(*) FROM \(unescaped: table)").first?.decode(Int.self, at: 0) == 0)
                // Not left in an aborted transaction: the next transaction works.
                _ = try await client.transaction { try $0.query("INSERT INTO \(unescaped: table) VALUES (\(3))") }
                #expect(try await client.query("SELECT count(*) FROM \(unescaped: table)").first?.decode(Int.self, at: 0) == 1)
                #expect(client.pool.statistics.size == 1)
            }
        }
    }

    @Test func constraintViolationsMapToTheirSQLSTATEKinds() async throws {
        try await withSharedPostgres { client in
            try await client.withConnection { connection in
                try connection.simple(
                    """
                    CREATE TEMP TABLE venues (id int PRIMARY KEY);
                    CREATE TEMP TABLE shows (
                        id int PRIMARY KEY,
                        venue_id int NOT NULL REFERENCES venues (id),
                        seats int NOT NULL CHECK (seats >= 0),
                        code text UNIQUE
                    );
                    INSERT INTO venues VALUES (1);
                    INSERT INTO shows VALUES (1, 1, 10, 'A');
                    """
                )
            }
            let insert = "INSERT INTO shows (id, venue_id, seats, code) VALUES ($1, $2, $3, $4)"
            let noCode: String? = nil
            let noSeats: Int? = nil

            expectServerError(await errorOf { try await client.query(PostgresQuery(unsafeSQL: insert, binds: [2, 1, 5, "A"])) }, .uniqueViolation, "23505")
            expectServerError(await errorOf { try await client.query(PostgresQuery(unsafeSQL: insert, binds: [1, 1, 5, noCode])) }, .uniqueViolation, "23505")
            expectServerError(await errorOf { try await client.query(PostgresQuery(unsafeSQL: insert, binds: [3, 1, -1, noCode])) }, .checkViolation, "23514")
            expectServerError(await errorOf { try await client.query(PostgresQuery(unsafeSQL: insert, binds: [4, 1, noSeats, noCode])) }, .notNullViolation, "23502")
            expectServerError(await errorOf { try await client.query(PostgresQuery(unsafeSQL: insert, binds: [5, 99, 5, noCode])) }, .foreignKeyViolation, "23503")
            expectServerError(await errorOf { try await client.query("SELECT \("abc")::int") }, .invalidTextRepresentation, "22P02")
            expectServerError(
                await errorOf { try await client.query("SELECT * FROM no_such_table_\(TestEnvironment.uniqueSuffix())") },
                .undefinedTable, "42P01")
            expectServerError(await errorOf { try await client.query("SELECT 1/0") }, .other, "22012")
            // Errors are not connection failures: the same connection still answers.
            #expect(try await client.query("SELECT count(*) FROM shows").first?.decode(Int.self, at: 0) == 1)
            try await client.withConnection { try $0.simple("DROP TABLE shows; DROP TABLE venues") }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func opposingRowLocksInTwoTransactionsGiveDeadlockDetected() async throws {
        // lock_timeout above the server's deadlock_timeout (1 s) so the deadlock detector decides.
        try await withSharedPostgres(poolSize: 2, lockTimeoutMilliseconds: 10_000) { client in
            try await withUniqueTable(client, columns: "id int PRIMARY KEY, value int NOT NULL") { table in
                try await client.query("INSERT INTO \(unescaped: table) VALUES (1, 0), (2, 0)")
                let firstLocked = DispatchSemaphore(value: 0)
                let secondLocked = DispatchSemaphore(value: 0)

                @Sendable func lockInOrder(_ first: Int, _ second: Int, signal: DispatchSemaphore, await other: DispatchSemaphore) async -> (any Error)? {
                    await errorOf {
                        try await client.transaction { connection in
                            try connection.query("SELECT value FROM \(unescaped: table) WHERE id = \(first) FOR UPDATE")
                            signal.signal()
                            _ = other.wait(timeout: .now() + 5)
                            try connection.query("UPDATE \(unescaped: table) SET value = value + 1 WHERE id = \(second)")
                        }
                    }
                }

                async let a = lockInOrder(1, 2, signal: firstLocked, await: secondLocked)
                async let b = lockInOrder(2, 1, signal: secondLocked, await: firstLocked)
                let errors = await [a, b]

                let failures = errors.compactMap { $0 }
                #expect(failures.count == 1, "\(errors)")
                for failure in failures {
                    expectServerError(failure, .deadlockDetected, "40P01")
                    #expect((failure as? PostgresError)?.kind?.isTransient == true)
                }
                // The survivor committed its two updates; the victim's were rolled back.
                let total = try await client.query("SELECT sum(value)::int FROM \(unescaped: table)").first?.decode(Int.self, at: 0)
                #expect(total == 1)
            }
        }
    }
}

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

@Suite("PostgreSQL pool: concurrency, restart recovery, refused connections")
struct PostgresPoolTests {
    @Test(.timeLimit(.minutes(1)))
    func twoHundredConcurrentTransactionsIncrementCounterExactly200Times() async throws {
        try await withSharedPostgres(poolSize: 8, acquireTimeout: .seconds(30)) { client in
            try await withUniqueTable(client, columns: "id int PRIMARY KEY, value int NOT NULL") { table in
                try await client.query("INSERT INTO \(unescaped: table) VALUES (1, 0)")
                let errors = await withTaskGroup(of: (any Error)?.self) { group in
                    for _ in 0..<200 {
                        group.addTask {
                            await errorOf {
                                try await client.transaction { connection in
                                    let current = try connection.query("SELECT value FROM \(unescaped: table) WHERE id = 1 FOR UPDATE")
                                    let value = try #require(current.first).decode(Int.self, at: 0)
                                    let updated = try connection.query("UPDATE \(unescaped: table) SET value = \(value + 1) WHERE id = 1")
                                    if updated.affectedRows != 1 { throw PostgresError.decoding("updated \(updated.affectedRows) rows") }
                                }
                            }
                        }
                    }
                    var errors: [any Error] = []
                    for await error in group { if let error { errors.append(error) } }
                    return errors
                }
                #expect(errors.isEmpty, "\(errors.count) errors, first: \(errors.prefix(3))")
                #expect(try await client.query("SELECT value FROM \(unescaped: table) WHERE id = 1").first?.decode(Int.self, at: 0) == 200)
                // A worker counts itself idle just after resuming its caller: allow it a moment.
                var statistics = client.pool.statistics
                let deadline = ContinuousClock.now + .seconds(1)
                while statistics.busy > 0 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(5))
                    statistics = client.pool.statistics
                }
                #expect(statistics.size == 8 && statistics.busy == 0 && statistics.waiting == 0, "\(statistics)")
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func queriesRecoverAfterPostgresRestart() async throws {
        try await PrivatePostgresServer.with { server in
            let configuration = PostgresConfiguration(url: server.url, connectTimeoutSeconds: 2)
            let client = PostgresClient(configuration: configuration, poolSize: 4, acquireTimeout: .seconds(3))
            defer { client.shutdown() }
            try await client.query("CREATE TABLE hits (worker int PRIMARY KEY, n int NOT NULL)")
            let recorder = OutageRecorder()

            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        while await !recorder.isStopped {
                            do {
                                try await client.query(
                                    "INSERT INTO hits VALUES (\(worker), 1) ON CONFLICT (worker) DO UPDATE SET n = hits.n + 1")
                                await recorder.success()
                            } catch let error as PostgresError {
                                switch error {
                                case .connection, .server(kind: .adminShutdown, _, _): await recorder.expectedFailure()
                                default: await recorder.failure("\(error)")
                                }
                                try await Task.sleep(for: .milliseconds(20))
                            } catch is PoolError {
                                await recorder.expectedFailure()
                                try await Task.sleep(for: .milliseconds(20))
                            } catch {
                                await recorder.failure("\(type(of: error)): \(error)")
                            }
                        }
                    }
                }
                try await recorder.waitForSuccesses(20, within: .seconds(10))
                try await server.stop()
                try await Task.sleep(for: .milliseconds(300))
                try await server.start()
                let restarted = ContinuousClock.now
                await recorder.markRestart()
                try await recorder.waitForSuccesses(40, within: .seconds(10))
                let recovery = ContinuousClock.now - restarted
                await recorder.stop()
                try await group.waitForAll()
                #expect(recovery < .seconds(5), "recovered after \(recovery)")
            }
            let summary = await recorder.summary
            #expect(summary.unexpected.isEmpty, "unexpected errors: \(summary.unexpected.prefix(5))")
            #expect(summary.expectedFailures > 0, "the outage was not observed")
            // Data written before the restart survived it (pg_ctl keeps the data directory).
            let total = try await client.query("SELECT sum(n)::int FROM hits").first?.decode(Int.self, at: 0) ?? 0
            #expect(total >= summary.successes)

            // pg_ctl restart (no outage window) is also survived.
            try await server.restart()
            var recovered = false
            let deadline = ContinuousClock.now + .seconds(5)
            while !recovered && ContinuousClock.now < deadline {
                recovered = (try? await client.query("SELECT count(*) FROM hits")) != nil
                if !recovered { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(recovered)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func connectingToClosedPortFailsQuicklyWithConnectionError() async throws {
        let port = try freeTCPPort()
        let configuration = PostgresConfiguration(url: "postgres://boxoffice@127.0.0.1:\(port)/boxoffice", connectTimeoutSeconds: 2)
        let start = ContinuousClock.now
        do {
            _ = try PostgresConnection(configuration: configuration)
            Issue.record("connected to a closed port")
        } catch let error as PostgresError {
            guard case .connection = error else {
                Issue.record("expected PostgresError.connection, got \(error)")
                return
            }
        }
        #expect(ContinuousClock.now - start < .seconds(1))

        let client = PostgresClient(configuration: configuration, poolSize: 1, acquireTimeout: .seconds(1))
        defer { client.shutdown() }
        for _ in 0..<3 {
            let callStart = ContinuousClock.now
            do {
                try await client.query("SELECT 1")
                Issue.record("query on a closed port succeeded")
            } catch let error as PostgresError {
                guard case .connection = error else {
                    Issue.record("expected PostgresError.connection, got \(error)")
                    return
                }
            }
            #expect(ContinuousClock.now - callStart < .seconds(1))
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func clientDroppedWithoutShutdownClosesItsConnections() async throws {
        let name = "libpq_drop_\(TestEnvironment.uniqueSuffix(length: 8))"
        do {
            let dropped = PostgresClient(
                configuration: PostgresConfiguration(url: TestEnvironment.databaseURL, applicationName: name),
                poolSize: 2,
                acquireTimeout: .seconds(5)
            )
            try await dropped.query("SELECT 1")
        }
        let observer = sharedPostgresClient()
        defer { observer.shutdown() }
        var open = -1
        let deadline = ContinuousClock.now + .seconds(1)
        repeat {
            try await Task.sleep(for: .milliseconds(50))
            open = try await observer.query(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = \(name)").first?.decode(Int.self, at: 0) ?? -1
        } while open != 0 && ContinuousClock.now < deadline
        #expect(open == 0, "connections still open after the client was dropped")
        // Explicit shutdown does close them.
        let closed = PostgresClient(
            configuration: PostgresConfiguration(url: TestEnvironment.databaseURL, applicationName: name + "_s"),
            poolSize: 2,
            acquireTimeout: .seconds(5)
        )
        try await closed.query("SELECT 1")
        closed.shutdown()
        var stillOpen = -1
        let shutdownDeadline = ContinuousClock.now + .seconds(2)
        repeat {
            try await Task.sleep(for: .milliseconds(50))
            stillOpen = try await observer.query(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = \(name + "_s")").first?.decode(Int.self, at: 0) ?? -1
        } while stillOpen != 0 && ContinuousClock.now < shutdownDeadline
        #expect(stillOpen == 0)
    }

    @Test func badConnectionStringFailsWithConnectionError() async throws {
        let configuration = PostgresConfiguration(url: "postgres://boxoffice@127.0.0.1:notaport/boxoffice")
        #expect(throws: PostgresError.self) { _ = try PostgresConnection(configuration: configuration) }
    }
}
