import BoxOfficeDomain
import Foundation
import HiredisClient
import NIOConcurrencyHelpers
import Subprocess
import Testing
import TestSupport

/// A live concert's hash slot moves to another master (`scripts/cluster.sh move-slot`, the
/// procedure of `redis-cli --cluster reshard`: IMPORTING / MIGRATING, MIGRATE key by key,
/// SETSLOT NODE) while its fans join, poll, ask again for their token, hold, charge and pay through
/// two instances. Runs only in the cluster pass of `make test`.
@Suite("Redis Cluster slot move under an on-sale", .serialized, .enabled(if: TestEnvironment.clusterSeeds != nil))
struct RedisSlotMoveTests {
    struct Answer: Sendable {
        let at: Double  // seconds since the load started
        let status: Int
        let code: String?
    }

    /// What one fan saw.
    struct Fan: Sendable {
        let user = UUID().uuidString.lowercased()
        /// The token of their first turn in line (the one whose admission order is checked).
        var firstToken: String?
        /// Live tokens the server gave them for one turn that differ from the first it gave: a second token.
        var secondTokens: [String] = []
        var paid = false
        /// The last status of a fan who never paid: 200 while they are in line or admitted.
        var lastStatus = 0
    }

    /// How the slot is moved: `redis-cli --cluster reshard`'s pace (100 keys per MIGRATE, no pause), or
    /// key by key with a pause, which keeps the line's keys split between two masters for seconds.
    struct Pace: Sendable, CustomTestStringConvertible {
        let batch: Int
        let pauseMilliseconds: Int
        var testDescription: String { "\(self.batch) key(s) per MIGRATE, \(self.pauseMilliseconds) ms apart" }
    }

    @Test(
        "moving the slot of a live line: zero 500, nobody gets a second token, nobody is lost, FIFO kept, the move completes",
        arguments: [Pace(batch: 100, pauseMilliseconds: 0), Pace(batch: 1, pauseMilliseconds: 50)])
    func slotMovesDuringOnSale(pace: Pace) async throws {
        let concert = try await Fixtures.concert(dates: 12)
        let keys = QueueKeys(concertID: concert.id)
        let redis = try TestDatabase.redis()
        defer { redis.shutdown() }
        // 25 admissions a second: 400 fans are admitted over 16 s, so the line is long during the move.
        try await redis.send(["HSET", RedisArgument(keys.settings), "admitPerSecond", "25", "activeCapacity", "1000"]).checked()
        let slot = RedisHashSlot.of(keys.sequence)
        let map = try #require(try await redis.cluster?.map())
        let source = try #require(map.master(forSlot: slot))
        let target = try #require(map.masters.first { $0 != source })

        let answers = NIOLockedValueBox<[Answer]>([])
        let fans = NIOLockedValueBox((0..<400).map { _ in Fan() })
        let seats = NIOLockedValueBox(Array(concert.dates.flatMap { date in (1...50).map { (date, $0) } }.shuffled()))
        let start = ContinuousClock.now
        let elapsed: @Sendable () -> Double = { (ContinuousClock.now - start) / .seconds(1) }
        // The load runs until 3 s after the move (at most 40 s), so every fan's last answer comes after it.
        let moveAt = 4.0
        let move = NIOLockedValueBox<(from: Double, to: Double)?>(nil)
        let loadGoesOn: @Sendable () -> Bool = {
            let now = elapsed()
            return now < 40 && (move.withLockedValue { $0 }.map { now < $0.to + 3 } ?? true)
        }

        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                @Sendable func record(_ reply: TestHTTPClient.Reply) -> TestHTTPClient.Reply {
                    answers.withLockedValue { $0.append(Answer(at: elapsed(), status: reply.status, code: reply.code)) }
                    return reply
                }
                @Sendable func fan(_ index: Int) async throws {
                    let base = bases[index % 2], other = bases[(index + 1) % 2]
                    let user = fans.withLockedValue { $0[index].user }
                    try await Task.sleep(for: .milliseconds(5 * index))  // arrivals over 2 s
                    var token: String?
                    var round = 0
                    while loadGoesOn() {
                        round += 1
                        // Ask for a token: at first, and again every few polls as a reloaded page does.
                        if token == nil || round % 4 == 0 {
                            let entered = record(try await http.request(
                                .POST, "\(round % 2 == 0 ? other : base)/v1/queue/tokens", json: ["userId": user, "concertId": concert.id]))
                            if entered.status == 201 || entered.status == 200, let issued = entered.json["token"] as? String {
                                if let token, issued != token {
                                    fans.withLockedValue { $0[index].secondTokens.append(issued) }
                                } else if token == nil {
                                    token = issued
                                    fans.withLockedValue { $0[index].firstToken = $0[index].firstToken ?? issued }
                                }
                            }
                        }
                        guard let current = token else {
                            try await Task.sleep(for: .milliseconds(300))
                            continue
                        }
                        let status = record(try await http.request(.GET, "\(base)/v1/queue/status", token: current))
                        fans.withLockedValue { $0[index].lastStatus = status.status }
                        guard status.json["status"] as? String == "ACTIVE" else {
                            try await Task.sleep(for: .milliseconds(300))
                            continue
                        }
                        guard let (date, seat) = seats.withLockedValue({ $0.popLast() }) else { return }
                        let hold = record(try await http.request(
                            .POST, "\(base)/v1/reservations", token: current, json: ["concertId": concert.id, "date": date, "seatNumbers": [seat]]))
                        guard hold.status == 201, let reservation = hold.json["reservationId"] as? String, let amount = hold.json["amount"] as? Int
                        else { continue }
                        _ = record(try await http.request(.POST, "\(other)/v1/balance/charge", token: current, json: ["amount": amount]))
                        let payment = record(try await http.request(
                            .POST, "\(base)/v1/payments", token: current, headers: [("Idempotency-Key", "move-\(reservation)")],
                            json: ["reservationId": reservation]))
                        if payment.status == 201 {
                            fans.withLockedValue { $0[index].paid = true }
                            return
                        }
                    }
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<400 { group.addTask { try await fan(index) } }
                    group.addTask {
                        try await Task.sleep(for: .seconds(moveAt))
                        let began = elapsed()
                        try await TestCluster.moveSlot(slot, to: target.port, batch: pace.batch, pauseMilliseconds: pace.pauseMilliseconds)
                        move.withLockedValue { $0 = (began, elapsed()) }
                    }
                    try await group.waitForAll()
                }
            }
        }

        let window = try #require(move.withLockedValue { $0 })
        let all = answers.withLockedValue { $0 }
        let during = all.filter { $0.at >= window.from && $0.at <= window.to }
        let unavailable = all.filter { $0.status == 503 }
        print(
            "slot move (\(pace.testDescription)): \(String(format: "%.2f", window.to - window.from)) s (\(String(format: "%.2f", window.from))-\(String(format: "%.2f", window.to)) s); "
                + "\(all.count) answers, \(during.count) during the move, \(unavailable.count) × 503 "
                + "(\(unavailable.filter { $0.at >= window.from && $0.at <= window.to + 1.6 }.count) of them within the move + 1.6 s)")
        let failures = all.filter { $0.status >= 500 && $0.status != 503 }
        #expect(failures.isEmpty, "only 503, got \(failures.map { "\($0.status) \($0.code ?? "") at \($0.at)" })")
        #expect(during.filter { $0.status < 300 }.count > 100, "fans were served during the move")

        let outcome = fans.withLockedValue { $0 }
        let secondTokens = outcome.flatMap(\.secondTokens)
        #expect(secondTokens.isEmpty, "second tokens: \(secondTokens.prefix(5))")
        let lost = outcome.filter { !$0.paid && $0.lastStatus != 200 }
        #expect(lost.isEmpty, "\(lost.count) fans lost from the line, last answers \(Set(lost.map(\.lastStatus)))")
        #expect(outcome.filter(\.paid).count > 20, "sales went on: \(outcome.filter(\.paid).count) paid")

        // Admission in arrival order across the move: everyone admitted arrived before everyone still waiting.
        var admitted: [Int] = [], waiting: [Int] = []
        for token in outcome.compactMap(\.firstToken) {
            let fields = try await QueueRig.tokenFields(token, keys: keys, redis: redis)
            guard let seq = fields["seq"].flatMap(Int.init) else { continue }
            if fields["admitted"] != nil { admitted.append(seq) } else { waiting.append(seq) }
        }
        print("slot move: \(admitted.count) admitted, \(waiting.count) still waiting")
        #expect(!admitted.isEmpty && !waiting.isEmpty)
        #expect((admitted.max() ?? 0) < (waiting.min() ?? .max), "admitted out of arrival order")

        #expect(try await TestCluster.owner(ofSlot: slot) == target.port, "the slot lives on its new master")
        let check = try await TestCluster.check()
        #expect(check.contains("All 16384 slots covered") && !check.contains("[WARNING]") && !check.contains("[ERR]"), "\(check)")
        try await MoneyTests.expectHealthy()
    }
}
