import AsyncHTTPClient
import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import LibpqClient
import Testing
import TestSupport

@Suite("Catalog: concerts, bookable dates, seat maps and their errors", .tags(.redisCluster))
struct CatalogTests {
    typealias Kit = HoldsTestKit

    @Test("GET /v1/concerts lists the fixture concert without a token")
    func concertList() async throws {
        let concert = try await Fixtures.concert()
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let reply = try await http.request(.GET, "\(bases[0])/v1/concerts")
                #expect(reply.status == 200, "\(reply.text)")
                #expect(reply.headers.first(name: "content-type")?.hasPrefix("application/json") == true)
                let concerts = try #require(reply.json["concerts"] as? [[String: Any]])
                let mine = try #require(concerts.first { $0["id"] as? Int == concert.id })
                #expect(mine["title"] as? String == "Test concert \(concert.id)")
                #expect(mine["artist"] as? String == "Test artist")
                let ids = concerts.compactMap { $0["id"] as? Int }
                #expect(ids == ids.sorted())
            }
        }
    }

    @Test("dates lists only future dates with a free seat; a fully held date disappears, a past one never shows")
    func dates() async throws {
        let concert = try await Fixtures.concert(dates: 2)
        // A past date with free seats must never be listed.
        try await Kit.withDatabase { (database) async throws in
            try await database.transaction { connection in
                _ = try Seeder.addDate(connection, concertID: concert.id, daysFromToday: -3, prices: Array(repeating: 5_000, count: 50))
            }
        }
        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                let users = try await Kit.activeUsers(http, bases, concertID: concert.id, count: 13)
                let viewer = users[12]
                let before = try await http.request(.GET, "\(bases[0])/v1/concerts/\(concert.id)/dates", token: viewer.token)
                #expect(before.status == 200, "\(before.text)")
                #expect(before.json["concertId"] as? Int == concert.id)
                let listed = (before.json["dates"] as? [[String: Any]] ?? []).map { ($0["date"] as? String ?? "", $0["availableSeats"] as? Int ?? -1) }
                #expect(listed.map(\.0) == concert.dates)
                #expect(listed.map(\.1) == [50, 50])

                // Hold all 50 seats of the first date through 12 users at most 4 seats each, then 2 more.
                let chunks = stride(from: 1, through: 50, by: 4).map { Array($0...min($0 + 3, 50)) }
                #expect(chunks.count == 13)
                for (index, chunk) in chunks.prefix(12).enumerated() {
                    let reply = try await Kit.hold(http, bases[index % 2], users[index], concertID: concert.id, date: concert.dates[0], seats: chunk)
                    #expect(reply.status == 201, "\(reply.text)")
                }
                let partly = try await http.request(.GET, "\(bases[1])/v1/concerts/\(concert.id)/dates", token: viewer.token)
                let partlyListed = (partly.json["dates"] as? [[String: Any]] ?? []).map { ($0["date"] as? String ?? "", $0["availableSeats"] as? Int ?? -1) }
                #expect(partlyListed.map(\.0) == concert.dates)
                #expect(partlyListed.map(\.1) == [2, 50])
                let last = try await Kit.hold(http, bases[0], viewer, concertID: concert.id, date: concert.dates[0], seats: chunks[12])
                #expect(last.status == 201, "\(last.text)")

                let after = try await http.request(.GET, "\(bases[1])/v1/concerts/\(concert.id)/dates", token: users[0].token)
                #expect(after.status == 200)
                let afterListed = (after.json["dates"] as? [[String: Any]] ?? []).map { ($0["date"] as? String ?? "", $0["availableSeats"] as? Int ?? -1) }
                #expect(afterListed.map(\.0) == [concert.dates[1]])
                #expect(afterListed.map(\.1) == [50])

                // Cancelling one hold brings the date back with that many seats.
                let reservation = try #require(last.json["reservationId"] as? String)
                let cancel = try await http.request(.DELETE, "\(bases[0])/v1/reservations/\(reservation)", token: viewer.token)
                #expect(cancel.status == 200, "\(cancel.text)")
                let back = try await http.request(.GET, "\(bases[0])/v1/concerts/\(concert.id)/dates", token: viewer.token)
                let backListed = (back.json["dates"] as? [[String: Any]] ?? []).map { ($0["date"] as? String ?? "", $0["availableSeats"] as? Int ?? -1) }
                #expect(backListed.map(\.0) == concert.dates)
                #expect(backListed.map(\.1) == [2, 50])
            }
        }
    }

    @Test("a date whose seats are all SOLD (set in SQL) is not listed")
    func soldOutDate() async throws {
        let concert = try await Fixtures.concert(dates: 2)
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let user = try await Kit.activeUser(http, bases[0], concertID: concert.id)
                // A HELD-but-lapsed seat counts as free, a live HELD one does not.
                try await Kit.withDatabase { (database) async throws in
                    try await database.query(
                        """
                        UPDATE seats SET status = 'HELD', held_until = now() + interval '1 hour', reservation_id = gen_random_uuid()
                        WHERE date_id = (SELECT id FROM concert_dates WHERE concert_id = \(concert.id) AND date = \(concert.dates[1])::date) AND number < 50
                        """)
                    try await database.query(
                        """
                        UPDATE seats SET status = 'HELD', held_until = now() - interval '1 second', reservation_id = gen_random_uuid()
                        WHERE date_id = (SELECT id FROM concert_dates WHERE concert_id = \(concert.id) AND date = \(concert.dates[1])::date) AND number = 50
                        """)
                }
                let lapsedOne = try await http.request(.GET, "\(bases[0])/v1/concerts/\(concert.id)/dates", token: user.token)
                let lapsedListed = (lapsedOne.json["dates"] as? [[String: Any]] ?? []).map { ($0["date"] as? String ?? "", $0["availableSeats"] as? Int ?? -1) }
                #expect(lapsedListed.map(\.0) == concert.dates, "\(lapsedOne.text)")
                #expect(lapsedListed.map(\.1) == [50, 1])
                _ = try await Kit.withDatabase { (database) async throws in
                    try await database.query(
                        """
                        UPDATE seats SET status = 'HELD', held_until = now() + interval '1 hour', reservation_id = gen_random_uuid()
                        WHERE date_id = (SELECT id FROM concert_dates WHERE concert_id = \(concert.id) AND date = \(concert.dates[1])::date) AND number = 50
                        """)
                }
                let none = try await http.request(.GET, "\(bases[0])/v1/concerts/\(concert.id)/dates", token: user.token)
                let noneListed = (none.json["dates"] as? [[String: Any]] ?? []).compactMap { $0["date"] as? String }
                #expect(noneListed == [concert.dates[0]], "\(none.text)")
                // Tidy up so no seat is HELD without a reservation (the sweeper frees them in an hour anyway).
                _ = try await Kit.withDatabase { (database) async throws in
                    try await database.query(
                        """
                        UPDATE seats SET status = 'AVAILABLE', held_until = NULL, reservation_id = NULL
                        WHERE date_id = (SELECT id FROM concert_dates WHERE concert_id = \(concert.id) AND date = \(concert.dates[1])::date)
                        """)
                }
            }
        }
    }

    @Test("prices beyond 32 bits (3,000,000,000 won and up) are stored, listed and held as they are")
    func largePrices() async throws {
        let concert = try await Fixtures.concert(dates: 1, price: { 3_000_000_000 + $0 })
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let user = try await Kit.activeUser(http, bases[0], concertID: concert.id)
                let map = try await Kit.seatMap(http, bases[0], user, concertID: concert.id, date: concert.dates[0])
                #expect(map.map(\.price) == (1...50).map { 3_000_000_000 + $0 })
                let hold = try await Kit.hold(http, bases[0], user, concertID: concert.id, date: concert.dates[0], seats: [1, 2])
                #expect(hold.status == 201, "\(hold.text)")
                #expect(hold.json["amount"] as? Int == 6_000_000_003)
            }
        }
    }

    @Test("seat map: all 50 seats in order with price and status; a lapsed hold reads AVAILABLE at once")
    func seatMap() async throws {
        let concert = try await Fixtures.concert()
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let users = try await Kit.activeUsers(http, bases, concertID: concert.id, count: 2)
                let hold = try await Kit.hold(http, bases[0], users[0], concertID: concert.id, date: concert.dates[0], seats: [9, 3])
                #expect(hold.status == 201, "\(hold.text)")
                let reply = try await http.request(.GET, "\(bases[0])/v1/concerts/\(concert.id)/dates/\(concert.dates[0])/seats", token: users[1].token)
                #expect(reply.status == 200)
                #expect(reply.json["concertId"] as? Int == concert.id)
                #expect(reply.json["date"] as? String == concert.dates[0])
                let map = try await Kit.seatMap(http, bases[0], users[1], concertID: concert.id, date: concert.dates[0])
                #expect(map.map(\.number) == Array(1...50))
                #expect(map.map(\.price) == (1...50).map { 10_000 + $0 * 1_000 })
                #expect(map.filter { $0.status == "HELD" }.map(\.number) == [3, 9])
                #expect(map.filter { $0.status == "AVAILABLE" }.count == 48)

                // Make the hold lapse in the table (no sweeper needed): it reads AVAILABLE at once.
                let reservation = try #require(hold.json["reservationId"] as? String)
                try await Kit.withDatabase { (database) async throws in
                    try await database.query(
                        "UPDATE reservations SET expires_at = now() - interval '1 second' WHERE id = \(reservation)")
                    try await database.query(
                        "UPDATE seats SET held_until = now() - interval '1 second' WHERE reservation_id = \(reservation) AND status = 'HELD'")
                }
                let lapsed = try await Kit.seatMap(http, bases[0], users[1], concertID: concert.id, date: concert.dates[0])
                #expect(lapsed.allSatisfy { $0.status == "AVAILABLE" }, "\(lapsed.filter { $0.status != "AVAILABLE" })")
                let gone = try await http.request(.GET, "\(bases[0])/v1/reservations/\(reservation)", token: users[0].token)
                #expect(gone.json["status"] as? String == "EXPIRED", "\(gone.text)")
            }
        }
    }

    @Test("catalog errors: bad dates, unknown and past dates, wrong concert, bad concert id, missing or bad token")
    func errors() async throws {
        let concert = try await Fixtures.concert()
        let other = try await Fixtures.concert(dates: 1)
        let pastDate = try await Kit.withDatabase { (database) async throws in
            try await database.transaction { connection -> String in
                _ = try Seeder.addDate(connection, concertID: concert.id, daysFromToday: -2, prices: Array(repeating: 5_000, count: 50))
                return try connection.query("SELECT (current_date - 2)::text").first!.decode(String.self, at: 0)
            }
        }
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let base = bases[0]
                let user = try await Kit.activeUser(http, base, concertID: concert.id)
                let seats = "\(base)/v1/concerts/\(concert.id)/dates"
                for bad in ["2026-1-01", "2026-02-29", "2026-13-01", "tomorrow", "2026-02-30", "99999-01-01", "2026-01-01x"] {
                    Kit.expectProblem(try await http.request(.GET, "\(seats)/\(bad)/seats", token: user.token), 400, "INVALID_REQUEST", bad)
                }
                Kit.expectProblem(try await http.request(.GET, "\(seats)/2099-01-01/seats", token: user.token), 404, "DATE_NOT_FOUND", "no schedule")
                Kit.expectProblem(try await http.request(.GET, "\(seats)/\(pastDate)/seats", token: user.token), 404, "DATE_NOT_FOUND", "past")

                // Token for another concert.
                Kit.expectProblem(try await http.request(.GET, "\(base)/v1/concerts/\(other.id)/dates", token: user.token), 403, "WRONG_CONCERT")
                Kit.expectProblem(
                    try await http.request(.GET, "\(base)/v1/concerts/\(other.id)/dates/\(other.dates[0])/seats", token: user.token),
                    403, "WRONG_CONCERT"
                )
                // Malformed concert id, missing and unknown tokens.
                Kit.expectProblem(try await http.request(.GET, "\(base)/v1/concerts/abc/dates", token: user.token), 400, "INVALID_REQUEST")
                Kit.expectProblem(try await http.request(.GET, "\(seats)"), 401, "TOKEN_INVALID")
                Kit.expectProblem(try await http.request(.GET, "\(seats)", token: "nonsense"), 401, "TOKEN_INVALID")
            }
        }
    }
}
