@testable import BoxOfficeDomain
import Foundation
import StoreFakes
import Testing

/// QueueService's own rules over lines in memory (InMemoryQueueStore), on the store's clock: who
/// gets a token, what a fan is told, which shards a tick covers, what an operator may change. The
/// Lua behind the same calls is tested against Redis by the integration suites.
@Suite("Queue service over an in-memory queue store")
struct QueueServiceTests {
    let store = InMemoryQueueStore()
    let catalog = FakeCatalogStore(concerts: 3)

    func service(admitPerSecond: Double = 2, activeCapacity: Int = 100) -> QueueService {
        QueueService(
            store: self.store, concerts: ConcertDirectory(store: self.catalog, supplyMaxAge: .zero),
            settings: .init(
                activeCapacity: activeCapacity, admitPerSecond: admitPerSecond, activeSeconds: 300, waitingIdleSeconds: 60, endedTokenSeconds: 3_600,
                maxWaiting: 100, challengeSecret: Array("a secret of at least thirty-two bytes".utf8), snapshotMilliseconds: 0))
    }

    static func users(_ count: Int) -> [UUID] { (0..<count).map { _ in UUID() } }

    @Test("a user gets one token per concert; the concert's line becomes live; unknown and sold-out concerts refuse")
    func oneTokenPerUser() async throws {
        let queue = self.service()
        let user = UUID()
        let first = try await queue.issueToken(userID: user, concertID: 1)
        let again = try await queue.issueToken(userID: user, concertID: 1)
        #expect(first.isNew && !again.isNew && first.status.token == again.status.token)
        #expect(first.status.status == .waiting && first.status.position == 1 && first.status.estimatedWaitSeconds != nil)
        #expect(try await queue.liveLines().map(\.concertID) == [1])
        await #expect(throws: BoxOfficeError.concertNotFound) { try await queue.issueToken(userID: user, concertID: 4) }
        self.catalog.supply.withLockedValue { $0[2] = .soldOut }
        await #expect(throws: BoxOfficeError.soldOut) { try await queue.issueToken(userID: user, concertID: 2) }
    }

    @Test("admission follows arrival order at the line's rate; an admitted fan is ACTIVE until the window's end")
    func admissionInArrivalOrder() async throws {
        let queue = self.service(admitPerSecond: 2)
        var tokens: [String] = []
        for user in Self.users(5) { tokens.append(try await queue.issueToken(userID: user, concertID: 1).status.token) }
        #expect(try await queue.promote(concertID: 1).admitted == 2)
        self.store.advance(milliseconds: 1_000)
        #expect(try await queue.promote(concertID: 1).admitted == 2)
        let states = try await tokens.asyncMap { try await queue.inspect(token: $0)?.state }
        for (index, state) in states.enumerated() {
            switch state {
            case .active: #expect(index < 4, "admitted out of order: \(index)")
            case .waiting(_, let position, _, _): #expect(index == 4 && position == 1)
            default: Issue.record("token \(index): \(String(describing: state))")
            }
        }
    }

    @Test("while no seat is free nobody is admitted and no wait is promised; sold out is said")
    func noFreeSeat() async throws {
        let queue = self.service()
        let token = try await queue.issueToken(userID: UUID(), concertID: 1).status.token
        self.catalog.supply.withLockedValue { $0[1] = .allHeld }
        #expect(try await queue.promote(concertID: 1).admitted == 0)
        let held = try QueueService.status(of: try #require(try await queue.inspect(token: token)))
        #expect(held.status == .waiting && held.estimatedWaitSeconds == nil && held.paused && !held.soldOut)
        self.catalog.supply.withLockedValue { $0[1] = .soldOut }
        let soldOut = try QueueService.status(of: try #require(try await queue.inspect(token: token)))
        #expect(soldOut.soldOut && soldOut.estimatedWaitSeconds == nil)
        self.catalog.supply.withLockedValue { $0[1] = .seatsFree }
        self.store.advance(milliseconds: 1_000)
        #expect(try await queue.promote(concertID: 1).admitted == 1)
    }

    @Test("a split line puts each user in their shard, ticks every shard, and sums them")
    func splitLine() async throws {
        self.store.set(concertID: 1, ["queueShards": "3"])
        let queue = self.service(admitPerSecond: 3)
        let plan = QueueShardPlan(settings: ["queueShards": "3"], defaults: queue.settings)
        for user in Self.users(30) {
            let token = try await queue.issueToken(userID: user, concertID: 1).status.token
            #expect(QueueToken.parse(token)?.shard == plan.shard(ofUser: user.uuidString.lowercased()))
        }
        let tick = try await queue.promote(concertID: 1)
        // Each shard banks its share of the rate: one admission each.
        #expect(tick.admitted == 3 && tick.waiting == 27 && tick.active == 3)
        #expect(Set(self.store.calls.filter { $0.hasPrefix("promote") }) == ["promote 1:0", "promote 1:1", "promote 1:2"])
    }

    @Test("the shards of a count before a change are ticked until they are drained, then forgotten")
    func drainedShards() async throws {
        let changedAt = Int(Date().timeIntervalSince1970 * 1000) - 10_000
        self.store.set(concertID: 1, ["queueShards": "3", "paused": "1"])
        let queue = self.service()
        let token = try await queue.issueToken(userID: Self.users(50).first { QueueShardPlan(settings: ["queueShards": "3"], defaults: queue.settings)
            .shard(ofUser: $0.uuidString.lowercased()) == 2 }!, concertID: 1).status.token
        #expect(QueueToken.parse(token)?.shard == 2)
        self.store.set(concertID: 1, ["queueShards": "1", "queueShardsBefore": "3", "queueShardsChangedAt": String(changedAt)])
        let fresh = self.service()  // no cached plan
        _ = try await fresh.promote(concertID: 1)
        #expect(self.store.calls.contains("promote 1:2") && !self.store.calls.contains("forgetShardsBefore"), "paused: the stray still waits")
        self.store.set(concertID: 1, ["paused": "0"])
        self.store.advance(milliseconds: 1_000)
        let unpaused = self.service()
        #expect(try await unpaused.promote(concertID: 1).admitted == 1)
        #expect(self.store.calls.last == "forgetShardsBefore")
    }

    @Test("a concert that asks for a proof of work: none or a used one is refused; a live token comes back without one")
    func proofOfWork() async throws {
        self.store.set(concertID: 1, ["powDifficulty": "4"])
        let queue = self.service()
        let (first, second) = (UUID(), UUID())
        await #expect(throws: BoxOfficeError.proofRequired) { try await queue.issueToken(userID: first, concertID: 1) }
        let challenge = try await queue.challenge(concertID: 1)
        let proof = ProofOfWork.Proof(challenge: challenge.challenge, nonce: ProofOfWork.solve(challenge.challenge, difficulty: 4))
        let issued = try await queue.issueToken(userID: first, concertID: 1, proof: proof)
        #expect(issued.isNew)
        await #expect(throws: BoxOfficeError.proofInvalid("This challenge was used already; ask for a new one.")) {
            try await queue.issueToken(userID: second, concertID: 1, proof: proof)
        }
        let live = try await queue.issueToken(userID: first, concertID: 1)
        #expect(!live.isNew && live.status.token == issued.status.token)
    }

    @Test("an ended token is TOKEN_EXPIRED, a malformed one TOKEN_INVALID; a newer stream supersedes an older one")
    func tokenStatesAndStreams() async throws {
        let queue = self.service()
        let token = try await queue.issueToken(userID: UUID(), concertID: 1).status.token
        #expect(try await queue.watch(token: token, streamID: "a", claim: true) != nil)
        #expect(try await queue.watch(token: token, streamID: "b", claim: true) != nil)
        #expect(try await queue.watch(token: token, streamID: "a", claim: false) == nil)
        try await queue.endToken(token)
        await #expect(throws: BoxOfficeError.tokenExpired) { try await queue.watch(token: token, streamID: "b", claim: false) }
        await #expect(throws: BoxOfficeError.tokenInvalid) { try await queue.watch(token: "1.nope", streamID: "b", claim: false) }
        #expect(try await queue.inspect(token: "1.nope") == nil)
    }

    @Test("settings: the shard count changes only on an empty line, an opening only before anyone arrived open")
    func settingsRules() async throws {
        let queue = self.service()
        _ = try await queue.issueToken(userID: UUID(), concertID: 1)
        await #expect(throws: BoxOfficeError.self) { try await queue.updateQueueSettings(concertID: 1, patch: QueueSettingsPatch(queueShards: 2)) }
        var opening = QueueSettingsPatch()
        opening.opensAt = .at(Timestamp.format(Date().addingTimeInterval(3_600)))
        await #expect(throws: BoxOfficeError.self) { try await queue.updateQueueSettings(concertID: 1, patch: opening) }
        #expect(try await queue.queueSettings(concertID: 1).opensAt == nil)
        let paused = try await queue.updateQueueSettings(concertID: 1, patch: QueueSettingsPatch(paused: true, activeCapacity: 7))
        #expect(paused.paused && paused.activeCapacity == 7 && paused.queueShards == 1)
    }

    @Test("arrivals before a committed opening are listed for the audit, with their shard")
    func earlyArrivals() async throws {
        let queue = self.service()
        var opening = QueueSettingsPatch()
        opening.opensAt = .at(Timestamp.format(Date().addingTimeInterval(3_600)))
        let view = try await queue.updateQueueSettings(concertID: 1, patch: opening)
        #expect(view.opensAt != nil)
        let users = Self.users(3)
        for user in users {
            let status = try await queue.issueToken(userID: user, concertID: 1).status
            #expect(status.position == nil && status.opensAt != nil)
        }
        let arrivals = try await queue.earlyArrivals(concertID: 1)
        #expect(Set(arrivals.map(\.userId)) == Set(users.map { $0.uuidString.lowercased() }))
        #expect(arrivals.allSatisfy { $0.shard == 0 && $0.admittedAt == nil })
        #expect(try await queue.openingCommitment(concertID: 1).seedCommitment != nil)
    }
}

extension Array {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
