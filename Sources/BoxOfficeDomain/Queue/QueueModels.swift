import Foundation

/// The queue status shape every queue call answers with.
public struct QueueStatus: Sendable, Equatable, Encodable {
    public enum State: String, Sendable, Encodable {
        case waiting = "WAITING"
        case active = "ACTIVE"
    }

    public var token: String
    public var userId: String
    public var concertId: Int
    public var status: State
    public var position: Int?
    /// Seconds until admission (0 when ACTIVE, the countdown before the opening); nil while the
    /// line is paused: then nobody can say.
    public var estimatedWaitSeconds: Int?
    public var activeUntil: Date?
    public var pollAfterSeconds: Int
    /// When the concert's sale opens; nil once it is open.
    public var opensAt: Date?
    /// No seat is AVAILABLE or HELD on any bookable date: nobody more is admitted, no wait is promised.
    public var soldOut: Bool
    /// The line is paused: a waiter keeps its place, nobody is admitted, no wait is promised.
    public var paused: Bool { self.status == .waiting && self.estimatedWaitSeconds == nil && !self.soldOut }

    public init(
        token: String, userId: String, concertId: Int, status: State, position: Int?, estimatedWaitSeconds: Int?, activeUntil: Date?,
        pollAfterSeconds: Int, opensAt: Date? = nil, soldOut: Bool = false
    ) {
        self.opensAt = opensAt
        self.soldOut = soldOut
        self.token = token
        self.userId = userId
        self.concertId = concertId
        self.status = status
        self.position = position
        self.estimatedWaitSeconds = estimatedWaitSeconds
        self.activeUntil = activeUntil
        self.pollAfterSeconds = pollAfterSeconds
    }

    enum CodingKeys: String, CodingKey {
        case token, userId, concertId, status, position, estimatedWaitSeconds, activeUntil, pollAfterSeconds, opensAt, paused, soldOut
    }

    /// Written by hand so absent values appear as `null`, as the contract shows them.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.token, forKey: .token)
        try container.encode(self.userId, forKey: .userId)
        try container.encode(self.concertId, forKey: .concertId)
        try container.encode(self.status, forKey: .status)
        try container.encode(self.position, forKey: .position)
        try container.encode(self.estimatedWaitSeconds, forKey: .estimatedWaitSeconds)
        try container.encode(self.activeUntil.map(Timestamp.format), forKey: .activeUntil)
        try container.encode(self.pollAfterSeconds, forKey: .pollAfterSeconds)
        try container.encode(self.opensAt.map(Timestamp.format), forKey: .opensAt)
        try container.encode(self.paused, forKey: .paused)
        try container.encode(self.soldOut, forKey: .soldOut)
    }
}

/// What Redis knows about a presented token.
public enum TokenState: Sendable, Equatable {
    /// Never issued, or long forgotten.
    case unknown
    /// Ended (paid, timed out, dropped); still remembered for a while with its user.
    case ended(userID: String)
    /// Before the sale opens: no position (`position` nil) and `opensAt`; the wait counts down to it.
    /// A paused line: no wait (`estimatedWaitSeconds` nil).
    case waiting(userID: String, position: Int?, estimatedWaitSeconds: Int?, opensAt: Date? = nil)
    case active(userID: String, until: Date)
}

/// The caller of a protected route, as the token middleware found it.
public struct QueueTicket: Sendable, Equatable {
    public let token: String
    public let concertID: Int
    public let state: TokenState
    /// The line's idle limit, which bounds `pollAfterSeconds`.
    public let waitingIdleSeconds: Int
    /// What was left of the concert's seats when the ticket was looked at.
    public let supply: SeatSupply

    public init(token: String, concertID: Int, state: TokenState, waitingIdleSeconds: Int = .max, supply: SeatSupply = .seatsFree) {
        self.token = token
        self.concertID = concertID
        self.state = state
        self.waitingIdleSeconds = waitingIdleSeconds
        self.supply = supply
    }

    public var soldOut: Bool { self.supply == .soldOut }

    public var userID: String? {
        switch self.state {
        case .unknown: nil
        case .ended(let user), .waiting(let user, _, _, _), .active(let user, _): user
        }
    }
}

/// The result of one promotion tick of one concert (summed over the shards of a split line).
public struct PromotionResult: Sendable, Equatable {
    public var admitted: Int
    public var expired: Int
    public var dropped: Int
    public var waiting: Int
    public var active: Int
    /// Measured admissions per second (moving average over about 10 s).
    public var admittedPerSecond: Double = 0
    /// Seconds until the last waiter is admitted (`QueueEstimator`); nil while the line is paused or
    /// not open yet. A split line drains when its slowest shard does.
    public var estimatedDrainSeconds: Double? = 0

    /// Nobody waits or holds a slot, and the measured rate has decayed to 0: nothing for a tick to do.
    public var isIdle: Bool { self.waiting == 0 && self.active == 0 && self.admittedPerSecond == 0 }

    static func + (lhs: PromotionResult, rhs: PromotionResult) -> PromotionResult {
        PromotionResult(
            admitted: lhs.admitted + rhs.admitted, expired: lhs.expired + rhs.expired, dropped: lhs.dropped + rhs.dropped,
            waiting: lhs.waiting + rhs.waiting, active: lhs.active + rhs.active, admittedPerSecond: lhs.admittedPerSecond + rhs.admittedPerSecond,
            estimatedDrainSeconds: QueueEstimator.slowest(lhs.estimatedDrainSeconds, rhs.estimatedDrainSeconds))
    }
}
