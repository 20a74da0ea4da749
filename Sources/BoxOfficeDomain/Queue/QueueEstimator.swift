/// What a line (or one shard of a split line) looks like to the waiter at `rank`, as the queue
/// scripts read it in the same atomic step: enough to predict when that waiter is admitted.
public struct QueueLoad: Sendable, Equatable {
    /// 1-based place among this line's waiters.
    public var rank: Int
    /// The configured admissions per second (this shard's share).
    public var admitPerSecond: Double
    /// The configured active capacity (this shard's share).
    public var capacity: Int
    public var activeSeconds: Double
    /// Admitted fans holding a slot now.
    public var active: Int
    /// Admissions already earned and not yet made (the promoter banks at most a second's worth).
    public var credit: Double
    /// Seconds until the active window ends whose slot this waiter will take; nil when a slot is free.
    public var slotEndsInSeconds: Double?
    /// How long admitted fans have kept their slot lately (paying ends it early, a hold can stretch
    /// it); nil before anyone left.
    public var meanHoldSeconds: Double?

    public init(
        rank: Int, admitPerSecond: Double, capacity: Int, activeSeconds: Double, active: Int = 0, credit: Double = 0,
        slotEndsInSeconds: Double? = nil, meanHoldSeconds: Double? = nil
    ) {
        self.rank = rank
        self.admitPerSecond = admitPerSecond
        self.capacity = capacity
        self.activeSeconds = activeSeconds
        self.active = active
        self.credit = credit
        self.slotEndsInSeconds = slotEndsInSeconds
        self.meanHoldSeconds = meanHoldSeconds
    }
}

/// Pure arithmetic behind the queue status fields, kept apart so it can be unit-tested.
public enum QueueEstimator {
    /// Seconds until the waiter described by `load` is admitted, from the rules the promoter
    /// follows rather than from a moving average of what it did (which overshoots after a burst and
    /// lags an operator's change). Two limits, whichever is later:
    /// - the rate: the k-th admission from now needs k − credit more admissions earned, at the
    ///   configured rate;
    /// - the capacity: the k-th admission needs a slot. Free slots go first, then the slots of the
    ///   active windows in the order they end, then the slot of admission k − capacity, which frees
    ///   a mean hold time after that admission. So the waiter's chain k, k − capacity, ... starts at
    ///   one known window end and adds one hold time per capacity of people ahead.
    /// A window is assumed to end a mean hold time after its admission when fans leave early (they
    /// pay), and at its end at the latest.
    public static func admissionSeconds(_ load: QueueLoad) -> Double {
        guard load.rank > 0, load.admitPerSecond > 0 else { return 0 }
        let capacity = max(1, load.capacity)
        let hold = max(0.001, load.meanHoldSeconds ?? load.activeSeconds)
        func byRate(_ admissions: Int) -> Double { max(0, Double(admissions) - load.credit) / load.admitPerSecond }
        let first = (load.rank - 1) % capacity + 1
        let generations = (load.rank - first) / capacity
        let firstSlot = max(0, (load.slotEndsInSeconds ?? 0) - max(0, load.activeSeconds - hold))
        let firstAdmission = max(byRate(first), firstSlot)
        return max(byRate(load.rank), firstAdmission + Double(generations) * hold)
    }

    /// `admissionSeconds` in whole seconds, the nearest (rounding up would add half a second to
    /// every promise), capped so that JSON clients never see an overflowing integer.
    public static func estimatedWaitSeconds(_ load: QueueLoad) -> Int {
        let seconds = self.admissionSeconds(load).rounded()
        return seconds >= Double(Int32.max) ? Int(Int32.max) : Int(seconds)
    }

    /// The drain time of a line split in shards: its slowest shard's; unknown when any shard's is.
    public static func slowest<T: Comparable>(_ lhs: T?, _ rhs: T?) -> T? {
        lhs.flatMap { left in rhs.map { max(left, $0) } }
    }

    /// How long a client should wait before its next poll: 1 s near the front, up to 30 s far back,
    /// about a tenth of the remaining wait, so 100,000 waiters do not all poll every second.
    /// Before the opening nothing changes until the opening itself: the longest pause (30 s or the
    /// ceiling) until the countdown is shorter than that, then the countdown plus 1 s plus `spread`
    /// (the caller's random 0...4 s), so the early crowd looks once, just after the opening, spread
    /// over five seconds, instead of every second in the last ten (issue 22's rehearsal: 16,700 early
    /// fans made 16,700 polls a second at the opening under the old "a tenth of the countdown").
    /// While the line is paused (no wait known), 5 s: a resumption shows soon enough.
    /// Never more than a third of the line's `waitingIdleSeconds` (1 s when that is under 3 s): a
    /// waiter dropped for not polling must have missed at least two polls it was told to make.
    public static func pollAfterSeconds(
        position: Int?, estimatedWaitSeconds: Int?, opening: Bool = false, waitingIdleSeconds: Int = .max, spread: Int = 0
    ) -> Int {
        let ceiling = max(1, waitingIdleSeconds / 3)
        guard let estimatedWaitSeconds else { return min(5, ceiling) }
        if opening { return min(30, ceiling, max(1, estimatedWaitSeconds + 1 + spread)) }
        guard let position, position > 10 else { return 1 }
        return min(30, ceiling, max(1, estimatedWaitSeconds / 10))
    }
}
