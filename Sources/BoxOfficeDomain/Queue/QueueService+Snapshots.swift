import Foundation
import HiredisClient

/// Status polls answered from the instance's snapshot of the line (QueueSnapshots), and the
/// refresh that keeps the snapshots and carries the polls' signs of life to Redis.
extension QueueService {
    /// A cached waiter's ticket from a fresh snapshot; nil when Redis must answer: the token is not
    /// cached, the snapshot is old, the waiter stands at the front or ahead of the whole line
    /// (admitted or gone), the opening has passed since the snapshot.
    func snapshotTicket(token: String, line id: QueueLineID, snapshots: QueueSnapshots) async throws -> QueueTicket? {
        let now = ContinuousClock.now
        guard let (waiter, snapshot) = snapshots.lookUp(token: token, line: id, now: now) else { return nil }
        let plan = try await self.plans.plan(concertID: id.concertID)
        let redisNow = snapshot.now + Int((now - snapshot.received) / .milliseconds(1))
        let state: TokenState
        if snapshot.opensAt > 0 {
            guard snapshot.opensAt > redisNow else { return nil }
            state = Self.countdownState(user: waiter.user, opensAtMilliseconds: snapshot.opensAt)
        } else {
            guard let rank = snapshot.rank(ofPlace: waiter.place).map({ $0 + 1 }), rank > snapshots.exactFront(admitPerSecond: plan.shardRate),
                let inputs = snapshot.inputs(rank: rank, capacity: plan.shardCapacity(id.shard), now: redisNow)
            else { return nil }
            state = Self.waitingState(user: waiter.user, rank: rank, inputs: inputs, plan: plan, shard: id.shard)
        }
        let soldOut = await self.concerts.isSoldOut(id.concertID)
        return QueueTicket(token: token, concertID: id.concertID, state: state, waitingIdleSeconds: plan.waitingIdleSeconds, soldOut: soldOut)
    }

    /// Refreshes every line whose waiters polled this instance lately, four at a time (one
    /// queue-snapshot script each). A line whose refresh fails keeps its touches for the next try;
    /// the first failure is rethrown for the job's log once the others are done.
    public func refreshSnapshots() async throws {
        guard let snapshots = self.snapshots else { return }
        let due = snapshots.due(now: .now)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, refresh) in due.enumerated() {
                if index >= 4 { try await group.next() }
                group.addTask {
                    do {
                        try await self.refresh(refresh, snapshots: snapshots)
                    } catch {
                        snapshots.restore(refresh)
                        throw error
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    private func refresh(_ refresh: QueueSnapshots.Refresh, snapshots: QueueSnapshots) async throws {
        let plan = try await self.plans.plan(concertID: refresh.line.concertID)
        let keys = QueueKeys(concertID: refresh.line.concertID, shard: refresh.line.shard)
        let arguments: [RedisArgument] =
            [
                RedisArgument(keys.prefix), plan.shards > 1 ? plan.openingArgument : "", RedisArgument(refresh.goneCount),
                RedisArgument(QueueSnapshots.samples), RedisArgument(QueueSnapshots.maxActiveEnds),
            ] + refresh.touched.map { RedisArgument($0) }
        let reply = try await self.redis.run(QueueScripts.snapshot, keys: [keys.routingKey], arguments: arguments).checked()
        guard let read = SnapshotRead(reply, received: .now) else { throw RedisError.unexpectedReply("queue-snapshot: \(reply)") }
        snapshots.apply(read, line: refresh.line)
        // A line with waiters that the promoter has not ticked for 5 s lost its registration (see look).
        if read.line.waiting > 0, read.line.opensAt == 0, read.line.now - read.line.lastTick > 5_000 {
            try await self.lines.register(concertID: refresh.line.concertID)
        }
    }
}

extension SnapshotRead {
    /// queue-snapshot's reply (see QueueScripts.snapshot).
    init?(_ reply: RedisReply, received: ContinuousClock.Instant) {
        guard let fields = reply.array, fields.count == 14, let now = fields[0].int, let opensAt = fields[1].int, let lastTick = fields[2].int,
            let active = fields[4].int, let waiting = fields[6].int, let step = fields[7].int, let goneCount = fields[8].int,
            let samples = fields[10].array?.compactMap({ $0.string.flatMap(Double.init) }), let ends = fields[12].array?.compactMap(\.int),
            let gone = fields[13].array?.compactMap(\.string)
        else { return nil }
        self.init(
            line: LineSnapshot(
                received: received, now: now, opensAt: opensAt, lastTick: lastTick, banked: fields[3].string.flatMap(Double.init) ?? 0,
                active: active, meanHoldMilliseconds: fields[5].string.flatMap(Double.init), waiting: waiting, step: max(1, step),
                samples: samples, lastPlace: fields[11].string.flatMap(Double.init), activeEnds: ends.count == active ? ends : nil),
            goneCount: goneCount, reset: fields[9].int == 1, gone: gone)
    }
}
