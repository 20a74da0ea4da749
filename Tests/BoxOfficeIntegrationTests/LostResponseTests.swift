import Foundation
import Testing
import TestSupport

/// Docs/api.md, Reservations: a client whose hold response was lost can retry with its
/// Idempotency-Key and get the original 201, or find the hold in GET /v1/reservations.
@Suite("Lost responses: Idempotency-Key on holds and the list of one's reservations", .tags(.redisCluster, .postgresHA))
struct LostResponseTests {
    typealias Kit = HoldsTestKit

    @Test("a retry with the same key gets the original 201 (also from another instance); another selection with it is 422; without a key, 409 HOLD_LIMIT")
    func idempotentHold() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        let date = concert.dates[0]
        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                let user = try await Kit.activeUser(http, bases[0], concertID: concert.id)
                let key = "hold-\(UUID().uuidString)"
                let first = try await Kit.hold(http, bases[0], user, concertID: concert.id, date: date, seats: [4, 5], idempotencyKey: key)
                #expect(first.status == 201, "\(first.text)")
                let retry = try await Kit.hold(http, bases[1], user, concertID: concert.id, date: date, seats: [5, 4], idempotencyKey: key)
                #expect(retry.status == 201, "\(retry.text)")
                #expect(retry.body == first.body, "a replay is byte-identical")

                let reused = try await Kit.hold(http, bases[0], user, concertID: concert.id, date: date, seats: [6], idempotencyKey: key)
                Kit.expectProblem(reused, 422, "IDEMPOTENCY_KEY_REUSED")
                let noKey = try await Kit.hold(http, bases[0], user, concertID: concert.id, date: date, seats: [6])
                Kit.expectProblem(noKey, 409, "HOLD_LIMIT")
                let badKey = try await Kit.hold(http, bases[0], user, concertID: concert.id, date: date, seats: [6], idempotencyKey: String(repeating: "k", count: 129))
                Kit.expectProblem(badKey, 400, "INVALID_REQUEST")

                let list = try await http.request(.GET, "\(bases[1])/v1/reservations", token: user.token)
                #expect((list.json["reservations"] as? [Any])?.count == 1, "one hold, however many retries: \(list.text)")
            }
        }
    }

    @Test("20 concurrent duplicates with one key: one hold, and every answer that is a 201 is that hold")
    func concurrentDuplicates() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                let user = try await Kit.activeUser(http, bases[0], concertID: concert.id)
                let key = "dup-\(UUID().uuidString)"
                let replies = try await withThrowingTaskGroup(of: TestHTTPClient.Reply.self) { group in
                    for index in 0..<20 {
                        group.addTask {
                            try await Kit.hold(http, bases[index % 2], user, concertID: concert.id, date: concert.dates[0], seats: [7], idempotencyKey: key)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let created = replies.filter { $0.status == 201 }
                #expect(!created.isEmpty)
                #expect(Set(created.compactMap { $0.json["reservationId"] as? String }).count == 1)
                // The others raced the first one's lock before it committed: a later retry replays.
                for reply in replies where reply.status != 201 {
                    Kit.expectProblem(reply, 409, "SEAT_UNAVAILABLE")
                }
                let retry = try await Kit.hold(http, bases[1], user, concertID: concert.id, date: concert.dates[0], seats: [7], idempotencyKey: key)
                #expect(retry.status == 201 && retry.body == created[0].body, "\(retry.text)")
                try await Kit.withDatabase { (database) async throws in
                    let count = try await database.query(
                        "SELECT count(*)::int FROM reservations WHERE concert_id = \(concert.id)").first?.decode(Int.self, at: 0)
                    #expect(count == 1)
                }
            }
        }
    }

    @Test("GET /v1/reservations: the token's user's reservations for the token's concert, newest first, any live token")
    func listOwnReservations() async throws {
        let concert = try await Fixtures.concert(dates: 2)
        let other = try await Fixtures.concert(dates: 1)
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let base = bases[0]
                let users = try await Kit.activeUsers(http, [base], concertID: concert.id, count: 2)
                let (owner, stranger) = (users[0], users[1])
                let empty = try await http.request(.GET, "\(base)/v1/reservations", token: owner.token)
                #expect(empty.status == 200 && (empty.json["reservations"] as? [Any])?.isEmpty == true, "\(empty.text)")

                let first = try await Kit.hold(http, base, owner, concertID: concert.id, date: concert.dates[0], seats: [1])
                let firstID = try #require(first.json["reservationId"] as? String)
                _ = try await http.request(.DELETE, "\(base)/v1/reservations/\(firstID)", token: owner.token)
                let second = try await Kit.hold(http, base, owner, concertID: concert.id, date: concert.dates[1], seats: [2, 3])
                let secondID = try #require(second.json["reservationId"] as? String)
                _ = try await Kit.hold(http, base, stranger, concertID: concert.id, date: concert.dates[0], seats: [9])
                // The same user's hold for another concert is not in this concert's list.
                let elsewhere = try await http.takeToken(base, concertID: other.id, userID: owner.userID)
                try await http.waitUntilActive(base, token: elsewhere.token)
                let otherHold = try await Kit.hold(http, base, elsewhere, concertID: other.id, date: other.dates[0], seats: [1])
                #expect(otherHold.status == 201, "\(otherHold.text)")

                let list = try await http.request(.GET, "\(base)/v1/reservations", token: owner.token)
                #expect(list.status == 200, "\(list.text)")
                let entries = try #require(list.json["reservations"] as? [[String: Any]])
                #expect(entries.compactMap { $0["reservationId"] as? String } == [secondID, firstID])
                #expect(entries.compactMap { $0["status"] as? String } == ["HELD", "CANCELLED"])
                #expect(entries.first?["seatNumbers"] as? [Int] == [2, 3])

                let unauthenticated = try await http.request(.GET, "\(base)/v1/reservations")
                Kit.expectProblem(unauthenticated, 401, "TOKEN_INVALID")
            }
        }
    }

    @Test("a payment retried with its key on the user's newer token replays the receipt and leaves the newer token ACTIVE")
    func paymentReplayKeepsTheNewToken() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                let first = try await Kit.activeUser(http, bases[0], concertID: concert.id)
                let charge = try await http.request(.POST, "\(bases[0])/v1/balance/charge", token: first.token, json: ["amount": 100_000])
                #expect(charge.status == 200, "\(charge.text)")
                let hold = try await Kit.hold(http, bases[0], first, concertID: concert.id, date: concert.dates[0], seats: [3])
                let reservation = try #require(hold.json["reservationId"] as? String)
                let key = "pay-\(UUID().uuidString)"
                let paid = try await http.request(
                    .POST, "\(bases[0])/v1/payments", token: first.token, headers: [("Idempotency-Key", key)], json: ["reservationId": reservation])
                #expect(paid.status == 201, "\(paid.text)")

                // The same user queues again and is admitted with a new token.
                let second = try await http.takeToken(bases[1], concertID: concert.id, userID: first.userID)
                try await http.waitUntilActive(bases[1], token: second.token)
                let retry = try await http.request(
                    .POST, "\(bases[1])/v1/payments", token: second.token, headers: [("Idempotency-Key", key)], json: ["reservationId": reservation])
                #expect(retry.status == 201 && retry.body == paid.body, "\(retry.text)")
                let status = try await http.request(.GET, "\(bases[0])/v1/queue/status", token: second.token)
                #expect(status.status == 200 && status.json["status"] as? String == "ACTIVE", "the newer token ended: \(status.text)")
            }
        }
    }
}
