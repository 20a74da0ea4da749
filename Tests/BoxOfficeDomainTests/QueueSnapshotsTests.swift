@testable import BoxOfficeDomain
import Foundation
import Testing

@Suite("Poll snapshots: ranks from samples, the gone log, touches")
struct QueueSnapshotsTests {
    /// A line whose waiters stand at `places` (ascending), sampled as queue-snapshot samples it.
    static func snapshot(_ places: [Double], samples: Int = QueueSnapshots.samples, active: Int = 0, ends: [Int]? = []) -> LineSnapshot {
        let step = max(1, Int((Double(places.count) / Double(samples)).rounded(.up)))
        return LineSnapshot(
            received: .now, now: 1_000_000, opensAt: 0, lastTick: 1_000_000, banked: 0, active: active, meanHoldMilliseconds: nil,
            waiting: places.count, step: step, samples: stride(from: 0, to: places.count, by: step).map { places[$0] },
            lastPlace: places.last, activeEnds: ends)
    }

    @Test("ranks are exact when every place is sampled, and off by less than the step past that")
    func ranks() {
        // Arrival sequence with gaps (waiters who left): 1, 3, 4, 7, ...
        var generator = SystemRandomNumberGenerator()
        var places: [Double] = []
        var next = 1.0
        for _ in 0..<5_000 {
            places.append(next)
            next += Double(Int.random(in: 1...3, using: &generator))
        }
        let exact = Self.snapshot(Array(places.prefix(800)))
        for (rank, place) in places.prefix(800).enumerated() { #expect(exact.rank(ofPlace: place) == rank) }
        let sampled = Self.snapshot(places, samples: 1_000)
        #expect(sampled.step == 5)
        var worst = 0
        for (rank, place) in places.enumerated() {
            let estimate = sampled.rank(ofPlace: place)!
            worst = max(worst, abs(estimate - rank))
        }
        #expect(worst < sampled.step)
    }

    @Test("a place ahead of the line's head is not waiting any more; one behind its end arrived since")
    func outsideTheLine() {
        let line = Self.snapshot([10, 11, 12, 13])
        #expect(line.rank(ofPlace: 9) == nil)
        #expect(line.rank(ofPlace: 14) == 4)
        #expect(line.rank(ofPlace: 20) == 10)
        #expect(Self.snapshot([]).rank(ofPlace: 1) == nil)
        // Early arrivals' places lie in [-1, 0): a later arrival's gap says nothing.
        #expect(Self.snapshot([-0.9, -0.5]).rank(ofPlace: 3) == 2)
    }

    @Test("the slot a waiter's chain takes comes from the active windows' ends, as the script reads it")
    func slotEnds() {
        let line = Self.snapshot([1, 2, 3], active: 2, ends: [5_000, 9_000])
        // Capacity 3, 2 active: rank 1 takes the free slot, rank 2 the first window's, rank 4 the free slot again.
        #expect(line.inputs(rank: 1, capacity: 3, now: 1)?.slotEnd == 0)
        #expect(line.inputs(rank: 2, capacity: 3, now: 1)?.slotEnd == 5_000)
        #expect(line.inputs(rank: 3, capacity: 3, now: 1)?.slotEnd == 9_000)
        #expect(line.inputs(rank: 4, capacity: 3, now: 1)?.slotEnd == 0)
        // Too many windows to carry: no answer from the snapshot.
        #expect(Self.snapshot([1], active: 2, ends: nil).inputs(rank: 1, capacity: 2, now: 1) == nil)
    }

    @Test("a waiter is cached only if no snapshot came in during its look; gone tokens and resets forget")
    func cache() {
        let snapshots = QueueSnapshots(interval: .milliseconds(500))
        let line = QueueLineID(concertID: 1, shard: 0)
        let start = ContinuousClock.now
        // Before the line's first snapshot nothing is cached, but the line becomes due.
        snapshots.remember(token: "a", user: "u", place: 1, line: line, marker: snapshots.marker(line: line), now: start)
        #expect(snapshots.lookUp(token: "a", line: line, now: start) == nil)
        let due = snapshots.due(now: start)
        #expect(due.map(\.line) == [line])
        #expect(due.first?.goneCount == -1)
        snapshots.apply(SnapshotRead(line: Self.snapshot([1, 2, 3]), goneCount: 7, reset: true, gone: []), line: line)
        #expect(snapshots.marker(line: line) == 7)

        snapshots.remember(token: "a", user: "u", place: 1, line: line, marker: 7, now: start)
        #expect(snapshots.lookUp(token: "a", line: line, now: .now)?.waiter.user == "u")
        // A look that began before a snapshot came in caches nothing.
        snapshots.remember(token: "b", user: "v", place: 2, line: line, marker: 6, now: start)
        #expect(snapshots.lookUp(token: "b", line: line, now: .now) == nil)

        // The answered poll is a touch the next refresh carries; a failed refresh keeps it.
        let refresh = snapshots.due(now: .now)
        #expect(refresh.first?.touched == ["a"])
        #expect(snapshots.due(now: .now).first?.touched == [])
        snapshots.restore(refresh[0])
        #expect(snapshots.due(now: .now).first?.touched == ["a"])

        snapshots.apply(SnapshotRead(line: Self.snapshot([1, 2, 3]), goneCount: 8, reset: false, gone: ["a"]), line: line)
        #expect(snapshots.lookUp(token: "a", line: line, now: .now) == nil)
        #expect(snapshots.cachedWaiters == 0)

        // An old snapshot answers nothing; a line nobody asked about for a minute is forgotten.
        snapshots.remember(token: "c", user: "w", place: 3, line: line, marker: 8, now: start)
        #expect(snapshots.lookUp(token: "c", line: line, now: .now + .seconds(2)) == nil)
        // Asked about last at +2 s: at +61 s not refreshed any more, but kept; at +200 s forgotten.
        #expect(snapshots.due(now: .now + .seconds(61)).isEmpty)
        #expect(snapshots.marker(line: line) == 8)
        #expect(snapshots.due(now: .now + .seconds(200)).isEmpty)
        #expect(snapshots.marker(line: line) == nil)
    }
}
