import BoxOfficeDomain
import Testing

/// The code/status table of every ApiError case against API.md.
@Suite("ApiError codes and statuses")
struct SeatsApiErrorTableTests {
    static let table: [(ApiError, String, Int)] = [
        (.invalidRequest("x"), "INVALID_REQUEST", 400),
        (.notFound("x"), "NOT_FOUND", 404),
        (.payloadTooLarge, "PAYLOAD_TOO_LARGE", 413),
        (.tokenInvalid, "TOKEN_INVALID", 401),
        (.tokenExpired, "TOKEN_EXPIRED", 401),
        (.notAdmitted, "NOT_ADMITTED", 403),
        (.wrongConcert, "WRONG_CONCERT", 403),
        (.concertNotFound, "CONCERT_NOT_FOUND", 404),
        (.dateNotFound, "DATE_NOT_FOUND", 404),
        (.invalidSeat("x"), "INVALID_SEAT", 400),
        (.seatUnavailable, "SEAT_UNAVAILABLE", 409),
        (.holdLimit, "HOLD_LIMIT", 409),
        (.reservationNotFound, "RESERVATION_NOT_FOUND", 404),
        (.reservationNotHeld, "RESERVATION_NOT_HELD", 409),
        (.holdExpired, "HOLD_EXPIRED", 410),
        (.invalidAmount("x"), "INVALID_AMOUNT", 400),
        (.balanceLimit, "BALANCE_LIMIT", 409),
        (.insufficientBalance, "INSUFFICIENT_BALANCE", 402),
        (.idempotencyKeyReused, "IDEMPOTENCY_KEY_REUSED", 422),
        (.serviceUnavailable("x"), "SERVICE_UNAVAILABLE", 503),
    ]

    @Test("every case has the code and status of the contract")
    func table() {
        for (error, code, status) in Self.table {
            #expect(error.code == code, "\(error)")
            #expect(error.status == status, "\(error)")
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
        #expect(ApiError.invalidSeat("Seat numbers run from 1 to 50.").detail == "Seat numbers run from 1 to 50.")
        #expect(ApiError.invalidAmount("too much").detail == "too much")
        #expect(ApiError.invalidRequest("bad").detail == "bad")
    }
}
