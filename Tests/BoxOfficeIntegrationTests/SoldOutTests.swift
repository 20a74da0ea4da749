import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import HiredisClient
import Testing
import TestSupport

/// Sold out is said at once (Docs/api.md "Sold out"): when no seat of the concert is AVAILABLE or
/// HELD on any bookable date, waiters learn it at their next poll or on their stream, nobody more is
/// admitted, new arrivals get 410 SOLD_OUT; when seats come back (here: a new date), the line goes
/// on. While every seat left is held, the line admits nobody either, and says it is paused.
@Suite("Sold out", .tags(.redisCluster, .postgresHA))
struct SoldOutTests {
    typealias Kit = HoldsTestKit
    static let adminToken = "test-admin-" + TestEnvironment.uniqueSuffix(length: 24)

    /// Buys `seats` for a new ACTIVE fan: charge, hold, pay.
    static func buy(_ http: TestHTTPClient, _ base: String, concertID: Int, date: String, seats: [Int]) async throws {
        let fan = try await http.activeToken(base, concertID: concertID)
        let charge = try await http.request(.POST, "\(base)/v1/balance/charge", token: fan.token, json: ["amount": 1_000_000])
        #expect(charge.status == 200, "\(charge.text)")
        let hold = try await Kit.hold(http, base, fan, concertID: concertID, date: date, seats: seats)
        let reservation = try #require(hold.json["reservationId"] as? String, "\(hold.text)")
        let paid = try await http.request(.POST, "\(base)/v1/payments", token: fan.token, json: ["reservationId": reservation])
        #expect(paid.status == 201, "\(paid.text)")
    }

    /// Seats 1-48 of the date sold, to twelve fans of four, through both instances at once.
    static func sellAllButTwo(_ http: TestHTTPClient, _ bases: [String], concertID: Int, date: String) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for buyer in 0..<12 {
                group.addTask {
                    try await Self.buy(http, bases[buyer % 2], concertID: concertID, date: date, seats: Array(buyer * 4 + 1...buyer * 4 + 4))
                }
            }
            try await group.waitForAll()
        }
    }

    @Test("while every seat left is in a live hold, nobody is admitted and waiters see the line paused, with no wait promised; the hold cancelled, admission goes on")
    func allHeldPausesAdmission() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        let date = concert.dates[0]
        try await TestStack.withInstances(2, environment: ["DB_POOL_SIZE": "4"]) { bases in
            try await TestHTTPClient.with { http in
                try await Self.sellAllButTwo(http, bases, concertID: concert.id, date: date)
                // The last two seats in a fan's cart.
                let holder = try await http.activeToken(bases[0], concertID: concert.id)
                _ = try await http.request(.POST, "\(bases[0])/v1/balance/charge", token: holder.token, json: ["amount": 1_000_000])
                let hold = try await Kit.hold(http, bases[0], holder, concertID: concert.id, date: date, seats: [49, 50])
                let reservation = try #require(hold.json["reservationId"] as? String, "\(hold.text)")
                // Each instance's answer about the seats is at most a second old.
                try await Task.sleep(for: .milliseconds(1_500))
                var waiters: [String] = []
                for index in 0..<4 { waiters.append(try await http.takeToken(bases[index % 2], concertID: concert.id).token) }
                // Forty promoter ticks (every 50 ms, admission wide open): nobody admitted.
                try await Task.sleep(for: .seconds(2))
                for (index, token) in waiters.enumerated() {
                    let status = try await http.request(.GET, "\(bases[index % 2])/v1/queue/status", token: token)
                    #expect(status.json["status"] as? String == "WAITING", "\(status.text)")
                    #expect(status.json["estimatedWaitSeconds"] is NSNull, "\(status.text)")
                    #expect(status.json["paused"] as? Bool == true, "\(status.text)")
                    #expect(status.json["soldOut"] as? Bool == false, "\(status.text)")
                }
                // The cart emptied: two seats free again, and the line goes on.
                #expect(try await http.request(.DELETE, "\(bases[0])/v1/reservations/\(reservation)", token: holder.token).status == 200)
                for (index, token) in waiters.enumerated() {
                    try await http.waitUntilActive(bases[index % 2], token: token, timeout: .seconds(10))
                }
            }
        }
        try await MoneyTests.expectHealthy()
    }

    @Test("the last seat sold stops the line: soldOut on polls and streams, no admissions, 410 SOLD_OUT; a new date reopens it")
    func soldOutStopsAndReopens() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        let date = concert.dates[0]
        let keys = QueueKeys(concertID: concert.id)
        try await TestStack.withInstances(2, environment: ["ADMIN_TOKEN": Self.adminToken, "DB_POOL_SIZE": "4"]) { bases in
            try await TestHTTPClient.with { http in
                try await Self.sellAllButTwo(http, bases, concertID: concert.id, date: date)
                // The last buyer is admitted, then the line is paused so that the next fans wait.
                let last = try await http.activeToken(bases[0], concertID: concert.id)
                _ = try await http.request(.POST, "\(bases[0])/v1/balance/charge", token: last.token, json: ["amount": 1_000_000])
                let patch = ["paused": true]
                #expect(try await http.request(.PATCH, "\(bases[0])/v1/admin/concerts/\(concert.id)/queue", token: Self.adminToken, json: patch).status == 200)
                var waiters: [String] = []
                for index in 0..<5 { waiters.append(try await http.takeToken(bases[index % 2], concertID: concert.id).token) }
                let before = try await http.request(.GET, "\(bases[1])/v1/queue/status", token: waiters[0])
                #expect(before.json["soldOut"] as? Bool == false, "\(before.text)")

                // A waiter's stream, open before the sell-out, reports it.
                let (streamBase, streamToken) = (bases[1], waiters[4])
                let streamed = Task {
                    try await http.readEvents(streamBase, token: streamToken, timeout: .seconds(20)) { item in
                        item.json["soldOut"] as? Bool != true
                    }
                }
                try await Task.sleep(for: .milliseconds(300))
                let hold = try await Kit.hold(http, bases[0], last, concertID: concert.id, date: date, seats: [49, 50])
                let reservation = try #require(hold.json["reservationId"] as? String, "\(hold.text)")
                // Two seats HELD: not sold out yet.
                try await Task.sleep(for: .milliseconds(1_200))
                #expect(try await http.request(.GET, "\(bases[0])/v1/queue/status", token: waiters[1]).json["soldOut"] as? Bool == false)
                let paid = try await http.request(.POST, "\(bases[0])/v1/payments", token: last.token, json: ["reservationId": reservation])
                #expect(paid.status == 201, "\(paid.text)")
                let soldOutAt = ContinuousClock.now

                // Every waiter learns it at its next poll (within about a second), through either instance.
                for (index, token) in waiters.prefix(4).enumerated() {
                    let seen = try await queueEventually("waiter \(index) sees soldOut", timeout: .seconds(5), every: .milliseconds(100)) {
                        let reply = try await http.request(.GET, "\(bases[index % 2])/v1/queue/status", token: token)
                        return reply.json["soldOut"] as? Bool == true ? reply : nil
                    }
                    #expect(seen.json["status"] as? String == "WAITING")
                    #expect(seen.json["estimatedWaitSeconds"] is NSNull, "\(seen.text)")
                    #expect(seen.json["paused"] as? Bool == false, "\(seen.text)")
                }
                print("sold out seen by polls \(ContinuousClock.now - soldOutAt) after the last payment")
                let stream = try await streamed.value
                #expect(stream.status == 200)
                #expect(stream.items.last?.json["soldOut"] as? Bool == true, "\(stream.items.map(\.data))")
                // Out of the system: the relay publishes `concert.sold_out` for it, once.
                let announced = try await Kit.withRedis { redis in
                    try await EventOutboxTests.eventually(
                        redis, matching: { $0.type == "concert.sold_out" && $0.data["concertId"] as? Int == concert.id }, until: { !$0.isEmpty }
                    ).map(\.id)
                }
                #expect(announced.count == 1, "\(announced)")

                // New arrivals are refused, on both instances, with a problem.
                for base in bases {
                    Kit.expectProblem(
                        try await http.request(.POST, "\(base)/v1/queue/tokens", json: ["userId": UUID().uuidString, "concertId": concert.id]),
                        410, "SOLD_OUT")
                }
                // Resumed, the line still admits nobody while sold out.
                #expect(try await http.request(.PATCH, "\(bases[1])/v1/admin/concerts/\(concert.id)/queue", token: Self.adminToken,
                                               json: ["paused": false]).status == 200)
                try await Task.sleep(for: .seconds(2))
                let stillWaiting = try await Kit.withRedis { try await $0.send(["ZCARD", RedisArgument(keys.waiting)]).int }
                #expect(stillWaiting == 5)

                // Seats come back (a new date): the line goes on and the first waiter is admitted.
                let added = try await http.request(
                    .POST, "\(bases[1])/v1/admin/concerts/\(concert.id)/dates", token: Self.adminToken,
                    json: ["date": AdminAPITests.futureDate(days: 40), "tiers": [["from": 1, "to": 50, "price": 10_000]]])
                #expect(added.status == 201, "\(added.text)")
                try await http.waitUntilActive(bases[0], token: waiters[0], timeout: .seconds(10))
                // Each instance learns it within about a second (its sold-out answer is at most that old).
                for base in bases {
                    let reopened = try await queueEventually("\(base) takes new fans again", timeout: .seconds(5), every: .milliseconds(200)) {
                        let reply = try await http.request(.POST, "\(base)/v1/queue/tokens", json: ["userId": UUID().uuidString, "concertId": concert.id])
                        return reply.status == 201 ? reply : nil
                    }
                    #expect(reopened.json["soldOut"] as? Bool == false, "\(reopened.text)")
                }
            }
        }
        try await MoneyTests.expectHealthy()
    }
}
