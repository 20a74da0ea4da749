import LibpqClient

/// The catalog read straight from PostgreSQL.
///
/// Seat maps are answered by one query on the seats primary key (date_id, number), not cached:
/// it costs well under a millisecond, and a cache would show holds that lapsed or were just taken.
public struct PostgresCatalogStore: CatalogStore {
    let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    public func concerts() async throws -> [Concert] {
        try await self.database.query("SELECT id, title, artist FROM concerts ORDER BY id").map {
            Concert(id: try $0.decode(at: 0), title: try $0.decode(at: 1), artist: try $0.decode(at: 2))
        }
    }

    public func concertExists(_ concertID: Int) async throws -> Bool {
        let rows = try await self.database.query("SELECT 1 FROM concerts WHERE id = \(concertID)")
        return rows.count > 0
    }

    /// A lapsed hold still counts as HELD until the sweeper frees it (a second at most): the line
    /// only stops when every seat is really sold.
    public func isSoldOut(_ concertID: Int) async throws -> Bool {
        // Probes of the partial index seats_unsold (migration 14), not a count of every seat.
        let rows = try await self.database.query("""
            SELECT EXISTS (SELECT 1 FROM concert_dates d JOIN seats s ON s.date_id = d.id
                           WHERE d.concert_id = \(concertID) AND d.date >= current_date)
               AND NOT EXISTS (SELECT 1 FROM concert_dates d JOIN seats s ON s.date_id = d.id AND s.status <> 'SOLD'
                               WHERE d.concert_id = \(concertID) AND d.date >= current_date)
            """)
        return try rows.first?.decode(Bool.self, at: 0) ?? false
    }

    public func bookableDates(concertID: Int) async throws -> [DateAvailability]? {
        let rows = try await self.database.query("""
            SELECT c.id, d.date::text, count(s.number) FILTER (
                       WHERE s.status = 'AVAILABLE' OR (s.status = 'HELD' AND s.held_until <= now()))
            FROM concerts c
            LEFT JOIN concert_dates d ON d.concert_id = c.id AND d.date >= current_date
            LEFT JOIN seats s ON s.date_id = d.id
            WHERE c.id = \(concertID)
            GROUP BY c.id, d.date
            ORDER BY d.date
            """)
        guard !rows.rows.isEmpty else { return nil }
        return try rows.compactMap { row in
            guard let date = try row.decode(String?.self, at: 1) else { return nil }
            let available = try row.decode(Int.self, at: 2)
            return available > 0 ? DateAvailability(date: date, availableSeats: available) : nil
        }
    }

    public func seats(concertID: Int, date: String) async throws -> [SeatView] {
        try await self.database.query("""
            SELECT s.number, s.price,
                   CASE WHEN s.status = 'HELD' AND s.held_until <= now() THEN 'AVAILABLE' ELSE s.status END
            FROM concert_dates d JOIN seats s ON s.date_id = d.id
            WHERE d.concert_id = \(concertID) AND d.date = \(date)::date AND d.date >= current_date
            ORDER BY s.number
            """).map { SeatView(number: try $0.decode(at: 0), price: try $0.decode(at: 1), status: try $0.decode(at: 2)) }
    }
}
