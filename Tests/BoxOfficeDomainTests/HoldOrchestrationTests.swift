@testable import BoxOfficeDomain
import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

@Suite("Hold and payment orchestration (in-memory stores)")
struct HoldOrchestrationTests {
    static let user = "00000000-0000-4000-8000-000000000001"
    static let ticket = QueueTicket(token: "1.t", concertID: 1, state: .active(userID: user, until: Date() + 60))

    struct Parts {
        let locks = FakeSeatLocks()
        let window = FakeWindow(active: [HoldOrchestrationTests.ticket.token])
        let store = FakeReservationStore()
        var service: ReservationService {
            ReservationService(store: self.store, seatLocks: self.locks, window: self.window, settings: .init(holdSeconds: 300, maxSeatsPerReservation: 4))
        }
        var held: [String: String] { self.locks.state.withLockedValue { $0.held } }
    }

    @Test("a winning hold locks the seats in order, extends the window by the hold plus the margin, writes, keeps its locks")
    func winningHold() async throws {
        let parts = Parts()
        let reservation = try await parts.service.hold(ticket: Self.ticket, date: "2030-01-01", seatNumbers: [8, 7])
        #expect(reservation.seatNumbers == [7, 8])
        #expect(parts.locks.state.withLockedValue { $0.calls } == ["acquire [7, 8]"])
        #expect(parts.window.state.withLockedValue { $0.extended } == ["1.t"])
        #expect(parts.window.state.withLockedValue { $0.givenBack }.isEmpty)
        #expect(parts.store.written.withLockedValue { $0.map(\.seats) } == [[7, 8]])
        #expect(parts.store.written.withLockedValue { $0.map(\.holdSeconds) } == [300])
        #expect(parts.held == ["2030-01-01:7": reservation.reservationId, "2030-01-01:8": reservation.reservationId])
    }

    @Test("the concert's ticket cap goes to the store with the hold (the store counts the user's seats)")
    func ticketCapReachesTheStore() async throws {
        let parts = Parts()
        parts.window.state.withLockedValue { $0.maxTickets = 6 }
        _ = try await parts.service.hold(ticket: Self.ticket, date: "2030-01-01", seatNumbers: [7])
        #expect(parts.store.written.withLockedValue { $0.map(\.maxTickets) } == [6])
    }

    @Test("a seat locked by someone else: 409 at once, no window extension, nothing written")
    func lostRace() async throws {
        let parts = Parts()
        _ = try await parts.locks.acquire(concertID: 1, date: "2030-01-01", seats: [8], owner: "other", milliseconds: 1)
        await #expect(throws: BoxOfficeError.seatUnavailable) {
            try await parts.service.hold(ticket: Self.ticket, date: "2030-01-01", seatNumbers: [7, 8])
        }
        #expect(parts.window.state.withLockedValue { $0.extended }.isEmpty)
        #expect(parts.store.written.withLockedValue { $0 }.isEmpty)
        #expect(parts.held == ["2030-01-01:8": "other"])
    }

    @Test("a token that ended meanwhile: 401 TOKEN_EXPIRED, locks released, nothing written")
    func endedToken() async throws {
        let parts = Parts()
        parts.window.state.withLockedValue { $0.active = [] }
        await #expect(throws: BoxOfficeError.tokenExpired) {
            try await parts.service.hold(ticket: Self.ticket, date: "2030-01-01", seatNumbers: [7])
        }
        #expect(parts.store.written.withLockedValue { $0 }.isEmpty)
        #expect(parts.held.isEmpty)
    }

    @Test("a hold the database refuses gives its answer and releases the locks", arguments: [
        BoxOfficeError.seatUnavailable, .holdLimit, .ticketLimit(4), .dateNotFound,
    ])
    func refusedByDatabase(refusal: BoxOfficeError) async throws {
        let parts = Parts()
        parts.store.refusal.withLockedValue { $0 = refusal }
        await #expect(throws: refusal) { try await parts.service.hold(ticket: Self.ticket, date: "2030-01-01", seatNumbers: [7]) }
        #expect(parts.held.isEmpty)
        #expect(parts.locks.state.withLockedValue { $0.calls } == ["acquire [7]", "release [7]"])
        // A refused hold keeps nobody ACTIVE longer: the extension is given back.
        #expect(parts.window.state.withLockedValue { $0.givenBack } == ["1.t"])
    }

    @Test("near the window's cap a hold is shortened to end inside the window; with under a second left, 401 and nothing held")
    func holdInsideTheCappedWindow() async throws {
        let parts = Parts()
        parts.window.state.withLockedValue { $0.cappedAt = Date() + 60 }
        _ = try await parts.service.hold(ticket: Self.ticket, date: "2030-01-01", seatNumbers: [7])
        let written = try #require(parts.store.written.withLockedValue { $0.first })
        // 60 s of window, less the clock margin; a second of slack for the time the test takes.
        #expect((53...55).contains(written.holdSeconds), "\(written.holdSeconds)")

        let late = Parts()
        late.window.state.withLockedValue { $0.cappedAt = Date() + Double(ReservationService.activeWindowMarginSeconds) + 0.5 }
        await #expect(throws: BoxOfficeError.tokenExpired) {
            try await late.service.hold(ticket: Self.ticket, date: "2030-01-01", seatNumbers: [7])
        }
        #expect(late.store.written.withLockedValue { $0 }.isEmpty)
        #expect(late.held.isEmpty)
        #expect(late.window.state.withLockedValue { $0.givenBack } == ["1.t"])
    }

    @Test("seat locks last at most seatLockSeconds, so a lock left by a dead instance frees the seat soon")
    func shortSeatLocks() async throws {
        let parts = Parts()
        _ = try await parts.service.hold(ticket: Self.ticket, date: "2030-01-01", seatNumbers: [7])
        #expect(parts.locks.state.withLockedValue { $0.milliseconds } == [ReservationService.seatLockSeconds * 1000])
    }

    @Test("invalid seats are refused before any lock is taken")
    func invalidSeats() async throws {
        let parts = Parts()
        await #expect(throws: BoxOfficeError.self) { try await parts.service.hold(ticket: Self.ticket, date: "2030-01-01", seatNumbers: [51]) }
        #expect(parts.locks.state.withLockedValue { $0.calls }.isEmpty)
    }

    @Test("a payment ends the token; a refused one leaves it; a failure to end it leaves the payment standing")
    func payment() async throws {
        let window = FakeWindow(active: [Self.ticket.token])
        let store = FakePaymentStore()
        let service = PaymentService(store: store, window: window, logger: Logger(label: "test"))
        let reservationID = UUID().uuidString

        store.refusal.withLockedValue { $0 = .insufficientBalance }
        await #expect(throws: BoxOfficeError.insufficientBalance) {
            try await service.pay(ticket: Self.ticket, reservationID: reservationID, idempotencyKey: nil)
        }
        #expect(window.state.withLockedValue { $0.ended }.isEmpty)

        store.refusal.withLockedValue { $0 = nil }
        window.state.withLockedValue { $0.failEnd = true }
        let receipt = try await service.pay(ticket: Self.ticket, reservationID: reservationID, idempotencyKey: "k")
        #expect(receipt.status == "PAID")

        window.state.withLockedValue { $0.failEnd = false }
        _ = try await service.pay(ticket: Self.ticket, reservationID: reservationID, idempotencyKey: nil)
        #expect(window.state.withLockedValue { $0.ended } == [Self.ticket.token])

        await #expect(throws: BoxOfficeError.reservationNotFound) {
            try await service.pay(ticket: Self.ticket, reservationID: "not-a-uuid", idempotencyKey: nil)
        }
        await #expect(throws: BoxOfficeError.invalidRequest("Idempotency-Key must be 1 to 128 printable characters.")) {
            try await service.pay(ticket: Self.ticket, reservationID: reservationID, idempotencyKey: "with space")
        }
    }
}
