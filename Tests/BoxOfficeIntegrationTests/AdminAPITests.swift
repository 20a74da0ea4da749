import BoxOfficeDomain
import BoxOfficeStores
import NIOHTTP1
import Foundation
import HiredisClient
import Testing
import TestSupport

private typealias Kit = HoldsTestKit

/// The admin API (Docs/api.md "Admin API") against real instances, PostgreSQL and Redis: every error
/// case with its status and code, nothing half-created, and both ways of editing queue settings agreeing.
@Suite("Admin API: concerts, dates, queue settings, stats", .tags(.redisCluster))
struct AdminAPITests {
    static let adminToken = "test-admin-" + TestEnvironment.uniqueSuffix(length: 24)
    static let environment = ["ADMIN_TOKEN": Self.adminToken]

    static func withAdmin<Result: Sendable>(_ body: @Sendable (String, TestHTTPClient) async throws -> Result) async throws -> Result {
        try await TestStack.withInstances(1, environment: Self.environment) { bases in
            try await TestHTTPClient.with { http in try await body(bases[0], http) }
        }
    }

    static func futureDate(days: Int) -> String {
        let date = Date().addingTimeInterval(Double(days) * 86_400)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: date)
    }

    static func createConcert(_ http: TestHTTPClient, _ base: String) async throws -> Int {
        let reply = try await http.request(.POST, "\(base)/v1/admin/concerts", token: Self.adminToken, json: ["title": "Admin Test", "artist": "Band"])
        #expect(reply.status == 201, "\(reply.text)")
        return try #require(reply.json["id"] as? Int)
    }

    @Test("a concert created through one instance is usable through every other at once (settings, dates, tokens)", arguments: 1...4)
    func readYourWritesAcrossInstances(round: Int) async throws {
        try await TestStack.withInstances(2, environment: Self.environment) { bases in
            try await TestHTTPClient.with { http in
                // Each instance has looked the catalogue up just before: a cache would not know the new concert.
                for base in bases { _ = try await http.request(.GET, "\(base)/v1/admin/concerts/1/queue", token: Self.adminToken) }
                let id = try await Self.createConcert(http, bases[round % 2])
                let other = bases[(round + 1) % 2]
                let patched = try await http.request(.PATCH, "\(other)/v1/admin/concerts/\(id)/queue", token: Self.adminToken, json: ["admitPerSecond": 5])
                #expect(patched.status == 200, "\(patched.text)")
                let date = try await http.request(
                    .POST, "\(other)/v1/admin/concerts/\(id)/dates", token: Self.adminToken,
                    json: ["date": Self.futureDate(days: 30), "tiers": [["from": 1, "to": 50, "price": 10_000]]])
                #expect(date.status == 201, "\(date.text)")
                let token = try await http.request(.POST, "\(other)/v1/queue/tokens", json: ["userId": UUID().uuidString, "concertId": id])
                #expect(token.status == 201, "\(token.text)")
                // An id nobody created stays unknown.
                Kit.expectProblem(
                    try await http.request(.PATCH, "\(other)/v1/admin/concerts/\(id + 1_000_000)/queue", token: Self.adminToken, json: ["paused": true]),
                    404, "CONCERT_NOT_FOUND")
            }
        }
    }

    @Test("without ADMIN_TOKEN the admin API is off: 403 ADMIN_DISABLED")
    func disabled() async throws {
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                Kit.expectProblem(try await http.request(.POST, "\(bases[0])/v1/admin/concerts", json: ["title": "t", "artist": "a"]), 403, "ADMIN_DISABLED")
                Kit.expectProblem(try await http.request(.GET, "\(bases[0])/v1/admin/concerts/1/stats", token: "anything-at-all-long"), 403, "ADMIN_DISABLED")
            }
        }
    }

    @Test("missing, wrong and queue tokens: 401 ADMIN_UNAUTHORIZED on every admin route")
    func unauthorized() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await Self.withAdmin { base, http in
            let queueToken = try await http.takeToken(base, concertID: concert.id).token
            let routes: [(HTTPMethod, String)] = [
                (.POST, "/v1/admin/concerts"), (.POST, "/v1/admin/concerts/\(concert.id)/dates"), (.GET, "/v1/admin/concerts/\(concert.id)/queue"),
                (.PATCH, "/v1/admin/concerts/\(concert.id)/queue"), (.GET, "/v1/admin/concerts/\(concert.id)/stats"),
            ]
            for (method, path) in routes {
                for token in [nil, "wrong", Self.adminToken + "x", String(Self.adminToken.dropLast()), queueToken] {
                    Kit.expectProblem(try await http.request(method, base + path, token: token, json: [:] as [String: Any]), 401, "ADMIN_UNAUTHORIZED", "\(method) \(path)")
                }
            }
        }
    }

    @Test("a concert and its dates, from prices or tiers; the new concert sells at once")
    func createConcertAndDates() async throws {
        try await Self.withAdmin { base, http in
            let created = try await http.request(.POST, "\(base)/v1/admin/concerts", token: Self.adminToken, json: ["title": "  Spring Tour ", "artist": "Someone"])
            #expect(created.status == 201)
            let id = try #require(created.json["id"] as? Int)
            #expect(created.json["title"] as? String == "Spring Tour")
            #expect(created.json["artist"] as? String == "Someone")

            let first = Self.futureDate(days: 40), second = Self.futureDate(days: 41)
            let prices = (1...50).map { 10_000 + $0 }
            let byList = try await http.request(.POST, "\(base)/v1/admin/concerts/\(id)/dates", token: Self.adminToken, json: ["date": first, "prices": prices])
            #expect(byList.status == 201, "\(byList.text)")
            #expect(byList.json["concertId"] as? Int == id && byList.json["date"] as? String == first && byList.json["seats"] as? Int == 50)
            let tiers: [[String: Int]] = [["from": 1, "to": 10, "price": 198_000], ["from": 11, "to": 30, "price": 165_000], ["from": 31, "to": 50, "price": 132_000]]
            let byTiers = try await http.request(.POST, "\(base)/v1/admin/concerts/\(id)/dates", token: Self.adminToken, json: ["date": second, "tiers": tiers])
            #expect(byTiers.status == 201, "\(byTiers.text)")

            // Public right away, and a fan can queue, hold and see the prices.
            let listed = try await http.request(.GET, "\(base)/v1/concerts")
            #expect((listed.json["concerts"] as? [[String: Any]] ?? []).contains { $0["id"] as? Int == id })
            let user = try await http.activeToken(base, concertID: id)
            let map = try await Kit.seatMap(http, base, user, concertID: id, date: second)
            #expect(map.count == 50)
            #expect(map.first { $0.number == 10 }?.price == 198_000 && map.first { $0.number == 11 }?.price == 165_000 && map.first { $0.number == 50 }?.price == 132_000)
            #expect(try await Kit.seatMap(http, base, user, concertID: id, date: first).first { $0.number == 7 }?.price == 10_007)
        }
    }

    @Test("bad concerts and dates: 400, 404, 409, and nothing half-created")
    func badInput() async throws {
        try await Self.withAdmin { base, http in
            let id = try await Self.createConcert(http, base)
            let url = "\(base)/v1/admin/concerts/\(id)/dates"
            let concerts = "\(base)/v1/admin/concerts"
            let fifty = Array(repeating: 1_000, count: 50)
            let date = Self.futureDate(days: 50)
            let cases: [(String, Any, Int, String)] = [
                (concerts, ["title": "", "artist": "a"], 400, "INVALID_REQUEST"),
                (concerts, ["title": "   ", "artist": "a"], 400, "INVALID_REQUEST"),
                (concerts, ["title": String(repeating: "x", count: 201), "artist": "a"], 400, "INVALID_REQUEST"),
                (concerts, ["title": "t"], 400, "INVALID_REQUEST"),
                (concerts, ["title": "a\u{0}b", "artist": "a"], 400, "INVALID_REQUEST"),
                (concerts, ["title": "tab\tin", "artist": "a"], 400, "INVALID_REQUEST"),
                (concerts, ["title": 5, "artist": "a"], 400, "INVALID_REQUEST"),
                (url, ["date": Self.futureDate(days: -1), "prices": fifty], 400, "INVALID_REQUEST"),
                (url, ["date": "2027-02-30", "prices": fifty], 400, "INVALID_REQUEST"),
                (url, ["date": "tomorrow", "prices": fifty], 400, "INVALID_REQUEST"),
                (url, ["date": date, "prices": Array(fifty.dropLast())], 400, "INVALID_REQUEST"),
                (url, ["date": date, "prices": Array(fifty.dropLast()) + [0]], 400, "INVALID_REQUEST"),
                (url, ["date": date, "prices": Array(fifty.dropLast()) + [-3]], 400, "INVALID_REQUEST"),
                (url, ["date": date, "prices": Array(fifty.dropLast()) + [100_000_001]], 400, "INVALID_REQUEST"),
                (url, ["date": date, "prices": Array(fifty.dropLast()).map { $0 as Any } + [12.5]], 400, "INVALID_REQUEST"),
                (url, ["date": date, "prices": Array(fifty.dropLast()).map { $0 as Any } + ["1000"]], 400, "INVALID_REQUEST"),
                (url, ["date": date, "tiers": [["from": 1, "to": 10, "price": 5], ["from": 12, "to": 50, "price": 5]]], 400, "INVALID_REQUEST"),
                (url, ["date": date, "tiers": [["from": 1, "to": 30, "price": 5], ["from": 30, "to": 50, "price": 5]]], 400, "INVALID_REQUEST"),
                (url, ["date": date, "tiers": [["from": 1, "to": 50, "price": 0]]], 400, "INVALID_REQUEST"),
                (url, ["date": date, "prices": fifty, "tiers": [["from": 1, "to": 50, "price": 5]]], 400, "INVALID_REQUEST"),
                (url, ["date": date], 400, "INVALID_REQUEST"),
                ("\(base)/v1/admin/concerts/999999999999/dates", ["date": date, "prices": fifty], 404, "CONCERT_NOT_FOUND"),
                ("\(base)/v1/admin/concerts/abc/dates", ["date": date, "prices": fifty], 400, "INVALID_REQUEST"),
            ]
            for (target, body, status, code) in cases {
                Kit.expectProblem(try await http.request(.POST, target, token: Self.adminToken, json: body), status, code, "\(body)")
            }
            Kit.expectProblem(try await http.request(.POST, url, token: Self.adminToken, rawBody: Data("{not json".utf8)), 400, "INVALID_REQUEST")
            // Nothing of the refused dates exists.
            try await Kit.withDatabase { database in
                let rows = try await database.query("SELECT count(*) FROM concert_dates WHERE concert_id = \(id)").first!.decode(Int.self, at: 0)
                #expect(rows == 0)
            }
            // A date twice: 409, and the first one's seats are untouched.
            #expect(try await http.request(.POST, url, token: Self.adminToken, json: ["date": date, "prices": fifty]).status == 201)
            Kit.expectProblem(try await http.request(.POST, url, token: Self.adminToken, json: ["date": date, "prices": (1...50).map { $0 }]), 409, "DATE_EXISTS")
            try await Kit.withDatabase { database in
                let row = try await database.query(
                    "SELECT count(*), min(price), max(price) FROM seats s JOIN concert_dates d ON d.id = s.date_id WHERE d.concert_id = \(id)").first!
                #expect(try row.decode(Int.self, at: 0) == 50 && row.decode(Int.self, at: 1) == 1_000 && row.decode(Int.self, at: 2) == 1_000)
            }
        }
    }

    @Test("queue settings: defaults filled in, PATCH and redis-cli edit the same hash, out-of-range values refused")
    func queueSettings() async throws {
        try await Self.withAdmin { base, http in
            let id = try await Self.createConcert(http, base)
            let url = "\(base)/v1/admin/concerts/\(id)/queue"
            let initial = try await http.request(.GET, url, token: Self.adminToken)
            #expect(initial.status == 200, "\(initial.text)")
            #expect(initial.json["concertId"] as? Int == id)
            #expect(initial.json["paused"] as? Bool == false)
            #expect(initial.json.keys.contains("opensAt") && initial.json["opensAt"] is NSNull)
            #expect(initial.json["activeCapacity"] as? Int == 1_000_000)  // the test stack's ACTIVE_CAPACITY
            #expect(initial.json["queueShards"] as? Int == 1)

            #expect(initial.json["maxTicketsPerUser"] as? Int == 0)
            let patched = try await http.request(
                .PATCH, url, token: Self.adminToken, json: ["paused": true, "admitPerSecond": 7.5, "maxWaiting": 500, "maxTicketsPerUser": 6])
            #expect(patched.status == 200, "\(patched.text)")
            #expect(patched.json["maxTicketsPerUser"] as? Int == 6)
            #expect(patched.json["powDifficulty"] as? Int == 0)
            #expect(patched.json["paused"] as? Bool == true && patched.json["admitPerSecond"] as? Double == 7.5 && patched.json["maxWaiting"] as? Int == 500)
            let redis = try TestDatabase.redis()
            defer { redis.shutdown() }
            let settings = QueueKeys(concertID: id).settings
            #expect(try await redis.send(["HGET", RedisArgument(settings), "paused"]).string == "1")
            try await redis.send(["HSET", RedisArgument(settings), "activeCapacity", "1234", "paused", "0"]).checked()
            let read = try await http.request(.GET, url, token: Self.adminToken)
            #expect(read.json["activeCapacity"] as? Int == 1_234 && read.json["paused"] as? Bool == false)

            for body: [String: Any] in [
                ["activeCapacity": 0], ["admitPerSecond": 0], ["activeSeconds": 86_401], ["waitingIdleSeconds": -1], ["maxWaiting": -1],
                ["queueShards": 17], ["queueShards": 0], ["paused": "yes"], ["opensAt": "tomorrow"], ["opensAt": 5],
                ["opensAt": "2030-13-01T00:00:00Z"], ["maxTicketsPerUser": 101], ["maxTicketsPerUser": -1],
                ["powDifficulty": 29], ["powDifficulty": -1],
            ] {
                Kit.expectProblem(try await http.request(.PATCH, url, token: Self.adminToken, json: body), 400, "INVALID_REQUEST", "\(body)")
            }
            Kit.expectProblem(try await http.request(.GET, "\(base)/v1/admin/concerts/999999999999/queue", token: Self.adminToken), 404, "CONCERT_NOT_FOUND")
            Kit.expectProblem(try await http.request(.PATCH, "\(base)/v1/admin/concerts/999999999999/queue", token: Self.adminToken, json: ["paused": true]), 404, "CONCERT_NOT_FOUND")

            // queueShards changes only while the line is empty.
            try await redis.send(["HSET", RedisArgument(settings), "paused", "1"]).checked()
            #expect(try await http.request(.POST, "\(base)/v1/admin/concerts/\(id)/dates", token: Self.adminToken,
                                           json: ["date": Self.futureDate(days: 60), "prices": Array(repeating: 1_000, count: 50)]).status == 201)
            _ = try await http.takeToken(base, concertID: id)
            Kit.expectProblem(try await http.request(.PATCH, url, token: Self.adminToken, json: ["queueShards": 3]), 400, "INVALID_REQUEST")
            #expect(try await http.request(.GET, url, token: Self.adminToken).json["queueShards"] as? Int == 1)
        }
    }

    @Test("stats: the line from Redis, seats and revenue from PostgreSQL")
    func stats() async throws {
        try await Self.withAdmin { base, http in
            let id = try await Self.createConcert(http, base)
            let date = Self.futureDate(days: 70)
            #expect(try await http.request(.POST, "\(base)/v1/admin/concerts/\(id)/dates", token: Self.adminToken,
                                           json: ["date": date, "prices": Array(repeating: 20_000, count: 50)]).status == 201)
            let buyer = try await http.activeToken(base, concertID: id)
            let holder = try await http.activeToken(base, concertID: id)
            let hold = try await Kit.hold(http, base, buyer, concertID: id, date: date, seats: [1, 2])
            let reservation = try #require(hold.json["reservationId"] as? String)
            #expect(try await http.request(.POST, "\(base)/v1/balance/charge", token: buyer.token, json: ["amount": 40_000]).status == 200)
            #expect(try await http.request(.POST, "\(base)/v1/payments", token: buyer.token, json: ["reservationId": reservation]).status == 201)
            #expect(try await Kit.hold(http, base, holder, concertID: id, date: date, seats: [3]).status == 201)

            let stats = try await http.request(.GET, "\(base)/v1/admin/concerts/\(id)/stats", token: Self.adminToken)
            #expect(stats.status == 200, "\(stats.text)")
            #expect(stats.json["concertId"] as? Int == id)
            #expect(stats.json["sold"] as? Int == 2 && stats.json["held"] as? Int == 1 && stats.json["available"] as? Int == 47)
            #expect(stats.json["revenue"] as? Int == 40_000)
            #expect(stats.json["waiting"] as? Int == 0 && stats.json["active"] as? Int == 1)  // the buyer's token ended with the payment
            #expect(stats.json["estimatedDrainSeconds"] as? Int == 0)
            #expect(stats.json["admittedPerSecond"] is NSNumber)
            Kit.expectProblem(try await http.request(.GET, "\(base)/v1/admin/concerts/999999999999/stats", token: Self.adminToken), 404, "CONCERT_NOT_FOUND")

            // The same figures as Prometheus gauges.
            let metrics = try await http.request(.GET, "\(base)/metrics").text
            let concert = String(id)
            #expect(TestMetrics.value("boxoffice_concert_seats", ["concert": concert, "state": "sold"], in: metrics) == 2)
            #expect(TestMetrics.value("boxoffice_concert_seats", ["concert": concert, "state": "held"], in: metrics) == 1)
            #expect(TestMetrics.value("boxoffice_concert_seats", ["concert": concert, "state": "available"], in: metrics) == 47)
            #expect(TestMetrics.value("boxoffice_concert_revenue_won", ["concert": concert], in: metrics) == 40_000)
            #expect(metrics.contains("boxoffice_queue_admitted_per_second{concert=\"\(concert)\"}"))
            #expect(metrics.contains("boxoffice_queue_drain_seconds{concert=\"\(concert)\"}"))
        }
    }

    @Test("stats: admittedPerSecond is measured, near the rate while a line drains and falling to 0 once nobody is admitted")
    func measuredRate() async throws {
        try await Self.withAdmin { base, http in
            let id = try await Self.createConcert(http, base)
            let settings = "\(base)/v1/admin/concerts/\(id)/queue"
            let set = try await http.request(.PATCH, settings, token: Self.adminToken, json: ["paused": true, "admitPerSecond": 20, "activeCapacity": 1_000])
            #expect(set.status == 200, "\(set.text)")
            for _ in 0..<200 { _ = try await http.takeToken(base, concertID: id) }
            #expect(try await http.request(.PATCH, settings, token: Self.adminToken, json: ["paused": false]).status == 200)

            func measured() async throws -> (rate: Double, waiting: Int) {
                let stats = try await http.request(.GET, "\(base)/v1/admin/concerts/\(id)/stats", token: Self.adminToken)
                return ((stats.json["admittedPerSecond"] as? NSNumber)?.doubleValue ?? -1, stats.json["waiting"] as? Int ?? -1)
            }
            // 200 waiters at 20/s drain in about 10 s; a 10 s moving average reaches about 0.6 of the rate.
            var peak = 0.0
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                let now = try await measured()
                peak = max(peak, now.rate)
                if now.waiting == 0 { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            #expect((9...21).contains(peak), "the measured rate peaked at \(peak) for a configured 20/s")
            // Nobody left to admit: 20 s later the average has fallen by e^-2 (to about 0.14 of the peak).
            try await Task.sleep(for: .seconds(20))
            let idle = try await measured()
            print("measured admission rate at a configured 20/s: peak \(peak)/s, 20 s after the line emptied \(idle.rate)/s")
            #expect(idle.waiting == 0 && idle.rate <= 0.25 * peak, "still \(idle.rate)/s measured 20 s after the line emptied (peak \(peak))")
        }
    }
}
