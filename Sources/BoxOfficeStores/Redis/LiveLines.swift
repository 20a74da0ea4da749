import BoxOfficeDomain
import HiredisClient

/// The concerts whose lines the promoter ticks: those with waiters or admitted fans, not the whole
/// catalogue (with 10,000 concerts, ticking every one four times a second on every instance was
/// most of the Redis load of an idle system, issue 22).
///
///     bo:live-lines   ZSET   concert id -> registration count
///
/// A token request registers its concert (`ZINCRBY 1`, which also re-adds a retired concert); the
/// promoter reads the set, ticks each concert, and retires one whose line it found empty, but only
/// if nobody registered it since it read the set (the count is unchanged: `retire`). So whatever
/// the interleaving of an arrival and a retirement, a line with a waiter stays in the set: either
/// the arrival's token was there when the promoter looked, or the arrival's registration came
/// after the read and changed the count, or it came after the retirement and re-added the concert.
/// The key is outside every concert's hash tag: on a cluster it lives on one master, written once
/// per arrival and read once per tick and instance.
public struct LiveLines: Sendable {
    public static let key: RedisArgument = "bo:live-lines"
    let redis: RedisClient

    public init(redis: RedisClient) {
        self.redis = redis
    }

    /// A line of `concertID` has (or is about to have) a waiter.
    public func register(concertID: Int) async throws {
        try await self.redis.send(["ZINCRBY", Self.key, "1", RedisArgument(concertID)]).checked()
    }

    /// The live concerts with their registration counts (to pass back to `retire`).
    public func all() async throws -> [LiveLine] {
        let reply = try await self.redis.send(["ZRANGE", Self.key, "0", "-1", "WITHSCORES"]).checked()
        let fields = reply.array ?? []
        return stride(from: 0, to: fields.count - 1, by: 2).compactMap { index in
            guard let id = fields[index].string.flatMap(Int.init), let count = fields[index + 1].string else { return nil }
            return LiveLine(concertID: id, registrations: count)
        }
    }

    /// Takes `concertID` out of the set unless it was registered again since `registrations` was read.
    /// Returns whether it was taken out.
    @discardableResult
    public func retire(concertID: Int, registrations: String) async throws -> Bool {
        let reply = try await self.redis.run(
            Self.retireScript, keys: [Self.key], arguments: [RedisArgument(concertID), RedisArgument(registrations)]
        ).checked()
        return reply.int == 1
    }

    static let retireScript = RedisScript(name: "live-lines-retire", source: """
        local count = redis.call('ZSCORE', KEYS[1], ARGV[1])
        if count and tonumber(count) == tonumber(ARGV[2]) then return redis.call('ZREM', KEYS[1], ARGV[1]) end
        return 0
        """)
}
