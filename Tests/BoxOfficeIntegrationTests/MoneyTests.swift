import AsyncHTTPClient
import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import LibpqClient
import Testing
import TestSupport

@Suite("Money: charges, idempotency, payments and the invariants", .tags(.redisCluster, .postgresHA))
struct MoneyTests {
    typealias Kit = HoldsTestKit

    static func ledger(_ database: PostgresClient, userID: String) async throws -> (balance: Int, entries: Int, charged: Int, paid: Int) {
        let row = try await database.query(
            """
            SELECT coalesce((SELECT balance FROM balances WHERE user_id = \(userID)), 0),
                   (SELECT count(*) FROM balance_ledger WHERE user_id = \(userID)),
                   (SELECT coalesce(sum(amount), 0) FROM balance_ledger WHERE user_id = \(userID) AND type = 'CHARGE'),
                   (SELECT coalesce(sum(amount), 0) FROM balance_ledger WHERE user_id = \(userID) AND type = 'PAYMENT')
            """).first!
        return (try row.decode(Int.self, at: 0), try row.decode(Int.self, at: 1), try row.decode(Int.self, at: 2), try row.decode(Int.self, at: 3))
    }

    static func expectHealthy(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await Kit.withDatabase { (database) async throws in
            let report = try await InvariantChecker(database: database).check()
            #expect(report.isHealthy, "\(report)", sourceLocation: sourceLocation)
            #expect(report.doubleSold == 0, sourceLocation: sourceLocation)
            #expect(report.moneyConserved, sourceLocation: sourceLocation)
        }
    }

    static func race(_ count: Int, _ request: @escaping @Sendable (Int) async throws -> TestHTTPClient.Reply) async throws -> [TestHTTPClient.Reply] {
        try await withThrowingTaskGroup(of: TestHTTPClient.Reply.self) { group in
            for index in 0..<count { group.addTask { try await request(index) } }
            var replies: [TestHTTPClient.Reply] = []
            for try await reply in group { replies.append(reply) }
            return replies
        }
    }

    @Test("1,000 concurrent charges of 1 won through two instances: balance 1,000 and 1,000 ledger entries")
    func thousandCharges() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                let user = try await Kit.activeUser(http, bases[0], concertID: concert.id)
                let replies = try await Self.race(1_000) { index in
                    try await http.request(.POST, "\(bases[index % 2])/v1/balance/charge", token: user.token, json: ["amount": 1])
                }
                let failed = replies.filter { $0.status != 200 }
                #expect(failed.isEmpty, "\(failed.count) failed, e.g. \(failed.prefix(3).map { "\($0.status) \($0.text)" })")
                // Every answer saw a distinct balance 1...1000.
                let balances = replies.compactMap { $0.json["balance"] as? Int }.sorted()
                #expect(balances == Array(1...1_000))
                let balance = try await http.request(.GET, "\(bases[1])/v1/balance", token: user.token)
                #expect(balance.json["balance"] as? Int == 1_000, "\(balance.text)")
                #expect(balance.json["userId"] as? String == user.userID)
                try await Kit.withDatabase { (database) async throws in
                    let ledger = try await Self.ledger(database, userID: user.userID)
                    #expect(ledger.balance == 1_000)
                    #expect(ledger.entries == 1_000)
                    #expect(ledger.charged == 1_000)
                }
            }
        }
        try await Self.expectHealthy()
    }

    @Test("20 concurrent charges with one Idempotency-Key move money once and all answer the same; another body is 422")
    func idempotentCharge() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                let user = try await Kit.activeUser(http, bases[0], concertID: concert.id)
                let key = "charge-\(UUID().uuidString)"
                let replies = try await Self.race(20) { index in
                    try await http.request(.POST, "\(bases[index % 2])/v1/balance/charge", token: user.token,
                                           headers: [("Idempotency-Key", key)], json: ["amount": 7_000])
                }
                #expect(replies.allSatisfy { $0.status == 200 }, "\(replies.filter { $0.status != 200 }.prefix(3).map(\.text))")
                #expect(Set(replies.map(\.text)).count == 1, "\(Set(replies.map(\.text)))")
                #expect(replies.first?.json["balance"] as? Int == 7_000)
                #expect(replies.first?.json["charged"] as? Int == 7_000)

                // A later retry replays too; the same key with another amount is refused.
                let retry = try await http.request(.POST, "\(bases[1])/v1/balance/charge", token: user.token,
                                                   headers: [("Idempotency-Key", key)], json: ["amount": 7_000])
                #expect(retry.status == 200)
                #expect(retry.text == replies.first?.text)
                Kit.expectProblem(
                    try await http.request(.POST, "\(bases[0])/v1/balance/charge", token: user.token,
                                           headers: [("Idempotency-Key", key)], json: ["amount": 7_001]),
                    422, "IDEMPOTENCY_KEY_REUSED"
                )
                // A bad key is a 400; a new key charges again.
                Kit.expectProblem(
                    try await http.request(.POST, "\(bases[0])/v1/balance/charge", token: user.token,
                                           headers: [("Idempotency-Key", String(repeating: "k", count: 129))], json: ["amount": 1]),
                    400, "INVALID_REQUEST", "129-char key"
                )
                let fresh = try await http.request(.POST, "\(bases[0])/v1/balance/charge", token: user.token,
                                                   headers: [("Idempotency-Key", key + "-2")], json: ["amount": 3_000])
                #expect(fresh.json["balance"] as? Int == 10_000, "\(fresh.text)")
                try await Kit.withDatabase { (database) async throws in
                    let ledger = try await Self.ledger(database, userID: user.userID)
                    #expect(ledger.balance == 10_000)
                    #expect(ledger.entries == 2)
                }
            }
        }
        try await Self.expectHealthy()
    }

    @Test("10 concurrent payments of one reservation: exactly one 201 PAID and one debit; the rest 409 or 401, no 5xx")
    func concurrentPayments() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                let user = try await Kit.activeUser(http, bases[0], concertID: concert.id)
                let hold = try await Kit.hold(http, bases[0], user, concertID: concert.id, date: concert.dates[0], seats: [1, 2])
                #expect(hold.status == 201, "\(hold.text)")
                let reservation = try #require(hold.json["reservationId"] as? String)
                let amount = try #require(hold.json["amount"] as? Int)
                #expect(amount == 23_000)
                let charge = try await http.request(.POST, "\(bases[1])/v1/balance/charge", token: user.token, json: ["amount": 100_000])
                #expect(charge.status == 200)

                let replies = try await Self.race(10) { index in
                    // Half with their own keys, half without.
                    let headers = index % 2 == 0 ? [("Idempotency-Key", "pay-\(index)-\(reservation)")] : []
                    return try await http.request(.POST, "\(bases[index % 2])/v1/payments", token: user.token, headers: headers,
                                                  json: ["reservationId": reservation])
                }
                let paid = replies.filter { $0.status == 201 }
                #expect(paid.count == 1, "\(replies.map { "\($0.status) \($0.code ?? "")" })")
                #expect(paid.first?.json["status"] as? String == "PAID")
                #expect(paid.first?.json["amount"] as? Int == amount)
                #expect(paid.first?.json["balance"] as? Int == 100_000 - amount)
                for reply in replies where reply.status != 201 {
                    let allowed = (reply.status == 409 && reply.code == "RESERVATION_NOT_HELD") || (reply.status == 401 && reply.code == "TOKEN_EXPIRED")
                    #expect(allowed, "\(reply.status) \(reply.text)")
                }
                try await Kit.withDatabase { (database) async throws in
                    let ledger = try await Self.ledger(database, userID: user.userID)
                    #expect(ledger.balance == 100_000 - amount)
                    #expect(ledger.paid == amount)
                    let payments = try await database.query("SELECT count(*) FROM payments WHERE reservation_id = \(reservation)")
                        .first!.decode(Int.self, at: 0)
                    #expect(payments == 1)
                    let seats = try await database.query(
                        """
                        SELECT string_agg(s.status, ',' ORDER BY s.number) FROM seats s JOIN concert_dates d ON d.id = s.date_id
                        WHERE d.concert_id = \(concert.id) AND s.number IN (1, 2)
                        """).first!.decode(String.self, at: 0)
                    #expect(seats == "SOLD,SOLD")
                }
                // The token ended with the payment.
                Kit.expectProblem(try await http.request(.GET, "\(bases[0])/v1/queue/status", token: user.token), 401, "TOKEN_EXPIRED")
            }
        }
        try await Self.expectHealthy()
    }

    @Test("10 concurrent payments of one reservation with one Idempotency-Key: all 201 with the same body, one debit")
    func concurrentPaymentsWithOneKey() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                let user = try await Kit.activeUser(http, bases[0], concertID: concert.id)
                let hold = try await Kit.hold(http, bases[0], user, concertID: concert.id, date: concert.dates[0], seats: [5])
                let reservation = try #require(hold.json["reservationId"] as? String)
                let charge = try await http.request(.POST, "\(bases[1])/v1/balance/charge", token: user.token, json: ["amount": 100_000])
                #expect(charge.status == 200)
                let key = "pay-once-\(reservation)"
                let replies = try await Self.race(10) { index in
                    try await http.request(.POST, "\(bases[index % 2])/v1/payments", token: user.token, headers: [("Idempotency-Key", key)],
                                           json: ["reservationId": reservation])
                }
                // Those that raced the first wait for it on the key and replay; those that came after
                // the token ended are replays too (an ended token with a key may fetch its answer).
                #expect(replies.allSatisfy { $0.status == 201 }, "\(replies.map { "\($0.status) \($0.code ?? "")" })")
                #expect(Set(replies.map(\.body)).count == 1, "the answers differ")
                try await Kit.withDatabase { (database) async throws in
                    let ledger = try await Self.ledger(database, userID: user.userID)
                    #expect(ledger.paid == (hold.json["amount"] as? Int ?? -1))
                    let payments = try await database.query("SELECT count(*) FROM payments WHERE reservation_id = \(reservation)")
                        .first!.decode(Int.self, at: 0)
                    #expect(payments == 1)
                }
            }
        }
        try await Self.expectHealthy()
    }

    @Test("a retry of a completed payment with its Idempotency-Key replays the 201 after the token ended; without it 401")
    func paymentReplay() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                let user = try await Kit.activeUser(http, bases[0], concertID: concert.id)
                let hold = try await Kit.hold(http, bases[0], user, concertID: concert.id, date: concert.dates[0], seats: [3])
                let reservation = try #require(hold.json["reservationId"] as? String)
                _ = try await http.request(.POST, "\(bases[0])/v1/balance/charge", token: user.token, json: ["amount": 50_000])
                let key = "pay-\(UUID().uuidString)"
                let first = try await http.request(.POST, "\(bases[0])/v1/payments", token: user.token, headers: [("Idempotency-Key", key)],
                                                   json: ["reservationId": reservation])
                #expect(first.status == 201, "\(first.text)")
                #expect(first.json["balance"] as? Int == 50_000 - 13_000)

                let replay = try await http.request(.POST, "\(bases[1])/v1/payments", token: user.token, headers: [("Idempotency-Key", key)],
                                                    json: ["reservationId": reservation])
                #expect(replay.status == 201, "\(replay.text)")
                #expect(replay.text == first.text)
                Kit.expectProblem(
                    try await http.request(.POST, "\(bases[1])/v1/payments", token: user.token, json: ["reservationId": reservation]),
                    401, "TOKEN_EXPIRED", "no key"
                )
                Kit.expectProblem(
                    try await http.request(.POST, "\(bases[1])/v1/payments", token: user.token, headers: [("Idempotency-Key", key + "-other")],
                                           json: ["reservationId": reservation]),
                    401, "TOKEN_EXPIRED", "another key"
                )
                // Ended tokens still may not read or charge.
                Kit.expectProblem(try await http.request(.GET, "\(bases[0])/v1/balance", token: user.token), 401, "TOKEN_EXPIRED")
                try await Kit.withDatabase { (database) async throws in
                    let ledger = try await Self.ledger(database, userID: user.userID)
                    #expect(ledger.entries == 2)
                    #expect(ledger.balance == 37_000)
                }
            }
        }
        try await Self.expectHealthy()
    }

    @Test("payment errors: lapsed hold 410 moves nothing, someone else's 404, insufficient 402 keeps the hold, cancelled 409")
    func paymentErrors() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        let date = concert.dates[0]
        try await TestStack.withInstances(2, environment: ["HOLD_SECONDS": "2"]) { bases in
            try await TestHTTPClient.with { http in
                let users = try await Kit.activeUsers(http, bases, concertID: concert.id, count: 4)
                let (late, poor, canceller, stranger) = (users[0], users[1], users[2], users[3])
                for user in [late, canceller, stranger] {
                    let charge = try await http.request(.POST, "\(bases[0])/v1/balance/charge", token: user.token, json: ["amount": 100_000])
                    #expect(charge.status == 200)
                }
                _ = try await http.request(.POST, "\(bases[0])/v1/balance/charge", token: poor.token, json: ["amount": 10_000])

                // Lapsed hold: 410, balance, ledger and seats unchanged.
                let lateHold = try await Kit.hold(http, bases[0], late, concertID: concert.id, date: date, seats: [40])
                let lateID = try #require(lateHold.json["reservationId"] as? String)
                let expiresAt = try #require(Kit.parseTime(lateHold.json["expiresAt"] as? String))
                try await Task.sleep(for: .seconds(max(0, expiresAt.timeIntervalSinceNow) + 0.1))
                Kit.expectProblem(try await http.request(.POST, "\(bases[1])/v1/payments", token: late.token, json: ["reservationId": lateID]),
                                  410, "HOLD_EXPIRED", "lapsed")
                let lateBalance = try await http.request(.GET, "\(bases[1])/v1/balance", token: late.token)
                #expect(lateBalance.json["balance"] as? Int == 100_000)
                let map = try await Kit.seatMap(http, bases[0], stranger, concertID: concert.id, date: date)
                #expect(Kit.status(of: 40, in: map) == "AVAILABLE")
                // Still 410 once the sweeper has marked it EXPIRED.
                try await Kit.withDatabase { (database) async throws in
                    _ = try await Kit.eventually {
                        try await database.query("SELECT status FROM reservations WHERE id = \(lateID)").first!.decode(String.self, at: 0) == "EXPIRED"
                    }
                    let ledger = try await Self.ledger(database, userID: late.userID)
                    #expect(ledger.entries == 1 && ledger.balance == 100_000 && ledger.paid == 0)
                }
                Kit.expectProblem(try await http.request(.POST, "\(bases[0])/v1/payments", token: late.token, json: ["reservationId": lateID]),
                                  410, "HOLD_EXPIRED", "swept")

                // Someone else's reservation, unknown and malformed ids: 404.
                let strangerHold = try await Kit.hold(http, bases[0], stranger, concertID: concert.id, date: date, seats: [41])
                let strangerID = try #require(strangerHold.json["reservationId"] as? String)
                for id in [strangerID, UUID().uuidString, "nope"] {
                    Kit.expectProblem(try await http.request(.POST, "\(bases[0])/v1/payments", token: late.token, json: ["reservationId": id]),
                                      404, "RESERVATION_NOT_FOUND", id)
                }
                Kit.expectProblem(try await http.request(.POST, "\(bases[0])/v1/payments", token: late.token, json: ["reservation": strangerID]),
                                  400, "INVALID_REQUEST", "missing field")
                Kit.expectProblem(try await http.request(.POST, "\(bases[0])/v1/payments", token: late.token, rawBody: Data("{".utf8)),
                                  400, "INVALID_REQUEST", "bad json")

                // Insufficient balance: 402, the hold stays HELD and nothing moves.
                let poorHold = try await Kit.hold(http, bases[1], poor, concertID: concert.id, date: date, seats: [42, 43])
                let poorID = try #require(poorHold.json["reservationId"] as? String)
                Kit.expectProblem(try await http.request(.POST, "\(bases[1])/v1/payments", token: poor.token, json: ["reservationId": poorID]),
                                  402, "INSUFFICIENT_BALANCE")
                let poorRead = try await http.request(.GET, "\(bases[0])/v1/reservations/\(poorID)", token: poor.token)
                #expect(poorRead.json["status"] as? String == "HELD", "\(poorRead.text)")
                let poorBalance = try await http.request(.GET, "\(bases[0])/v1/balance", token: poor.token)
                #expect(poorBalance.json["balance"] as? Int == 10_000)

                // Cancelled: 409.
                let cancelHold = try await Kit.hold(http, bases[1], canceller, concertID: concert.id, date: date, seats: [44])
                let cancelID = try #require(cancelHold.json["reservationId"] as? String)
                let cancel = try await http.request(.DELETE, "\(bases[1])/v1/reservations/\(cancelID)", token: canceller.token)
                #expect(cancel.status == 200)
                Kit.expectProblem(try await http.request(.POST, "\(bases[0])/v1/payments", token: canceller.token, json: ["reservationId": cancelID]),
                                  409, "RESERVATION_NOT_HELD", "cancelled")
                try await Kit.withDatabase { (database) async throws in
                    for user in [poor, canceller] {
                        let ledger = try await Self.ledger(database, userID: user.userID)
                        #expect(ledger.entries == 1 && ledger.paid == 0)
                    }
                }
            }
        }
        try await Self.expectHealthy()
    }

    @Test("charge errors, BALANCE_LIMIT (MAX_BALANCE=50000, MAX_CHARGE=40000), zero balance, history order and limits")
    func chargeErrorsAndHistory() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await TestStack.withInstances(1, environment: ["MAX_BALANCE": "50000", "MAX_CHARGE": "40000"]) { bases in
            try await TestHTTPClient.with { http in
                let base = bases[0]
                let users = try await Kit.activeUsers(http, bases, concertID: concert.id, count: 2)
                let (user, fresh) = (users[0], users[1])
                let zero = try await http.request(.GET, "\(base)/v1/balance", token: fresh.token)
                #expect(zero.status == 200)
                #expect(zero.json["balance"] as? Int == 0)
                #expect(zero.json["userId"] as? String == fresh.userID)
                let emptyHistory = try await http.request(.GET, "\(base)/v1/balance/history", token: fresh.token)
                #expect((emptyHistory.json["entries"] as? [Any])?.isEmpty == true, "\(emptyHistory.text)")

                func charge(_ body: Data) async throws -> TestHTTPClient.Reply {
                    try await http.request(.POST, "\(base)/v1/balance/charge", token: user.token,
                                           headers: [("Content-Type", "application/json")], rawBody: body)
                }
                for amount in ["0", "-5", "1.5", "\"100\"", "40001", "null", "true", "99999999999999999999999"] {
                    Kit.expectProblem(try await charge(Data("{\"amount\": \(amount)}".utf8)), 400, "INVALID_AMOUNT", amount)
                }
                Kit.expectProblem(try await charge(Data("{}".utf8)), 400, "INVALID_REQUEST", "missing amount")
                Kit.expectProblem(try await charge(Data("{amount: 5".utf8)), 400, "INVALID_REQUEST", "bad json")
                Kit.expectProblem(try await charge(Data("[1]".utf8)), 400, "INVALID_REQUEST", "array")

                let first = try await http.request(.POST, "\(base)/v1/balance/charge", token: user.token, json: ["amount": 40_000])
                #expect(first.status == 200, "\(first.text)")
                #expect(first.json["balance"] as? Int == 40_000)
                Kit.expectProblem(try await http.request(.POST, "\(base)/v1/balance/charge", token: user.token, json: ["amount": 10_001]),
                                  409, "BALANCE_LIMIT")
                let toLimit = try await http.request(.POST, "\(base)/v1/balance/charge", token: user.token, json: ["amount": 10_000])
                #expect(toLimit.json["balance"] as? Int == 50_000, "\(toLimit.text)")

                // A payment, then history newest first: PAYMENT, CHARGE 10000, CHARGE 40000.
                let hold = try await Kit.hold(http, base, user, concertID: concert.id, date: concert.dates[0], seats: [5])
                let reservation = try #require(hold.json["reservationId"] as? String)
                let pay = try await http.request(.POST, "\(base)/v1/payments", token: user.token, json: ["reservationId": reservation])
                #expect(pay.status == 201, "\(pay.text)")
                let paymentID = try #require(pay.json["paymentId"] as? String)
                // The token ended; history needs a live one: take a new token for the same user.
                let again = try await http.takeToken(base, concertID: concert.id, userID: user.userID)
                let history = try await http.request(.GET, "\(base)/v1/balance/history", token: again.token)
                #expect(history.status == 200, "\(history.text)")
                let entries = try #require(history.json["entries"] as? [[String: Any]])
                #expect(entries.map { $0["type"] as? String ?? "" } == ["PAYMENT", "CHARGE", "CHARGE"])
                #expect(entries.map { $0["amount"] as? Int ?? 0 } == [15_000, 10_000, 40_000])
                #expect(entries.map { $0["balanceAfter"] as? Int ?? -1 } == [35_000, 50_000, 40_000])
                #expect(entries.first?["reference"] as? String == "payment:\(paymentID)")
                let times = entries.compactMap { Kit.parseTime($0["at"] as? String) }
                #expect(times.count == 3 && times == times.sorted(by: >))

                let limited = try await http.request(.GET, "\(base)/v1/balance/history?limit=2", token: again.token)
                #expect((limited.json["entries"] as? [[String: Any]])?.map { $0["type"] as? String ?? "" } == ["PAYMENT", "CHARGE"])
                let maximum = try await http.request(.GET, "\(base)/v1/balance/history?limit=200", token: again.token)
                #expect((maximum.json["entries"] as? [Any])?.count == 3)
                for limit in ["0", "201", "abc", "-1", "1.5", ""] {
                    Kit.expectProblem(try await http.request(.GET, "\(base)/v1/balance/history?limit=\(limit)", token: again.token),
                                      400, "INVALID_REQUEST", "limit=\(limit)")
                }
                let balance = try await http.request(.GET, "\(base)/v1/balance", token: again.token)
                #expect(balance.json["balance"] as? Int == 35_000)
            }
        }
        try await Self.expectHealthy()
    }
}
