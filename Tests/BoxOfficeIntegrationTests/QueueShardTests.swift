import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import HiredisClient
import Testing
import TestSupport

/// A concert's line split in shards (`queueShards`): users stay in one shard, every shard admits
/// its share, and admission strays from arrival order by a measured amount (0 with one shard).
@Suite("Queue shards: one concert's line over several hash tags", .tags(.redisCluster))
struct QueueShardTests {
    struct Outcome {
        var displacements: [Int]  // |admission rank - arrival rank| per arrival, sorted
        var perShard: [Int: Int]
        var lastPosition: Int
        func quantile(_ q: Double) -> Int { self.displacements[min(self.displacements.count - 1, Int(q * Double(self.displacements.count)))] }
    }

    /// `arrivals` tokens taken one after another through two instances while the line is paused,
    /// then admitted at `rate` per second; returns how far admission order strayed from arrival order.
    static func run(shards: Int, arrivals: Int = 3_000, rate: Int = 1_500) async throws -> Outcome {
        try await QueueRig.with(settings: [
            "queueShards": String(shards), "paused": "1", "admitPerSecond": String(rate), "activeCapacity": "100000",
            "activeSeconds": "600", "waitingIdleSeconds": "600",
        ]) { rig in
            try await TestStack.withInstances(2, environment: QueueRig.instanceEnvironment) { bases in
                try await TestHTTPClient.with { http in
                    var tokens: [(token: String, userID: String)] = []
                    for index in 0..<arrivals {
                        tokens.append(try await http.takeToken(bases[index % 2], concertID: rig.concertID))
                    }
                    // One place per user: asking again, on either instance, gives the same token.
                    for (index, arrival) in tokens.prefix(20).enumerated() {
                        let again = try await http.takeToken(bases[(index + 1) % 2], concertID: rig.concertID, userID: arrival.userID)
                        #expect(again.token == arrival.token)
                    }
                    var perShard: [Int: Int] = [:]
                    for arrival in tokens { perShard[QueueToken.parse(arrival.token)!.shard, default: 0] += 1 }
                    let last = try await http.request(.GET, "\(bases[0])/v1/queue/status", token: tokens.last!.token)
                    let lastPosition = last.json["position"] as? Int ?? -1

                    try await rig.set(["paused": "0"])
                    let waitingKeys = (0..<shards).map { QueueKeys(concertID: rig.concertID, shard: $0).waiting }
                    _ = try await queueEventually("every arrival admitted", timeout: .seconds(30), every: .milliseconds(200)) { () async throws -> Bool? in
                        var waiting = 0
                        for key in waitingKeys { waiting += try await rig.zcard(key) }
                        return waiting == 0 ? true : nil
                    }
                    var admittedAt: [Int] = []
                    for arrival in tokens {
                        let shard = QueueToken.parse(arrival.token)!.shard
                        let keys = QueueKeys(concertID: rig.concertID, shard: shard)
                        admittedAt.append(try await QueueRig.tokenFields(arrival.token, keys: keys, redis: rig.redis)["admitted"].flatMap { Int($0) } ?? Int.max)
                    }
                    // Admission rank: by admission time; within one tick nobody is ahead of anybody,
                    // so ties count in arrival order (no displacement inside a tick).
                    let order = admittedAt.indices.sorted { (admittedAt[$0], $0) < (admittedAt[$1], $1) }
                    var displacements = [Int](repeating: 0, count: arrivals)
                    for (rank, arrival) in order.enumerated() { displacements[arrival] = abs(rank - arrival) }
                    return Outcome(displacements: displacements.sorted(), perShard: perShard, lastPosition: lastPosition)
                }
            }
        }
    }

    @Test("one shard: 3,000 arrivals are admitted exactly in arrival order")
    func oneShardIsFIFO() async throws {
        let outcome = try await Self.run(shards: 1)
        #expect(outcome.displacements.last == 0)
        #expect(outcome.perShard == [0: 3_000])
        #expect(outcome.lastPosition == 3_000)
    }

    @Test("three shards: users spread evenly, positions are estimated across shards, admission strays from arrival order by a bounded amount")
    func threeShards() async throws {
        let outcome = try await Self.run(shards: 3)
        print("3 shards: per shard \(outcome.perShard.sorted { $0.key < $1.key }.map(\.value)), last position \(outcome.lastPosition), displacement p50 \(outcome.quantile(0.5)) p99 \(outcome.quantile(0.99)) max \(outcome.displacements.last!)")
        #expect(outcome.perShard.count == 3)
        #expect(outcome.perShard.values.allSatisfy { (850...1_150).contains($0) }, "\(outcome.perShard)")
        #expect(abs(outcome.lastPosition - 3_000) <= 300, "the last arrival's estimated position \(outcome.lastPosition)")
        // Each shard is FIFO and admits a third of the rate: an arrival is overtaken only through
        // the imbalance between the shards' counts (checked above to within ±150, so up to about
        // 3 × 150 places) and their ticks' timing. Measured max: 162-207, once 356 on the cluster.
        #expect(outcome.displacements.last! <= 600)
    }

    @Test("fans of every shard hold and pay; a payment ends the token in its own shard")
    func everyShardBuys() async throws {
        try await QueueRig.with(settings: ["queueShards": "3", "admitPerSecond": "1000", "activeCapacity": "100000"]) { rig in
            let date = try await HoldsTestKit.addDate(concertID: rig.concertID, daysFromToday: 30)
            try await TestStack.withInstances(2, environment: QueueRig.instanceEnvironment) { bases in
                try await TestHTTPClient.with { http in
                    // Random user ids: 30 of them miss a shard with probability 3 × (2/3)^30 ≈ 1.6e-5
                    // (12 missed one about once in 40 runs). Four fans of each shard go on to buy.
                    let arrivals = try await HoldsTestKit.activeUsers(http, bases, concertID: rig.concertID, count: 30)
                    let byShard = Dictionary(grouping: arrivals) { QueueToken.parse($0.token)!.shard }
                    #expect(Set(byShard.keys) == [0, 1, 2])
                    let users = byShard.keys.sorted().flatMap { byShard[$0]!.prefix(4) }
                    for (index, user) in users.enumerated() {
                        let hold = try await HoldsTestKit.hold(http, bases[index % 2], user, concertID: rig.concertID, date: date, seats: [index + 1])
                        #expect(hold.status == 201, "\(hold.text)")
                        let reservation = try #require(hold.json["reservationId"] as? String)
                        let charge = try await http.request(.POST, "\(bases[0])/v1/balance/charge", token: user.token, json: ["amount": 100_000])
                        #expect(charge.status == 200)
                        let paid = try await http.request(.POST, "\(bases[1])/v1/payments", token: user.token, json: ["reservationId": reservation])
                        #expect(paid.status == 201, "\(paid.text)")
                        HoldsTestKit.expectProblem(try await http.request(.GET, "\(bases[0])/v1/queue/status", token: user.token), 401, "TOKEN_EXPIRED")
                    }
                }
            }
        }
    }
}
