import Foundation
import Metrics
import NIOConcurrencyHelpers

/// One line (or shard of a split line) as a poll snapshot sees it.
public struct QueueLineID: Sendable, Hashable {
    public let concertID: Int
    public let shard: Int

    public init(concertID: Int, shard: Int) {
        self.concertID = concertID
        self.shard = shard
    }
}

/// A line as the queue-snapshot script read it: enough to answer a waiter's poll (its rank from
/// its place in line, its wait) without a script per poll.
public struct LineSnapshot: Sendable, Equatable {
    /// When the instance received it, for its age.
    public var received: ContinuousClock.Instant
    /// Redis time (ms) of the reading.
    public var now: Int
    /// When the sale opens (ms); 0 once it is open.
    public var opensAt: Int
    public var lastTick: Int
    public var banked: Double
    public var active: Int
    public var meanHoldMilliseconds: Double?
    public var waiting: Int
    /// `samples[i]` is the place (score) of the waiter at rank `i * step` (0-based).
    public var step: Int
    public var samples: [Double]
    public var lastPlace: Double?
    /// The active windows' ends in order (ms); nil when there were too many to carry.
    public var activeEnds: [Int]?

    public init(
        received: ContinuousClock.Instant, now: Int, opensAt: Int, lastTick: Int, banked: Double, active: Int, meanHoldMilliseconds: Double?,
        waiting: Int, step: Int, samples: [Double], lastPlace: Double?, activeEnds: [Int]?
    ) {
        self.received = received
        self.now = now
        self.opensAt = opensAt
        self.lastTick = lastTick
        self.banked = banked
        self.active = active
        self.meanHoldMilliseconds = meanHoldMilliseconds
        self.waiting = waiting
        self.step = step
        self.samples = samples
        self.lastPlace = lastPlace
        self.activeEnds = activeEnds
    }

    /// The 0-based rank of the waiter whose place is `place`: exact at the samples, interpolated
    /// between them (off by less than `step`). nil when the place lies ahead of the whole line: that
    /// waiter was admitted or has gone since it was last looked up.
    func rank(ofPlace place: Double) -> Int? {
        guard self.waiting > 0, let head = self.samples.first, place >= head, let lastPlace = self.lastPlace else { return nil }
        if place > lastPlace {
            // Arrived after the snapshot: after opening places are the arrival sequence, so the gap
            // counts arrivals in between (an overestimate by those who left meanwhile).
            return self.waiting + (lastPlace >= 1 ? max(0, Int(place - lastPlace) - 1) : 0)
        }
        // The last sample at or before the place.
        var low = 0
        var high = self.samples.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if self.samples[middle] <= place { low = middle } else { high = middle - 1 }
        }
        let (rank0, place0) = (low * self.step, self.samples[low])
        if place == place0 { return rank0 }
        let (rank1, place1) = low + 1 < self.samples.count ? ((low + 1) * self.step, self.samples[low + 1]) : (self.waiting - 1, lastPlace)
        guard place1 > place0, rank1 > rank0 else { return rank1 }
        let fraction = (place - place0) / (place1 - place0)
        return min(rank1, max(rank0 + 1, rank0 + Int((fraction * Double(rank1 - rank0)).rounded(.up))))
    }

    /// line_inputs as the script would compute them for the waiter at `rank` (1-based) `now` (ms).
    func inputs(rank: Int, capacity: Int, now: Int) -> LineInputs? {
        var slotEnd = 0
        if rank > 0, capacity > 0 {
            let j = (rank - 1) % capacity + 1 - (capacity - self.active)
            if j >= 1 {
                guard let ends = self.activeEnds, j <= ends.count else { return nil }
                slotEnd = ends[j - 1]
            }
        }
        return LineInputs(
            now: now, lastTick: self.lastTick, banked: self.banked, active: self.active, slotEnd: slotEnd,
            meanHoldMilliseconds: self.meanHoldMilliseconds)
    }
}

/// What one queue-snapshot run brought back besides the snapshot.
public struct SnapshotRead: Sendable {
    public var line: LineSnapshot
    /// The line's count of waiters gone (left or dropped) so far.
    public var goneCount: Int
    /// The instance missed part of the gone log (or the store lost it): forget every cached waiter.
    public var reset: Bool
    /// Tokens that stopped waiting since the count the instance had seen.
    public var gone: [String]

    public init(line: LineSnapshot, goneCount: Int, reset: Bool, gone: [String]) {
        self.line = line
        self.goneCount = goneCount
        self.reset = reset
        self.gone = gone
    }
}

/// A per-instance picture of each line its waiters poll, refreshed every `interval` by one script
/// per line (`PeriodicJob.queueSnapshots`), so that a waiter's poll is answered from memory instead
/// of with a script per poll (issue 22, item 7). What a poll answered from here gives up:
/// - its position is as old as the snapshot (at most `maxAge`) and, past the samples, interpolated:
///   off by less than the line's length / `samples` (Docs/operations.md has the measured error);
/// - the waiter's "still alive" mark reaches Redis with the next snapshot, not at once;
/// - a waiter who left or was dropped is known from the line's gone log at the next snapshot.
/// What it keeps exact: admission itself (the promoter, unchanged); the front of the line, which
/// is always asked of Redis (`exactFront`), so nobody learns of an admission later than a script
/// would tell them plus one snapshot; every token the instance has not seen waiting yet; every
/// request other than a status poll.
final class QueueSnapshots: Sendable {
    struct Waiter: Sendable {
        var user: String
        var place: Double
    }

    struct Line: Sendable {
        var snapshot: LineSnapshot?
        var waiters: [String: Waiter] = [:]
        /// Tokens answered from the snapshot since the last refresh: alive, to be marked in Redis.
        var touched: [String] = []
        /// The gone count of the last snapshot; nil before the first.
        var goneCount: Int?
        /// The last poll that asked about this line.
        var asked: ContinuousClock.Instant
        var refreshes = 0
    }

    /// A line to refresh: what the script needs.
    struct Refresh: Sendable {
        var line: QueueLineID
        var goneCount: Int
        var touched: [String]
    }

    let interval: Duration
    /// The most samples a snapshot takes of a line's places (the position error is below waiting / samples).
    static let samples = 1_000
    /// A snapshot carries the active windows' ends up to this many (more: the exact path answers).
    static let maxActiveEnds = 20_000
    private let lines = NIOLockedValueBox<[QueueLineID: Line]>([:])
    /// Status polls answered from a snapshot and by a script (`boxoffice_queue_polls_total`).
    let answeredFromSnapshot = Counter(label: "boxoffice_queue_polls_total", dimensions: [("answer", "snapshot")])
    let answeredByRedis = Counter(label: "boxoffice_queue_polls_total", dimensions: [("answer", "redis")])

    init(interval: Duration) {
        self.interval = interval
    }

    /// A snapshot older than this answers nothing (the job that refreshes it is late or failing).
    var maxAge: Duration { self.interval * 3 }

    /// Waiters up to this rank are always asked of Redis: at `admitPerSecond`, more than the line
    /// admits while a snapshot ages.
    func exactFront(admitPerSecond: Double) -> Int {
        let ageSeconds = self.maxAge / .seconds(1)
        return max(100, Int((admitPerSecond * 2 * ageSeconds).rounded(.up)))
    }

    /// A cached waiter's user and place, with the line's snapshot, when both are known and the
    /// snapshot is fresh; the poll then counts as the waiter's sign of life. nil: ask Redis.
    func lookUp(token: String, line id: QueueLineID, now: ContinuousClock.Instant) -> (waiter: Waiter, snapshot: LineSnapshot)? {
        self.lines.withLockedValue { lines in
            Self.modify(&lines, id) { line in
                line.asked = now
                guard let snapshot = line.snapshot, now - snapshot.received <= self.maxAge, let waiter = line.waiters[token] else { return nil }
                line.touched.append(token)
                return (waiter, snapshot)
            } ?? nil
        }
    }

    /// Changes a line where it lies: a copy of it (`var line = lines[id]`) would copy its waiters
    /// and touches on the first change, at every poll.
    private static func modify<Result>(_ lines: inout [QueueLineID: Line], _ id: QueueLineID, _ body: (inout Line) -> Result) -> Result? {
        guard lines[id] != nil else { return nil }
        return body(&lines[id]!)
    }

    /// The line's gone count before an exact look; pass it to `remember`.
    func marker(line id: QueueLineID) -> Int? {
        self.lines.withLockedValue { $0[id]?.goneCount }
    }

    /// Caches a waiter an exact look found, unless a snapshot came in since the look began (its gone
    /// log may already have passed over this token: the next poll looks again).
    func remember(token: String, user: String, place: Double, line id: QueueLineID, marker: Int?, now: ContinuousClock.Instant) {
        self.lines.withLockedValue { lines in
            if lines[id] == nil { lines[id] = Line(asked: now) }
            Self.modify(&lines, id) { line in
                line.asked = now
                if line.goneCount == marker, marker != nil { line.waiters[token] = Waiter(user: user, place: place) }
            }
        }
    }

    /// Forgets a cached waiter the exact path found no longer waiting.
    func forget(token: String, line id: QueueLineID) {
        self.lines.withLockedValue { _ = $0[id]?.waiters.removeValue(forKey: token) }
    }

    /// The lines to refresh now, each with the touches it carries (taken out: `restore` puts them
    /// back when the refresh fails). Lines nobody asked about for a minute are forgotten; a line
    /// nobody asked about for two snapshot ages is not refreshed (its next poll asks Redis, then
    /// the line is refreshed again).
    func due(now: ContinuousClock.Instant) -> [Refresh] {
        self.lines.withLockedValue { lines in
            var due: [Refresh] = []
            for (id, line) in lines {
                let quiet = now - line.asked
                if quiet > .seconds(60), line.touched.isEmpty {
                    lines[id] = nil
                } else if quiet <= self.maxAge * 2 || !line.touched.isEmpty {
                    due.append(Refresh(line: id, goneCount: line.goneCount ?? -1, touched: line.touched))
                    lines[id]?.touched = []
                }
            }
            return due
        }
    }

    func restore(_ refresh: Refresh) {
        self.lines.withLockedValue { $0[refresh.line]?.touched += refresh.touched }
    }

    /// Takes in a refresh's reading: the new snapshot, the waiters gone since the last, and now and
    /// then the cached waiters the line has passed (admitted) dropped.
    func apply(_ read: SnapshotRead, line id: QueueLineID) {
        self.lines.withLockedValue { lines in
            Self.modify(&lines, id) { line in
                if read.reset {
                    line.waiters = [:]
                } else {
                    for token in read.gone { line.waiters[token] = nil }
                }
                line.refreshes += 1
                if line.refreshes % 10 == 0 {
                    let head = read.line.waiting > 0 ? read.line.samples.first ?? .infinity : .infinity
                    line.waiters = line.waiters.filter { $0.value.place >= head }
                }
                line.goneCount = read.goneCount
                line.snapshot = read.line
            }
        }
    }

    /// Cached waiters over all lines (a gauge).
    var cachedWaiters: Int {
        self.lines.withLockedValue { $0.values.reduce(0) { $0 + $1.waiters.count } }
    }
}
