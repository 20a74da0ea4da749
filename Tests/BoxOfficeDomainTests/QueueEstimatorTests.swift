import BoxOfficeDomain
import Testing

@Suite("QueueEstimator")
struct QueueEstimatorTests {
    /// A line limited by its rate alone (capacity to spare).
    static func rateLimited(rank: Int, rate: Double, credit: Double = 0) -> QueueLoad {
        QueueLoad(rank: rank, admitPerSecond: rate, capacity: 1_000_000, activeSeconds: 300, credit: credit)
    }

    @Test("at the rate limit the wait is the admissions still to earn over the configured rate")
    func rateLimit() {
        #expect(QueueEstimator.admissionSeconds(Self.rateLimited(rank: 228, rate: 20)) == 11.4)
        // Credit banked by the promoter admits that many at the next tick.
        #expect(QueueEstimator.admissionSeconds(Self.rateLimited(rank: 228, rate: 20, credit: 8)) == 11)
        #expect(QueueEstimator.admissionSeconds(Self.rateLimited(rank: 5, rate: 20, credit: 8)) == 0)
        // Whole seconds, the nearest: rounding up would add half a second to every promise.
        #expect(QueueEstimator.estimatedWaitSeconds(Self.rateLimited(rank: 228, rate: 20)) == 11)
        #expect(QueueEstimator.estimatedWaitSeconds(Self.rateLimited(rank: 230, rate: 20)) == 12)
        #expect(QueueEstimator.estimatedWaitSeconds(Self.rateLimited(rank: 7, rate: 0.5)) == 14)
    }

    @Test("when the capacity limits admission, the wait follows the chain of slots: free ones, then window ends, then one hold per capacity ahead")
    func capacityLimit() {
        // Capacity 30, windows of 3 s, 40/s, nobody active: the first 30 come in at the rate; number 45
        // takes the slot of number 15 (admitted at 0.375 s), free 3 s later.
        let empty = QueueLoad(rank: 45, admitPerSecond: 40, capacity: 30, activeSeconds: 3)
        #expect(QueueEstimator.admissionSeconds(empty) == 3.375)
        // Number 95: three capacities ahead of number 5 (0.125 s): 0.125 + 3 x 3.
        #expect(QueueEstimator.admissionSeconds(QueueLoad(rank: 95, admitPerSecond: 40, capacity: 30, activeSeconds: 3)) == 9.125)
        // All slots taken: number 10 waits for the window that ends 10th, in 2 s.
        let full = QueueLoad(rank: 10, admitPerSecond: 40, capacity: 30, activeSeconds: 3, active: 30, slotEndsInSeconds: 2)
        #expect(QueueEstimator.admissionSeconds(full) == 2)
        // Fans who pay after 1 s of their 3 s: that window ends 2 s early, and every later slot turns over each second.
        var paying = full
        paying.rank = 40
        paying.slotEndsInSeconds = 2.5
        paying.meanHoldSeconds = 1
        #expect(QueueEstimator.admissionSeconds(paying) == 1.5)
        // Holds that stretch windows past activeSeconds do not make a known window end earlier.
        var stretching = full
        stretching.meanHoldSeconds = 4
        #expect(QueueEstimator.admissionSeconds(stretching) == 2)
        #expect(QueueEstimator.admissionSeconds(QueueLoad(rank: 70, admitPerSecond: 40, capacity: 30, activeSeconds: 3, meanHoldSeconds: 4)) == 8.25)
        // The rate still binds when slots turn over faster than it admits.
        #expect(QueueEstimator.admissionSeconds(QueueLoad(rank: 400, admitPerSecond: 40, capacity: 30, activeSeconds: 3, meanHoldSeconds: 0.1)) == 10)
    }

    @Test("rank 0, no rate, huge waits")
    func edges() {
        #expect(QueueEstimator.estimatedWaitSeconds(Self.rateLimited(rank: 0, rate: 10)) == 0)
        #expect(QueueEstimator.estimatedWaitSeconds(Self.rateLimited(rank: -3, rate: 10)) == 0)
        #expect(QueueEstimator.estimatedWaitSeconds(Self.rateLimited(rank: 5, rate: 0)) == 0)
        #expect(QueueEstimator.estimatedWaitSeconds(QueueLoad(rank: 5, admitPerSecond: 10, capacity: 0, activeSeconds: 1)) >= 0)
        // Capped, never traps on overflow.
        #expect(QueueEstimator.estimatedWaitSeconds(Self.rateLimited(rank: Int.max, rate: 0.001)) == Int(Int32.max))
    }

    @Test("estimates grow with the rank", arguments: [1_000_000, 37, 1])
    func monotonic(capacity: Int) {
        var previous = 0.0
        for rank in 1...2_000 {
            let wait = QueueEstimator.admissionSeconds(
                QueueLoad(rank: rank, admitPerSecond: 37, capacity: capacity, activeSeconds: 5, active: capacity / 2, credit: 3,
                          slotEndsInSeconds: 1.5))
            #expect(wait >= previous)
            previous = wait
        }
    }

    @Test("pollAfterSeconds is 1 near the front and when ACTIVE")
    func pollNearFront() {
        #expect(QueueEstimator.pollAfterSeconds(position: nil, estimatedWaitSeconds: 0) == 1)
        for position in 1...10 {
            #expect(QueueEstimator.pollAfterSeconds(position: position, estimatedWaitSeconds: 10_000) == 1)
        }
        // Far back but due soon: still at least 1.
        #expect(QueueEstimator.pollAfterSeconds(position: 500, estimatedWaitSeconds: 3) == 1)
    }

    @Test("pollAfterSeconds grows with the wait and is capped at 30")
    func pollGrowsAndCaps() {
        #expect(QueueEstimator.pollAfterSeconds(position: 50, estimatedWaitSeconds: 100) == 10)
        #expect(QueueEstimator.pollAfterSeconds(position: 50, estimatedWaitSeconds: 300) == 30)
        #expect(QueueEstimator.pollAfterSeconds(position: 100_000, estimatedWaitSeconds: 100_000) == 30)
        var previous = 1
        for position in stride(from: 11, through: 100_000, by: 97) {
            let wait = QueueEstimator.estimatedWaitSeconds(Self.rateLimited(rank: position, rate: 100))
            let poll = QueueEstimator.pollAfterSeconds(position: position, estimatedWaitSeconds: wait)
            #expect((1...30).contains(poll))
            #expect(poll >= previous)
            previous = poll
        }
        #expect(previous == 30)
    }

    @Test("pollAfterSeconds is at most a third of the line's waitingIdleSeconds, whatever the state")
    func pollWithinIdleLimit() {
        for idle in [1, 2, 3, 4, 9, 20, 45, 60, 90, 600] {
            let ceiling = max(1, idle / 3)
            for (position, wait) in [(50, 100_000), (100_000, 300), (20, 40), (5, 1)] as [(Int, Int)] {
                #expect(QueueEstimator.pollAfterSeconds(position: position, estimatedWaitSeconds: wait, waitingIdleSeconds: idle) <= ceiling)
                #expect(
                    QueueEstimator.pollAfterSeconds(position: nil, estimatedWaitSeconds: wait, opening: true, waitingIdleSeconds: idle)
                        <= ceiling)
            }
            #expect(QueueEstimator.pollAfterSeconds(position: 7, estimatedWaitSeconds: nil, waitingIdleSeconds: idle) <= ceiling)
        }
        // The case: a 30 s poll against a 20 s idle limit dropped fans who polled as told.
        #expect(QueueEstimator.pollAfterSeconds(position: 50_000, estimatedWaitSeconds: 3_000, waitingIdleSeconds: 20) == 6)
        #expect(QueueEstimator.pollAfterSeconds(position: 50_000, estimatedWaitSeconds: 3_000, waitingIdleSeconds: 600) == 30)
    }

    @Test("before the opening: the longest pause until the countdown is shorter, then once just after the opening")
    func pollBeforeOpening() {
        #expect(QueueEstimator.pollAfterSeconds(position: nil, estimatedWaitSeconds: 600, opening: true) == 30)
        #expect(QueueEstimator.pollAfterSeconds(position: nil, estimatedWaitSeconds: 40, opening: true, waitingIdleSeconds: 60) == 20)
        #expect(QueueEstimator.pollAfterSeconds(position: nil, estimatedWaitSeconds: 12, opening: true) == 13)
        #expect(QueueEstimator.pollAfterSeconds(position: nil, estimatedWaitSeconds: 12, opening: true, spread: 4) == 17)
        #expect(QueueEstimator.pollAfterSeconds(position: nil, estimatedWaitSeconds: 0, opening: true) == 1)
        // Every early fan's next look lands after the opening, never in the last seconds before it.
        for countdown in 0...29 {
            for spread in 0...4 {
                let after = QueueEstimator.pollAfterSeconds(position: nil, estimatedWaitSeconds: countdown, opening: true, spread: spread)
                #expect(after > countdown && after <= 30)
            }
        }
    }

    @Test("a paused line (no wait known) is polled every 5 s")
    func pollPaused() {
        #expect(QueueEstimator.pollAfterSeconds(position: 3, estimatedWaitSeconds: nil) == 5)
        #expect(QueueEstimator.pollAfterSeconds(position: 30_000, estimatedWaitSeconds: nil) == 5)
    }
}
