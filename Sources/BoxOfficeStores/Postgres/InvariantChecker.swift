import BoxOfficeDomain
import LibpqClient

/// The money and seat invariants, checked from PostgreSQL. Run by `boxoffice check`, the tests and
/// the benchmark; never reachable over HTTP.
public struct InvariantReport: Sendable, Encodable, Equatable {
    /// Seats in more than one CONFIRMED reservation.
    public var doubleSold: Int
    /// SOLD seats without exactly one CONFIRMED reservation that has a payment.
    public var soldWithoutPayment: Int
    /// CONFIRMED reservations with a seat that is not SOLD to them.
    public var confirmedNotSold: Int
    /// Users whose balance differs from the sum of their ledger.
    public var balanceMismatches: Int
    public var totalCharged: Int
    public var totalBalances: Int
    public var totalPaid: Int
    public var moneyConserved: Bool

    public var isHealthy: Bool {
        self.doubleSold == 0 && self.soldWithoutPayment == 0 && self.confirmedNotSold == 0 && self.balanceMismatches == 0
            && self.moneyConserved
    }
}

public struct InvariantChecker: Sendable {
    let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    public func check() async throws -> InvariantReport {
        // REPEATABLE READ: every count sees one snapshot even while traffic goes on.
        try await self.database.withConnection { connection in
            try connection.simple("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { try? connection.simple("COMMIT") }
            // An audit of the whole database, not a request: its scans grow with the data and may
            // take longer than a request's statement_timeout (a test database late in `make test`
            // once needed more than 5 s). Bounded still, for this transaction only.
            try connection.simple("SET LOCAL statement_timeout = '120s'")
            func count(_ query: PostgresQuery) throws -> Int { try connection.query(query).first!.decode(Int.self, at: 0) }
            let doubleSold = try count("""
                SELECT count(*) FROM (
                    SELECT rs.date_id, rs.seat_number FROM reservation_seats rs
                    JOIN reservations r ON r.id = rs.reservation_id WHERE r.status = 'CONFIRMED'
                    GROUP BY 1, 2 HAVING count(*) > 1) AS twice
                """)
            let soldWithoutPayment = try count("""
                SELECT count(*) FROM seats s WHERE s.status = 'SOLD' AND 1 <> (
                    SELECT count(*) FROM reservation_seats rs
                    JOIN reservations r ON r.id = rs.reservation_id AND r.status = 'CONFIRMED'
                    JOIN payments p ON p.reservation_id = r.id AND p.amount = r.amount
                    WHERE rs.date_id = s.date_id AND rs.seat_number = s.number AND s.reservation_id = r.id)
                """)
            let confirmedNotSold = try count("""
                SELECT count(*) FROM reservation_seats rs
                JOIN reservations r ON r.id = rs.reservation_id AND r.status = 'CONFIRMED'
                JOIN seats s ON s.date_id = rs.date_id AND s.number = rs.seat_number
                WHERE s.status <> 'SOLD' OR s.reservation_id IS DISTINCT FROM r.id
                """)
            let balanceMismatches = try count("""
                SELECT count(*) FROM balances b FULL JOIN (
                    SELECT user_id, sum(CASE WHEN type = 'CHARGE' THEN amount ELSE -amount END) AS total
                    FROM balance_ledger GROUP BY user_id) l ON l.user_id = b.user_id
                WHERE coalesce(b.balance, 0) <> coalesce(l.total, 0)
                """)
            let totals = try connection.query("""
                SELECT (SELECT coalesce(sum(amount), 0) FROM balance_ledger WHERE type = 'CHARGE') AS charged,
                       (SELECT coalesce(sum(balance), 0) FROM balances) AS balances,
                       (SELECT coalesce(sum(amount), 0) FROM payments) AS paid
                """).first!
            let charged = try totals.decode(Int.self, column: "charged")
            let balances = try totals.decode(Int.self, column: "balances")
            let paid = try totals.decode(Int.self, column: "paid")
            return InvariantReport(
                doubleSold: doubleSold, soldWithoutPayment: soldWithoutPayment, confirmedNotSold: confirmedNotSold,
                balanceMismatches: balanceMismatches, totalCharged: charged, totalBalances: balances, totalPaid: paid,
                moneyConserved: charged == balances + paid
            )
        }
    }
}
