import BoxOfficeDomain
import Foundation
import NIOConcurrencyHelpers

/// The database's side of the box office in memory: concerts, dates and seats, holds, balances,
/// payments, presales and webhook endpoints, with the rules the SQL functions keep (a seat is held
/// or sold once, a payment needs its hold and the money, a charge stays under the limit). It lets
/// the HTTP layer's contract tests run in process; the SQL itself, its races and its faults are
/// tested against PostgreSQL by the integration suites. It writes no events: its outbox stays empty.
package final class InMemoryBoxOffice: Sendable {
    package struct Seat: Sendable {
        var price: Int
        var reservation: String?
        var sold = false
    }

    package struct State: Sendable {
        var concerts: [Concert] = []
        /// concert -> date -> seat number -> seat
        var seats: [Int: [String: [Int: Seat]]] = [:]
        var reservations: [String: (userID: String, reservation: Reservation)] = [:]
        var balances: [String: Int] = [:]
        var ledger: [String: [LedgerEntry]] = [:]
        var presales: [Int: (presale: Presale, seed: String, users: [String], codes: [String: String])] = [:]
        var webhooks: [String: WebhookEndpoint] = [:]
    }

    package let state = NIOLockedValueBox(State())

    package init() {}

    /// A concert with one date, every seat at `price`.
    @discardableResult
    package func addConcert(title: String, date: String, price: Int = 10_000) -> Concert {
        self.state.withLockedValue { state in
            let concert = Concert(id: state.concerts.count + 1, title: title, artist: "The Testers")
            state.concerts.append(concert)
            state.seats[concert.id] = [date: Dictionary(uniqueKeysWithValues: (1...50).map { ($0, Seat(price: price)) })]
            return concert
        }
    }

    /// Every seat of the concert sold, as if by payments.
    package func sellOut(concertID: Int) {
        self.state.withLockedValue { state in
            for (date, seats) in state.seats[concertID] ?? [:] {
                for number in seats.keys { state.seats[concertID]?[date]?[number]?.sold = true }
            }
        }
    }

    static func now() -> String { Timestamp.format(Date()) }
}

extension InMemoryBoxOffice: CatalogStore {
    package func concerts() async throws -> [Concert] { self.state.withLockedValue(\.concerts) }

    package func concertExists(_ concertID: Int) async throws -> Bool {
        self.state.withLockedValue { $0.concerts.contains { $0.id == concertID } }
    }

    package func seatSupply(_ concertID: Int) async throws -> SeatSupply {
        let seats = self.state.withLockedValue { $0.seats[concertID]?.values.flatMap(\.values) ?? [] }
        if seats.isEmpty || seats.contains(where: { !$0.sold && $0.reservation == nil }) { return .seatsFree }
        return seats.allSatisfy(\.sold) ? .soldOut : .allHeld
    }

    package func bookableDates(concertID: Int) async throws -> [DateAvailability]? {
        self.state.withLockedValue { state in
            guard state.concerts.contains(where: { $0.id == concertID }) else { return nil }
            return (state.seats[concertID] ?? [:]).sorted { $0.key < $1.key }.compactMap { date, seats in
                let free = seats.values.filter { !$0.sold && $0.reservation == nil }.count
                return free > 0 ? DateAvailability(date: date, availableSeats: free) : nil
            }
        }
    }

    package func seats(concertID: Int, date: String) async throws -> [SeatView] {
        self.state.withLockedValue { state in
            (state.seats[concertID]?[date] ?? [:]).sorted { $0.key < $1.key }.map { number, seat in
                SeatView(number: number, price: seat.price, status: seat.sold ? "SOLD" : seat.reservation != nil ? "HELD" : "AVAILABLE")
            }
        }
    }
}

extension InMemoryBoxOffice: ReservationStore {
    package func hold(_ request: HoldRequest) async throws -> Reservation {
        try self.state.withLockedValue { state in
            guard var date = state.seats[request.concertID]?[request.date] else { throw BoxOfficeError.dateNotFound }
            guard request.seats.allSatisfy({ date[$0].map { !$0.sold && $0.reservation == nil } ?? false }) else {
                throw BoxOfficeError.seatUnavailable
            }
            for number in request.seats { date[number]?.reservation = request.reservationID }
            state.seats[request.concertID]?[request.date] = date
            let reservation = Reservation(
                reservationId: request.reservationID, concertId: request.concertID, date: request.date, seatNumbers: request.seats,
                amount: request.seats.compactMap { date[$0]?.price }.reduce(0, +), status: "HELD",
                expiresAt: Timestamp.format(Date().addingTimeInterval(Double(request.holdSeconds))))
            state.reservations[request.reservationID] = (request.userID, reservation)
            return reservation
        }
    }

    package func replayHold(userID: String, idempotencyKey: String, fingerprint: String) async throws -> Reservation? { nil }

    package func reservations(userID: String, concertID: Int) async throws -> [Reservation] {
        self.state.withLockedValue { $0.reservations.values.filter { $0.userID == userID && $0.reservation.concertId == concertID }.map(\.reservation) }
    }

    package func reservation(id: String, userID: String) async throws -> Reservation? {
        self.state.withLockedValue { $0.reservations[id].flatMap { $0.userID == userID ? $0.reservation : nil } }
    }

    package func cancel(id: String, userID: String) async throws -> Reservation {
        try self.state.withLockedValue { state in
            guard let (owner, held) = state.reservations[id], owner == userID else { throw BoxOfficeError.reservationNotFound }
            guard held.status == "HELD" else { throw BoxOfficeError.reservationNotHeld }
            for number in held.seatNumbers { state.seats[held.concertId]?[held.date]?[number]?.reservation = nil }
            let cancelled = Self.with(held, status: "CANCELLED")
            state.reservations[id] = (owner, cancelled)
            return cancelled
        }
    }

    static func with(_ reservation: Reservation, status: String) -> Reservation {
        Reservation(
            reservationId: reservation.reservationId, concertId: reservation.concertId, date: reservation.date,
            seatNumbers: reservation.seatNumbers, amount: reservation.amount, status: status, expiresAt: reservation.expiresAt)
    }
}

extension InMemoryBoxOffice: BalanceStore {
    package func balance(userID: String) async throws -> Int { self.state.withLockedValue { $0.balances[userID] ?? 0 } }

    package func charge(userID: String, amount: Int, maxBalance: Int, idempotencyKey: String?) async throws -> ChargeResult {
        try self.state.withLockedValue { state in
            let balance = (state.balances[userID] ?? 0) + amount
            guard balance <= maxBalance else { throw BoxOfficeError.balanceLimit }
            state.balances[userID] = balance
            state.ledger[userID, default: []].append(
                LedgerEntry(type: "CHARGE", amount: amount, balanceAfter: balance, at: Self.now(), reference: UUID().uuidString.lowercased()))
            return ChargeResult(userId: userID, balance: balance, charged: amount)
        }
    }

    package func history(userID: String, limit: Int) async throws -> [LedgerEntry] {
        self.state.withLockedValue { Array(($0.ledger[userID] ?? []).reversed().prefix(limit)) }
    }
}

extension InMemoryBoxOffice: PaymentStore {
    package func pay(
        userID: String, token: String, concertID: Int, reservationID: String, idempotencyKey: String?
    ) async throws -> (receipt: PaymentReceipt, replayed: Bool) {
        try self.state.withLockedValue { state in
            guard let (owner, held) = state.reservations[reservationID], owner == userID else { throw BoxOfficeError.reservationNotFound }
            guard held.concertId == concertID else { throw BoxOfficeError.wrongConcert }
            guard held.status == "HELD" else { throw BoxOfficeError.reservationNotHeld }
            let balance = state.balances[userID] ?? 0
            guard balance >= held.amount else { throw BoxOfficeError.insufficientBalance }
            state.balances[userID] = balance - held.amount
            for number in held.seatNumbers { state.seats[concertID]?[held.date]?[number]?.sold = true }
            state.reservations[reservationID] = (owner, Self.with(held, status: "PAID"))
            let receipt = PaymentReceipt(
                paymentId: UUID().uuidString.lowercased(), reservationId: reservationID, amount: held.amount, balance: balance - held.amount,
                status: "PAID", paidAt: Self.now())
            return (receipt, false)
        }
    }

    package func replay(userID: String, reservationID: String, idempotencyKey: String) async throws -> PaymentReceipt? { nil }
}

extension InMemoryBoxOffice: ConcertAdminStore {
    package func createConcert(title: String, artist: String) async throws -> Concert {
        self.state.withLockedValue { state in
            let concert = Concert(id: state.concerts.count + 1, title: title, artist: artist)
            state.concerts.append(concert)
            return concert
        }
    }

    package func addDate(concertID: Int, date: String, prices: [Int]) async throws -> AddDateOutcome {
        self.state.withLockedValue { state in
            guard state.concerts.contains(where: { $0.id == concertID }) else { return .concertNotFound }
            guard state.seats[concertID]?[date] == nil else { return .dateExists }
            state.seats[concertID, default: [:]][date] = Dictionary(uniqueKeysWithValues: prices.enumerated().map { ($0.offset + 1, Seat(price: $0.element)) })
            return .added
        }
    }

    package func salesFigures(concertID: Int?) async throws -> [Int: SalesFigures] {
        self.state.withLockedValue { state in
            var figures: [Int: SalesFigures] = [:]
            for (concert, dates) in state.seats where concertID == nil || concertID == concert {
                let seats = dates.values.flatMap(\.values)
                figures[concert] = SalesFigures(
                    held: seats.filter { !$0.sold && $0.reservation != nil }.count, sold: seats.filter(\.sold).count,
                    available: seats.filter { !$0.sold && $0.reservation == nil }.count,
                    revenue: seats.filter(\.sold).map(\.price).reduce(0, +))
            }
            return figures
        }
    }
}

extension InMemoryBoxOffice: PresaleStore {
    package func create(_ presale: Presale, seed: String) async throws -> Bool {
        self.state.withLockedValue { state in
            guard state.presales[presale.concertID] == nil else { return false }
            state.presales[presale.concertID] = (presale, seed, [], [:])
            return true
        }
    }

    package func presale(concertID: Int) async throws -> Presale? {
        self.state.withLockedValue { state in
            state.presales[concertID].map { entry in
                var presale = entry.presale
                presale.registered = entry.users.count
                return presale
            }
        }
    }

    package func saleWindow(concertID: Int) async throws -> Range<Date>? {
        self.state.withLockedValue { $0.presales[concertID]?.presale.saleWindow }
    }

    package func register(concertID: Int, user: UUID) async throws -> PresaleRegistration? {
        self.state.withLockedValue { state -> PresaleRegistration? in
            guard let entry = state.presales[concertID] else { return nil }
            guard Date() < entry.presale.registrationClosesAt else { return .closed }
            let id = user.uuidString.lowercased()
            guard !entry.users.contains(id) else { return .registered(isNew: false) }
            state.presales[concertID]?.users.append(id)
            return .registered(isNew: true)
        }
    }

    package func entry(concertID: Int, user: UUID) async throws -> PresaleEntry? {
        self.state.withLockedValue { state in
            guard let entry = state.presales[concertID], entry.users.contains(user.uuidString.lowercased()) else { return nil }
            guard entry.presale.drawnAt != nil else { return PresaleEntry(status: .registered, code: nil) }
            let code = entry.codes[user.uuidString.lowercased()]
            return PresaleEntry(status: code == nil ? .lost : .won, code: code)
        }
    }

    package func registrations(concertID: Int) async throws -> [String]? {
        self.state.withLockedValue { $0.presales[concertID]?.users.sorted() }
    }

    package func draw(
        concertID: Int, _ draw: @escaping @Sendable (_ seed: String, _ users: [String], _ winners: Int) -> [(user: String, code: String)]
    ) async throws -> PresaleDrawOutcome {
        self.state.withLockedValue { state in
            guard var entry = state.presales[concertID] else { return .notFound }
            guard entry.presale.drawnAt == nil else { return .alreadyDrawn }
            guard Date() >= entry.presale.registrationClosesAt else { return .registrationOpen }
            for winner in draw(entry.seed, entry.users, entry.presale.winners) { entry.codes[winner.user] = winner.code }
            entry.presale.drawnAt = Date()
            entry.presale.seed = entry.seed
            entry.presale.registered = entry.users.count
            state.presales[concertID] = entry
            return .drawn(entry.presale)
        }
    }

    package func codeHolds(concertID: Int, user: UUID, code: String) async throws -> Bool {
        self.state.withLockedValue { $0.presales[concertID]?.codes[user.uuidString.lowercased()] == code }
    }
}

extension InMemoryBoxOffice: WebhookStore {
    package func create(id: String, url: String, events: [String], secret: String) async throws -> WebhookEndpoint {
        self.state.withLockedValue { state in
            let endpoint = WebhookEndpoint(id: id, url: url, events: events, enabled: true, disabledReason: nil, createdAt: Date())
            state.webhooks[id] = endpoint
            return endpoint
        }
    }

    package func list() async throws -> [WebhookEndpoint] {
        self.state.withLockedValue { $0.webhooks.values.sorted { $0.createdAt < $1.createdAt } }
    }

    package func delete(id: String) async throws -> Bool {
        self.state.withLockedValue { $0.webhooks.removeValue(forKey: id) != nil }
    }

    package func attempts(endpointID: String, limit: Int) async throws -> [WebhookAttempt]? {
        self.state.withLockedValue { $0.webhooks[endpointID] == nil ? nil : [] }
    }

    /// No event is ever written here, so there is none to deliver again.
    package func redeliver(eventID: Int) async throws -> Int? { nil }

    package func claim(limit: Int, perEndpoint: Int, busy: [String: Int], leaseSeconds: Int) async throws -> [WebhookDelivery] { [] }

    package func record(_ delivery: WebhookDelivery, outcome: WebhookOutcome, durationMilliseconds: Int) async throws {}
}

extension InMemoryBoxOffice: Outbox, EventPublisher {
    package func claim(holder: String, limit: Int, leaseMilliseconds: Int) async throws -> [OutboxEvent] { [] }
    package func markPublished(ids: [Int], holder: String) async throws {}
    package func recordSoldOut(concertIDs: [Int]) async throws -> Int { 0 }
    package func purge(olderThanSeconds seconds: Int, limit: Int) async throws -> Int { 0 }
    package func publish(_ events: [OutboxEvent]) async throws {}
}

/// Seat locks in memory: the first owner of a key keeps it until it releases it.
package final class InMemorySeatLocks: SeatLocking {
    let held = NIOLockedValueBox<[String: String]>([:])

    package init() {}

    package func acquire(concertID: Int, date: String, seats: [Int], owner: String, milliseconds: Int) async throws -> Bool {
        self.held.withLockedValue { held in
            let keys = seats.map { "\(concertID):\(date):\($0)" }
            guard keys.allSatisfy({ held[$0] == nil }) else { return false }
            for key in keys { held[key] = owner }
            return true
        }
    }

    package func release(concertID: Int, date: String, seats: [Int], owner: String) async throws {
        self.held.withLockedValue { held in
            for seat in seats where held["\(concertID):\(date):\(seat)"] == owner { held["\(concertID):\(date):\(seat)"] = nil }
        }
    }
}
