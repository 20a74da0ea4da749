import Foundation

/// What an operator's store does: create concerts and dates (PostgreSQL in the app).
public protocol ConcertAdminStore: Sendable {
    func createConcert(title: String, artist: String) async throws -> Concert
    /// Adds `date` with seats 1...50 at `prices`, all or nothing.
    func addDate(concertID: Int, date: String, prices: [Int]) async throws -> AddDateOutcome
    /// Sales figures by concert from PostgreSQL: of `concertID` (no entry when it is unknown), or of
    /// every concert when nil.
    func salesFigures(concertID: Int?) async throws -> [Int: SalesFigures]
}

public enum AddDateOutcome: Sendable, Equatable {
    case added
    case concertNotFound
    case dateExists
    /// Before today (the database's `current_date`).
    case dateInPast
}

/// Seats and money of one concert, over all its dates.
public struct SalesFigures: Sendable, Equatable, Codable {
    /// Seats held by a hold that has not lapsed.
    public var held: Int
    public var sold: Int
    /// Seats free now (lapsed holds included).
    public var available: Int
    /// Sum of the payments, in won.
    public var revenue: Int

    public init(held: Int, sold: Int, available: Int, revenue: Int) {
        self.held = held
        self.sold = sold
        self.available = available
        self.revenue = revenue
    }
}

/// Creating concerts and dates, for the admin API and the `boxoffice concerts` CLI alike.
public struct ConcertAdministration: Sendable {
    public static let maxTextLength = 200

    let store: any ConcertAdminStore

    public init(store: any ConcertAdminStore) {
        self.store = store
    }

    public func createConcert(title: String, artist: String) async throws -> Concert {
        let title = try Self.text(title, field: "title")
        let artist = try Self.text(artist, field: "artist")
        return try await self.store.createConcert(title: title, artist: artist)
    }

    /// A date with either a full list of 50 prices or tiers that cover seats 1...50 exactly once.
    public func addDate(concertID: Int, date: String, prices: [Int]?, tiers: [SeatPrices.Tier]?) async throws {
        guard let day = CalendarDate.parse(date) else { throw BoxOfficeError.invalidRequest("date must be a real date as YYYY-MM-DD.") }
        let seatPrices: [Int]
        switch (prices, tiers) {
        case (let prices?, nil): seatPrices = try SeatPrices.validated(prices)
        case (nil, let tiers?): seatPrices = try SeatPrices.fromTiers(tiers)
        default: throw BoxOfficeError.invalidRequest("Give either prices (50 of them) or tiers, not both and not neither.")
        }
        guard concertID > 0 else { throw BoxOfficeError.concertNotFound }
        switch try await self.store.addDate(concertID: concertID, date: day, prices: seatPrices) {
        case .added: return
        case .concertNotFound: throw BoxOfficeError.concertNotFound
        case .dateExists: throw BoxOfficeError.dateExists
        case .dateInPast: throw BoxOfficeError.invalidRequest("date \(day) is in the past.")
        }
    }

    public func salesFigures(concertID: Int) async throws -> SalesFigures {
        guard concertID > 0, let figures = try await self.store.salesFigures(concertID: concertID)[concertID] else {
            throw BoxOfficeError.concertNotFound
        }
        return figures
    }

    public func salesFiguresByConcert() async throws -> [Int: SalesFigures] {
        try await self.store.salesFigures(concertID: nil)
    }

    static func text(_ value: String, field: String) throws -> String {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.count <= Self.maxTextLength else {
            throw BoxOfficeError.invalidRequest("\(field) must be 1 to \(Self.maxTextLength) characters.")
        }
        // Control characters (NUL above all, which PostgreSQL text cannot hold) are never part of a name.
        guard !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw BoxOfficeError.invalidRequest("\(field) must not contain control characters.")
        }
        return trimmed
    }
}
