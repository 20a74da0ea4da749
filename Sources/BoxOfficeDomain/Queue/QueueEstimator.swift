/// Pure arithmetic behind the queue status fields, kept apart so it can be unit-tested.
public enum QueueEstimator {
    /// Seconds until a waiter at `position` (1-based) is admitted at `admissionsPerSecond`.
    /// The measured rate is used when there is one; the configured rate only before anything was measured.
    public static func estimatedWaitSeconds(position: Int, measuredRate: Double, configuredRate: Double) -> Int {
        let rate = measuredRate > 0.01 ? measuredRate : configuredRate
        guard rate > 0, position > 0 else { return 0 }
        let seconds = (Double(position) / rate).rounded(.up)
        return seconds >= Double(Int32.max) ? Int(Int32.max) : Int(seconds)
    }

    /// How long a client should wait before its next poll: 1 s near the front, up to 30 s far back,
    /// about a tenth of the remaining wait, so 100,000 waiters do not all poll every second. Before
    /// the opening, a tenth of the countdown (at most 30 s): a waiter stays alive and sees the opening.
    public static func pollAfterSeconds(position: Int?, estimatedWaitSeconds: Int, opening: Bool = false) -> Int {
        if opening { return min(30, max(1, estimatedWaitSeconds / 10)) }
        guard let position, position > 10 else { return 1 }
        return min(30, max(1, estimatedWaitSeconds / 10))
    }

    /// Seconds until a line of `waiting` is empty at the measured rate: 0 without waiters, nil while
    /// people wait and nobody is admitted (paused, not open yet, no free slot).
    public static func drainSeconds(waiting: Int, admittedPerSecond: Double) -> Int? {
        if waiting == 0 { return 0 }
        return admittedPerSecond > 0.01 ? Int((Double(waiting) / admittedPerSecond).rounded(.up)) : nil
    }
}
