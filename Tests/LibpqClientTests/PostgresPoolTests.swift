import ConnectionPool
import Dispatch
import Foundation
import LibpqClient
import Testing
import TestSupport

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
        try await ScratchStack.with([.postgres]) { server in
            let configuration = PostgresConfiguration(url: server.databaseURL, connectTimeoutSeconds: 2)
            let client = PostgresClient(configuration: configuration, poolSize: 4, acquireTimeout: .seconds(3))
            defer { client.shutdown() }
            try await client.query("CREATE TABLE hits (worker int PRIMARY KEY, n int NOT NULL)")
            let summary = try await OutageRecorder.measure(
                within: .seconds(10),
                call: { worker in
                    try await client.query(
                        "INSERT INTO hits VALUES (\(worker), 1) ON CONFLICT (worker) DO UPDATE SET n = hits.n + 1")
                },
                isExpected: { error in
                    switch error as? PostgresError {
                    case .connection?, .server(kind: .adminShutdown, _, _)?: return true
                    default: return error is PoolError
                    }
                },
                outage: {
                    try await server.stop(.postgres)
                    try await Task.sleep(for: .milliseconds(300))
                    try await server.start(.postgres)
                }
            )
            #expect(summary.recovery < .seconds(5), "recovered after \(summary.recovery)")
            #expect(summary.unexpected.isEmpty, "unexpected errors: \(summary.unexpected.prefix(5))")
            #expect(summary.expectedFailures > 0, "the outage was not observed")
            // Data written before the restart survived it (pg_ctl keeps the data directory).
            let total = try await client.query("SELECT sum(n)::int FROM hits").first?.decode(Int.self, at: 0) ?? 0
            #expect(total >= summary.successes)

            // pg_ctl restart (no outage window) is also survived.
            try await server.restart(.postgres)
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
        let port = try await freeTCPPort()
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
