import Foundation

/// Where the lines live (Redis in production: BoxOfficeStores' RedisQueueStore, whose Lua scripts
/// do each call atomically on one line). QueueService keeps the rules that are not the line's own
/// bookkeeping: who may have a token, what a fan is told, which shards a tick covers.
///
/// A line is one concert's queue or, for a split line, one shard of it (`QueueLineID`). Where a
/// call takes `opening`, it is the opening a shard of a split line must apply (ms since the epoch,
/// 0 when open), which it cannot read from shard 0's settings; nil for one line, whose store reads
/// the concert's settings itself, so an operator's edit applies at once.
public protocol QueueStore: Sendable {
    /// The concert's settings named in `QueueShardPlan.fieldNames`, those set (QueueShardPlan applies
    /// the defaults).
    func settings(concertID: Int) async throws -> [String: String]
    /// Writes settings fields and deletes others; refuses (and writes nothing) when asked to while
    /// anyone waits in shard 0 who arrived while the sale was open.
    func writeSettings(concertID: Int, set: [(String, String)], delete: [String], refuseIfArrivedWhileOpen: Bool) async throws
        -> QueueSettingsWrite
    /// Forgets the shard count before the change made at `changedAt` (its shards are drained).
    func forgetShardsBefore(concertID: Int, changedAt: Int) async throws

    /// A new token for the request's user, or the live one they have.
    func issue(_ request: QueueIssueRequest) async throws -> QueueIssueOutcome
    /// One look at a token; `touch` counts a waiter as alive; `stream` claims or checks the token's
    /// one event stream.
    func look(token: String, line: QueueLineID, touch: Bool, opening: Int?, capacity: Int, stream: (id: String, claim: Bool)?) async throws
        -> QueueLook
    /// Keeps an ACTIVE token's slot `milliseconds` from now (bounded by its admission); nil when it is not ACTIVE.
    func extend(token: String, line: QueueLineID, milliseconds: Int) async throws -> WindowExtension?
    /// Takes back an extension whose hold was refused.
    func giveBack(_ extension: WindowExtension, token: String, line: QueueLineID) async throws
    /// Ends a token at once; its record is kept `endedTokenSeconds`.
    func end(token: String, line: QueueLineID, endedTokenSeconds: Int) async throws
    /// One promotion tick: expire, drop idle waiters, admit.
    func promote(line: QueueLineID, _ request: QueuePromoteRequest) async throws -> QueuePromoteTick
    /// A line's figures for the operator.
    func figures(line: QueueLineID, capacity: Int) async throws -> QueueLineFigures
    /// What an instance needs to answer its waiters' polls for a while (QueueSnapshots).
    func snapshot(line: QueueLineID, _ request: QueueSnapshotRequest) async throws -> SnapshotRead

    /// Marks a proof-of-work challenge used for `milliseconds`; false when it was used already.
    func claimChallenge(concertID: Int, id: String, milliseconds: Int) async throws -> Bool
    /// Waiters in the line who arrived while the sale was open (places ≥ 1).
    func arrivedWhileOpen(line: QueueLineID) async throws -> Int
    /// Waiters in the line and when anyone was last admitted from it.
    func health(line: QueueLineID) async throws -> (waiting: Int, lastAdmission: Date?)
    /// Every token record the line still keeps (ended ones until they are purged).
    func tokenRecords(line: QueueLineID) async throws -> [QueueTokenRecord]

    /// The concerts the promoter ticks: those with waiters or admitted fans, not the whole catalogue.
    /// Registers one whose line has a waiter; called after the token is in line, so that whatever the
    /// interleaving with a retirement (`retireLiveLine`), a line with a waiter stays live
    /// (RedisQueueStore: `LiveLines` has the argument).
    func registerLiveLine(concertID: Int) async throws
    /// The live concerts with their registration counts (to pass back to `retireLiveLine`).
    func liveLines() async throws -> [LiveLine]
    /// Takes a concert out of the live set unless it was registered again since `registrations` was
    /// read; returns whether it was taken out.
    @discardableResult
    func retireLiveLine(_ line: LiveLine) async throws -> Bool
}

/// A concert in the promoter's live set, with its registration count as read.
public struct LiveLine: Sendable, Equatable {
    public var concertID: Int
    public var registrations: String

    public init(concertID: Int, registrations: String) {
        self.concertID = concertID
        self.registrations = registrations
    }
}

public enum QueueSettingsWrite: Sendable, Equatable {
    case written
    /// Refused: this many waiters arrived while the sale was open.
    case arrivedWhileOpen(Int)
}

/// What a token request asks of its line.
public struct QueueIssueRequest: Sendable {
    public var line: QueueLineID
    /// The user's lowercase UUID text.
    public var user: String
    /// The token to issue if the user has no live one.
    public var candidate: String
    /// The cap to apply; `isShare` when it is a shard's share of a split line's cap (otherwise the
    /// concert's settings override it).
    public var maxWaiting: Int
    public var isShare: Bool
    /// A uniform number in [0, 1): the place of an arrival before the opening.
    public var arrivalDraw: Double
    public var opening: Int?
    public var capacity: Int
    /// Return the user's live token and no new one (`noLiveToken` instead).
    public var existingOnly: Bool

    public init(
        line: QueueLineID, user: String, candidate: String, maxWaiting: Int, isShare: Bool, arrivalDraw: Double, opening: Int?, capacity: Int,
        existingOnly: Bool
    ) {
        self.line = line
        self.user = user
        self.candidate = candidate
        self.maxWaiting = maxWaiting
        self.isShare = isShare
        self.arrivalDraw = arrivalDraw
        self.opening = opening
        self.capacity = capacity
        self.existingOnly = existingOnly
    }
}

public enum QueueIssueOutcome: Sendable, Equatable {
    case full
    /// `existingOnly` was asked and the user has no live token.
    case noLiveToken
    case token(String, isNew: Bool, TokenDescription)
}

/// A token's state as the store saw it.
public struct TokenDescription: Sendable, Equatable {
    public enum State: String, Sendable {
        case waiting = "WAITING", active = "ACTIVE", ended = "ENDED", unknown = "UNKNOWN"
    }

    public var state: State
    public var user: String
    /// WAITING: the 1-based rank in its line (its shard of a split line).
    public var rank: Int
    /// WAITING: its place in line, which a poll snapshot ranks.
    public var place: Double?
    /// ACTIVE: the end of its window (ms).
    public var activeUntil: Int
    /// When the sale opens (ms); 0 once it is open.
    public var opensAt: Int
    /// WAITING in an open line: what its wait rests on (always there for such a waiter).
    public var inputs: LineInputs?

    public init(state: State, user: String, rank: Int, place: Double?, activeUntil: Int, opensAt: Int, inputs: LineInputs?) {
        self.state = state
        self.user = user
        self.rank = rank
        self.place = place
        self.activeUntil = activeUntil
        self.opensAt = opensAt
        self.inputs = inputs
    }
}

/// One look at a token.
public struct QueueLook: Sendable, Equatable {
    /// Another event stream has claimed the token since this one did.
    public var superseded: Bool
    public var description: TokenDescription

    public init(superseded: Bool, description: TokenDescription) {
        self.superseded = superseded
        self.description = description
    }
}

/// What one promotion tick of a line applies.
public struct QueuePromoteRequest: Sendable {
    public var capacity: Int
    public var rate: Double
    public var idleSeconds: Int
    public var activeSeconds: Int
    public var endedTokenSeconds: Int
    /// A shard of a split line: what the caller read from shard 0's settings (nil: one line, whose
    /// store applies the concert's settings over the figures above).
    public var split: (paused: Bool, opening: Int)?
    /// No seat is free (sold out, or every seat left held): nobody is admitted.
    public var noSeatFree: Bool

    public init(capacity: Int, rate: Double, idleSeconds: Int, activeSeconds: Int, endedTokenSeconds: Int, split: (paused: Bool, opening: Int)?,
                noSeatFree: Bool) {
        self.capacity = capacity
        self.rate = rate
        self.idleSeconds = idleSeconds
        self.activeSeconds = activeSeconds
        self.endedTokenSeconds = endedTokenSeconds
        self.split = split
        self.noSeatFree = noSeatFree
    }
}

/// What one promotion tick did, and what it applied.
public struct QueuePromoteTick: Sendable, Equatable {
    public var admitted: Int
    public var expired: Int
    public var dropped: Int
    public var waiting: Int
    public var active: Int
    /// Measured admissions per second (moving average over about 10 s).
    public var measuredPerSecond: Double
    /// What the tick applied: the settings over the request's defaults.
    public var admitPerSecond: Double
    public var capacity: Int
    public var activeSeconds: Int
    public var paused: Bool
    /// What the last waiter's wait rests on.
    public var inputs: LineInputs

    public init(admitted: Int, expired: Int, dropped: Int, waiting: Int, active: Int, measuredPerSecond: Double, admitPerSecond: Double,
                capacity: Int, activeSeconds: Int, paused: Bool, inputs: LineInputs) {
        self.admitted = admitted
        self.expired = expired
        self.dropped = dropped
        self.waiting = waiting
        self.active = active
        self.measuredPerSecond = measuredPerSecond
        self.admitPerSecond = admitPerSecond
        self.capacity = capacity
        self.activeSeconds = activeSeconds
        self.paused = paused
        self.inputs = inputs
    }
}

/// A line's figures for the operator.
public struct QueueLineFigures: Sendable, Equatable {
    public var waiting: Int
    public var measuredPerSecond: Double
    /// What the last waiter's wait rests on.
    public var inputs: LineInputs

    public init(waiting: Int, measuredPerSecond: Double, inputs: LineInputs) {
        self.waiting = waiting
        self.measuredPerSecond = measuredPerSecond
        self.inputs = inputs
    }
}

/// What a snapshot refresh asks of its line.
public struct QueueSnapshotRequest: Sendable {
    public var opening: Int?
    /// The line's gone count the instance has seen (-1: none yet).
    public var goneCount: Int
    public var samples: Int
    public var maxActiveEnds: Int
    /// The tokens whose waiters polled this instance since its last snapshot.
    public var touched: [String]

    public init(opening: Int?, goneCount: Int, samples: Int, maxActiveEnds: Int, touched: [String]) {
        self.opening = opening
        self.goneCount = goneCount
        self.samples = samples
        self.maxActiveEnds = maxActiveEnds
        self.touched = touched
    }
}

/// A token's record: whose it is, when it was issued and when it was admitted (ms; nil: not yet).
public struct QueueTokenRecord: Sendable, Equatable {
    public var token: String
    public var user: String
    public var issuedMilliseconds: Int
    public var admittedMilliseconds: Int?

    public init(token: String, user: String, issuedMilliseconds: Int, admittedMilliseconds: Int?) {
        self.token = token
        self.user = user
        self.issuedMilliseconds = issuedMilliseconds
        self.admittedMilliseconds = admittedMilliseconds
    }
}
