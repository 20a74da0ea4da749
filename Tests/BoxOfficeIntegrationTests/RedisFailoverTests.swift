import BoxOfficeDomain
import Foundation
import HiredisClient
import NIOConcurrencyHelpers
import Testing
import TestSupport

private typealias Kit = HoldsTestKit

/// A Redis Cluster master dies (`kill -9`) while fans buy seats through two instances: its replica
/// takes over, the instances follow the new slot map by themselves, and nothing is sold twice.
/// Runs only in the cluster pass of `make test` (it crashes a node of the shared test cluster and
/// brings it back as a replica).
@Suite("Redis Cluster failover under purchases", .serialized, .enabled(if: TestEnvironment.clusterSeeds != nil))
struct RedisFailoverTests {
    struct Answer: Sendable {
        let at: Double  // seconds since the load started
        let status: Int
        let code: String?
    }

    @Test("kill -9 of the concert's master mid-purchase: 503 only, only during the failover, then sales go on; no seat sold twice, money conserved")
    func masterDiesDuringPurchases() async throws {
        let concert = try await Fixtures.concert(dates: 12)
        let redis = try TestDatabase.redis()
        defer { redis.shutdown() }
        let slot = RedisHashSlot.of(QueueKeys(concertID: concert.id).sequence)
        let master = try #require(try await redis.cluster?.map().master(forSlot: slot))

        let answers = NIOLockedValueBox<[Answer]>([])
        // Tokens issued up to the kill, with when they were issued: which of them the failover lost.
        let witnesses = NIOLockedValueBox<[(token: String, at: Double)]>([])
        let seats = NIOLockedValueBox(Array(concert.dates.flatMap { date in (1...50).map { (date, $0) } }.shuffled()))
        let start = ContinuousClock.now
        let elapsed: @Sendable () -> Double = { (ContinuousClock.now - start) / .seconds(1) }
        let killAt = 3.0, loadSeconds = 14.0

        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                @Sendable func record(_ reply: TestHTTPClient.Reply) -> TestHTTPClient.Reply {
                    answers.withLockedValue { $0.append(Answer(at: elapsed(), status: reply.status, code: reply.code)) }
                    return reply
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for fan in 0..<12 {
                        group.addTask {
                            let base = bases[fan % 2]
                            while elapsed() < loadSeconds {
                                // A new token for every purchase (a payment ends the token).
                                let entered = record(try await http.request(
                                    .POST, "\(base)/v1/queue/tokens",
                                    json: ["userId": UUID().uuidString.lowercased(), "concertId": concert.id]))
                                guard entered.status == 201 || entered.status == 200, let token = entered.json["token"] as? String else {
                                    try await Task.sleep(for: .milliseconds(100))
                                    continue
                                }
                                var active = false
                                for _ in 0..<40 where !active {
                                    let status = record(try await http.request(.GET, "\(base)/v1/queue/status", token: token))
                                    active = status.json["status"] as? String == "ACTIVE"
                                    if !active { try await Task.sleep(for: .milliseconds(50)) }
                                }
                                guard active else { continue }
                                guard let (date, seat) = seats.withLockedValue({ $0.popLast() }) else { return }
                                let hold = record(try await http.request(
                                    .POST, "\(base)/v1/reservations", token: token,
                                    json: ["concertId": concert.id, "date": date, "seatNumbers": [seat]]))
                                guard hold.status == 201, let reservation = hold.json["reservationId"] as? String,
                                    let amount = hold.json["amount"] as? Int
                                else { continue }
                                _ = record(try await http.request(.POST, "\(bases[(fan + 1) % 2])/v1/balance/charge", token: token, json: ["amount": amount]))
                                _ = record(try await http.request(
                                    .POST, "\(base)/v1/payments", token: token, headers: [("Idempotency-Key", "failover-\(reservation)")],
                                    json: ["reservationId": reservation]))
                                // A fan's pace: the 600 seats must last past the failover.
                                try await Task.sleep(for: .milliseconds(150))
                            }
                        }
                    }
                    group.addTask {
                        while elapsed() < killAt + 0.5 {
                            let reply = try await http.request(
                                .POST, "\(bases[0])/v1/queue/tokens", json: ["userId": UUID().uuidString.lowercased(), "concertId": concert.id])
                            if reply.status == 201, let token = reply.json["token"] as? String {
                                witnesses.withLockedValue { $0.append((token, elapsed())) }
                            }
                            try await Task.sleep(for: .milliseconds(10))
                        }
                    }
                    group.addTask {
                        try await Task.sleep(for: .seconds(killAt))
                        try await TestCluster.kill(port: master.port)
                    }
                    try await group.waitForAll()
                }
            }
        }
        try await TestCluster.start()  // the old master comes back, as a replica

        // What asynchronous replication lost: tokens whose 201 came before the failover but that the
        // new master does not know (401 TOKEN_INVALID). Only the last instant before the kill can be.
        let issued = witnesses.withLockedValue { $0 }
        let lost = try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                var lost: [Double] = []
                for witness in issued {
                    let reply = try await http.request(.GET, "\(bases[0])/v1/queue/status", token: witness.token)
                    if reply.status == 401 && reply.code == "TOKEN_INVALID" { lost.append(witness.at) }
                }
                return lost
            }
        }
        let beforeKill = issued.filter { $0.at < killAt }.count
        print("failover lost \(lost.count) of \(beforeKill) tokens issued before the kill; issued at \(lost.map { String(format: "%.3f", $0) }) s")
        #expect(beforeKill > 50, "enough witnesses (one every 10 ms plus a round trip, for 3 s)")
        #expect(lost.allSatisfy { $0 > killAt - 1 }, "only tokens of the last second before the kill may be lost")

        let all = answers.withLockedValue { $0 }
        let failures = all.filter { $0.status >= 500 }
        let unexpected = all.filter { $0.status >= 500 && $0.status != 503 }
        #expect(unexpected.isEmpty, "only 503, got \(unexpected.map { "\($0.status) \($0.code ?? "")" })")
        let firstFailure = failures.map(\.at).min() ?? killAt
        let lastFailure = failures.map(\.at).max() ?? killAt
        let window = lastFailure - killAt
        print("failover: \(all.count) answers, \(failures.count) 503s between \(String(format: "%.2f", firstFailure)) s and \(String(format: "%.2f", lastFailure)) s (kill at \(killAt) s): window \(String(format: "%.2f", window)) s")
        #expect(firstFailure >= killAt - 0.05, "no failure before the kill")
        #expect(window < 8, "the instances followed the new master within 8 s")
        let paidBefore = all.filter { $0.at < killAt && $0.status == 201 }.count
        let paidAfter = all.filter { $0.at > lastFailure && $0.status == 201 }.count
        #expect(paidBefore > 0 && paidAfter > 0, "sales before the kill (\(paidBefore)) and after the failover (\(paidAfter))")
        // One request to the slot: the old master, back as a replica, answers MOVED.
        try await redis.send(["GET", RedisArgument(QueueKeys(concertID: concert.id).sequence)]).checked()
        let newMaster = try #require(try await redis.cluster?.map().master(forSlot: slot))
        #expect(newMaster != master, "the replica took over the concert's slot")
        try await MoneyTests.expectHealthy()
    }
}
