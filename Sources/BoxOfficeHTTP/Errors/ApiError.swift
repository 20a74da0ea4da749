import BoxOfficeDomain
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error as a client sees it: an RFC 9457 problem+json response with a stable, machine-readable
/// `code` (Docs/api.md, "Codes"). The status of every code is defined here and nowhere else.
///
/// As an `HTTPResponseError` it flows through Hummingbird like any other error: `MetricsMiddleware`
/// records it under its real status (a 409 is a 409), and it renders itself.
public struct ApiError: HTTPResponseError, Equatable, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    public let title: String
    public let detail: String
    /// Seconds, sent as `Retry-After` (503s).
    public let retryAfter: Int?

    init(_ status: HTTPResponse.Status, _ code: String, _ title: String, _ detail: String, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.retryAfter = retryAfter
    }

    public static func invalidRequest(_ detail: String) -> ApiError { ApiError(.badRequest, "INVALID_REQUEST", "Invalid request", detail) }
    public static func notFound(_ detail: String) -> ApiError { ApiError(.notFound, "NOT_FOUND", "Not found", detail) }
    public static let userUnauthorized = ApiError(
        .unauthorized, "USER_UNAUTHORIZED", "User not vouched for",
        "This token request needs the site's signed user assertion (Authorization: Bearer <JWT>) naming this user."
    )
    public static let payloadTooLarge = ApiError(.contentTooLarge, "PAYLOAD_TOO_LARGE", "Request body too large", "The request body exceeds 64 KiB.")
    public static func serviceUnavailable(_ detail: String) -> ApiError {
        ApiError(.serviceUnavailable, "SERVICE_UNAVAILABLE", "Service unavailable", detail, retryAfter: 1)
    }
    public static let internalError = ApiError(
        .internalServerError, "INTERNAL_ERROR", "Internal error", "An unexpected error occurred; it has been logged."
    )

    /// The contract's answer for each domain outcome.
    public init(_ error: BoxOfficeError) {
        switch error {
        case .invalidRequest(let detail): self = .invalidRequest(detail)
        case .tokenInvalid: self.init(.unauthorized, "TOKEN_INVALID", "Queue token invalid", "The bearer token is missing, malformed or unknown.")
        case .tokenExpired: self.init(.unauthorized, "TOKEN_EXPIRED", "Queue token expired", "The queue token has ended or timed out; take a new one.")
        case .notAdmitted: self.init(.forbidden, "NOT_ADMITTED", "Not admitted yet", "The queue token is still waiting; poll the queue status.")
        case .wrongConcert: self.init(.forbidden, "WRONG_CONCERT", "Token is for another concert", "The queue token was issued for another concert.")
        case .concertNotFound: self.init(.notFound, "CONCERT_NOT_FOUND", "Concert not found", "No concert with this id.")
        case .queueFull:
            self.init(.serviceUnavailable, "QUEUE_FULL", "Queue full", "The line for this concert is full; try again later.", retryAfter: 30)
        case .soldOut: self.init(.gone, "SOLD_OUT", "Sold out", "Every seat of this concert is sold; the line is closed.")
        case .proofRequired:
            self.init(.forbidden, "PROOF_REQUIRED", "Proof of work required",
                      "This concert asks for a proof of work: get a challenge from GET /v1/queue/challenge, solve it and send it as proof.")
        case .proofInvalid(let detail): self.init(.forbidden, "PROOF_INVALID", "Proof of work invalid", detail)
        case .presaleNotFound: self.init(.notFound, "PRESALE_NOT_FOUND", "No presale", "This concert has no presale.")
        case .presaleExists: self.init(.conflict, "PRESALE_EXISTS", "Presale exists", "This concert has a presale already; there is one per concert.")
        case .registrationClosed:
            self.init(.conflict, "REGISTRATION_CLOSED", "Registration closed", "Registration for this presale has closed.")
        case .registrationOpen:
            self.init(.conflict, "REGISTRATION_OPEN", "Registration still open", "The draw can run only after registration closes.")
        case .alreadyDrawn: self.init(.conflict, "ALREADY_DRAWN", "Already drawn", "This presale's draw has been run; it runs once.")
        case .registrationNotFound:
            self.init(.notFound, "REGISTRATION_NOT_FOUND", "Not registered", "This fan has not registered for the presale.")
        case .presaleCodeRequired:
            self.init(.forbidden, "PRESALE_CODE_REQUIRED", "Presale code required",
                      "The presale is on: only fans with a code from the draw can join the line now (send it as presaleCode).")
        case .presaleCodeInvalid:
            self.init(.forbidden, "PRESALE_CODE_INVALID", "Presale code invalid",
                      "That code is not this fan's winning code for this presale, or the presale is not on.")
        case .dateNotFound: self.init(.notFound, "DATE_NOT_FOUND", "Date not found", "The concert has no bookable schedule on this date.")
        case .invalidSeat(let detail): self.init(.badRequest, "INVALID_SEAT", "Invalid seat selection", detail)
        case .seatUnavailable:
            self.init(.conflict, "SEAT_UNAVAILABLE", "Seat unavailable", "At least one of the seats is held or sold; nothing was held.")
        case .ticketLimit(let cap):
            self.init(.conflict, "TICKET_LIMIT", "Ticket limit reached",
                      "At most \(cap) tickets per fan for this concert, counting the seats you hold or have bought.")
        case .holdLimit:
            self.init(.conflict, "HOLD_LIMIT", "Hold limit reached", "You already hold seats for this concert; pay or cancel that reservation first.")
        case .reservationNotFound:
            self.init(.notFound, "RESERVATION_NOT_FOUND", "Reservation not found", "No reservation with this id belongs to you.")
        case .reservationNotHeld:
            self.init(.conflict, "RESERVATION_NOT_HELD", "Reservation not held", "The reservation is no longer held (paid, cancelled or expired).")
        case .holdExpired: self.init(.gone, "HOLD_EXPIRED", "Hold expired", "The hold lapsed before payment; nothing was charged.")
        case .invalidAmount(let detail): self.init(.badRequest, "INVALID_AMOUNT", "Invalid amount", detail)
        case .balanceLimit: self.init(.conflict, "BALANCE_LIMIT", "Balance limit reached", "The charge would take the balance over its limit.")
        case .insufficientBalance:
            self.init(HTTPResponse.Status(code: 402, reasonPhrase: "Payment Required"), "INSUFFICIENT_BALANCE", "Insufficient balance", "The balance does not cover the amount; nothing was charged.")
        case .idempotencyKeyReused:
            self.init(.unprocessableContent, "IDEMPOTENCY_KEY_REUSED", "Idempotency key reused", "This Idempotency-Key was used with a different request.")
        case .dateExists: self.init(.conflict, "DATE_EXISTS", "Date exists", "The concert already has this date.")
        case .webhookNotFound: self.init(.notFound, "WEBHOOK_NOT_FOUND", "Webhook not found", "No webhook endpoint with this id.")
        case .eventNotFound:
            self.init(.notFound, "EVENT_NOT_FOUND", "Event not found", "No event with this id (events are kept for OUTBOX_RETENTION_SECONDS after publication).")
        case .adminUnauthorized:
            self.init(.unauthorized, "ADMIN_UNAUTHORIZED", "Admin token missing or wrong", "Admin routes need Authorization: Bearer <ADMIN_TOKEN>.")
        case .adminDisabled:
            self.init(.forbidden, "ADMIN_DISABLED", "Admin API off", "The admin API is off on this instance (ADMIN_TOKEN is not set).")
        }
    }

    struct Problem: Encodable {
        let type: String
        let title: String
        let status: Int
        let detail: String
        let code: String
        let instance: String?
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let problem = Problem(
            type: "https://boxoffice.example/problems/" + self.code.lowercased().replacingOccurrences(of: "_", with: "-"),
            title: self.title, status: self.status.code, detail: self.detail, code: self.code, instance: request.uri.path
        )
        var headers: HTTPFields = [.contentType: "application/problem+json"]
        if let retryAfter = self.retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: self.status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: try JSONEncoder.api.encode(problem))))
    }
}
