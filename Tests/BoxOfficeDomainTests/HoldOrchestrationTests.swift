@testable import BoxOfficeDomain
import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

/// In-memory stand-ins for the stores, recording what the services asked of them. They test the
/// orchestration (lock, extend, write, release; pay, end token) on top of the real-server suites.
final class FakeSeatLocks: SeatLocking {
    struct State { var held: [String: String] = [:]; var calls: [String] = [] }
    let state = NIOLockedValueBox(State())

    func acquire(concertID: Int, date: String, seats: [Int], owner: String, milliseconds: Int) async throws -> Bool {
        self.state.withLockedValue { state in
            state.calls.append("acquire \(seats)")
            let keys = seats.map { "\(date):\($0)" }
            guard keys.allSatisfy({ state.held[$0] == nil }) else { return false }
            for key in keys { state.held[key] = owner }
            return true
        }
    }

    func release(concertID: Int, date: String, seats: [Int], owner: String) async throws {
        self.state.withLockedValue { state in
            state.calls.append("release \(seats)")
            for seat in seats where state.held["\(date):\(seat)"] == owner { state.held["\(date):\(seat)"] = nil }
        }
    }
}

final class FakeWindow: ActiveWindow {
    struct State { var active: Set<String> = []; var extended: [String] = []; var ended: [String] = []; var failEnd = false }
    let state = NIOLockedValueBox(State())

    init(active: Set<String>) { self.state.withLockedValue { $0.active = active } }

    func extendActive(token: String, by duration: Duration) async throws -> Date? {
        self.state.withLockedValue { state in
            state.extended.append(token)
            return state.active.contains(token) ? Date() + 300 : nil
        }
    }

    func endToken(_ token: String) async throws {
        try self.state.withLockedValue { state in
            if state.failEnd { throw CancellationError() }
            state.ended.append(token)
            state.active.remove(token)
        }
    }
}

final class FakeReservationStore: ReservationStore {
    /// What the next hold answers: nil writes the hold, an error refuses it.
    let refusal = NIOLockedValueBox<BoxOfficeError?>(nil)
    let written = NIOLockedValueBox<[HoldRequest]>([])

    func hold(_ request: HoldRequest) async throws -> Reservation {
        if let refusal = self.refusal.withLockedValue({ $0 }) { throw refusal }
        self.written.withLockedValue { $0.append(request) }
        return Reservation(
            reservationId: request.reservationID, concertId: request.concertID, date: request.date, seatNumbers: request.seats,
            amount: 1_000 * request.seats.count, status: "HELD", expiresAt: "2030-01-01T00:00:00.000Z"
        )
    }

    func reservation(id: String, userID: String) async throws -> Reservation? { nil }

    func cancel(id: String, userID: String) async throws -> Reservation { throw BoxOfficeError.reservationNotFound }
}

final class FakePaymentStore: PaymentStore {
    let refusal = NIOLockedValueBox<BoxOfficeError?>(nil)

    func pay(userID: String, concertID: Int, reservationID: String, idempotencyKey: String?) async throws -> PaymentReceipt {
        if let refusal = self.refusal.withLockedValue({ $0 }) { throw refusal }
        return PaymentReceipt(paymentId: "p", reservationId: reservationID, amount: 1, balance: 0, status: "PAID", paidAt: "now")
    }

    func replay(userID: String, reservationID: String, idempotencyKey: String) async throws -> PaymentReceipt? { nil }
}

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
        #expect(parts.store.written.withLockedValue { $0.map(\.seats) } == [[7, 8]])
        #expect(parts.held == ["2030-01-01:7": reservation.reservationId, "2030-01-01:8": reservation.reservationId])
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
        BoxOfficeError.seatUnavailable, .holdLimit, .dateNotFound,
    ])
    func refusedByDatabase(refusal: BoxOfficeError) async throws {
        let parts = Parts()
        parts.store.refusal.withLockedValue { $0 = refusal }
        await #expect(throws: refusal) { try await parts.service.hold(ticket: Self.ticket, date: "2030-01-01", seatNumbers: [7]) }
        #expect(parts.held.isEmpty)
        #expect(parts.locks.state.withLockedValue { $0.calls } == ["acquire [7]", "release [7]"])
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
