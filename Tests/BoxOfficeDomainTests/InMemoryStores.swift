@testable import BoxOfficeDomain
import Foundation
import NIOConcurrencyHelpers

/// In-memory stand-ins for the stores, recording what the services asked of them. They test the
/// orchestration (lock, extend, write, release; pay, end token) on top of the real-server suites.
final class FakeSeatLocks: SeatLocking {
    struct State { var held: [String: String] = [:]; var calls: [String] = []; var milliseconds: [Int] = [] }
    let state = NIOLockedValueBox(State())

    func acquire(concertID: Int, date: String, seats: [Int], owner: String, milliseconds: Int) async throws -> Bool {
        self.state.withLockedValue { state in
            state.calls.append("acquire \(seats)")
            state.milliseconds.append(milliseconds)
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
    struct State {
        var active: Set<String> = []
        var extended: [String] = []
        var givenBack: [String] = []
        var ended: [String] = []
        var failEnd = false
        /// Where the window's cap leaves the window, when it is nearer than the extension asked for.
        var cappedAt: Date?
        var maxTickets = 0
    }
    let state = NIOLockedValueBox(State())

    init(active: Set<String>) { self.state.withLockedValue { $0.active = active } }

    func extendActive(token: String, by duration: Duration) async throws -> WindowExtension? {
        self.state.withLockedValue { state in
            state.extended.append(token)
            let now = Int(Date().timeIntervalSince1970 * 1000)
            var until = now + Int(duration.components.seconds) * 1000
            if let cap = state.cappedAt { until = min(until, Int(cap.timeIntervalSince1970 * 1000)) }
            return state.active.contains(token) ? WindowExtension(previousMilliseconds: now, untilMilliseconds: until) : nil
        }
    }

    func maxTicketsPerUser(concertID: Int) async throws -> Int {
        self.state.withLockedValue(\.maxTickets)
    }

    func giveBack(_ extension: WindowExtension, token: String) async throws {
        self.state.withLockedValue { $0.givenBack.append(token) }
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

    func replayHold(userID: String, idempotencyKey: String, fingerprint: String) async throws -> Reservation? { nil }

    func reservations(userID: String, concertID: Int) async throws -> [Reservation] { [] }

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

    func pay(
        userID: String, token: String, concertID: Int, reservationID: String, idempotencyKey: String?
    ) async throws -> (receipt: PaymentReceipt, replayed: Bool) {
        if let refusal = self.refusal.withLockedValue({ $0 }) { throw refusal }
        return (PaymentReceipt(paymentId: "p", reservationId: reservationID, amount: 1, balance: 0, status: "PAID", paidAt: "now"), false)
    }

    func replay(userID: String, reservationID: String, idempotencyKey: String) async throws -> PaymentReceipt? { nil }
}

/// A catalogue of concerts 1...`concerts`, each with the supply the test sets.
final class FakeCatalogStore: CatalogStore {
    let concertCount: Int
    let supply = NIOLockedValueBox<[Int: SeatSupply]>([:])

    init(concerts: Int) { self.concertCount = concerts }

    func concerts() async throws -> [Concert] { [] }
    func concertExists(_ concertID: Int) async throws -> Bool { (1...self.concertCount).contains(concertID) }
    func seatSupply(_ concertID: Int) async throws -> SeatSupply { self.supply.withLockedValue { $0[concertID] ?? .seatsFree } }
    func bookableDates(concertID: Int) async throws -> [DateAvailability]? { [] }
    func seats(concertID: Int, date: String) async throws -> [SeatView] { [] }
}
