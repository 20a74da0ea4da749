import BoxOfficeDomain
import LibpqClient

/// Concerts and dates created by operators, and a concert's sales figures.
public struct PostgresConcertAdminStore: ConcertAdminStore {
    let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    public func createConcert(title: String, artist: String) async throws -> Concert {
        let row = try await self.database.query(
            "INSERT INTO concerts (title, artist) VALUES (\(title), \(artist)) RETURNING id, title, artist"
        ).first!
        return Concert(id: try row.decode(column: "id"), title: try row.decode(column: "title"), artist: try row.decode(column: "artist"))
    }

    /// One transaction: the date row and its 50 seats, or nothing (a refused date leaves no row).
    public func addDate(concertID: Int, date: String, prices: [Int]) async throws -> AddDateOutcome {
        try await self.database.transaction(maxAttempts: 3) { connection -> AddDateOutcome in
            let checks = try connection.query(
                "SELECT EXISTS (SELECT 1 FROM concerts WHERE id = \(concertID)) AS known, \(date)::date < current_date AS past"
            ).first!
            guard try checks.decode(Bool.self, column: "known") else { return .concertNotFound }
            guard try !checks.decode(Bool.self, column: "past") else { return .dateInPast }
            let inserted = try connection.query(
                """
                INSERT INTO concert_dates (concert_id, date) VALUES (\(concertID), \(date)::date)
                ON CONFLICT (concert_id, date) DO NOTHING RETURNING id
                """)
            guard let dateID = try inserted.first?.decode(Int.self, at: 0) else { return .dateExists }
            try Self.insertSeats(connection, dateID: dateID, prices: prices)
            return .added
        }
    }

    /// Seats 1...prices.count of a new date, seat n at prices[n - 1].
    static func insertSeats(_ connection: PostgresConnection, dateID: Int, prices: [Int]) throws {
        try connection.query(
            """
            INSERT INTO seats (date_id, number, price)
            SELECT \(dateID), number, price FROM unnest(\(prices)::bigint[]) WITH ORDINALITY AS p(price, number)
            """)
    }

    /// One query: every concert (or the one asked for) with its seats over all dates and its
    /// payments; a concert without dates has zeros, an unknown one no entry.
    public func salesFigures(concertID: Int?) async throws -> [Int: SalesFigures] {
        let rows = try await self.database.query(
            """
            SELECT c.id,
                   count(s.number) FILTER (WHERE s.status = 'HELD' AND s.held_until > now()) AS held,
                   count(s.number) FILTER (WHERE s.status = 'SOLD') AS sold,
                   count(s.number) FILTER (WHERE s.status = 'AVAILABLE' OR (s.status = 'HELD' AND s.held_until <= now())) AS available,
                   coalesce((SELECT sum(p.amount) FROM payments p JOIN reservations r ON r.id = p.reservation_id
                             WHERE r.concert_id = c.id), 0)::bigint AS revenue
            FROM concerts c
            LEFT JOIN concert_dates d ON d.concert_id = c.id
            LEFT JOIN seats s ON s.date_id = d.id
            WHERE \(concertID)::bigint IS NULL OR c.id = \(concertID)
            GROUP BY c.id
            """)
        var figures: [Int: SalesFigures] = [:]
        for row in rows {
            figures[try row.decode(column: "id")] = SalesFigures(
                held: try row.decode(column: "held"), sold: try row.decode(column: "sold"), available: try row.decode(column: "available"),
                revenue: try row.decode(column: "revenue"))
        }
        return figures
    }
}
