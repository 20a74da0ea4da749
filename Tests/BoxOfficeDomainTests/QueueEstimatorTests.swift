import BoxOfficeDomain
import Testing

@Suite("QueueEstimator")
struct QueueEstimatorTests {
    @Test("the measured rate is preferred over the configured one")
    func measuredRatePreferred() {
        // 100 waiters ahead at a measured 10/s: 10 s, whatever was configured.
        #expect(QueueEstimator.estimatedWaitSeconds(position: 100, measuredRate: 10, configuredRate: 1_000) == 10)
        #expect(QueueEstimator.estimatedWaitSeconds(position: 100, measuredRate: 10, configuredRate: 1) == 10)
        // Fractions round up: a waiter is never told it is due sooner than it is.
        #expect(QueueEstimator.estimatedWaitSeconds(position: 101, measuredRate: 10, configuredRate: 1) == 11)
        #expect(QueueEstimator.estimatedWaitSeconds(position: 1, measuredRate: 1_000, configuredRate: 1) == 1)
    }

    @Test("the configured rate is the fallback before anything was measured")
    func configuredFallback() {
        #expect(QueueEstimator.estimatedWaitSeconds(position: 100, measuredRate: 0, configuredRate: 20) == 5)
        // A measured rate of (nearly) zero is "nothing measured yet", not "forever".
        #expect(QueueEstimator.estimatedWaitSeconds(position: 100, measuredRate: 0.001, configuredRate: 20) == 5)
        #expect(QueueEstimator.estimatedWaitSeconds(position: 7, measuredRate: 0, configuredRate: 0.5) == 14)
    }

    @Test("position 0, no rate at all, and huge waits")
    func edges() {
        #expect(QueueEstimator.estimatedWaitSeconds(position: 0, measuredRate: 10, configuredRate: 10) == 0)
        #expect(QueueEstimator.estimatedWaitSeconds(position: -3, measuredRate: 10, configuredRate: 10) == 0)
        #expect(QueueEstimator.estimatedWaitSeconds(position: 5, measuredRate: 0, configuredRate: 0) == 0)
        // Capped, never traps on overflow.
        #expect(QueueEstimator.estimatedWaitSeconds(position: Int.max, measuredRate: 0, configuredRate: 0.001) == Int(Int32.max))
    }

    @Test("estimates grow with the position")
    func monotonic() {
        var previous = 0
        for position in 1...2_000 {
            let wait = QueueEstimator.estimatedWaitSeconds(position: position, measuredRate: 0, configuredRate: 37)
            #expect(wait >= previous)
            #expect(wait >= 1)
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
            let wait = QueueEstimator.estimatedWaitSeconds(position: position, measuredRate: 0, configuredRate: 100)
            let poll = QueueEstimator.pollAfterSeconds(position: position, estimatedWaitSeconds: wait)
            #expect((1...30).contains(poll))
            #expect(poll >= previous)
            previous = poll
        }
        #expect(previous == 30)
    }
}
