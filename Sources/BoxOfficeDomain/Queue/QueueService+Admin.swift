import Foundation

/// A concert's queue settings as the admin API shows them: the settings hash over the instance's
/// defaults. `opensAt` is the scheduled opening while it is ahead, null once the sale is open.
public struct QueueSettingsView: Sendable, Codable, Equatable {
    public var concertId: Int
    public var paused: Bool
    public var opensAt: String?
    public var activeCapacity: Int
    public var admitPerSecond: Double
    public var activeSeconds: Int
    public var waitingIdleSeconds: Int
    public var maxWaiting: Int
    public var queueShards: Int
    public var maxTicketsPerUser: Int
    public var powDifficulty: Int

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.concertId, forKey: .concertId)
        try container.encode(self.paused, forKey: .paused)
        try container.encode(self.opensAt, forKey: .opensAt)  // null, not absent
        try container.encode(self.activeCapacity, forKey: .activeCapacity)
        try container.encode(self.admitPerSecond, forKey: .admitPerSecond)
        try container.encode(self.activeSeconds, forKey: .activeSeconds)
        try container.encode(self.waitingIdleSeconds, forKey: .waitingIdleSeconds)
        try container.encode(self.maxWaiting, forKey: .maxWaiting)
        try container.encode(self.queueShards, forKey: .queueShards)
        try container.encode(self.maxTicketsPerUser, forKey: .maxTicketsPerUser)
        try container.encode(self.powDifficulty, forKey: .powDifficulty)
    }
}

/// Any subset of the settings; absent fields stay as they are. `opensAt`: an RFC 3339 time
/// schedules the opening, null removes it (the sale is open).
public struct QueueSettingsPatch: Sendable, Decodable, Equatable {
    public enum Opening: Sendable, Equatable {
        case unchanged
        case open
        case at(String)
    }

    public var paused: Bool?
    public var opensAt: Opening = .unchanged
    public var activeCapacity: Int?
    public var admitPerSecond: Double?
    public var activeSeconds: Int?
    public var waitingIdleSeconds: Int?
    public var maxWaiting: Int?
    public var queueShards: Int?
    public var maxTicketsPerUser: Int?
    public var powDifficulty: Int?

    public init(
        paused: Bool? = nil, activeCapacity: Int? = nil, admitPerSecond: Double? = nil, activeSeconds: Int? = nil,
        waitingIdleSeconds: Int? = nil, maxWaiting: Int? = nil, queueShards: Int? = nil, maxTicketsPerUser: Int? = nil,
        powDifficulty: Int? = nil
    ) {
        self.powDifficulty = powDifficulty
        self.maxTicketsPerUser = maxTicketsPerUser
        self.paused = paused
        self.activeCapacity = activeCapacity
        self.admitPerSecond = admitPerSecond
        self.activeSeconds = activeSeconds
        self.waitingIdleSeconds = waitingIdleSeconds
        self.maxWaiting = maxWaiting
        self.queueShards = queueShards
    }

    enum CodingKeys: String, CodingKey {
        case paused, opensAt, activeCapacity, admitPerSecond, activeSeconds, waitingIdleSeconds, maxWaiting, queueShards, maxTicketsPerUser, powDifficulty
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.paused = try container.decodeIfPresent(Bool.self, forKey: .paused)
        if container.contains(.opensAt) {
            self.opensAt = try container.decodeNil(forKey: .opensAt) ? .open : .at(try container.decode(String.self, forKey: .opensAt))
        }
        self.activeCapacity = try container.decodeIfPresent(Int.self, forKey: .activeCapacity)
        self.admitPerSecond = try container.decodeIfPresent(Double.self, forKey: .admitPerSecond)
        self.activeSeconds = try container.decodeIfPresent(Int.self, forKey: .activeSeconds)
        self.waitingIdleSeconds = try container.decodeIfPresent(Int.self, forKey: .waitingIdleSeconds)
        self.maxWaiting = try container.decodeIfPresent(Int.self, forKey: .maxWaiting)
        self.queueShards = try container.decodeIfPresent(Int.self, forKey: .queueShards)
        self.maxTicketsPerUser = try container.decodeIfPresent(Int.self, forKey: .maxTicketsPerUser)
        self.powDifficulty = try container.decodeIfPresent(Int.self, forKey: .powDifficulty)
    }

    /// An RFC 3339 time (with or without fractional seconds) as milliseconds since the epoch.
    static func milliseconds(_ text: String) -> Int? {
        Timestamp.parse(text).map { Int(($0.timeIntervalSince1970 * 1000).rounded()) }
    }

    /// The hash fields to write, checked against the same ranges as the environment's defaults.
    func fields() throws -> [(String, String)] {
        typealias Limits = QueueService.Settings.Limits
        func check<T: Comparable>(_ name: String, _ value: T?, _ range: ClosedRange<T>) throws -> T? {
            guard let value else { return nil }
            guard range.contains(value) else {
                throw BoxOfficeError.invalidRequest("\(name) must be in \(range.lowerBound)...\(range.upperBound) (got \(value)).")
            }
            return value
        }
        var fields: [(String, String)] = []
        if let paused = self.paused { fields.append(("paused", paused ? "1" : "0")) }
        if let value = try check("activeCapacity", self.activeCapacity, Limits.activeCapacity) { fields.append(("activeCapacity", String(value))) }
        if let value = try check("admitPerSecond", self.admitPerSecond, Limits.admitPerSecond) { fields.append(("admitPerSecond", String(value))) }
        if let value = try check("activeSeconds", self.activeSeconds, Limits.activeSeconds) { fields.append(("activeSeconds", String(value))) }
        if let value = try check("waitingIdleSeconds", self.waitingIdleSeconds, Limits.waitingIdleSeconds) {
            fields.append(("waitingIdleSeconds", String(value)))
        }
        if let value = try check("maxWaiting", self.maxWaiting, Limits.maxWaiting) { fields.append(("maxWaiting", String(value))) }
        if let value = try check("maxTicketsPerUser", self.maxTicketsPerUser, Limits.maxTicketsPerUser) {
            fields.append(("maxTicketsPerUser", String(value)))
        }
        if let value = try check("powDifficulty", self.powDifficulty, Limits.powDifficulty) { fields.append(("powDifficulty", String(value))) }
        if let value = try check("queueShards", self.queueShards, 1...QueueShardPlan.maxShards) { fields.append(("queueShards", String(value))) }
        if case .at(let text) = self.opensAt {
            guard let milliseconds = Self.milliseconds(text) else {
                throw BoxOfficeError.invalidRequest("opensAt must be an RFC 3339 time such as 2027-03-01T10:00:00Z, or null (got '\(text)').")
            }
            fields.append(("opensAt", String(milliseconds)))
        }
        return fields
    }
}

/// A concert's line right now, summed over its shards.
public struct QueueFigures: Sendable, Equatable {
    public var waiting: Int
    public var active: Int
    /// Measured admissions per second (moving average over about 10 s).
    public var admittedPerSecond: Double
    /// Seconds until the last waiter is admitted (`QueueEstimator`, the slowest shard's); 0 without
    /// waiters, nil while the line is paused or not open yet.
    public var estimatedDrainSeconds: Int?
}

extension QueueService {
    /// The settings over the defaults (one read of shard 0's settings, never cached: an operator reads
    /// what every instance will apply at its next tick).
    public func queueSettings(concertID: Int) async throws -> QueueSettingsView {
        guard concertID > 0, try await self.concerts.exists(concertID) else { throw BoxOfficeError.concertNotFound }
        let plan = try await self.plans.plan(concertID: concertID, fresh: true)
        return QueueSettingsView(
            concertId: concertID, paused: plan.paused, opensAt: plan.opening().map(Timestamp.format), activeCapacity: plan.activeCapacity,
            admitPerSecond: plan.admitPerSecond, activeSeconds: plan.activeSeconds, waitingIdleSeconds: plan.waitingIdleSeconds,
            maxWaiting: plan.maxWaiting, queueShards: plan.shards, maxTicketsPerUser: plan.maxTicketsPerUser,
            powDifficulty: plan.powDifficulty)
    }

    /// Writes the given settings (the hash redis-cli edits), refusing what a line cannot run with:
    /// - every shard keeps a share of the capacity and of the cap (`QueueShardPlan.splitProblem`);
    /// - `queueShards` changes only while the line is empty (a user in line stays in the shard the
    ///   old count gave); the old count is kept so that the promoter drains its shards of the fans
    ///   an instance still reading the old plan may have put there;
    /// - an opening is scheduled only on a line where nobody waits who arrived while the sale was
    ///   open: they would stand behind everyone who arrives during the countdown (one line: checked
    ///   atomically with the write; a split line's other shards just before it).
    public func updateQueueSettings(concertID: Int, patch: QueueSettingsPatch) async throws -> QueueSettingsView {
        guard concertID > 0, try await self.concerts.exists(concertID) else { throw BoxOfficeError.concertNotFound }
        var fields = try patch.fields()
        let current = try await self.plans.plan(concertID: concertID, fresh: true)
        var next = current
        next.shards = patch.queueShards ?? current.shards
        next.activeCapacity = patch.activeCapacity ?? current.activeCapacity
        next.maxWaiting = patch.maxWaiting ?? current.maxWaiting
        if let problem = next.splitProblem { throw BoxOfficeError.invalidRequest(problem) }
        let now = Int(Date().timeIntervalSince1970 * 1000)
        if next.shards != current.shards {
            let figures = try await self.queueFigures(concertID: concertID)
            guard figures.waiting + figures.active == 0 else {
                throw BoxOfficeError.invalidRequest(
                    "queueShards can change only while nobody waits or is admitted (now \(figures.waiting) waiting, \(figures.active) active).")
            }
            fields += [("queueShardsBefore", String(current.tickedShards)), ("queueShardsChangedAt", String(now))]
        }
        var schedulesOpening = false
        if case .at(let text) = patch.opensAt, let at = QueueSettingsPatch.milliseconds(text), at > now {
            schedulesOpening = true
            // Commit to the seed that will place the early arrivals; moving an opening that is still
            // ahead keeps its seed (arrivals so far keep their places), any other opening gets a new one.
            if current.openingSeed != nil, current.opening() != nil {
                fields.append(("openingSeedFor", String(at)))
            } else {
                let seed = SeededDraw.newSeed()
                fields += [("openingSeed", seed), ("openingCommitment", SeededDraw.commitment(seed: seed)), ("openingSeedFor", String(at))]
            }
            for shard in 1..<max(1, current.tickedShards) {
                let arrivedOpen = try await self.store.arrivedWhileOpen(line: QueueLineID(concertID: concertID, shard: shard))
                if arrivedOpen > 0 { throw Self.openingRefused(arrivedOpen) }
            }
        }
        let write = try await self.store.writeSettings(
            concertID: concertID, set: fields, delete: patch.opensAt == .open ? ["opensAt"] : [], refuseIfArrivedWhileOpen: schedulesOpening)
        if case .arrivedWhileOpen(let count) = write { throw Self.openingRefused(count) }
        return try await self.queueSettings(concertID: concertID)
    }

    private static func openingRefused(_ waiting: Int) -> BoxOfficeError {
        .invalidRequest(
            "opensAt can be scheduled only while nobody waits who arrived while the sale was open (now \(waiting)): they would stand behind everyone arriving during the countdown. Pause the line and let it drain, or schedule the opening before the line forms.")
    }

    /// Waiting, active, the measured admission rate and the time to drain, over all shards, those
    /// being drained after a change of `queueShards` included (one store read per shard, at once).
    public func queueFigures(concertID: Int) async throws -> QueueFigures {
        let plan = try await self.plans.plan(concertID: concertID)
        let admitting = !plan.paused && plan.opening() == nil
        return try await withThrowingTaskGroup(of: QueueFigures.self) { group in
            for shard in 0..<plan.tickedShards {
                group.addTask {
                    let line = try await self.store.figures(line: QueueLineID(concertID: concertID, shard: shard), capacity: plan.shardCapacity(shard))
                    let load = line.inputs.load(
                        rank: line.waiting, admitPerSecond: plan.shardRate, capacity: plan.shardCapacity(shard), activeSeconds: plan.activeSeconds)
                    return QueueFigures(
                        waiting: line.waiting, active: load.active, admittedPerSecond: line.measuredPerSecond,
                        estimatedDrainSeconds: admitting ? QueueEstimator.estimatedWaitSeconds(load) : nil)
                }
            }
            return try await group.reduce(into: QueueFigures(waiting: 0, active: 0, admittedPerSecond: 0, estimatedDrainSeconds: 0)) { total, shard in
                total.waiting += shard.waiting
                total.active += shard.active
                total.admittedPerSecond += shard.admittedPerSecond
                total.estimatedDrainSeconds = QueueEstimator.slowest(total.estimatedDrainSeconds, shard.estimatedDrainSeconds)
            }
        }
    }

    /// What the stalled-line alert needs: waiters over all shards, whether the line admits (open, not
    /// paused), and when anyone was last admitted.
    public func lineHealth(concertID: Int) async throws -> LineHealth {
        let plan = try await self.plans.plan(concertID: concertID)
        var health = LineHealth(waiting: 0, admitting: !plan.paused && plan.opening() == nil, lastAdmission: nil)
        for shard in 0..<plan.tickedShards {
            let shardHealth = try await self.store.health(line: QueueLineID(concertID: concertID, shard: shard))
            health.waiting += shardHealth.waiting
            if let last = shardHealth.lastAdmission { health.lastAdmission = max(health.lastAdmission ?? .distantPast, last) }
        }
        return health
    }
}

public struct LineHealth: Sendable {
    public var waiting: Int
    public var admitting: Bool
    public var lastAdmission: Date?
}
