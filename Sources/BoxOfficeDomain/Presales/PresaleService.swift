import Foundation
import NIOConcurrencyHelpers

/// What a presale needs of the database of record.
public protocol PresaleStore: Sendable {
    /// Creates the presale; false when the concert has one already.
    func create(_ presale: Presale, seed: String) async throws -> Bool
    /// The presale of a concert (seed only once drawn); nil when there is none.
    func presale(concertID: Int) async throws -> Presale?
    /// Only the presale's sale window (one primary-key read, for every token request's door); nil
    /// when the concert has no presale.
    func saleWindow(concertID: Int) async throws -> Range<Date>?
    /// Registers the user unless registration has closed (by the database's clock); nil when the
    /// concert has no presale, else whether the user is newly registered.
    func register(concertID: Int, user: UUID) async throws -> PresaleRegistration?
    /// The user's registration; nil when they have none.
    func entry(concertID: Int, user: UUID) async throws -> PresaleEntry?
    /// Every registered user id (lowercase), in registration order.
    func registrations(concertID: Int) async throws -> [String]?
    /// Runs the draw once registration has closed: `draw` gets the seed and the registered users and
    /// returns the winners with their codes; all under the presale's row lock.
    func draw(concertID: Int, _ draw: @escaping @Sendable (_ seed: String, _ users: [String], _ winners: Int) -> [(user: String, code: String)]) async throws
        -> PresaleDrawOutcome
    /// Whether `code` is the winning code of `user`.
    func codeHolds(concertID: Int, user: UUID, code: String) async throws -> Bool
}

public enum PresaleRegistration: Sendable, Equatable {
    case registered(isNew: Bool)
    case closed
}

public enum PresaleDrawOutcome: Sendable, Equatable {
    case drawn(Presale)
    case notFound
    case registrationOpen
    case alreadyDrawn
}

/// Presales: the operator's creation and draw, the fans' registration and result, and the door the
/// queue asks while a presale's sale window is open.
public struct PresaleService: Sendable {
    let store: any PresaleStore
    let concerts: ConcertDirectory
    /// Each concert's presale (or none), read at most once a second per instance: every token
    /// request asks whether a code is needed.
    private let windows = NIOLockedValueBox<[Int: (window: Range<Date>?, read: ContinuousClock.Instant)]>([:])

    public init(store: any PresaleStore, concerts: ConcertDirectory) {
        self.store = store
        self.concerts = concerts
    }

    public func create(concertID: Int, registrationClosesAt: String, saleOpensAt: String, saleClosesAt: String, winners: Int) async throws -> Presale {
        guard concertID > 0, try await self.concerts.exists(concertID) else { throw BoxOfficeError.concertNotFound }
        func time(_ text: String, _ field: String) throws -> Date {
            guard let date = Timestamp.parse(text) else { throw BoxOfficeError.invalidRequest("\(field) must be an RFC 3339 time (got '\(text)').") }
            return date
        }
        let closes = try time(registrationClosesAt, "registrationClosesAt")
        let opens = try time(saleOpensAt, "saleOpensAt")
        let ends = try time(saleClosesAt, "saleClosesAt")
        guard closes <= opens, opens < ends else {
            throw BoxOfficeError.invalidRequest("The times must run registrationClosesAt <= saleOpensAt < saleClosesAt.")
        }
        guard (1...1_000_000).contains(winners) else { throw BoxOfficeError.invalidRequest("winners must be in 1...1000000.") }
        let seed = SeededDraw.newSeed()
        let presale = Presale(
            concertID: concertID, registrationClosesAt: closes, saleOpensAt: opens, saleClosesAt: ends, winners: winners, registered: 0,
            seedCommitment: SeededDraw.commitment(seed: seed), seed: nil, drawnAt: nil)
        guard try await self.store.create(presale, seed: seed) else { throw BoxOfficeError.presaleExists }
        self.windows.withLockedValue { $0[concertID] = nil }
        return presale
    }

    public func presale(concertID: Int) async throws -> Presale {
        guard concertID > 0, let presale = try await self.store.presale(concertID: concertID) else { throw BoxOfficeError.presaleNotFound }
        return presale
    }

    /// Registers the fan; `isNew` false when they were registered already.
    public func register(concertID: Int, user: UUID) async throws -> Bool {
        switch try await self.store.register(concertID: concertID, user: user) {
        case nil: throw BoxOfficeError.presaleNotFound
        case .closed: throw BoxOfficeError.registrationClosed
        case .registered(let isNew): return isNew
        }
    }

    public func entry(concertID: Int, user: UUID) async throws -> PresaleEntry {
        _ = try await self.presale(concertID: concertID)
        guard let entry = try await self.store.entry(concertID: concertID, user: user) else { throw BoxOfficeError.registrationNotFound }
        return entry
    }

    public func registrations(concertID: Int) async throws -> [String] {
        guard let users = try await self.store.registrations(concertID: concertID) else { throw BoxOfficeError.presaleNotFound }
        return users
    }

    /// The draw, once: the smallest tickets win (SeededDraw), each winner gets a random code.
    public func draw(concertID: Int) async throws -> Presale {
        let outcome = try await self.store.draw(concertID: concertID) { seed, users, winners in
            SeededDraw.winners(seed: seed, users: users, count: winners).map { ($0, SeededDraw.newCode()) }
        }
        switch outcome {
        case .drawn(let presale): return presale
        case .notFound: throw BoxOfficeError.presaleNotFound
        case .registrationOpen: throw BoxOfficeError.registrationOpen
        case .alreadyDrawn: throw BoxOfficeError.alreadyDrawn
        }
    }

    /// Whether this token request may have a new place: outside a presale's sale window always;
    /// inside it only with the user's own winning code. Returns the refusal, nil when it may.
    public func door(concertID: Int, user: UUID, code: String?, now: Date = Date()) async throws -> BoxOfficeError? {
        guard let window = try await self.window(concertID: concertID), window.contains(now) else { return nil }
        guard let code, !code.isEmpty else { return .presaleCodeRequired }
        guard code.utf8.count <= 64, try await self.store.codeHolds(concertID: concertID, user: user, code: code) else {
            return .presaleCodeInvalid
        }
        return nil
    }

    /// While PostgreSQL is down the last answer stands, so a concert this instance has served keeps
    /// issuing tokens as before (admission lives in Redis); a concert never looked at throws (503).
    private func window(concertID: Int) async throws -> Range<Date>? {
        let cached = self.windows.withLockedValue { $0[concertID] }
        if let cached, ContinuousClock.now - cached.read < .seconds(1) { return cached.window }
        do {
            let window = try await self.store.saleWindow(concertID: concertID)
            self.windows.withLockedValue { $0[concertID] = (window, .now) }
            return window
        } catch {
            guard let cached else { throw error }
            return cached.window
        }
    }
}
