public struct Concert: Sendable, Codable, Equatable {
    public let id: Int
    public let title: String
    public let artist: String

    public init(id: Int, title: String, artist: String) {
        self.id = id
        self.title = title
        self.artist = artist
    }
}

public struct DateAvailability: Sendable, Codable, Equatable {
    public let date: String
    public let availableSeats: Int

    public init(date: String, availableSeats: Int) {
        self.date = date
        self.availableSeats = availableSeats
    }
}

public struct SeatView: Sendable, Codable, Equatable {
    public let number: Int
    public let price: Int
    /// AVAILABLE, HELD or SOLD; a lapsed hold reads AVAILABLE.
    public let status: String

    public init(number: Int, price: Int, status: String) {
        self.number = number
        self.price = price
        self.status = status
    }
}

/// Concerts, their dates and seat maps in the database of record.
public protocol CatalogStore: Sendable {
    func concerts() async throws -> [Concert]
    func concertExists(_ concertID: Int) async throws -> Bool
    /// The concert has seats on bookable dates and none of them is AVAILABLE or HELD.
    func isSoldOut(_ concertID: Int) async throws -> Bool
    /// Dates from today on with at least one free seat; nil when the concert does not exist.
    func bookableDates(concertID: Int) async throws -> [DateAvailability]?
    /// All 50 seats of a bookable date in number order; empty when the date is not bookable.
    func seats(concertID: Int, date: String) async throws -> [SeatView]
}

/// The public catalog: concerts, bookable dates and seat maps.
public struct CatalogService: Sendable {
    let store: any CatalogStore

    public init(store: any CatalogStore) {
        self.store = store
    }

    public func concerts() async throws -> [Concert] {
        try await self.store.concerts()
    }

    public func dates(concertID: Int) async throws -> [DateAvailability] {
        guard let dates = try await self.store.bookableDates(concertID: concertID) else { throw BoxOfficeError.concertNotFound }
        return dates
    }

    public func seats(concertID: Int, date: String) async throws -> [SeatView] {
        let seats = try await self.store.seats(concertID: concertID, date: date)
        guard !seats.isEmpty else { throw BoxOfficeError.dateNotFound }
        return seats
    }
}
