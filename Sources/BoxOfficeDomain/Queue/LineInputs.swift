/// What a waiter's wait rests on, as the queue store reads it (Redis: the scripts' `line_inputs`) or a
/// poll snapshot keeps it; QueueEstimator does the arithmetic.
public struct LineInputs: Sendable, Equatable {
    /// Redis time (ms) of the reading.
    public var now: Int
    /// The promoter's last tick (ms).
    public var lastTick: Int
    /// Admissions banked at the last tick.
    public var banked: Double
    /// Admitted fans holding a slot.
    public var active: Int
    /// The end (ms) of the active window whose slot the waiter's chain takes; 0: a free slot.
    public var slotEnd: Int
    /// How long admitted fans kept their slot lately (ms); nil before anyone left.
    public var meanHoldMilliseconds: Double?

    public init(now: Int, lastTick: Int, banked: Double, active: Int, slotEnd: Int, meanHoldMilliseconds: Double?) {
        self.now = now
        self.lastTick = lastTick
        self.banked = banked
        self.active = active
        self.slotEnd = slotEnd
        self.meanHoldMilliseconds = meanHoldMilliseconds
    }

    /// The promoter has not ticked this line for 5 s (it ticks every 250 ms while anyone waits): its
    /// registration was lost (an instance died between a token and its registration, see LiveLines).
    var looksUnticked: Bool { self.now - self.lastTick > 5_000 }

    /// The load behind the wait of the waiter at `rank`: the credit banked at the last tick plus what
    /// the rate has earned since (at most a second's worth, as the promoter banks), the window end the
    /// waiter's chain starts from, and the measured mean hold.
    func load(rank: Int, admitPerSecond: Double, capacity: Int, activeSeconds: Int) -> QueueLoad {
        let credit = min(max(1, admitPerSecond), self.banked + admitPerSecond * Double(max(0, self.now - self.lastTick)) / 1000)
        return QueueLoad(
            rank: rank, admitPerSecond: admitPerSecond, capacity: capacity, activeSeconds: Double(activeSeconds), active: self.active,
            credit: credit, slotEndsInSeconds: self.slotEnd > 0 ? Double(self.slotEnd - self.now) / 1000 : nil,
            meanHoldSeconds: self.meanHoldMilliseconds.map { $0 / 1000 })
    }
}
