import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import LibpqClient
import Testing
import TestSupport

/// Issue 10.4: a payment ends its queue token in Redis after its PostgreSQL commit. A hold made
/// with the same token in between must be refused, or it would hold seats nobody can pay.
@Suite("A hold racing the end of its token after a payment", .tags(.redisCluster, .postgresHA))
struct PaymentTokenRaceTests {
    typealias Kit = HoldsTestKit

    @Test("a hold with a token that has paid, before the token has ended, gets 401 TOKEN_EXPIRED and holds nothing")
    func holdBetweenPaymentAndTokenEnd() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let user = try await Kit.activeUser(http, bases[0], concertID: concert.id)
                let charge = try await http.request(.POST, "\(bases[0])/v1/balance/charge", token: user.token, json: ["amount": 100_000])
                #expect(charge.status == 200, "\(charge.text)")
                let hold = try await Kit.hold(http, bases[0], user, concertID: concert.id, date: concert.dates[0], seats: [3])
                let reservation = try #require(hold.json["reservationId"] as? String)
                // The payment's transaction, as an instance commits it before it ends the token in
                // Redis: the token is still ACTIVE afterwards.
                try await Kit.withDatabase { database in
                    _ = try await PostgresPaymentStore(database: database).pay(
                        userID: user.userID, token: user.token, concertID: concert.id, reservationID: reservation, idempotencyKey: nil)
                }
                let status = try await http.request(.GET, "\(bases[0])/v1/queue/status", token: user.token)
                #expect(status.json["status"] as? String == "ACTIVE")

                let late = try await Kit.hold(http, bases[0], user, concertID: concert.id, date: concert.dates[0], seats: [4])
                Kit.expectProblem(late, 401, "TOKEN_EXPIRED", "a hold after the payment")
                let mine = try await http.request(.GET, "\(bases[0])/v1/reservations?concertId=\(concert.id)", token: user.token)
                let statuses = (mine.json["reservations"] as? [[String: Any]] ?? []).compactMap { $0["status"] as? String }
                #expect(statuses == ["CONFIRMED"], "\(mine.text)")
                // Seat 4 is free for others at once: neither a row nor a Redis lock is left behind.
                let other = try await Kit.activeUser(http, bases[0], concertID: concert.id)
                let free = try await Kit.hold(http, bases[0], other, concertID: concert.id, date: concert.dates[0], seats: [4])
                #expect(free.status == 201, "\(free.text)")
            }
        }
    }

    @Test("50 users each pay and hold again at the same moment: no second hold succeeds, none is left HELD")
    func payAndHoldRace() async throws {
        let concert = try await Fixtures.concert(dates: 2)
        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                let users = try await Kit.activeUsers(http, bases, concertID: concert.id, count: 50)
                var reservations: [String] = []
                for (index, user) in users.enumerated() {
                    let charge = try await http.request(.POST, "\(bases[0])/v1/balance/charge", token: user.token, json: ["amount": 100_000])
                    #expect(charge.status == 200, "\(charge.text)")
                    let hold = try await Kit.hold(http, bases[index % 2], user, concertID: concert.id, date: concert.dates[0], seats: [index + 1])
                    reservations.append(try #require(hold.json["reservationId"] as? String, "\(hold.text)"))
                }
                // The second holds go to the other date, whose seats are all free.
                let date = concert.dates[1]
                let outcomes = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                    for (index, reservation) in reservations.enumerated() {
                        let user = users[index]
                        group.addTask {
                            async let paid = http.request(.POST, "\(bases[index % 2])/v1/payments", token: user.token, json: ["reservationId": reservation])
                            async let again = Kit.hold(http, bases[(index + 1) % 2], user, concertID: concert.id, date: date, seats: [index + 1])
                            return (try await paid.status, try await again.status)
                        }
                    }
                    var all: [(Int, Int)] = []
                    for try await outcome in group { all.append(outcome) }
                    return all
                }
                #expect(outcomes.allSatisfy { $0.0 == 201 }, "payments: \(outcomes.map(\.0))")
                // The second hold sees the first one HELD (409 HOLD_LIMIT) or paid with its token
                // (401 TOKEN_EXPIRED, also from the token check once the token has ended).
                #expect(outcomes.allSatisfy { $0.1 == 409 || $0.1 == 401 }, "second holds: \(outcomes.map(\.1))")
                let held = try await Kit.withDatabase { database in
                    try await database.query("SELECT count(*) FROM reservations WHERE concert_id = \(concert.id) AND status = 'HELD'").first!.decode(Int.self, at: 0)
                }
                #expect(held == 0)
            }
        }
    }
}
