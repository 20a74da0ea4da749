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
    /// What is left of the concert's seats on its bookable dates.
    func seatSupply(_ concertID: Int) async throws -> SeatSupply
    /// Dates from today on with at least one free seat; nil when the concert does not exist.
    func bookableDates(concertID: Int) async throws -> [DateAvailability]?
    /// All 50 seats of a bookable date in number order; empty when the date is not bookable.
    func seats(concertID: Int, date: String) async throws -> [SeatView]
}

/// What is left of a concert's seats on its bookable dates, as its line needs to know it.
public enum SeatSupply: Sendable, Equatable {
    /// A seat is free (AVAILABLE, or in a hold that has lapsed), or the concert has no bookable
    /// date yet (nothing to stop): the line admits.
    case seatsFree
    /// No seat is free, but some are in live holds, which may lapse or be cancelled: the line admits
    /// nobody meanwhile (an admitted fan would find no seat) and waiters see it paused.
    case allHeld
    /// Every seat of every bookable date is sold: the line stops and says so (`soldOut`).
    case soldOut
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
