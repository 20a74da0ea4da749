import AsyncHTTPClient
import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import HiredisClient
import LibpqClient
import Testing
import TestSupport

@Suite("Holds: lapse, sweeper, cancel, errors and the active window", .tags(.redisCluster, .postgresHA))
struct HoldsLifecycleTests {
    typealias Kit = HoldsTestKit

    @Test("HOLD_SECONDS=2: a lapsed hold reads AVAILABLE and EXPIRED at once, another user can take the seat, the sweeper marks it EXPIRED")
    func lapse() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        let date = concert.dates[0]
        try await TestStack.withInstances(2, environment: ["HOLD_SECONDS": "2"]) { bases in
            try await TestHTTPClient.with { http in
                let users = try await Kit.activeUsers(http, bases, concertID: concert.id, count: 2)
                let (owner, other) = (users[0], users[1])
                let hold = try await Kit.hold(http, bases[0], owner, concertID: concert.id, date: date, seats: [5, 6])
                #expect(hold.status == 201, "\(hold.text)")
                let reservation = try #require(hold.json["reservationId"] as? String)
                let expiresAt = try #require(Kit.parseTime(hold.json["expiresAt"] as? String))
                #expect(expiresAt.timeIntervalSinceNow <= 2.5)

                // Under parallel load the reply may arrive late in the 2 s; check the live hold only with time to spare.
                if expiresAt.timeIntervalSinceNow > 0.5 {
                    let held = try await Kit.seatMap(http, bases[1], other, concertID: concert.id, date: date)
                    #expect(Kit.status(of: 5, in: held) == "HELD" || Date() >= expiresAt)
                }

                // Just past the lapse: no waiting for the sweeper.
                try await Task.sleep(for: .seconds(max(0, expiresAt.timeIntervalSinceNow) + 0.05))
                let lapsed = try await Kit.seatMap(http, bases[1], other, concertID: concert.id, date: date)
                #expect(Kit.status(of: 5, in: lapsed) == "AVAILABLE")
                #expect(Kit.status(of: 6, in: lapsed) == "AVAILABLE")
                let read = try await http.request(.GET, "\(bases[0])/v1/reservations/\(reservation)", token: owner.token)
                #expect(read.status == 200)
                #expect(read.json["status"] as? String == "EXPIRED", "\(read.text)")

                let taken = try await Kit.hold(http, bases[1], other, concertID: concert.id, date: date, seats: [5])
                #expect(taken.status == 201, "\(taken.text)")
                // The lapsed hold no longer counts against the owner's HOLD_LIMIT.
                let again = try await Kit.hold(http, bases[0], owner, concertID: concert.id, date: date, seats: [6])
                #expect(again.status == 201, "\(again.text)")

                try await Kit.withDatabase { (database) async throws in
                    let swept = try await Kit.eventually {
                        try await database.query("SELECT status FROM reservations WHERE id = \(reservation)")
                            .first!.decode(String.self, at: 0) == "EXPIRED"
                    }
                    #expect(swept)
                    #expect(try await Kit.seatsHeldTwice(database, concertID: concert.id) == 0)
                    #expect(try await Kit.seatRowsInconsistent(database, concertID: concert.id) == 0)
                }
            }
        }
    }

    @Test("a seat lock with no hold behind it (its instance died before committing) frees the seat within seatLockSeconds")
    func orphanSeatLock() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        let date = concert.dates[0]
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let user = try await Kit.activeUser(http, bases[0], concertID: concert.id)
                // The lock exactly as an instance takes it before its transaction, then nothing.
                let taken = try await Kit.withRedis { (redis) async throws in
                    try await RedisSeatLocks(redis: redis).acquire(
                        concertID: concert.id, date: date, seats: [11], owner: UUID().uuidString.lowercased(),
                        milliseconds: ReservationService.seatLockSeconds * 1000)
                }
                #expect(taken)
                let blocked = try await Kit.hold(http, bases[0], user, concertID: concert.id, date: date, seats: [11])
                Kit.expectProblem(blocked, 409, "SEAT_UNAVAILABLE", "while the orphan lock lives")
                let start = ContinuousClock.now
                let freed = try await Kit.eventually(timeout: .seconds(ReservationService.seatLockSeconds + 3)) {
                    try await Kit.hold(http, bases[0], user, concertID: concert.id, date: date, seats: [11]).status == 201
                }
                #expect(freed, "the seat stayed locked")
                #expect(ContinuousClock.now - start <= .seconds(ReservationService.seatLockSeconds + 1))
            }
        }
    }

    @Test("two HoldSweeper.sweepOnce() at once never process the same reservation")
    func concurrentSweepers() async throws {
        let concert = try await Fixtures.concert(dates: 2)
        let count = 100
        let ids = try await Kit.withDatabase { (database) async throws in
            try await database.transaction { connection -> [String] in
                var ids: [String] = []
                let dates = try connection.query("SELECT id FROM concert_dates WHERE concert_id = \(concert.id) ORDER BY date")
                    .map { try $0.decode(Int.self, at: 0) }
                for index in 0..<count {
                    let id = UUID().uuidString.lowercased()
                    let dateID = dates[index / 50]
                    let seat = index % 50 + 1
                    try connection.query(
                        """
                        INSERT INTO reservations (id, user_id, concert_id, date_id, amount, status, expires_at)
                        VALUES (\(id), \(UUID().uuidString.lowercased()), \(concert.id), \(dateID), 1000, 'HELD', now() - interval '1 second')
                        """)
                    try connection.query(
                        "INSERT INTO reservation_seats (reservation_id, date_id, seat_number, price) VALUES (\(id), \(dateID), \(seat), 1000)")
                    try connection.query(
                        """
                        UPDATE seats SET status = 'HELD', held_until = now() - interval '1 second', reservation_id = \(id)
                        WHERE date_id = \(dateID) AND number = \(seat)
                        """)
                    ids.append(id)
                }
                return ids
            }
        }
        let database = TestDatabase.client(poolSize: 4)
        defer { database.shutdown() }
        let sweepers = [HoldSweeper(database: database, batchSize: 7), HoldSweeper(database: database, batchSize: 7)]
        let results = try await withThrowingTaskGroup(of: [String].self) { group in
            for sweeper in sweepers {
                group.addTask {
                    var mine: [String] = []
                    while true {
                        let (expired, _) = try await sweeper.sweepOnce()
                        if expired.isEmpty { break }
                        mine += expired
                    }
                    return mine
                }
            }
            var results: [[String]] = []
            for try await result in group { results.append(result) }
            return results
        }
        let both = Set(results[0]).intersection(results[1])
        #expect(both.isEmpty, "\(both.count) reservations expired by both sweepers")
        #expect(results[0].count == Set(results[0]).count && results[1].count == Set(results[1]).count)
        // Other suites' sweepers may take some of ours; every one of them ends EXPIRED with its seat free.
        let rows = try await database.query(
            "SELECT count(*) FILTER (WHERE status = 'EXPIRED'), count(*) FROM reservations WHERE id = ANY(\("{" + ids.joined(separator: ",") + "}")::uuid[])").first!
        #expect(try rows.decode(Int.self, at: 0) == count)
        let stillHeld = try await database.query(
            "SELECT count(*) FROM seats s JOIN concert_dates d ON d.id = s.date_id WHERE d.concert_id = \(concert.id) AND s.status <> 'AVAILABLE'").first!.decode(Int.self, at: 0)
        #expect(stillHeld == 0)
    }

    @Test("cancel frees the seats at once; a second cancel is 409 RESERVATION_NOT_HELD; someone else's is 404")
    func cancel() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        let date = concert.dates[0]
        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                let users = try await Kit.activeUsers(http, bases, concertID: concert.id, count: 2)
                let (owner, other) = (users[0], users[1])
                let hold = try await Kit.hold(http, bases[0], owner, concertID: concert.id, date: date, seats: [11, 10])
                #expect(hold.status == 201, "\(hold.text)")
                let reservation = try #require(hold.json["reservationId"] as? String)

                Kit.expectProblem(try await http.request(.DELETE, "\(bases[1])/v1/reservations/\(reservation)", token: other.token),
                                  404, "RESERVATION_NOT_FOUND", "someone else's cancel")
                Kit.expectProblem(try await http.request(.GET, "\(bases[1])/v1/reservations/\(reservation)", token: other.token),
                                  404, "RESERVATION_NOT_FOUND", "someone else's read")

                let cancel = try await http.request(.DELETE, "\(bases[1])/v1/reservations/\(reservation)", token: owner.token)
                #expect(cancel.status == 200, "\(cancel.text)")
                #expect(cancel.json["status"] as? String == "CANCELLED")
                #expect(cancel.json["seatNumbers"] as? [Int] == [10, 11])
                #expect(cancel.json["reservationId"] as? String == reservation)

                let map = try await Kit.seatMap(http, bases[0], other, concertID: concert.id, date: date)
                #expect(Kit.status(of: 10, in: map) == "AVAILABLE")
                #expect(Kit.status(of: 11, in: map) == "AVAILABLE")
                // At once, on the other instance too (the Redis lock keys went with the hold).
                let retaken = try await Kit.hold(http, bases[0], other, concertID: concert.id, date: date, seats: [10, 11])
                #expect(retaken.status == 201, "\(retaken.text)")

                Kit.expectProblem(try await http.request(.DELETE, "\(bases[0])/v1/reservations/\(reservation)", token: owner.token),
                                  409, "RESERVATION_NOT_HELD", "second cancel")
                let read = try await http.request(.GET, "\(bases[0])/v1/reservations/\(reservation)", token: owner.token)
                #expect(read.json["status"] as? String == "CANCELLED")
                // The owner may hold again for this concert after cancelling.
                let next = try await Kit.hold(http, bases[1], owner, concertID: concert.id, date: date, seats: [12])
                #expect(next.status == 201, "\(next.text)")
                try await Kit.withDatabase { (database) async throws in
                    #expect(try await Kit.seatsHeldTwice(database, concertID: concert.id) == 0)
                    #expect(try await Kit.seatRowsInconsistent(database, concertID: concert.id) == 0)
                }
            }
        }
    }

    @Test("every reservation error code, as problem+json")
    func errors() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        let other = try await Fixtures.concert(dates: 1)
        let date = concert.dates[0]
        let pastDate = try await Kit.addDate(concertID: concert.id, daysFromToday: -1)
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let base = bases[0]
                let users = try await Kit.activeUsers(http, bases, concertID: concert.id, count: 2)
                let (user, rival) = (users[0], users[1])
                func hold(_ body: Any, token: String? = nil) async throws -> TestHTTPClient.Reply {
                    try await http.request(.POST, "\(base)/v1/reservations", token: token ?? user.token, json: body)
                }
                // Dates.
                for bad in ["2026-1-01", "2026-02-29", "2026-13-01", "24.12.2026", ""] {
                    Kit.expectProblem(try await hold(["concertId": concert.id, "date": bad, "seatNumbers": [1]]), 400, "INVALID_REQUEST", bad)
                }
                Kit.expectProblem(try await hold(["concertId": concert.id, "date": "2099-01-01", "seatNumbers": [1]]), 404, "DATE_NOT_FOUND")
                Kit.expectProblem(try await hold(["concertId": concert.id, "date": pastDate, "seatNumbers": [1]]), 404, "DATE_NOT_FOUND", "past")
                Kit.expectProblem(try await hold(["concertId": concert.id, "date": other.dates[0] == date ? "2099-01-02" : other.dates[0], "seatNumbers": [1]]),
                                  404, "DATE_NOT_FOUND", "other concert's date")
                // Seats.
                for seats in [[0], [51], [1, 1], [1, 2, 3, 4, 5], [], [-3]] {
                    Kit.expectProblem(try await hold(["concertId": concert.id, "date": date, "seatNumbers": seats]), 400, "INVALID_SEAT", "\(seats)")
                }
                // Wrong concert in the body.
                Kit.expectProblem(try await hold(["concertId": other.id, "date": other.dates[0], "seatNumbers": [1]]), 403, "WRONG_CONCERT")
                // Malformed bodies.
                for body in [
                    try await http.request(.POST, "\(base)/v1/reservations", token: user.token, rawBody: Data("{not json".utf8)),
                    try await http.request(.POST, "\(base)/v1/reservations", token: user.token, rawBody: Data()),
                    try await hold(["concertId": concert.id, "date": date]),
                    try await hold(["date": date, "seatNumbers": [1]]),
                    try await hold(["concertId": concert.id, "seatNumbers": [1]]),
                    try await hold(["concertId": "\(concert.id)", "date": date, "seatNumbers": [1]]),
                    try await hold(["concertId": concert.id, "date": date, "seatNumbers": "1"]),
                    try await hold(["concertId": concert.id, "date": date, "seatNumbers": [1.5]]),
                    try await hold(["concertId": concert.id, "date": 20261224, "seatNumbers": [1]]),
                    try await hold([1, 2, 3]),
                ] {
                    Kit.expectProblem(body, 400, "INVALID_REQUEST")
                }
                // Tokens.
                Kit.expectProblem(try await http.request(.POST, "\(base)/v1/reservations", json: ["concertId": concert.id, "date": date, "seatNumbers": [1]]),
                                  401, "TOKEN_INVALID")
                Kit.expectProblem(try await hold(["concertId": concert.id, "date": date, "seatNumbers": [1]], token: "bogus"), 401, "TOKEN_INVALID")

                // Nothing above held anything.
                let clean = try await Kit.seatMap(http, base, user, concertID: concert.id, date: date)
                #expect(clean.allSatisfy { $0.status == "AVAILABLE" })

                // Seat unavailable, all or none.
                let rivalHold = try await hold(["concertId": concert.id, "date": date, "seatNumbers": [21]], token: rival.token)
                #expect(rivalHold.status == 201, "\(rivalHold.text)")
                Kit.expectProblem(try await hold(["concertId": concert.id, "date": date, "seatNumbers": [20, 21]]), 409, "SEAT_UNAVAILABLE")
                let afterConflict = try await Kit.seatMap(http, base, user, concertID: concert.id, date: date)
                #expect(Kit.status(of: 20, in: afterConflict) == "AVAILABLE")

                // Hold limit.
                let first = try await hold(["concertId": concert.id, "date": date, "seatNumbers": [30]])
                #expect(first.status == 201, "\(first.text)")
                Kit.expectProblem(try await hold(["concertId": concert.id, "date": date, "seatNumbers": [31]]), 409, "HOLD_LIMIT")
                let afterLimit = try await Kit.seatMap(http, base, user, concertID: concert.id, date: date)
                #expect(Kit.status(of: 31, in: afterLimit) == "AVAILABLE")

                // Reservation lookups.
                let rivalID = try #require(rivalHold.json["reservationId"] as? String)
                for (id, what) in [(UUID().uuidString.lowercased(), "unknown"), ("not-a-uuid", "malformed"), (rivalID, "someone else's"),
                                   (UUID().uuidString.uppercased(), "unknown upper")] {
                    Kit.expectProblem(try await http.request(.GET, "\(base)/v1/reservations/\(id)", token: user.token), 404, "RESERVATION_NOT_FOUND", what)
                    Kit.expectProblem(try await http.request(.DELETE, "\(base)/v1/reservations/\(id)", token: user.token), 404, "RESERVATION_NOT_FOUND", what)
                }
                // The owner reads their own; an upper-case id is the same reservation.
                let mine = try #require(first.json["reservationId"] as? String)
                let read = try await http.request(.GET, "\(base)/v1/reservations/\(mine.uppercased())", token: user.token)
                #expect(read.status == 200, "\(read.text)")
                #expect(read.json["status"] as? String == "HELD")
                #expect(read.json["amount"] as? Int == 40_000)
                let rivalRead = try await http.request(.GET, "\(base)/v1/reservations/\(rivalID)", token: rival.token)
                #expect(rivalRead.json["seatNumbers"] as? [Int] == [21])
            }
        }
    }

    @Test("a hold keeps the token ACTIVE until the hold's expiresAt (ACTIVE_SECONDS=2, HOLD_SECONDS=10): after 3 s it can still pay")
    func holdExtendsActiveWindow() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await TestStack.withInstances(2, environment: ["ACTIVE_SECONDS": "2", "HOLD_SECONDS": "10"]) { bases in
            try await TestHTTPClient.with { http in
                let users = try await Kit.activeUsers(http, bases, concertID: concert.id, count: 2)
                let (holder, idle) = (users[0], users[1])
                // Any instance's promoter in this test process may have admitted these tokens, other
                // suites' instances with ACTIVE_SECONDS=300 included: set both windows to 2 s from now.
                let windowEnd = Date().addingTimeInterval(2)
                try await Kit.withRedis { (redis) async throws in
                    let keys = QueueKeys(concertID: concert.id)
                    let until = Int(windowEnd.timeIntervalSince1970 * 1000)
                    for user in users {
                        let reply = try await redis.send(["ZADD", RedisArgument(keys.active), "XX", "CH", RedisArgument(until), RedisArgument(user.token)]).checked()
                        #expect(reply.int == 1)
                    }
                }
                let hold = try await Kit.hold(http, bases[0], holder, concertID: concert.id, date: concert.dates[0], seats: [1])
                // The window is extended before anything is held: a hold is either payable (201) or,
                // when the window ended first (a very slow run), refused with nothing held.
                if hold.status == 401 {
                    Kit.expectProblem(hold, 401, "TOKEN_EXPIRED", "hold after the window ended")
                    #expect(Date() >= windowEnd.addingTimeInterval(-0.5), "refused although the window was open")
                    return
                }
                #expect(hold.status == 201, "\(hold.text)")
                let expiresAt = try #require(Kit.parseTime(hold.json["expiresAt"] as? String))
                let status = try await http.request(.GET, "\(bases[1])/v1/queue/status", token: holder.token)
                let activeUntil = try #require(Kit.parseTime(status.json["activeUntil"] as? String), "\(status.text)")
                #expect(activeUntil >= expiresAt.addingTimeInterval(-0.001), "activeUntil \(activeUntil) < expiresAt \(expiresAt)")

                try await Task.sleep(for: .seconds(3))
                let later = try await http.request(.GET, "\(bases[1])/v1/queue/status", token: holder.token)
                #expect(later.json["status"] as? String == "ACTIVE", "\(later.text)")
                // The user without a hold timed out meanwhile.
                let idleStatus = try await http.request(.GET, "\(bases[0])/v1/queue/status", token: idle.token)
                Kit.expectProblem(idleStatus, 401, "TOKEN_EXPIRED", "idle token")

                let charge = try await http.request(.POST, "\(bases[0])/v1/balance/charge", token: holder.token, json: ["amount": 11_000])
                #expect(charge.status == 200, "\(charge.text)")
                let reservation = try #require(hold.json["reservationId"] as? String)
                let pay = try await http.request(.POST, "\(bases[1])/v1/payments", token: holder.token, json: ["reservationId": reservation])
                #expect(pay.status == 201, "\(pay.text)")
                #expect(pay.json["balance"] as? Int == 0)
            }
        }
    }
}
