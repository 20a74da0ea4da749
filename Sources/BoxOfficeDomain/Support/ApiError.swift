/// Every error a client can see. The HTTP layer renders these as problem+json; `code` is the
/// stable machine-readable name from API.md and `status` its HTTP status, both defined here only.
public enum ApiError: Error, Equatable, Sendable {
    case invalidRequest(String)
    case notFound(String)
    case payloadTooLarge
    case tokenInvalid
    case tokenExpired
    case notAdmitted
    case wrongConcert
    case concertNotFound
    case dateNotFound
    case invalidSeat(String)
    case seatUnavailable
    case holdLimit
    case reservationNotFound
    case reservationNotHeld
    case holdExpired
    case invalidAmount(String)
    case balanceLimit
    case insufficientBalance
    case idempotencyKeyReused
    case serviceUnavailable(String)

    public var code: String {
        switch self {
        case .invalidRequest: "INVALID_REQUEST"
        case .notFound: "NOT_FOUND"
        case .payloadTooLarge: "PAYLOAD_TOO_LARGE"
        case .tokenInvalid: "TOKEN_INVALID"
        case .tokenExpired: "TOKEN_EXPIRED"
        case .notAdmitted: "NOT_ADMITTED"
        case .wrongConcert: "WRONG_CONCERT"
        case .concertNotFound: "CONCERT_NOT_FOUND"
        case .dateNotFound: "DATE_NOT_FOUND"
        case .invalidSeat: "INVALID_SEAT"
        case .seatUnavailable: "SEAT_UNAVAILABLE"
        case .holdLimit: "HOLD_LIMIT"
        case .reservationNotFound: "RESERVATION_NOT_FOUND"
        case .reservationNotHeld: "RESERVATION_NOT_HELD"
        case .holdExpired: "HOLD_EXPIRED"
        case .invalidAmount: "INVALID_AMOUNT"
        case .balanceLimit: "BALANCE_LIMIT"
        case .insufficientBalance: "INSUFFICIENT_BALANCE"
        case .idempotencyKeyReused: "IDEMPOTENCY_KEY_REUSED"
        case .serviceUnavailable: "SERVICE_UNAVAILABLE"
        }
    }

    public var status: Int {
        switch self {
        case .invalidRequest, .invalidSeat, .invalidAmount: 400
        case .tokenInvalid, .tokenExpired: 401
        case .insufficientBalance: 402
        case .notAdmitted, .wrongConcert: 403
        case .notFound, .concertNotFound, .dateNotFound, .reservationNotFound: 404
        case .seatUnavailable, .holdLimit, .reservationNotHeld, .balanceLimit: 409
        case .holdExpired: 410
        case .payloadTooLarge: 413
        case .idempotencyKeyReused: 422
        case .serviceUnavailable: 503
        }
    }

    public var title: String {
        switch self {
        case .invalidRequest: "Invalid request"
        case .notFound: "Not found"
        case .payloadTooLarge: "Request body too large"
        case .tokenInvalid: "Queue token invalid"
        case .tokenExpired: "Queue token expired"
        case .notAdmitted: "Not admitted yet"
        case .wrongConcert: "Token is for another concert"
        case .concertNotFound: "Concert not found"
        case .dateNotFound: "Date not found"
        case .invalidSeat: "Invalid seat selection"
        case .seatUnavailable: "Seat unavailable"
        case .holdLimit: "Hold limit reached"
        case .reservationNotFound: "Reservation not found"
        case .reservationNotHeld: "Reservation not held"
        case .holdExpired: "Hold expired"
        case .invalidAmount: "Invalid amount"
        case .balanceLimit: "Balance limit reached"
        case .insufficientBalance: "Insufficient balance"
        case .idempotencyKeyReused: "Idempotency key reused"
        case .serviceUnavailable: "Service unavailable"
        }
    }

    public var detail: String {
        switch self {
        case .invalidRequest(let detail), .notFound(let detail), .invalidSeat(let detail), .invalidAmount(let detail),
            .serviceUnavailable(let detail):
            detail
        case .payloadTooLarge: "The request body exceeds 64 KiB."
        case .tokenInvalid: "The bearer token is missing, malformed or unknown."
        case .tokenExpired: "The queue token has ended or timed out; take a new one."
        case .notAdmitted: "The queue token is still waiting; poll the queue status."
        case .wrongConcert: "The queue token was issued for another concert."
        case .concertNotFound: "No concert with this id."
        case .dateNotFound: "The concert has no bookable schedule on this date."
        case .seatUnavailable: "At least one of the seats is held or sold; nothing was held."
        case .holdLimit: "You already hold seats for this concert; pay or cancel that reservation first."
        case .reservationNotFound: "No reservation with this id belongs to you."
        case .reservationNotHeld: "The reservation is no longer held (paid, cancelled or expired)."
        case .holdExpired: "The hold lapsed before payment; nothing was charged."
        case .balanceLimit: "The charge would take the balance over its limit."
        case .insufficientBalance: "The balance does not cover the amount; nothing was charged."
        case .idempotencyKeyReused: "This Idempotency-Key was used with a different request."
        }
    }
}
