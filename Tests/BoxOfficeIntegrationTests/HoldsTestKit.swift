import AsyncHTTPClient
import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import HiredisClient
import LibpqClient
import NIOHTTP1
import Testing
import TestSupport

/// Helpers shared by the Holds*, Catalog* and Money* suites (prefixed to stay clear of other suites' names).
enum HoldsTestKit {
    typealias User = (token: String, userID: String)

    /// Asserts an RFC 9457 problem: status, stable `code` and the problem+json content type.
    static func expectProblem(
        _ reply: TestHTTPClient.Reply, _ status: Int, _ code: String, _ comment: String = "",
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(reply.status == status, "\(comment) status \(reply.status): \(reply.text)", sourceLocation: sourceLocation)
        #expect(reply.code == code, "\(comment) code: \(reply.text)", sourceLocation: sourceLocation)
        let contentType = reply.headers.first(name: "content-type") ?? ""
        #expect(contentType.hasPrefix("application/problem+json"), "\(comment) content-type \(contentType)", sourceLocation: sourceLocation)
        #expect(reply.json["status"] as? Int == status, "\(comment) body status: \(reply.text)", sourceLocation: sourceLocation)
    }

    /// `count` ACTIVE users for `concertID`, created concurrently (tokens spread over `bases`).
    /// Their windows are the fixture concert's (`Fixtures.queueSettings`), whatever instance admits them.
    static func activeUsers(_ http: TestHTTPClient, _ bases: [String], concertID: Int, count: Int) async throws -> [User] {
        try await withThrowingTaskGroup(of: User.self) { group in
            for index in 0..<count {
                group.addTask { try await http.activeToken(bases[index % bases.count], concertID: concertID) }
            }
            var users: [User] = []
            for try await user in group { users.append(user) }
            return users
        }
    }

    /// One ACTIVE user.
    static func activeUser(_ http: TestHTTPClient, _ base: String, concertID: Int) async throws -> User {
        try await self.activeUsers(http, [base], concertID: concertID, count: 1)[0]
    }

    /// Runs `body` with a private PostgreSQL client and shuts it down.
    static func withDatabase<Result: Sendable>(_ body: (PostgresClient) async throws -> Result) async throws -> Result {
        let client = TestDatabase.client(poolSize: 4)
        defer { client.shutdown() }
        return try await body(client)
    }

    static func withRedis<Result: Sendable>(_ body: (RedisClient) async throws -> Result) async throws -> Result {
        let client = try TestDatabase.redis(poolSize: 8)
        defer { client.shutdown() }
        return try await body(client)
    }

    /// Seats of `concertID` in more than one live (HELD and not lapsed, or CONFIRMED) reservation.
    static func seatsHeldTwice(_ database: PostgresClient, concertID: Int) async throws -> Int {
        try await database.query(
            """
            SELECT count(*) FROM (
                SELECT rs.date_id, rs.seat_number FROM reservation_seats rs
                JOIN reservations r ON r.id = rs.reservation_id
                WHERE r.concert_id = \(concertID) AND r.status IN ('HELD', 'CONFIRMED')
                GROUP BY 1, 2 HAVING count(*) > 1) AS twice
            """).first!.decode(Int.self, at: 0)
    }

    /// Seats whose row disagrees with the live reservation holding it (or a HELD/SOLD seat without one).
    static func seatRowsInconsistent(_ database: PostgresClient, concertID: Int) async throws -> Int {
        try await database.query(
            """
            SELECT count(*) FROM seats s JOIN concert_dates d ON d.id = s.date_id
            WHERE d.concert_id = \(concertID) AND s.status <> 'AVAILABLE' AND NOT EXISTS (
                SELECT 1 FROM reservations r JOIN reservation_seats rs ON rs.reservation_id = r.id
                WHERE r.id = s.reservation_id AND rs.date_id = s.date_id AND rs.seat_number = s.number
                  AND r.status IN ('HELD', 'CONFIRMED'))
            """).first!.decode(Int.self, at: 0)
    }

    /// The Redis seat lock keys of one concert.
    static func seatLockKeys(_ redis: RedisClient, concertID: Int) async throws -> [String] {
        let reply = try await redis.send(["KEYS", RedisArgument(QueueKeys(concertID: concertID).prefix + "seatlock:*")]).checked()
        return (reply.array ?? []).compactMap(\.string)
    }

    /// Deletes every seat lock key of one concert; returns how many it deleted.
    @discardableResult
    static func deleteSeatLocks(_ redis: RedisClient, concertID: Int) async throws -> Int {
        let keys = try await self.seatLockKeys(redis, concertID: concertID)
        guard !keys.isEmpty else { return 0 }
        return try await redis.send([RedisArgument("DEL")] + keys.map { RedisArgument($0) }).checked().int ?? 0
    }

    static func hold(
        _ http: TestHTTPClient, _ base: String, _ user: User, concertID: Int, date: String, seats: [Int], idempotencyKey: String? = nil
    ) async throws -> TestHTTPClient.Reply {
        try await http.request(
            .POST, "\(base)/v1/reservations", token: user.token, headers: idempotencyKey.map { [("Idempotency-Key", $0)] } ?? [],
            json: ["concertId": concertID, "date": date, "seatNumbers": seats]
        )
    }

    static func seatMap(
        _ http: TestHTTPClient, _ base: String, _ user: User, concertID: Int, date: String
    ) async throws -> [(number: Int, price: Int, status: String)] {
        let reply = try await http.request(.GET, "\(base)/v1/concerts/\(concertID)/dates/\(date)/seats", token: user.token)
        guard reply.status == 200, let seats = reply.json["seats"] as? [[String: Any]] else {
            throw TestServerError("seat map failed: \(reply.status) \(reply.text)")
        }
        return seats.map { ($0["number"] as? Int ?? -1, $0["price"] as? Int ?? -1, $0["status"] as? String ?? "?") }
    }

    static func status(of seat: Int, in map: [(number: Int, price: Int, status: String)]) -> String? {
        map.first { $0.number == seat }?.status
    }
}

extension HoldsTestKit {
    /// Parses an RFC 3339 time as the API writes it (with or without fractional seconds).
    static func parseTime(_ text: String?) -> Date? {
        guard let text else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    /// Polls `condition` every 100 ms until it holds or `timeout` passes; returns whether it held.
    static func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    /// Adds a date `daysFromToday` (negative: in the past) to a concert; returns it as YYYY-MM-DD.
    static func addDate(concertID: Int, daysFromToday: Int) async throws -> String {
        try await self.withDatabase { (database) async throws in
            try await database.transaction { connection -> String in
                _ = try Seeder.addDate(connection, concertID: concertID, daysFromToday: daysFromToday, prices: Array(repeating: 5_000, count: 50))
                return try connection.query("SELECT (current_date + \(daysFromToday)::int)::text").first!.decode(String.self, at: 0)
            }
        }
    }
}
