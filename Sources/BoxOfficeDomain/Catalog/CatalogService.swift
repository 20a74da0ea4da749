import LibpqClient

public struct Concert: Sendable, Encodable, Equatable {
    public let id: Int
    public let title: String
    public let artist: String
}

public struct DateAvailability: Sendable, Encodable, Equatable {
    public let date: String
    public let availableSeats: Int
}

public struct SeatView: Sendable, Encodable, Equatable {
    public let number: Int
    public let price: Int
    public let status: String
}

/// Concerts, their bookable dates and seat maps, read straight from PostgreSQL.
///
/// Seat maps are answered by one query on the seats primary key (date_id, number), not cached:
/// it costs well under a millisecond, and a cache would show holds that lapsed or were just taken.
public struct CatalogService: Sendable {
    let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    public func concerts() async throws -> [Concert] {
        try await self.database.query("SELECT id, title, artist FROM concerts ORDER BY id").map {
            Concert(id: try $0.decode(at: 0), title: try $0.decode(at: 1), artist: try $0.decode(at: 2))
        }
    }

    /// Dates from today on that still have a free seat (a lapsed hold counts as free).
    public func dates(concertID: Int) async throws -> [DateAvailability] {
        let rows = try await self.database.query(
            """
            SELECT c.id, d.date::text, count(s.number) FILTER (
                       WHERE s.status = 'AVAILABLE' OR (s.status = 'HELD' AND s.held_until <= now()))
            FROM concerts c
            LEFT JOIN concert_dates d ON d.concert_id = c.id AND d.date >= current_date
            LEFT JOIN seats s ON s.date_id = d.id
            WHERE c.id = $1
            GROUP BY c.id, d.date
            ORDER BY d.date
            """,
            [concertID]
        )
        guard !rows.rows.isEmpty else { throw ApiError.concertNotFound }
        return try rows.compactMap { row in
            guard let date = try row.decode(String?.self, at: 1) else { return nil }
            let available = try row.decode(Int.self, at: 2)
            return available > 0 ? DateAvailability(date: date, availableSeats: available) : nil
        }
    }

    /// All 50 seats of a bookable date in number order.
    public func seats(concertID: Int, date: String) async throws -> [SeatView] {
        let rows = try await self.database.query(
            """
            SELECT s.number, s.price,
                   CASE WHEN s.status = 'HELD' AND s.held_until <= now() THEN 'AVAILABLE' ELSE s.status END
            FROM concert_dates d JOIN seats s ON s.date_id = d.id
            WHERE d.concert_id = $1 AND d.date = $2::date AND d.date >= current_date
            ORDER BY s.number
            """,
            [concertID, date]
        )
        guard !rows.rows.isEmpty else { throw ApiError.dateNotFound }
        return try rows.map { SeatView(number: try $0.decode(at: 0), price: try $0.decode(at: 1), status: try $0.decode(at: 2)) }
    }
}
