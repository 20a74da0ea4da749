import AsyncHTTPClient
import BoxOfficeDomain
import Foundation
import LibpqClient
import Testing
import TestSupport

/// Races on seat holds through two real instances: the Redis fast path rejects most losers,
/// PostgreSQL (FOR UPDATE on the seat rows) is the guard that must hold even without it.
@Suite("Holds: concurrent races never hold a seat twice", .tags(.redisCluster, .postgresHA))
struct HoldsRaceTests {
    typealias Kit = HoldsTestKit

    @Test("500 concurrent holds of one seat across two instances: exactly one 201, every other 409 SEAT_UNAVAILABLE")
    func fiveHundredOnOneSeat() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        let date = concert.dates[0]
        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                let users = try await Kit.activeUsers(http, bases, concertID: concert.id, count: 500)
                #expect(Set(users.map(\.userID)).count == 500)
                let replies = try await withThrowingTaskGroup(of: TestHTTPClient.Reply.self) { group in
                    for (index, user) in users.enumerated() {
                        group.addTask { try await Kit.hold(http, bases[index % 2], user, concertID: concert.id, date: date, seats: [25]) }
                    }
                    var replies: [TestHTTPClient.Reply] = []
                    for try await reply in group { replies.append(reply) }
                    return replies
                }
                let created = replies.filter { $0.status == 201 }
                let conflicts = replies.filter { $0.status == 409 && $0.code == "SEAT_UNAVAILABLE" }
                let serverErrors = replies.filter { $0.status >= 500 }
                #expect(created.count == 1)
                #expect(conflicts.count == 499)
                #expect(serverErrors.isEmpty, "\(serverErrors.prefix(3).map(\.text))")
                let others = replies.filter { $0.status != 201 && !($0.status == 409 && $0.code == "SEAT_UNAVAILABLE") }
                #expect(others.isEmpty, "\(others.prefix(3).map { "\($0.status) \($0.text)" })")
                #expect(created.first?.json["seatNumbers"] as? [Int] == [25])
                #expect(created.first?.json["amount"] as? Int == 35_000)

                try await Kit.withDatabase { (database) async throws in
                    let live = try await database.query(
                        """
                        SELECT count(*) FROM reservations r JOIN reservation_seats rs ON rs.reservation_id = r.id
                        WHERE r.concert_id = \(concert.id) AND r.status = 'HELD' AND rs.seat_number = 25
                        """).first!.decode(Int.self, at: 0)
                    #expect(live == 1)
                    #expect(try await Kit.seatsHeldTwice(database, concertID: concert.id) == 0)
                    #expect(try await Kit.seatRowsInconsistent(database, concertID: concert.id) == 0)
                }
                let map = try await Kit.seatMap(http, bases[0], users[0], concertID: concert.id, date: date)
                #expect(map.filter { $0.status != "AVAILABLE" }.map(\.number) == [25])
            }
        }
    }

    @Test("overlapping multi-seat holds ([n, n+1] against [n+1, n+2]), 256 pairs at once: never both granted, no 5xx")
    func overlappingPairs() async throws {
        let concert = try await Fixtures.concert(dates: 16)
        // 16 disjoint triples per date: (1,2,3), (4,5,6), ... (46,47,48).
        let triples = stride(from: 1, through: 46, by: 3).map { $0 }
        struct Pair: Sendable { let date: String; let first: Int }
        let pairs = concert.dates.flatMap { date in triples.map { Pair(date: date, first: $0) } }
        #expect(pairs.count == 256)
        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                let users = try await Kit.activeUsers(http, bases, concertID: concert.id, count: pairs.count * 2)
                let outcomes = try await withThrowingTaskGroup(of: (Int, Int, TestHTTPClient.Reply).self) { group in
                    for (index, pair) in pairs.enumerated() {
                        // Send the two sides to different instances, in both orders.
                        group.addTask {
                            (index, 0, try await Kit.hold(http, bases[index % 2], users[2 * index], concertID: concert.id,
                                                          date: pair.date, seats: [pair.first + 1, pair.first]))
                        }
                        group.addTask {
                            (index, 1, try await Kit.hold(http, bases[(index + 1) % 2], users[2 * index + 1], concertID: concert.id,
                                                          date: pair.date, seats: [pair.first + 1, pair.first + 2]))
                        }
                    }
                    var outcomes = Array(repeating: [TestHTTPClient.Reply?](repeating: nil, count: 2), count: pairs.count)
                    for try await (index, side, reply) in group { outcomes[index][side] = reply }
                    return outcomes
                }
                var bothGranted = 0, noneGranted = 0, unexpected: [String] = []
                for sides in outcomes {
                    let replies = sides.compactMap { $0 }
                    let granted = replies.filter { $0.status == 201 }.count
                    if granted == 2 { bothGranted += 1 }
                    if granted == 0 { noneGranted += 1 }
                    for reply in replies where reply.status != 201 && !(reply.status == 409 && reply.code == "SEAT_UNAVAILABLE") {
                        unexpected.append("\(reply.status) \(reply.text)")
                    }
                }
                #expect(bothGranted == 0)
                #expect(unexpected.isEmpty, "\(unexpected.count) unexpected replies, e.g. \(unexpected.prefix(3))")
                // The Redis script takes all keys or none atomically, so one side of every pair wins.
                #expect(noneGranted == 0)
                try await Kit.withDatabase { (database) async throws in
                    #expect(try await Kit.seatsHeldTwice(database, concertID: concert.id) == 0)
                    #expect(try await Kit.seatRowsInconsistent(database, concertID: concert.id) == 0)
                    let heldSeats = try await database.query(
                        """
                        SELECT count(*) FROM seats s JOIN concert_dates d ON d.id = s.date_id
                        WHERE d.concert_id = \(concert.id) AND s.status = 'HELD'
                        """).first!.decode(Int.self, at: 0)
                    #expect(heldSeats == 2 * (pairs.count - noneGranted))
                }
            }
        }
    }

    @Test("with the Redis seat locks deleted during and before a race, PostgreSQL still never holds a seat twice")
    func redisLocksDeleted() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        let date = concert.dates[0]
        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                try await Kit.withRedis { (redis) async throws in
                    try await Kit.withDatabase { (database) async throws in
                        let users = try await Kit.activeUsers(http, bases, concertID: concert.id, count: 300)
                        // Round 1: 200 users each want two of seats 1...6 while a task keeps deleting the lock keys.
                        let round1 = Array(users.prefix(200))
                        let deleter = Task {
                            var deleted = 0
                            while !Task.isCancelled {
                                deleted += (try? await Kit.deleteSeatLocks(redis, concertID: concert.id)) ?? 0
                                try? await Task.sleep(for: .milliseconds(1))
                            }
                            return deleted
                        }
                        let replies = try await withThrowingTaskGroup(of: ([Int], TestHTTPClient.Reply).self) { group in
                            for (index, user) in round1.enumerated() {
                                // Two distinct seats of 1...6, overlapping with many other users' choices.
                                let first = index % 6 + 1
                                let second = (index / 6 + first) % 6 + 1
                                let seats = second == first ? [first, first % 6 + 1] : [first, second]
                                group.addTask { (seats, try await Kit.hold(http, bases[index % 2], user, concertID: concert.id, date: date, seats: seats)) }
                            }
                            var replies: [([Int], TestHTTPClient.Reply)] = []
                            for try await reply in group { replies.append(reply) }
                            return replies
                        }
                        deleter.cancel()
                        let deletedKeys = await deleter.value
                        let granted = replies.filter { $0.1.status == 201 }.map(\.0)
                        let unexpected = replies.filter { $0.1.status != 201 && !($0.1.status == 409 && $0.1.code == "SEAT_UNAVAILABLE") }
                        #expect(unexpected.isEmpty, "\(unexpected.prefix(3).map { "\($0.1.status) \($0.1.text)" })")
                        #expect(!granted.isEmpty)
                        let grantedSeats = granted.flatMap { $0 }
                        #expect(Set(grantedSeats).count == grantedSeats.count, "granted \(granted)")
                        #expect(try await Kit.seatsHeldTwice(database, concertID: concert.id) == 0)
                        #expect(try await Kit.seatRowsInconsistent(database, concertID: concert.id) == 0)

                        // Round 2: delete every key first; 100 new users want every held seat: all 409, nothing new held.
                        try await Kit.deleteSeatLocks(redis, concertID: concert.id)
                        #expect(try await Kit.seatLockKeys(redis, concertID: concert.id).isEmpty)
                        let heldBefore = try await database.query(
                            "SELECT count(*) FROM reservations WHERE concert_id = \(concert.id) AND status = 'HELD'").first!.decode(Int.self, at: 0)
                        let round2 = Array(users.suffix(100))
                        let targets = grantedSeats.sorted()
                        let replies2 = try await withThrowingTaskGroup(of: TestHTTPClient.Reply.self) { group in
                            for (index, user) in round2.enumerated() {
                                let seat = targets[index % targets.count]
                                group.addTask { try await Kit.hold(http, bases[index % 2], user, concertID: concert.id, date: date, seats: [seat]) }
                            }
                            var replies: [TestHTTPClient.Reply] = []
                            for try await reply in group { replies.append(reply) }
                            return replies
                        }
                        #expect(replies2.allSatisfy { $0.status == 409 && $0.code == "SEAT_UNAVAILABLE" },
                                "\(replies2.filter { $0.status != 409 }.prefix(3).map { "\($0.status) \($0.text)" })")
                        let heldAfter = try await database.query(
                            "SELECT count(*) FROM reservations WHERE concert_id = \(concert.id) AND status = 'HELD'").first!.decode(Int.self, at: 0)
                        #expect(heldAfter == heldBefore)
                        #expect(try await Kit.seatsHeldTwice(database, concertID: concert.id) == 0)
                        // Losers must not leave lock keys behind that belong to no hold.
                        let leftover = try await Kit.seatLockKeys(redis, concertID: concert.id)
                        #expect(leftover.isEmpty, "\(leftover)")
                        _ = deletedKeys
                    }
                }
            }
        }
    }
}
