import LibpqClient
import Testing
import TestSupport

/// A commit waiting for a synchronous standby that is canceled (pg_cancel_backend, an operator's
/// cancel, a terminating backend) is committed on the primary, and PostgreSQL says so only with a
/// WARNING. The client must not report it as a success: a failover could lose it.
/// (statement_timeout does not cancel that wait; the client's reply timeout bounds it instead.)
@Suite("PostgreSQL synchronous replication: a canceled wait is not an acknowledgement (private server)")
struct PostgresSyncReplicationTests {
    @Test(.timeLimit(.minutes(1)))
    func canceledWaitForStandbyFailsTheCall() async throws {
        try await ScratchStack.with([.postgres]) { server in
            let superuser = PostgresClient(
                configuration: PostgresConfiguration(url: "postgres://postgres@127.0.0.1:\(server.postgresPort)/boxoffice"),
                poolSize: 1, acquireTimeout: .seconds(5))
            defer { superuser.shutdown() }
            try await superuser.query("CREATE TABLE sales (id int PRIMARY KEY)")
            try await superuser.query("GRANT ALL ON sales TO boxoffice")
            // A standby that never comes: every commit with synchronous_commit=on waits for it.
            try await superuser.query("ALTER SYSTEM SET synchronous_standby_names = 'nobody'")
            try await superuser.query("SELECT pg_reload_conf()")
            try await Task.sleep(for: .milliseconds(200))

            let client = PostgresClient(
                configuration: PostgresConfiguration(url: server.databaseURL, applicationName: "syncwait"), poolSize: 1,
                acquireTimeout: .seconds(5))
            defer { client.shutdown() }
            // The scratch server runs with synchronous_commit=off; the product's stacks with on.
            try await client.query("SET synchronous_commit = on")

            /// Runs `write`, cancels it once it waits for the standby, and returns what it threw.
            func cancelingTheWait(_ write: @escaping @Sendable () async throws -> Void) async throws -> PostgresError? {
                async let outcome: PostgresError? = {
                    do {
                        try await write()
                        return nil
                    } catch let error as PostgresError {
                        return error
                    }
                }()
                var canceled = false
                for _ in 0..<100 where !canceled {
                    try await Task.sleep(for: .milliseconds(50))
                    let rows = try await superuser.query(
                        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'syncwait' AND wait_event = 'SyncRep'")
                    canceled = rows.count == 1
                }
                #expect(canceled, "the commit waited for the standby")
                return try await outcome
            }

            let autocommit = try await cancelingTheWait { _ = try await client.query("INSERT INTO sales VALUES (1)") }
            #expect(autocommit?.kind == .unreplicatedCommit && autocommit?.isUnavailable == true, "\(String(describing: autocommit))")
            let transaction = try await cancelingTheWait {
                _ = try await client.transaction { connection in try connection.query("INSERT INTO sales VALUES (2)").affectedRows }
            }
            #expect(transaction?.kind == .unreplicatedCommit, "\(String(describing: transaction))")

            // Both rows are on the primary: committed, only not acknowledged. The flag does not leak
            // into the next call.
            let rows = try await client.query("SELECT count(*) FROM sales")
            #expect(try rows.first?.decode(Int.self, at: 0) == 2)
        }
    }
}
