import BoxOfficeDomain
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
            Concert(id: try $0.decode(column: "id"), title: try $0.decode(column: "title"), artist: try $0.decode(column: "artist"))
        }
    }

    public func concertExists(_ concertID: Int) async throws -> Bool {
        let rows = try await self.database.query("SELECT 1 FROM concerts WHERE id = \(concertID)")
        return rows.count > 0
    }

    /// Probes of the partial index seats_unsold (migration 14), by date and status, not a count of
    /// every seat; lapsed holds are found through seats_held_until (the sweeper frees them within a
    /// second, so there are few). A lapsed hold counts as free (a hold takes it over) and keeps the
    /// concert from being sold out until the sweeper frees it.
    public func seatSupply(_ concertID: Int) async throws -> SeatSupply {
        let rows = try await self.database.query("""
            WITH dates AS NOT MATERIALIZED (
                SELECT id FROM concert_dates WHERE concert_id = \(concertID) AND date >= current_date)
            SELECT EXISTS (SELECT 1 FROM dates) AS dated,
                   EXISTS (SELECT 1 FROM dates d JOIN seats s ON s.date_id = d.id AND s.status <> 'SOLD') AS unsold,
                   EXISTS (SELECT 1 FROM dates d JOIN seats s ON s.date_id = d.id AND s.status = 'AVAILABLE')
                   OR EXISTS (SELECT 1 FROM seats s JOIN dates d ON d.id = s.date_id
                              WHERE s.status = 'HELD' AND s.held_until <= now()) AS free
            """)
        guard let row = rows.first, try row.decode(Bool.self, column: "dated"), !(try row.decode(Bool.self, column: "free")) else {
            return .seatsFree
        }
        return try row.decode(Bool.self, column: "unsold") ? .allHeld : .soldOut
    }

    public func bookableDates(concertID: Int) async throws -> [DateAvailability]? {
        let rows = try await self.database.query("""
            SELECT c.id, d.date::text AS date, count(s.number) FILTER (
                       WHERE s.status = 'AVAILABLE' OR (s.status = 'HELD' AND s.held_until <= now())) AS available
            FROM concerts c
            LEFT JOIN concert_dates d ON d.concert_id = c.id AND d.date >= current_date
            LEFT JOIN seats s ON s.date_id = d.id
            WHERE c.id = \(concertID)
            GROUP BY c.id, d.date
            ORDER BY d.date
            """)
        guard !rows.rows.isEmpty else { return nil }
        return try rows.compactMap { row in
            guard let date = try row.decode(String?.self, column: "date") else { return nil }
            let available = try row.decode(Int.self, column: "available")
            return available > 0 ? DateAvailability(date: date, availableSeats: available) : nil
        }
    }

    public func seats(concertID: Int, date: String) async throws -> [SeatView] {
        try await self.database.query("""
            SELECT s.number, s.price,
                   CASE WHEN s.status = 'HELD' AND s.held_until <= now() THEN 'AVAILABLE' ELSE s.status END AS status
            FROM concert_dates d JOIN seats s ON s.date_id = d.id
            WHERE d.concert_id = \(concertID) AND d.date = \(date)::date AND d.date >= current_date
            ORDER BY s.number
            """).map { SeatView(number: try $0.decode(column: "number"), price: try $0.decode(column: "price"), status: try $0.decode(column: "status")) }
    }
}
