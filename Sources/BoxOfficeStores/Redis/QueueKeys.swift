import BoxOfficeDomain
import HiredisClient

/// Redis key layout of one concert's queue. Every key shares the hash tag `{c:ID}` so one
/// concert's keys live in one Redis Cluster slot and its Lua scripts stay single-slot.
///
///     bo:{c:1}:seq         STRING  arrival sequence (INCR; not wall-clock, instances' clocks differ)
///     bo:{c:1}:waiting     ZSET    token -> place in line (the arrival sequence; -1 + random before the opening)
///     bo:{c:1}:seen        ZSET    token -> last poll/stream (ms, Redis TIME) of a waiter
///     bo:{c:1}:active      ZSET    token -> end of its active window (ms)
///     bo:{c:1}:meta        HASH    lastTick, credit, rate (promoter state, measured admissions/s), lastAdmit (ms), hold, gone
///     bo:{c:1}:settings    HASH    paused, opensAt, activeCapacity, admitPerSecond, ... (admin-editable)
///     bo:{c:1}:gone        ZSET    token -> its number in meta.gone: waiters who left or were dropped (poll snapshots)
///     bo:{c:1}:tokens      HASH    token -> "user arrival-sequence issued-ms": every token not yet purged
///     bo:{c:1}:users       HASH    user -> the user's live token
///     bo:{c:1}:admissions  HASH    token -> "admitted-ms admittedUntil-ms" of a token that was admitted
///     bo:{c:1}:streams     HASH    token -> the id of the one event stream that may serve it
///     bo:{c:1}:ended       ZSET    token -> when its record is purged (ms): ended tokens are kept a while
///     bo:{c:1}:seatlock:<date>:<n>  STRING  seat hold fast-path lock (value: reservation id)
///     bo:{c:1}:pow:<id>    STRING  a proof-of-work challenge that was used (until it expires)
///
/// A token's state is where it stands: WAITING in `waiting`, ACTIVE in `active` (until its score),
/// ENDED when only its record is left, UNKNOWN without one.
///
/// The line's keys are a fixed set (`Line`), so every queue script declares all it touches in KEYS:
/// on a cluster whose slot is moving, the server then answers ASK or TRYAGAIN for the whole script
/// instead of running it on half of the line's data (issue 24). Nothing names a key per token or user.
///
/// A concert whose line is split in shards (`queueShards` in its settings hash) keeps shard 0 under
/// `{c:ID}` (with the settings, seat locks and everything else) and shard s ≥ 1's line under
/// `{c:ID:s}`: the same line keys in a slot of their own, so on a cluster the shards of one concert
/// spread over several masters.
public struct QueueKeys: Sendable, Equatable {
    /// A line's keys, in the order the queue scripts receive them in KEYS.
    public enum Line: String, CaseIterable, Sendable {
        case sequence = "seq"
        case waiting, seen, active, meta, settings, gone, tokens, users, admissions, streams, ended
    }

    public let concertID: Int
    public let shard: Int
    public let prefix: String

    public init(concertID: Int, shard: Int = 0) {
        self.concertID = concertID
        self.shard = shard
        self.prefix = shard == 0 ? "bo:{c:\(concertID)}:" : "bo:{c:\(concertID):\(shard)}:"
    }

    public init(_ line: QueueLineID) {
        self.init(concertID: line.concertID, shard: line.shard)
    }

    public subscript(_ key: Line) -> String { self.prefix + key.rawValue }

    public var waiting: String { self[.waiting] }
    public var seen: String { self[.seen] }
    public var active: String { self[.active] }
    public var settings: String { self[.settings] }
    public var meta: String { self[.meta] }
    public var sequence: String { self[.sequence] }
    public var tokens: String { self[.tokens] }
    public var admissions: String { self[.admissions] }
    public func seatLock(date: String, seat: Int) -> String { self.prefix + "seatlock:\(date):\(seat)" }
    public func usedChallenge(_ id: String) -> String { self.prefix + "pow:\(id)" }

    /// Every key of the line, as a queue script declares them.
    public var line: [RedisArgument] { Line.allCases.map { RedisArgument(self[$0]) } }
}
