/// Every outcome of a BoxOffice operation that is an answer rather than a failure of the machinery.
/// The domain throws these and knows nothing of HTTP: BoxOfficeHTTP's `ApiError` gives each its
/// status, stable `code` and wording (problem+json).
public enum BoxOfficeError: Error, Equatable, Sendable {
    case invalidRequest(String)
    case tokenInvalid
    case tokenExpired
    case notAdmitted
    case wrongConcert
    case concertNotFound
    /// The concert's line already holds its `maxWaiting` waiters.
    case queueFull
    /// No seat of the concert is AVAILABLE or HELD on any bookable date: the line is closed.
    case soldOut
    /// The concert asks for a proof of work and the token request carried none.
    case proofRequired
    /// The proof does not hold: a challenge not ours, for another concert, expired, used, or unsolved.
    case proofInvalid(String)
    /// Presales: none for this concert; one exists already; registration has closed; the draw
    /// before registration closed, or a second time; a fan who never registered.
    case presaleNotFound
    case presaleExists
    case registrationClosed
    case registrationOpen
    case alreadyDrawn
    case registrationNotFound
    /// The presale's sale window is open: a token needs the user's own winning code.
    case presaleCodeRequired
    case presaleCodeInvalid
    case dateNotFound
    case invalidSeat(String)
    case seatUnavailable
    case holdLimit
    /// The hold would pass the concert's `maxTicketsPerUser`: seats the user holds or bought, plus these.
    case ticketLimit(Int)
    case reservationNotFound
    case reservationNotHeld
    case holdExpired
    case invalidAmount(String)
    case balanceLimit
    case insufficientBalance
    case idempotencyKeyReused
    /// The concert already plays on that date.
    case dateExists
    /// Admin routes: no webhook endpoint with this id; no event with this id (or purged since).
    case webhookNotFound
    case eventNotFound
    /// Admin routes: no or a wrong `ADMIN_TOKEN`.
    case adminUnauthorized
    /// Admin routes while `ADMIN_TOKEN` is unset.
    case adminDisabled
}

/// A store answered something the domain cannot use (a bug: the request fails with 500).
public struct UnexpectedStoreReply: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
