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

    /// Probes of the partial index seats_unsold (migration 14), not a count of every seat. A
    /// lapsed hold counts as free (a hold takes it over) but keeps the concert from being sold out
    /// until the sweeper frees it (a second at most).
    public func seatSupply(_ concertID: Int) async throws -> SeatSupply {
        let rows = try await self.database.query("""
            WITH unsold AS NOT MATERIALIZED (
                SELECT s.status, s.held_until FROM concert_dates d JOIN seats s ON s.date_id = d.id AND s.status <> 'SOLD'
                WHERE d.concert_id = \(concertID) AND d.date >= current_date)
            SELECT EXISTS (SELECT 1 FROM concert_dates d WHERE d.concert_id = \(concertID) AND d.date >= current_date) AS dated,
                   EXISTS (SELECT 1 FROM unsold) AS unsold,
                   EXISTS (SELECT 1 FROM unsold WHERE status = 'AVAILABLE' OR held_until <= now()) AS free
            """)
        guard let row = rows.first, try row.decode(Bool.self, column: "dated"), !(try row.decode(Bool.self, column: "free")) else {
            return .seatsFree
        }
        return try row.decode(Bool.self, column: "unsold") ? .allHeld : .soldOut
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
