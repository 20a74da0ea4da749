import Foundation
import LibpqClient
import Testing
import TestSupport

@Suite("PostgreSQL parameters and decoding round trips (shared server)")
struct PostgresParameterTests {
    @Test func intAndInt64RoundTripAtTheirLimits() async throws {
        try await withSharedPostgres { client in
            let row = try #require(
                try await client.query(
                    "SELECT \(Int(Int32.max))::int, \(Int(Int32.min))::int, \(Int64.max)::bigint, \(Int64.min)::bigint, \(-42)::bigint").first)
            #expect(try row.decode(Int.self, at: 0) == Int(Int32.max))
            #expect(try row.decode(Int.self, at: 1) == Int(Int32.min))
            #expect(try row.decode(Int64.self, at: 2) == Int64.max)
            #expect(try row.decode(Int64.self, at: 3) == Int64.min)
            #expect(try row.decode(Int.self, at: 4) == -42)
            // The server really saw numbers: arithmetic on them.
            let sum = try await client.query("SELECT \(Int64(1) << 40)::bigint + \(1)::bigint").first?.decode(Int64.self, at: 0)
            #expect(sum == (Int64(1) << 40) + 1)
        }
    }

    @Test(arguments: [
        "",
        "plain",
        "O'Brien said \"hi\" \\ backslash; --",
        "tab\tnew\nline\r\n",
        "日本語のテキスト",
        "emoji 🎟️👩‍👩‍👧‍👦🏳️‍🌈",
        "Ω≈ç√∫˜µ≤≥÷ àéîõü",
        String(repeating: "long ", count: 2_000),
    ])
    func stringWithQuotesUnicodeAndEmojiRoundTrips(value: String) async throws {
        try await withSharedPostgres { client in
            let row = try #require(try await client.query("SELECT \(value)::text AS value, length(\(value)::text) AS length").first)
            #expect(try row.decode(String.self, column: "value") == value)
            // Characters as PostgreSQL counts them (code points) = unicode scalars.
            #expect(try row.decode(Int.self, column: "length") == value.unicodeScalars.count)
        }
    }

    @Test func boolRoundTripsAndIsARealBoolean() async throws {
        try await withSharedPostgres { client in
            let row = try #require(try await client.query("SELECT \(true)::bool, \(false)::bool, NOT \(true)::bool").first)
            #expect(try row.decode(Bool.self, at: 0) == true)
            #expect(try row.decode(Bool.self, at: 1) == false)
            #expect(try row.decode(Bool.self, at: 2) == false)
        }
    }

    @Test func doubleRoundTripsExactly() async throws {
        try await withSharedPostgres { client in
            let values: [Double] = [0.1, -2.5, 3.141592653589793, 1e-300, -1.7976931348623157e308, 123456789.123456789, 0]
            for value in values {
                let decoded = try await client.query("SELECT \(value)::float8").first?.decode(Double.self, at: 0)
                #expect(decoded == value, "\(value)")
            }
            let sum = try await client.query("SELECT \(0.5)::float8 + \(0.25)::float8").first?.decode(Double.self, at: 0)
            #expect(sum == 0.75)
        }
    }

    @Test func uuidRoundTripsThroughAUUIDColumn() async throws {
        try await withSharedPostgres { client in
            let id = UUID()
            let row = try #require(
                try await client.query("SELECT \(id)::uuid, \(id)::uuid = \(id.uuidString.uppercased())::uuid, gen_random_uuid()").first)
            #expect(try row.decode(UUID.self, at: 0) == id)
            #expect(try row.decode(Bool.self, at: 1) == true)
            _ = try row.decode(UUID.self, at: 2)  // server-made UUIDs decode too
        }
    }

    @Test(arguments: [
        1_790_000_000.123456,  // 2026, microseconds
        1_790_000_000.000001,
        0.5,
        -1_000_000_000.654321,  // before 1970
        951_782_400.999999,  // 2000-02-29
    ])
    func dateWithMicrosecondsRoundTripsThroughTimestamptz(seconds: Double) async throws {
        try await withSharedPostgres { client in
            let date = Date(timeIntervalSince1970: seconds)
            let row = try #require(
                try await client.query(
                    "SELECT \(date)::timestamptz, extract(epoch FROM \(date)::timestamptz)::text, \(date)::timestamptz AT TIME ZONE 'Asia/Kolkata'").first)
            let decoded = try row.decode(Date.self, at: 0)
            #expect(abs(decoded.timeIntervalSince1970 - seconds) <= 1e-6, "\(decoded.timeIntervalSince1970) vs \(seconds)")
            let epoch = try #require(Double(try row.decode(String.self, at: 1)))
            #expect(abs(epoch - seconds) <= 1e-6, "server saw \(epoch)")
        }
    }

    @Test func dateFromServerClockDecodesNearNow() async throws {
        try await withSharedPostgres { client in
            let now = try await client.query("SELECT now(), '2024-02-29 23:59:59.5+05:30'::timestamptz").first
            let serverNow = try #require(try now?.decode(Date.self, at: 0))
            #expect(abs(serverNow.timeIntervalSinceNow) < 60)
            let fixed = try #require(try now?.decode(Date.self, at: 1))
            // 2024-02-29 18:29:59.5 UTC
            #expect(abs(fixed.timeIntervalSince1970 - 1_709_231_399.5) < 1e-6)
        }
    }

    @Test func intArrayParameterWorksWithAny() async throws {
        try await withSharedPostgres { client in
            try await client.withConnection { connection in
                try connection.simple("CREATE TEMP TABLE seats AS SELECT g AS id FROM generate_series(1, 10) AS g")
                defer { try? connection.simple("DROP TABLE seats") }
                let sql = "SELECT id FROM seats WHERE id = ANY($1::int[]) ORDER BY id"
                let found = try connection.query(PostgresQuery(unsafeSQL: sql, binds: [[7, 2, 5, 42, -1]])).map { try $0.decode(Int.self, at: 0) }
                #expect(found == [2, 5, 7])
                #expect(try connection.query(PostgresQuery(unsafeSQL: sql, binds: [[Int]()])).count == 0)
                #expect(try connection.query(PostgresQuery(unsafeSQL: sql, binds: [[3]])).count == 1)
                let updated = try connection.query("DELETE FROM seats WHERE id = ANY(\([1, 2, 3])::int[])")
                #expect(updated.affectedRows == 3)
            }
        }
    }

    @Test func nilOptionalIsSQLNullAndDecodesAsNil() async throws {
        try await withSharedPostgres { client in
            let none: String? = nil
            let noInt: Int? = nil
            let noDate: Date? = nil
            let some: String? = "here"
            let row = try #require(
                try await client.query(
                    "SELECT \(none)::text IS NULL, \(noInt)::int IS NULL, \(noDate)::timestamptz IS NULL, \(some)::text AS some, \(none)::text AS none").first)
            #expect(try row.decode(Bool.self, at: 0))
            #expect(try row.decode(Bool.self, at: 1))
            #expect(try row.decode(Bool.self, at: 2))
            #expect(try row.decode(String?.self, column: "some") == "here")
            #expect(try row.decode(String?.self, column: "none") == nil)
            #expect(try row.decode(Int?.self, at: 4) == nil)
            // A non-optional decode of NULL is a decoding error, not a crash or "".
            #expect(throws: PostgresError.self) { try row.decode(String.self, column: "none") }
            #expect(throws: PostgresError.self) { try row.decode(String.self, column: "no_such_column") }
        }
    }

    @Test func sqlInjectionAttemptAsParameterStaysData() async throws {
        try await withSharedPostgres { client in
            try await client.withConnection { connection in
                try connection.simple("CREATE TEMP TABLE victims (name text NOT NULL)")
                defer { try? connection.simple("DROP TABLE IF EXISTS victims") }
                let attack = "x'); DROP TABLE victims; --"
                let inserted = try connection.query("INSERT INTO victims (name) VALUES (\(attack))")
                #expect(inserted.affectedRows == 1)
                #expect(try connection.query("SELECT name FROM victims").first?.decode(String.self, at: 0) == attack)
                let tautology = "' OR '1'='1"
                #expect(try connection.query("SELECT count(*) FROM victims WHERE name = \(tautology)").first?.decode(Int.self, at: 0) == 0)
                // The table is still there.
                #expect(try connection.query("SELECT count(*) FROM victims").first?.decode(Int.self, at: 0) == 1)
            }
        }
    }

    @Test func rowsReportColumnsAndAffectedRows() async throws {
        try await withSharedPostgres { client in
            try await client.withConnection { connection in
                try connection.simple("CREATE TEMP TABLE items (id int PRIMARY KEY, label text)")
                defer { try? connection.simple("DROP TABLE IF EXISTS items") }
                let insert = try connection.query("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, \(5)::int) g")
                #expect(insert.affectedRows == 5)
                let update = try connection.query("UPDATE items SET label = \("big") WHERE id > \(3)")
                #expect(update.affectedRows == 2)
                let rows = try connection.query("SELECT id, label FROM items ORDER BY id")
                #expect(rows.columns == ["id", "label"])
                #expect(rows.count == 5)
                #expect(try rows.rows.map { try $0.decode(String.self, column: "label") } == ["item 1", "item 2", "item 3", "big", "big"])
            }
        }
    }
}
