import Foundation
import NIOConcurrencyHelpers

/// How a concert's line is split: `queueShards` (1...16, default 1) in its settings hash. A split
/// line is `shards` independent sub-queues, each under a hash tag of its own (see `QueueKeys`), so
/// one huge concert spreads over several Redis Cluster masters. A user always lands in the same
/// shard (a hash of the user id), which keeps "one place per user" a single-slot, race-free check.
/// Each shard admits its share of the rate and of the active capacity; positions and waits are
/// estimated across shards. What this gives up: admission follows arrival order within a shard,
/// and only approximately across shards (measured in Docs/benchmarks.md).
public struct QueueShardPlan: Sendable, Equatable {
    /// The most shards a line may have (`queueShards` is clamped to 1...16; shards are numbered from 0).
    public static let maxShards = 16

    public var shards: Int
    public var paused: Bool
    public var activeCapacity: Int
    public var admitPerSecond: Double
    public var activeSeconds: Int
    public var waitingIdleSeconds: Int
    public var maxWaiting: Int
    /// The most seats of this concert one user may hold or have bought (0: no cap).
    public var maxTicketsPerUser: Int
    /// Leading zero bits of the proof of work a new token needs (0: none).
    public var powDifficulty: Int
    /// The seed committed for the scheduled opening (`openingSeed`, written by the admin API with its
    /// SHA-256 `openingCommitment`), and the opening it was committed for (`openingSeedFor`, ms).
    public var openingSeedField: String?
    public var openingCommitment: String?
    public var openingSeedFor: Int?
    /// When the sale opens (ms since the epoch, the hash's `opensAt`), nil when no opening is set.
    public var opensAtMilliseconds: Int?
    /// The shard count before the last change of `queueShards` and when that change was made (ms),
    /// while shards of the old count may still hold waiters: an instance that had not yet read the
    /// change (plans are cached a second) may have put a fan in one. The promoter ticks them until empty.
    public var shardsBefore: Int?
    public var shardsChangedAt: Int?

    /// The concert's settings (by `fieldNames`; absent ones missing) over the environment's defaults,
    /// as the promote script reads them.
    init(settings: [String: String], defaults: QueueService.Settings) {
        func int(_ name: String) -> Int? { settings[name].flatMap { Int($0) } }
        self.shards = min(Self.maxShards, max(1, int("queueShards") ?? 1))
        let paused = settings["paused"]
        self.paused = paused == "1" || paused == "true" || paused == "yes"
        self.activeCapacity = int("activeCapacity") ?? defaults.activeCapacity
        self.admitPerSecond = settings["admitPerSecond"].flatMap(Double.init) ?? defaults.admitPerSecond
        self.activeSeconds = int("activeSeconds") ?? defaults.activeSeconds
        self.waitingIdleSeconds = int("waitingIdleSeconds") ?? defaults.waitingIdleSeconds
        self.maxWaiting = int("maxWaiting") ?? defaults.maxWaiting
        self.opensAtMilliseconds = int("opensAt")
        self.shardsBefore = int("queueShardsBefore").map { min(Self.maxShards, max(1, $0)) }
        self.shardsChangedAt = int("queueShardsChangedAt")
        self.maxTicketsPerUser = int("maxTicketsPerUser") ?? defaults.maxTicketsPerUser
        self.powDifficulty = int("powDifficulty") ?? defaults.powDifficulty
        self.openingSeedField = settings["openingSeed"]
        self.openingCommitment = settings["openingCommitment"]
        self.openingSeedFor = int("openingSeedFor")
    }

    /// The settings a plan reads (QueueStore.settings).
    public static let fieldNames = [
        "queueShards", "paused", "activeCapacity", "admitPerSecond", "activeSeconds", "waitingIdleSeconds", "maxWaiting", "opensAt",
        "queueShardsBefore", "queueShardsChangedAt", "maxTicketsPerUser", "powDifficulty", "openingSeed", "openingCommitment", "openingSeedFor",
    ]

    /// The shards the promoter ticks: the current ones, and those of the count before a change
    /// until they are drained.
    var tickedShards: Int { max(self.shards, self.shardsBefore ?? 0) }

    /// Why these settings cannot stand, nil when they can: every shard needs a share of the
    /// capacity and (when the line is capped) of the cap, or it would never admit anyone, or
    /// take no limit for a share of 0.
    var splitProblem: String? {
        if self.activeCapacity < self.shards {
            return "activeCapacity (\(self.activeCapacity)) must be at least queueShards (\(self.shards)): every shard admits its share."
        }
        if self.maxWaiting > 0, self.maxWaiting < self.shards {
            return "maxWaiting (\(self.maxWaiting)) must be 0 (no cap) or at least queueShards (\(self.shards)): every shard takes its share."
        }
        return nil
    }

    /// The opening a shard of a split line applies (0 when open), which its store cannot read from
    /// shard 0's settings; nil on one line (its store reads the settings itself: QueueStore).
    var shardOpening: Int? { self.shards > 1 ? self.opensAtMilliseconds ?? 0 : nil }

    /// The seed that places early arrivals, when one was committed for the opening now set: an
    /// opening set some other way (redis-cli) draws at random instead of reusing a seed that may be
    /// revealed already.
    var openingSeed: String? {
        guard let seed = self.openingSeedField, let opening = self.opensAtMilliseconds, self.openingSeedFor == opening else { return nil }
        return seed
    }

    /// The scheduled opening while it is still ahead of `now`; nil once the sale is open.
    func opening(now: Date = Date()) -> Date? {
        self.opensAtMilliseconds.map { Date(timeIntervalSince1970: Double($0) / 1000) }.flatMap { $0 > now ? $0 : nil }
    }

    /// Each shard's part of the admission rate.
    var shardRate: Double { self.admitPerSecond / Double(self.shards) }

    /// Shard `shard`'s part of the active capacity.
    func shardCapacity(_ shard: Int) -> Int { self.share(of: self.activeCapacity, shard: shard) }

    /// The shard of `user` (its lowercase UUID text): FNV-1a, the same on every instance.
    public func shard(ofUser user: String) -> Int {
        guard self.shards > 1 else { return 0 }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in user.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return Int(hash % UInt64(self.shards))
    }

    /// Shard `shard`'s part of a total shared by all shards (capacity, the line cap): the remainder
    /// goes to the first shards, so the parts add up to the total.
    public func share(of total: Int, shard: Int) -> Int {
        total / self.shards + (shard < total % self.shards ? 1 : 0)
    }

    /// An overall position from a rank within one shard: the shards fill evenly, so about
    /// `shards` waiters stand in the line for every one ahead in one's own shard.
    public func overallPosition(rankInShard rank: Int) -> Int {
        rank <= 0 ? rank : (rank - 1) * self.shards + 1
    }
}

/// Each concert's plan, read from the store at most once a second per instance (one HMGET in
/// Redis), so token requests need no extra round trip. Change `queueShards` only while the
/// concert's line is empty: users already in line stay in the shard they were put in.
final class QueueShardPlans: Sendable {
    private let store: any QueueStore
    private let defaults: QueueService.Settings
    private let cache = NIOLockedValueBox<[Int: (plan: QueueShardPlan, read: ContinuousClock.Instant)]>([:])

    init(store: any QueueStore, defaults: QueueService.Settings) {
        self.store = store
        self.defaults = defaults
    }

    /// The cached plan, or a new read when it is a second old or `fresh` is asked for.
    func plan(concertID: Int, fresh: Bool = false) async throws -> QueueShardPlan {
        if !fresh, let cached = self.cache.withLockedValue({ $0[concertID] }), ContinuousClock.now - cached.read < .seconds(1) {
            return cached.plan
        }
        let plan = QueueShardPlan(settings: try await self.store.settings(concertID: concertID), defaults: self.defaults)
        self.cache.withLockedValue { $0[concertID] = (plan, .now) }
        return plan
    }
}
