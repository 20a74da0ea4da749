import HiredisClient

/// Redis key layout of one concert's queue. Every key shares the hash tag `{c:ID}` so one
/// concert's keys live in one Redis Cluster slot and its Lua scripts stay single-slot.
///
///     bo:{c:1}:seq            STRING  arrival sequence (INCR; not wall-clock, instances' clocks differ)
///     bo:{c:1}:waiting        ZSET    token -> arrival sequence
///     bo:{c:1}:seen           ZSET    token -> last poll/stream (ms, Redis TIME) of a waiter
///     bo:{c:1}:active         ZSET    token -> end of its active window (ms)
///     bo:{c:1}:token:<token>  HASH    user, status (WAITING|ACTIVE|ENDED), seq, issued, activeUntil
///     bo:{c:1}:user:<uuid>    STRING  the user's live token for this concert
///     bo:{c:1}:settings       HASH    paused, activeCapacity, admitPerSecond (admin-editable)
///     bo:{c:1}:meta           HASH    lastTick, credit, rate (promoter state, measured admissions/s), hold, gone
///     bo:{c:1}:gone           ZSET    token -> its number in meta.gone: waiters who left or were dropped (poll snapshots)
///     bo:{c:1}:seatlock:<date>:<n>  STRING  seat hold fast-path lock (value: reservation id)
///
/// A concert whose line is split in shards (`queueShards` in its settings hash) keeps shard 0 under
/// `{c:ID}` (with the settings, seat locks and everything else) and shard s ≥ 1's line under
/// `{c:ID:s}`: seq, waiting, seen, active, meta, token and user keys, a slot of its own, so on a
/// cluster the shards of one concert spread over several masters.
public struct QueueKeys: Sendable, Equatable {
    public let concertID: Int
    public let shard: Int
    public let prefix: String

    public init(concertID: Int, shard: Int = 0) {
        self.concertID = concertID
        self.shard = shard
        self.prefix = shard == 0 ? "bo:{c:\(concertID)}:" : "bo:{c:\(concertID):\(shard)}:"
    }

    public var waiting: String { self.prefix + "waiting" }
    public var seen: String { self.prefix + "seen" }
    public var active: String { self.prefix + "active" }
    public var settings: String { self.prefix + "settings" }
    public var meta: String { self.prefix + "meta" }
    public var sequence: String { self.prefix + "seq" }
    public func token(_ token: String) -> String { self.prefix + "token:" + token }
    public func user(_ userID: String) -> String { self.prefix + "user:" + userID }
    public func seatLock(date: String, seat: Int) -> String { self.prefix + "seatlock:\(date):\(seat)" }

    /// The first key of the concert, named in KEYS so Redis Cluster routes the script to the slot.
    var routingKey: RedisArgument { RedisArgument(self.sequence) }
}
