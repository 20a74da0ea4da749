import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import HiredisClient
import NIOConcurrencyHelpers
import Testing
import TestSupport

/// A Redis Cluster master dies (`kill -9`) while fans buy seats through two instances: its replica
/// takes over, the instances follow the new slot map by themselves, and nothing is sold twice.
/// Runs only in the cluster pass of `make test` (it crashes a node of the shared test cluster and
/// brings it back as a replica).
@Suite("Redis Cluster failover under purchases", .serialized, .enabled(if: TestEnvironment.clusterSeeds != nil), .tags(.redisCluster))
struct RedisFailoverTests {
    @Test("kill -9 of the concert's master mid-purchase: 503 only, only during the failover, then sales go on; no seat sold twice, money conserved")
    func masterDiesDuringPurchases() async throws {
        let concert = try await Fixtures.concert(dates: 12)
        let redis = try TestDatabase.redis()
        defer { redis.shutdown() }
        let slot = RedisHashSlot.of(QueueKeys(concertID: concert.id).sequence)
        let master = try #require(try await redis.cluster?.map().master(forSlot: slot))
        let killAt = 3.0

        // Tokens issued up to the kill, with when they were issued: which of them the failover lost.
        let witnesses = NIOLockedValueBox<[(token: String, at: Double)]>([])
        let (outcome, issued) = try await TestStack.withInstances(2) { bases in
            async let outcome = PurchaseRush(seconds: 14).run(concert: concert, bases: bases, faultAt: killAt) {
                try await TestCluster.kill(port: master.port)
            }
            let start = ContinuousClock.now
            try await TestHTTPClient.with { http in
                while ContinuousClock.now - start < .seconds(killAt + 0.5) {
                    let reply = try await http.request(
                        .POST, "\(bases[0])/v1/queue/tokens", json: ["userId": UUID().uuidString.lowercased(), "concertId": concert.id])
                    if reply.status == 201, let token = reply.json["token"] as? String {
                        witnesses.withLockedValue { $0.append((token, (ContinuousClock.now - start) / .seconds(1))) }
                    }
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            return (try await outcome, witnesses.withLockedValue { $0 })
        }
        try await TestCluster.start()  // the old master comes back, as a replica

        // What asynchronous replication lost: tokens whose 201 came before the failover but that the
        // new master does not know (401 TOKEN_INVALID). Only the last instant before the kill can be.
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

        print("failover: \(outcome.summary(fault: killAt))")
        let failures = outcome.failures
        #expect(failures.allSatisfy { $0.at >= killAt - 0.05 }, "no failure before the kill")
        let window = (failures.map(\.at).max() ?? killAt) - killAt
        #expect(window < 8, "the instances followed the new master within 8 s, not \(window) s")
        let paid = outcome.answers.filter { $0.step == .pay && $0.status == 201 }
        let paidBefore = paid.filter { $0.at < killAt }.count, paidAfter = paid.filter { $0.at > killAt + window }.count
        #expect(paidBefore > 0 && paidAfter > 0, "sales before the kill (\(paidBefore)) and after the failover (\(paidAfter))")
        // One request to the slot: the old master, back as a replica, answers MOVED.
        try await redis.send(["GET", RedisArgument(QueueKeys(concertID: concert.id).sequence)]).checked()
        let newMaster = try #require(try await redis.cluster?.map().master(forSlot: slot))
        #expect(newMaster != master, "the replica took over the concert's slot")
        try await PurchaseRush.expectNothingLost(outcome)
    }
}
