import BoxOfficeDomain
import LibpqClient
import Logging

/// Loads demo data: concerts with future dates, 50 seats each, in price tiers.
/// Idempotent: every insert skips what exists, so running it twice changes nothing.
public struct Seeder: Sendable {
    public struct DemoConcert: Sendable {
        public let id: Int
        public let title: String
        public let artist: String
        /// Prices of seats 1-10, 11-30 and 31-50.
        public let tiers: (Int, Int, Int)
    }

    public static let concerts: [DemoConcert] = [
        DemoConcert(id: 1, title: "Winter Lights", artist: "IU", tiers: (198_000, 165_000, 132_000)),
        DemoConcert(id: 2, title: "Seoul Symphony Gala", artist: "Seoul Philharmonic", tiers: (150_000, 110_000, 70_000)),
        DemoConcert(id: 3, title: "Neon Nights", artist: "NewJeans", tiers: (176_000, 154_000, 121_000)),
    ]

    /// Days from today of each demo date.
    public static let dateOffsets = [7, 14, 21, 28]

    let database: PostgresClient
    let logger: Logger

    public init(database: PostgresClient, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public func seed() async throws {
        let inserted = try await self.database.transaction { connection -> Int in
            var inserted = 0
            for concert in Self.concerts {
                try connection.query(
                    "INSERT INTO concerts (id, title, artist) VALUES (\(concert.id), \(concert.title), \(concert.artist)) ON CONFLICT (id) DO NOTHING")
                for offset in Self.dateOffsets {
                    inserted += try Self.addDate(
                        connection, concertID: concert.id, daysFromToday: offset,
                        prices: (1...50).map { Self.price(seat: $0, tiers: concert.tiers) }
                    )
                }
            }
            return inserted
        }
        self.logger.info("seeded demo data", metadata: ["newDates": "\(inserted)"])
    }

    /// Adds one date (if missing) with seats 1..50 at the given prices; returns 1 if the date was new.
    public static func addDate(_ connection: PostgresConnection, concertID: Int, daysFromToday: Int, prices: [Int]) throws -> Int {
        precondition(prices.count == 50, "a date has 50 seats")
        let rows = try connection.query(
            """
            INSERT INTO concert_dates (concert_id, date) VALUES (\(concertID), current_date + \(daysFromToday)::int)
            ON CONFLICT (concert_id, date) DO NOTHING RETURNING id
            """)
        guard let dateID = try rows.first?.decode(Int.self, at: 0) else { return 0 }
        try PostgresConcertAdminStore.insertSeats(connection, dateID: dateID, prices: prices)
        return 1
    }

    static func price(seat: Int, tiers: (Int, Int, Int)) -> Int {
        switch seat {
        case 1...10: tiers.0
        case 11...30: tiers.1
        default: tiers.2
        }
    }
}
