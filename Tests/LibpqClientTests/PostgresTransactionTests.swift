import ConnectionPool
import Dispatch
import Foundation
import LibpqClient
import Testing
import TestSupport

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
