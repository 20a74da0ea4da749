import Foundation

/// Status polls answered from the instance's snapshot of the line (QueueSnapshots), and the
/// refresh that keeps the snapshots and carries the polls' signs of life to the store.
extension QueueService {
    /// A cached waiter's ticket from a fresh snapshot; nil when the store must answer: the token is not
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
        let supply = await self.concerts.seatSupply(id.concertID)
        return QueueTicket(token: token, concertID: id.concertID, state: state, waitingIdleSeconds: plan.waitingIdleSeconds, supply: supply)
    }

    /// Refreshes every line whose waiters polled this instance lately, four at a time (one store
    /// read each). A line whose refresh fails keeps its touches for the next try;
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
        let read = try await self.store.snapshot(
            line: refresh.line,
            QueueSnapshotRequest(
                opening: plan.shardOpening, goneCount: refresh.goneCount, samples: QueueSnapshots.samples,
                maxActiveEnds: QueueSnapshots.maxActiveEnds, touched: refresh.touched))
        snapshots.apply(read, line: refresh.line)
        // A line with waiters that the promoter has not ticked for 5 s lost its registration (see look).
        if read.line.waiting > 0, read.line.opensAt == 0, read.line.now - read.line.lastTick > 5_000 {
            try await self.store.registerLiveLine(concertID: refresh.line.concertID)
        }
    }
}
