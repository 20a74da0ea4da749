import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import HiredisClient
import Testing
import TestSupport

/// Docs/api.md, Reservations: only a hold that succeeds extends the token's active window, and never
/// past admission + ACTIVE_SECONDS + HOLD_SECONDS + margin. Before this rule a user who sent a
/// failing hold every few seconds stayed ACTIVE for as long as they kept sending.
@Suite("Active window rule: refused holds, cancels and hold/cancel cycles cannot keep a slot", .tags(.redisCluster, .postgresHA))
struct ActiveWindowRuleTests {
    typealias Kit = HoldsTestKit

    static let activeSeconds = 2
    static let holdSeconds = 3
    /// How late after its due time the end of a window may be seen: promotion ticks every 50 ms,
    /// polls every 250 ms, and a busy test machine.
    static let slack = 1.5

    /// A concert whose windows last `activeSeconds` whichever instance admits (the concert's
    /// queue settings win over an instance's ACTIVE_SECONDS).
    static func concert() async throws -> Fixtures.Concert {
        let concert = try await Fixtures.concert(dates: 1)
        _ = try await Kit.withRedis { (redis) async throws in
            try await redis.send(["HSET", RedisArgument(QueueKeys(concertID: concert.id).settings), "activeSeconds", RedisArgument(Self.activeSeconds)])
                .checked()
        }
        return concert
    }

    /// The end of the window the admission gave (ms since 1970, Redis clock).
    static func admittedUntil(_ token: String, concertID: Int) async throws -> Date {
        try await Kit.withRedis { (redis) async throws in
            let fields = try await QueueRig.tokenFields(token, keys: QueueKeys(concertID: concertID), redis: redis)
            let milliseconds = try #require(fields["admittedUntil"].flatMap(Int.init), "no admittedUntil: \(fields)")
            return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        }
    }

    /// Runs `step` every 250 ms until the token's status reads 401 TOKEN_EXPIRED; returns when.
    static func sendUntilEnded(
        _ http: TestHTTPClient, _ base: String, _ user: Kit.User, limit: Duration = .seconds(25), _ step: () async throws -> Void
    ) async throws -> Date {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let status = try await http.request(.GET, "\(base)/v1/queue/status", token: user.token)
            if status.status == 401 { return Date() }
            try await step()
            try await Task.sleep(for: .milliseconds(250))
        }
        throw TestServerError("token \(user.token) still ACTIVE after \(limit)")
    }

    @Test("the 404 loop and the HOLD_LIMIT loop lose ACTIVE when the rules say; the hold/cancel loop at admission + ACTIVE + HOLD + margin")
    func abusersLoseTheirSlot() async throws {
        let concert = try await Self.concert()
        let date = concert.dates[0]
        try await TestStack.withInstances(2, environment: ["HOLD_SECONDS": String(Self.holdSeconds)]) { bases in
            try await TestHTTPClient.with { http in
                let users = try await Kit.activeUsers(http, bases, concertID: concert.id, count: 3)
                let margin = Double(ReservationService.activeWindowMarginSeconds)
                var admitted: [Date] = []
                for user in users { admitted.append(try await Self.admittedUntil(user.token, concertID: concert.id)) }

                // 1. Holds for a date that is not on sale: 404 every time, and no extension.
                async let notFoundEnded = Self.sendUntilEnded(http, bases[0], users[0]) {
                    let reply = try await Kit.hold(http, bases[0], users[0], concertID: concert.id, date: "2099-01-01", seats: [1])
                    #expect(reply.status == 404 || reply.status == 401, "\(reply.text)")
                }
                // 2. One hold, then HOLD_LIMIT again and again (and a new hold whenever the last one
                // lapsed): the refusals never extend.
                let first = try await Kit.hold(http, bases[1], users[1], concertID: concert.id, date: date, seats: [1])
                #expect(first.status == 201, "\(first.text)")
                let limitAnswers = QueueTestFlag()
                limitAnswers.value = false
                async let holdLimitEnded = Self.sendUntilEnded(http, bases[1], users[1]) {
                    let reply = try await Kit.hold(http, bases[1], users[1], concertID: concert.id, date: date, seats: [2])
                    if reply.code == "HOLD_LIMIT" { limitAnswers.value = true }
                    #expect(reply.status == 409 || reply.status == 401 || reply.status == 201, "\(reply.text)")
                }
                // 3. Hold and cancel, over and over: every hold succeeds, the cap still holds.
                async let cycleEnded = Self.sendUntilEnded(http, bases[0], users[2]) {
                    let hold = try await Kit.hold(http, bases[0], users[2], concertID: concert.id, date: date, seats: [3])
                    guard hold.status == 201, let id = hold.json["reservationId"] as? String else { return }
                    _ = try await http.request(.DELETE, "\(bases[0])/v1/reservations/\(id)", token: users[2].token)
                }

                let ends = try await (notFoundEnded, holdLimitEnded, cycleEnded)
                let cap = { (index: Int) in admitted[index].addingTimeInterval(Double(Self.holdSeconds) + margin) }
                // Refused holds never extended: the window ended where the admission put it.
                #expect(ends.0 <= admitted[0].addingTimeInterval(Self.slack), "404 loop ended \(ends.0), window \(admitted[0])")
                #expect(limitAnswers.value, "the HOLD_LIMIT loop never met the limit")
                #expect(ends.1 <= cap(1).addingTimeInterval(Self.slack), "HOLD_LIMIT loop ended \(ends.1), cap \(cap(1))")
                // Successful holds extend, but never past the cap.
                #expect(ends.2 <= cap(2).addingTimeInterval(Self.slack), "hold/cancel loop ended \(ends.2), cap \(cap(2))")
                #expect(ends.2 >= admitted[2], "hold/cancel loop ended before its admission window")
            }
        }
    }

    @Test("an honest hold made in the last second of the window is still payable until its expiry")
    func lastSecondHoldIsPayable() async throws {
        let concert = try await Self.concert()
        try await TestStack.withInstances(2, environment: ["HOLD_SECONDS": String(Self.holdSeconds)]) { bases in
            try await TestHTTPClient.with { http in
                let user = try await Kit.activeUser(http, bases[0], concertID: concert.id)
                let charge = try await http.request(.POST, "\(bases[0])/v1/balance/charge", token: user.token, json: ["amount": 100_000])
                #expect(charge.status == 200, "\(charge.text)")
                let windowEnd = try await Self.admittedUntil(user.token, concertID: concert.id)
                try await Task.sleep(for: .seconds(max(0, windowEnd.timeIntervalSinceNow - 0.7)))

                let hold = try await Kit.hold(http, bases[1], user, concertID: concert.id, date: concert.dates[0], seats: [9])
                if hold.status == 401 {
                    // A very slow run reached the end of the window first: nothing may be held then.
                    #expect(Date() >= windowEnd.addingTimeInterval(-0.3), "refused although the window was open: \(hold.text)")
                    return
                }
                #expect(hold.status == 201, "\(hold.text)")
                let expiresAt = try #require(Kit.parseTime(hold.json["expiresAt"] as? String))
                #expect(expiresAt.timeIntervalSince(windowEnd) >= Double(Self.holdSeconds) - 1.5)
                let reservation = try #require(hold.json["reservationId"] as? String)

                try await Task.sleep(for: .seconds(max(0, expiresAt.timeIntervalSinceNow - 0.6)))
                let pay = try await http.request(.POST, "\(bases[0])/v1/payments", token: user.token, json: ["reservationId": reservation])
                #expect(pay.status == 201, "paid \(expiresAt.timeIntervalSinceNow) s before expiry: \(pay.text)")
            }
        }
    }
}
