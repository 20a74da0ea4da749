import Foundation
import Logging

/// Queue tokens, status and admission, over the lines in a `QueueStore` (Redis in production).
public struct QueueService: ActiveWindow {
    public struct Settings: Sendable {
        public var activeCapacity: Int
        public var admitPerSecond: Double
        public var activeSeconds: Int
        public var waitingIdleSeconds: Int
        public var endedTokenSeconds: Int
        /// The most waiters a concert's line takes (0: no limit); the settings hash may override.
        public var maxWaiting: Int
        /// The most seats one user may hold or have bought of one concert, across all their orders
        /// (0: no cap); the settings hash's `maxTicketsPerUser` may override.
        public var maxTicketsPerUser: Int
        /// Leading zero bits a token request's proof of work must have (0: none asked); the settings
        /// hash's `powDifficulty` may override.
        public var powDifficulty: Int
        /// The key challenges are signed with, the same on every instance; nil: a random key of this
        /// process (challenges then verify only where they were issued).
        public var challengeSecret: [UInt8]?
        /// How often each instance refreshes its snapshot of the lines its waiters poll, from which
        /// it answers their status polls (QueueSnapshots); 0: every poll runs a script.
        public var snapshotMilliseconds: Int

        public init(
            activeCapacity: Int, admitPerSecond: Double, activeSeconds: Int, waitingIdleSeconds: Int, endedTokenSeconds: Int,
            maxWaiting: Int = 0, maxTicketsPerUser: Int = 0, powDifficulty: Int = 0, challengeSecret: [UInt8]? = nil,
            snapshotMilliseconds: Int = 500
        ) {
            self.powDifficulty = powDifficulty
            self.challengeSecret = challengeSecret
            self.maxWaiting = maxWaiting
            self.maxTicketsPerUser = maxTicketsPerUser
            self.snapshotMilliseconds = snapshotMilliseconds
            self.activeCapacity = activeCapacity
            self.admitPerSecond = admitPerSecond
            self.activeSeconds = activeSeconds
            self.waitingIdleSeconds = waitingIdleSeconds
            self.endedTokenSeconds = endedTokenSeconds
        }

        /// The values a setting may take, in the environment and in a concert's settings hash alike.
        enum Limits {
            static let activeCapacity = 1...10_000_000
            static let admitPerSecond = 0.001...1_000_000.0
            static let activeSeconds = 1...86_400
            static let waitingIdleSeconds = 1...86_400
            static let maxWaiting = 0...100_000_000
            static let maxTicketsPerUser = 0...100
            static let powDifficulty = 0...ProofOfWork.maxDifficulty
        }

        /// `ACTIVE_CAPACITY`, `ADMIT_PER_SECOND`, `ACTIVE_SECONDS`, `WAITING_IDLE_SECONDS`, `ENDED_TOKEN_SECONDS`, `MAX_WAITING`,
        /// `MAX_TICKETS_PER_USER`, `POW_DIFFICULTY`, `CHALLENGE_SECRET`, `QUEUE_SNAPSHOT_MS`.
        public init(_ reader: SettingsReader) throws {
            let secret = reader.string("challenge.secret", default: "", secret: true)
            guard secret.isEmpty || secret.utf8.count >= 32 else {
                throw ConfigurationError(description: "CHALLENGE_SECRET must be at least 32 characters (make run generates one)")
            }
            self.init(
                activeCapacity: try reader.int("active.capacity", default: 6_000, in: Limits.activeCapacity),
                admitPerSecond: try reader.double("admit.per.second", default: 100, in: Limits.admitPerSecond),
                activeSeconds: try reader.int("active.seconds", default: 300, in: Limits.activeSeconds),
                waitingIdleSeconds: try reader.int("waiting.idle.seconds", default: 60, in: Limits.waitingIdleSeconds),
                // Long enough for a client to retry a payment whose answer was lost with the same
                // token; a later retry takes a new token (its replay then ends nothing).
                endedTokenSeconds: try reader.int("ended.token.seconds", default: 3_600, in: 1...30 * 86_400),
                maxWaiting: try reader.int("max.waiting", default: 100_000, in: Limits.maxWaiting),
                maxTicketsPerUser: try reader.int("max.tickets.per.user", default: 0, in: Limits.maxTicketsPerUser),
                powDifficulty: try reader.int("pow.difficulty", default: 0, in: Limits.powDifficulty),
                challengeSecret: secret.isEmpty ? nil : Array(secret.utf8),
                snapshotMilliseconds: try reader.int("queue.snapshot.ms", default: 500, in: 0...10_000)
            )
        }
    }

    let store: any QueueStore
    let concerts: ConcertDirectory
    public let settings: Settings
    let plans: QueueShardPlans
    /// This instance's picture of the lines its waiters poll; nil when every poll runs a script.
    let snapshots: QueueSnapshots?
    /// How often `refreshSnapshots` should run (nil: never).
    public var snapshotInterval: Duration? { self.snapshots?.interval }
    /// Issues and checks the proof-of-work challenges of the concerts that ask for one.
    let proofOfWork: ProofOfWork
    /// Whose token requests need a presale code now (nil: no presales, as in some tests).
    let presales: PresaleService?

    public init(store: any QueueStore, concerts: ConcertDirectory, settings: Settings, presales: PresaleService? = nil) {
        self.presales = presales
        self.store = store
        self.concerts = concerts
        self.settings = settings
        self.plans = QueueShardPlans(store: store, defaults: settings)
        self.snapshots = settings.snapshotMilliseconds > 0 ? QueueSnapshots(interval: .milliseconds(settings.snapshotMilliseconds)) : nil
        var random = SystemRandomNumberGenerator()
        self.proofOfWork = ProofOfWork(secret: settings.challengeSecret ?? (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) })
    }

    /// Issues a token, or returns the user's live one for this concert (`isNew` false). While a
    /// presale's sale window is open a new token needs the user's winning code, and while the
    /// concert asks for a proof of work a valid proof (`door`); the live token needs neither.
    public func issueToken(
        userID: UUID, concertID: Int, proof: ProofOfWork.Proof? = nil, presaleCode: String? = nil
    ) async throws -> (status: QueueStatus, isNew: Bool) {
        guard try await self.concerts.exists(concertID) else { throw BoxOfficeError.concertNotFound }
        guard await !self.concerts.isSoldOut(concertID) else { throw BoxOfficeError.soldOut }
        let plan = try await self.plans.plan(concertID: concertID)
        let user = userID.uuidString.lowercased()
        let shard = plan.shard(ofUser: user)
        var refusal = try await self.presales?.door(concertID: concertID, user: userID, code: presaleCode)
        if refusal == nil { refusal = try await self.door(proof, concertID: concertID, difficulty: plan.powDifficulty) }
        // The place of an arrival before the opening: from the seed committed for it (SeededDraw, which
        // anyone checks once it is revealed), or without one uniformly random from the system's
        // cryptographic generator.
        var generator = SystemRandomNumberGenerator()
        // A split line: this shard's share of the concert's cap and the opening time, from the settings on shard 0.
        let request = QueueIssueRequest(
            line: QueueLineID(concertID: concertID, shard: shard), user: user, candidate: QueueToken.generate(concertID: concertID, shard: shard),
            maxWaiting: plan.shards > 1 ? plan.share(of: plan.maxWaiting, shard: shard) : self.settings.maxWaiting, isShare: plan.shards > 1,
            arrivalDraw: plan.openingSeed.map { SeededDraw.place(seed: $0, user: user) } ?? Double.random(in: 0..<1, using: &generator),
            opening: plan.shardOpening, capacity: plan.shardCapacity(shard),
            existingOnly: refusal != nil)
        let token: String, isNew: Bool, description: TokenDescription
        switch try await self.store.issue(request) {
        case .full: throw BoxOfficeError.queueFull
        case .noLiveToken: throw refusal ?? BoxOfficeError.proofRequired
        case .token(let issued, let new, let described): (token, isNew, description) = (issued, new, described)
        }
        // After the token is in line, never before (see QueueStore.registerLiveLine); a retry with the
        // live token registers again, which heals a registration lost to a crash right after the issue.
        try await self.store.registerLiveLine(concertID: concertID)
        let state = Self.tokenState(description, plan: plan, shard: shard)
        let ticket = QueueTicket(token: token, concertID: concertID, state: state, waitingIdleSeconds: plan.waitingIdleSeconds)
        guard let status = Self.shape(of: ticket) else {
            throw UnexpectedStoreReply("the queue store issued a dead token")
        }
        return (status, isNew)
    }

    /// A new challenge for the concert's current difficulty (`GET /v1/queue/challenge`).
    public func challenge(concertID: Int) async throws -> ProofOfWork.Challenge {
        guard concertID > 0, try await self.concerts.exists(concertID) else { throw BoxOfficeError.concertNotFound }
        let plan = try await self.plans.plan(concertID: concertID)
        return self.proofOfWork.challenge(concertID: concertID, difficulty: plan.powDifficulty, nowMilliseconds: Self.nowMilliseconds())
    }

    /// Why this request may not have a new place (nil: it may): at difficulty 0 nothing is asked;
    /// otherwise the proof must hold (ProofOfWork.verify) and its challenge must not have been used,
    /// which the store decides across instances (`claimChallenge`, until the challenge expires). A
    /// refused request still gets the user's live token, if any (`QueueIssueRequest.existingOnly`).
    private func door(_ proof: ProofOfWork.Proof?, concertID: Int, difficulty: Int) async throws -> BoxOfficeError? {
        guard difficulty > 0 else { return nil }
        guard let proof else { return .proofRequired }
        let now = Self.nowMilliseconds()
        switch self.proofOfWork.verify(proof, concertID: concertID, difficulty: difficulty, nowMilliseconds: now) {
        case .failure(let refusal):
            return refusal
        case .success(let accepted):
            let first = try await self.store.claimChallenge(
                concertID: concertID, id: accepted.id, milliseconds: max(1, accepted.expiresMilliseconds - now) + 1_000)
            return first ? nil : .proofInvalid("This challenge was used already; ask for a new one.")
        }
    }

    static func nowMilliseconds() -> Int { Int(Date().timeIntervalSince1970 * 1000) }

    /// What the store knows about `token`. Malformed tokens are `.unknown` without a round trip.
    /// A waiter asking for its state counts as alive (`touch`). A status poll (`poll`) of a waiter
    /// behind the front of a line may be answered from this instance's snapshot of the line (see
    /// QueueSnapshots for what that gives up); every other call asks the store.
    public func inspect(token: String, touch: Bool = true, poll: Bool = false) async throws -> QueueTicket? {
        guard let (concertID, shard) = QueueToken.parse(token) else { return nil }
        guard poll, touch, let snapshots = self.snapshots else {
            return try await self.look(token: token, concertID: concertID, shard: shard, touch: touch).ticket
        }
        let line = QueueLineID(concertID: concertID, shard: shard)
        if let ticket = try await self.snapshotTicket(token: token, line: line, snapshots: snapshots) {
            snapshots.answeredFromSnapshot.increment()
            return ticket
        }
        snapshots.answeredByRedis.increment()
        let marker = snapshots.marker(line: line)
        let look = try await self.look(token: token, concertID: concertID, shard: shard, touch: touch)
        if case .waiting(let user, _, _, _) = look.ticket.state, let place = look.place {
            snapshots.remember(token: token, user: user, place: place, line: line, marker: marker, now: .now)
        } else {
            snapshots.forget(token: token, line: line)
        }
        return look.ticket
    }

    /// One look at a live token for its event stream `streamID`. `claim` makes that stream the
    /// token's only one; an older stream (on any instance) then gets nil at its next look and
    /// ends. Throws TOKEN_INVALID / TOKEN_EXPIRED like `status(of:)`.
    public func watch(token: String, streamID: String, claim: Bool) async throws -> QueueStatus? {
        guard let (concertID, shard) = QueueToken.parse(token) else { throw BoxOfficeError.tokenInvalid }
        let (ticket, superseded, _) = try await self.look(
            token: token, concertID: concertID, shard: shard, touch: true, stream: (streamID, claim))
        let status = try Self.status(of: ticket)
        return superseded ? nil : status
    }

    /// One look at the token in the store; for a stream's look also whether another stream claimed it.
    private func look(
        token: String, concertID: Int, shard: Int, touch: Bool, stream: (id: String, claim: Bool)? = nil
    ) async throws -> (ticket: QueueTicket, superseded: Bool, place: Double?) {
        let plan = try await self.plans.plan(concertID: concertID)
        let reply = try await self.store.look(
            token: token, line: QueueLineID(concertID: concertID, shard: shard), touch: touch, opening: plan.shardOpening,
            capacity: plan.shardCapacity(shard), stream: stream)
        let description = reply.description
        if description.state == .waiting, let inputs = description.inputs, inputs.looksUnticked {
            try await self.store.registerLiveLine(concertID: concertID)
        }
        let state = Self.tokenState(description, plan: plan, shard: shard)
        let supply = await self.concerts.seatSupply(concertID)
        return (
            QueueTicket(token: token, concertID: concertID, state: state, waitingIdleSeconds: plan.waitingIdleSeconds, supply: supply),
            reply.superseded, description.place
        )
    }

    public static func status(of ticket: QueueTicket) throws -> QueueStatus {
        switch ticket.state {
        case .unknown: throw BoxOfficeError.tokenInvalid
        case .ended: throw BoxOfficeError.tokenExpired
        default: return Self.shape(of: ticket)!
        }
    }

    /// Keeps an ACTIVE token alive for `duration` from now (a hold must stay payable for its
    /// lifetime), capped by the store at the end of its admission window plus `duration`.
    /// Returns the extension as made, or nil when the token is no longer ACTIVE.
    public func extendActive(token: String, by duration: Duration) async throws -> WindowExtension? {
        guard let (concertID, shard) = QueueToken.parse(token) else { return nil }
        let milliseconds = Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
        return try await self.store.extend(token: token, line: QueueLineID(concertID: concertID, shard: shard), milliseconds: milliseconds)
    }

    /// The concerts the promoter ticks: those with waiters or admitted fans (QueueStore.liveLines).
    public func liveLines() async throws -> [LiveLine] {
        try await self.store.liveLines()
    }

    /// Takes a line the promoter found idle out of the live set, unless it was registered again since.
    public func retireIdleLine(_ line: LiveLine) async throws {
        try await self.store.retireLiveLine(line)
    }

    public func maxTicketsPerUser(concertID: Int) async throws -> Int {
        try await self.plans.plan(concertID: concertID).maxTicketsPerUser
    }

    public func giveBack(_ extension: WindowExtension, token: String) async throws {
        guard let (concertID, shard) = QueueToken.parse(token) else { return }
        try await self.store.giveBack(`extension`, token: token, line: QueueLineID(concertID: concertID, shard: shard))
    }

    /// Ends a token at once and frees its active slot (called after a payment).
    public func endToken(_ token: String) async throws {
        guard let (concertID, shard) = QueueToken.parse(token) else { return }
        try await self.store.end(token: token, line: QueueLineID(concertID: concertID, shard: shard), endedTokenSeconds: self.settings.endedTokenSeconds)
    }

    /// One promotion tick for one concert: expire, drop idle waiters, admit. A split line ticks
    /// every shard with its share of the capacity and the rate; the figures are their sums.
    /// Nobody is admitted while no seat is free (sold out, or every seat left in a live hold) until
    /// seats come back.
    public func promote(concertID: Int) async throws -> PromotionResult {
        let plan = try await self.plans.plan(concertID: concertID)
        let noSeatFree = await self.concerts.seatSupply(concertID) != .seatsFree
        guard plan.tickedShards > 1 else {
            // One line: the store reads the settings itself, so a redis-cli edit applies at once.
            return try await self.promote(QueueLineID(concertID: concertID, shard: 0), capacity: self.settings.activeCapacity,
                                          rate: self.settings.admitPerSecond, overrides: nil, noSeatFree: noSeatFree)
        }
        // The shards of the count before a change, while they are drained, admit their few strays
        // with a shard's share too.
        let shards = try await withThrowingTaskGroup(of: (Int, PromotionResult).self) { group in
            for shard in 0..<plan.tickedShards {
                group.addTask {
                    let result = try await self.promote(
                        QueueLineID(concertID: concertID, shard: shard), capacity: plan.shardCapacity(shard), rate: plan.shardRate,
                        overrides: plan, noSeatFree: noSeatFree)
                    return (shard, result)
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        try await self.forgetDrainedShards(plan, concertID: concertID, results: shards)
        return shards.values.reduce(PromotionResult(admitted: 0, expired: 0, dropped: 0, waiting: 0, active: 0), +)
    }

    /// Once nobody waits in the shards beyond the current count, and the change is old enough for
    /// every instance to have read it (plans are cached a second), the old count is forgotten. (A
    /// stray admitted there keeps its slot by its window's end, which every read checks, and ends
    /// with its payment, which needs no tick.)
    private func forgetDrainedShards(_ plan: QueueShardPlan, concertID: Int, results: [Int: PromotionResult]) async throws {
        guard let changedAt = plan.shardsChangedAt, Int(Date().timeIntervalSince1970 * 1000) - changedAt > 5_000,
            results.allSatisfy({ $0.key < plan.shards || $0.value.waiting == 0 })
        else { return }
        try await self.store.forgetShardsBefore(concertID: concertID, changedAt: changedAt)
    }

    private func promote(
        _ line: QueueLineID, capacity: Int, rate: Double, overrides plan: QueueShardPlan?, noSeatFree: Bool
    ) async throws -> PromotionResult {
        let tick = try await self.store.promote(
            line: line,
            QueuePromoteRequest(
                capacity: capacity, rate: rate, idleSeconds: plan?.waitingIdleSeconds ?? self.settings.waitingIdleSeconds,
                activeSeconds: plan?.activeSeconds ?? self.settings.activeSeconds, endedTokenSeconds: self.settings.endedTokenSeconds,
                split: plan.map { ($0.paused, $0.opensAtMilliseconds ?? 0) }, noSeatFree: noSeatFree))
        // What this tick applied (the settings hash over the defaults): the last waiter's wait.
        let drain =
            tick.paused
            ? nil
            : QueueEstimator.admissionSeconds(
                tick.inputs.load(rank: tick.waiting, admitPerSecond: tick.admitPerSecond, capacity: tick.capacity, activeSeconds: tick.activeSeconds))
        return PromotionResult(
            admitted: tick.admitted, expired: tick.expired, dropped: tick.dropped, waiting: tick.waiting, active: tick.active,
            admittedPerSecond: tick.measuredPerSecond, estimatedDrainSeconds: drain)
    }

    /// A token's state from the store's description. In a split line the rank is
    /// within the token's shard, and so are the load and the shares of rate and capacity: the wait
    /// comes from them, the position is estimated across shards. A paused line promises no wait.
    static func tokenState(_ description: TokenDescription, plan: QueueShardPlan, shard: Int) -> TokenState {
        let user = description.user
        switch description.state {
        case .waiting where description.opensAt > 0:
            return Self.countdownState(user: user, opensAtMilliseconds: description.opensAt)
        case .waiting:
            // TokenDescription guarantees the inputs of a waiter in an open line.
            guard let inputs = description.inputs else { return .unknown }
            return Self.waitingState(user: user, rank: description.rank, inputs: inputs, plan: plan, shard: shard)
        case .active:
            return .active(userID: user, until: Date(timeIntervalSince1970: Double(description.activeUntil) / 1000))
        case .ended:
            return .ended(userID: user)
        case .unknown:
            return .unknown
        }
    }

    /// A waiter's state before the opening: no place yet (the order is drawn at the opening), a
    /// countdown instead.
    static func countdownState(user: String, opensAtMilliseconds: Int) -> TokenState {
        let opensAt = Date(timeIntervalSince1970: Double(opensAtMilliseconds) / 1000)
        let wait = max(0, Int(opensAt.timeIntervalSinceNow.rounded(.up)))
        return .waiting(userID: user, position: nil, estimatedWaitSeconds: wait, opensAt: opensAt)
    }

    /// A waiter's state in an open line, at `rank` (1-based) within its shard, whether the rank
    /// comes from the store or from a snapshot.
    static func waitingState(user: String, rank: Int, inputs: LineInputs, plan: QueueShardPlan, shard: Int) -> TokenState {
        let position = plan.overallPosition(rankInShard: rank)
        if plan.paused { return .waiting(userID: user, position: position, estimatedWaitSeconds: nil) }
        let load = inputs.load(rank: rank, admitPerSecond: plan.shardRate, capacity: plan.shardCapacity(shard), activeSeconds: plan.activeSeconds)
        return .waiting(userID: user, position: position, estimatedWaitSeconds: QueueEstimator.estimatedWaitSeconds(load))
    }

    /// The status shape of a live ticket, nil for an ended or unknown one. A line without a free
    /// seat promises no wait (nobody is admitted): sold out, or paused while every seat left is held.
    static func shape(of ticket: QueueTicket) -> QueueStatus? {
        let (token, concertID) = (ticket.token, ticket.concertID)
        switch ticket.state {
        case .waiting(let user, let position, let estimate, let opensAt):
            let wait = ticket.supply == .seatsFree ? estimate : nil
            return QueueStatus(
                token: token, userId: user, concertId: concertID, status: .waiting, position: position,
                estimatedWaitSeconds: wait, activeUntil: nil,
                pollAfterSeconds: QueueEstimator.pollAfterSeconds(
                    position: position, estimatedWaitSeconds: wait, opening: opensAt != nil, waitingIdleSeconds: ticket.waitingIdleSeconds,
                    spread: Int.random(in: 0...4)),
                opensAt: opensAt, soldOut: ticket.soldOut
            )
        case .active(let user, let until):
            return QueueStatus(
                token: token, userId: user, concertId: concertID, status: .active, position: nil,
                estimatedWaitSeconds: 0, activeUntil: until,
                pollAfterSeconds: QueueEstimator.pollAfterSeconds(position: nil, estimatedWaitSeconds: 0), soldOut: ticket.soldOut
            )
        case .unknown, .ended:
            return nil
        }
    }
}
