@testable import BoxOfficeHTTP
import BoxOfficeDomain
import Testing

/// The code/status table of every error a client can see, against Docs/api.md.
@Suite("ApiError codes and statuses")
struct ApiErrorTableTests {
    static let table: [(ApiError, String, Int)] = [
        (ApiError(.invalidRequest("x")), "INVALID_REQUEST", 400),
        (.notFound("x"), "NOT_FOUND", 404),
        (.payloadTooLarge, "PAYLOAD_TOO_LARGE", 413),
        (ApiError(.tokenInvalid), "TOKEN_INVALID", 401),
        (ApiError(.tokenExpired), "TOKEN_EXPIRED", 401),
        (ApiError(.notAdmitted), "NOT_ADMITTED", 403),
        (ApiError(.wrongConcert), "WRONG_CONCERT", 403),
        (ApiError(.concertNotFound), "CONCERT_NOT_FOUND", 404),
        (ApiError(.dateNotFound), "DATE_NOT_FOUND", 404),
        (ApiError(.invalidSeat("x")), "INVALID_SEAT", 400),
        (ApiError(.seatUnavailable), "SEAT_UNAVAILABLE", 409),
        (ApiError(.holdLimit), "HOLD_LIMIT", 409),
        (ApiError(.ticketLimit(4)), "TICKET_LIMIT", 409),
        (ApiError(.proofRequired), "PROOF_REQUIRED", 403),
        (ApiError(.proofInvalid("x")), "PROOF_INVALID", 403),
        (ApiError(.presaleNotFound), "PRESALE_NOT_FOUND", 404),
        (ApiError(.webhookNotFound), "WEBHOOK_NOT_FOUND", 404),
        (ApiError(.eventNotFound), "EVENT_NOT_FOUND", 404),
        (ApiError(.presaleExists), "PRESALE_EXISTS", 409),
        (ApiError(.registrationClosed), "REGISTRATION_CLOSED", 409),
        (ApiError(.registrationOpen), "REGISTRATION_OPEN", 409),
        (ApiError(.alreadyDrawn), "ALREADY_DRAWN", 409),
        (ApiError(.registrationNotFound), "REGISTRATION_NOT_FOUND", 404),
        (ApiError(.presaleCodeRequired), "PRESALE_CODE_REQUIRED", 403),
        (ApiError(.presaleCodeInvalid), "PRESALE_CODE_INVALID", 403),
        (ApiError(.reservationNotFound), "RESERVATION_NOT_FOUND", 404),
        (ApiError(.reservationNotHeld), "RESERVATION_NOT_HELD", 409),
        (ApiError(.holdExpired), "HOLD_EXPIRED", 410),
        (ApiError(.invalidAmount("x")), "INVALID_AMOUNT", 400),
        (ApiError(.balanceLimit), "BALANCE_LIMIT", 409),
        (ApiError(.insufficientBalance), "INSUFFICIENT_BALANCE", 402),
        (ApiError(.idempotencyKeyReused), "IDEMPOTENCY_KEY_REUSED", 422),
        (.serviceUnavailable("x"), "SERVICE_UNAVAILABLE", 503),
        (ApiError(.queueFull), "QUEUE_FULL", 503),
        (.internalError, "INTERNAL_ERROR", 500),
    ]

    @Test("every case has the code and status of the contract")
    func table() {
        for (error, code, status) in Self.table {
            #expect(error.code == code, "\(error)")
            #expect(error.status.code == status, "\(error)")
            #expect(!error.title.isEmpty, "\(error)")
            #expect(!error.detail.isEmpty, "\(error)")
        }
    }

    @Test("codes are unique, upper snake case")
    func uniqueCodes() {
        let codes = Self.table.map { $0.0.code }
        #expect(Set(codes).count == codes.count)
        for code in codes {
            #expect(code.allSatisfy { $0.isUppercase || $0 == "_" }, "\(code)")
        }
    }

    @Test("cases with a detail carry the given text")
    func details() {
        #expect(ApiError(.invalidSeat("Seat numbers run from 1 to 50.")).detail == "Seat numbers run from 1 to 50.")
        #expect(ApiError(.invalidAmount("too much")).detail == "too much")
        #expect(ApiError(.invalidRequest("bad")).detail == "bad")
    }

    @Test("only 503s carry Retry-After")
    func retryAfter() {
        for (error, _, status) in Self.table {
            #expect((error.retryAfter != nil) == (status == 503), "\(error)")
        }
    }
}
