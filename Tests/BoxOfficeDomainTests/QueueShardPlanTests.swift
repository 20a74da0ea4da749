@testable import BoxOfficeDomain
import Foundation
import Testing

@Suite("Queue shards: plan, user placement, shares, positions")
struct QueueShardPlanTests {
    static let defaults = QueueService.Settings(
        activeCapacity: 6_000, admitPerSecond: 100, activeSeconds: 300, waitingIdleSeconds: 60, endedTokenSeconds: 3_600, maxWaiting: 100_000)

    /// A plan from the settings given in `QueueShardPlan.fieldNames` order (nil: not set).
    static func plan(_ fields: [String?]) -> QueueShardPlan {
        var settings: [String: String] = [:]
        for (name, value) in zip(QueueShardPlan.fieldNames, fields) { settings[name] = value }
        return QueueShardPlan(settings: settings, defaults: Self.defaults)
    }

    @Test func missingFieldsFallBackToTheDefaultsAndShardsAreClamped() {
        let plain = Self.plan([nil, nil, nil, nil, nil, nil, nil])
        #expect(plain.shards == 1 && !plain.paused && plain.activeCapacity == 6_000 && plain.admitPerSecond == 100 && plain.maxWaiting == 100_000)
        let split = Self.plan(["3", "1", "900", "30", "120", "20", "3000"])
        #expect(split.shards == 3 && split.paused && split.activeCapacity == 900 && split.admitPerSecond == 30)
        #expect(split.activeSeconds == 120 && split.waitingIdleSeconds == 20 && split.maxWaiting == 3_000)
        #expect(Self.plan(["99"]).shards == 16)
        #expect(Self.plan(["0"]).shards == 1)
        #expect(Self.plan(["-4"]).shards == 1)
        #expect(Self.plan(["lots"]).shards == 1)
    }

    @Test func aUserAlwaysLandsInTheSameShardAndUsersSpreadEvenly() {
        let plan = Self.plan(["4"])
        var counts = [Int](repeating: 0, count: 4)
        for _ in 0..<8_000 {
            let user = UUID().uuidString.lowercased()
            let shard = plan.shard(ofUser: user)
            #expect(shard == plan.shard(ofUser: user))
            counts[shard] += 1
        }
        // 2,000 expected per shard; binomial sd ≈ 39, so ±200 is five standard deviations.
        #expect(counts.allSatisfy { abs($0 - 2_000) < 200 }, "\(counts)")
        #expect(Self.plan(["1"]).shard(ofUser: UUID().uuidString.lowercased()) == 0)
    }

    @Test func sharesAddUpToTheTotal() {
        let plan = Self.plan(["3"])
        for total in [0, 1, 2, 3, 100, 6_001] {
            #expect((0..<3).map { plan.share(of: total, shard: $0) }.reduce(0, +) == total)
        }
        #expect(plan.share(of: 100, shard: 0) == 34 && plan.share(of: 100, shard: 2) == 33)
    }

    @Test func positionsAreEstimatedAcrossShards() {
        let plan = Self.plan(["3"])
        #expect(plan.overallPosition(rankInShard: 1) == 1)
        #expect(plan.overallPosition(rankInShard: 2) == 4)
        #expect(plan.overallPosition(rankInShard: 100) == 298)
        #expect(Self.plan(["1"]).overallPosition(rankInShard: 100) == 100)
    }

}
