import BoxOfficeDomain
import Foundation
import LibpqClient

/// Presales in PostgreSQL (migration 11). Lock order: the presale row first (registrations take
/// it FOR SHARE, the draw FOR UPDATE), then its registrations.
public struct PostgresPresaleStore: PresaleStore {
    let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    static let columns = """
        SELECT p.concert_id, p.registration_closes_at, p.sale_opens_at, p.sale_closes_at, p.winners, p.seed_commitment,
               CASE WHEN p.drawn_at IS NULL THEN NULL ELSE p.seed END AS seed, p.drawn_at,
               (SELECT count(*) FROM presale_registrations r WHERE r.concert_id = p.concert_id) AS registered
        FROM presales p
        """

    static func presale(_ row: PostgresRow) throws -> Presale {
        Presale(
            concertID: try row.decode(Int.self, column: "concert_id"),
            registrationClosesAt: try row.decode(Date.self, column: "registration_closes_at"),
            saleOpensAt: try row.decode(Date.self, column: "sale_opens_at"), saleClosesAt: try row.decode(Date.self, column: "sale_closes_at"),
            winners: try row.decode(Int.self, column: "winners"), registered: try row.decode(Int.self, column: "registered"),
            seedCommitment: try row.decode(String.self, column: "seed_commitment"), seed: try row.decode(String?.self, column: "seed"),
            drawnAt: try row.decode(Date?.self, column: "drawn_at"))
    }

    public func create(_ presale: Presale, seed: String) async throws -> Bool {
        try await self.database.query("""
            INSERT INTO presales (concert_id, registration_closes_at, sale_opens_at, sale_closes_at, winners, seed, seed_commitment)
            VALUES (\(presale.concertID), \(presale.registrationClosesAt), \(presale.saleOpensAt), \(presale.saleClosesAt),
                    \(presale.winners), \(seed), \(presale.seedCommitment))
            ON CONFLICT (concert_id) DO NOTHING
            RETURNING 1
            """).rows.count == 1
    }

    public func presale(concertID: Int) async throws -> Presale? {
        try await self.database.query("\(unescaped: Self.columns) WHERE p.concert_id = \(concertID)").first.map(Self.presale)
    }

    public func saleWindow(concertID: Int) async throws -> Range<Date>? {
        try await self.database.query("SELECT sale_opens_at, sale_closes_at FROM presales WHERE concert_id = \(concertID)").first.map {
            try $0.decode(Date.self, column: "sale_opens_at")..<$0.decode(Date.self, column: "sale_closes_at")
        }
    }

    public func register(concertID: Int, user: UUID) async throws -> PresaleRegistration? {
        try await self.database.transaction(maxAttempts: 3) { connection in
            guard let open = try connection.query("""
                SELECT now() < registration_closes_at AND drawn_at IS NULL FROM presales WHERE concert_id = \(concertID) FOR SHARE
                """).first?.decode(Bool.self, at: 0)
            else { return nil }
            guard open else { return .closed }
            let inserted = try connection.query("""
                INSERT INTO presale_registrations (concert_id, user_id) VALUES (\(concertID), \(user))
                ON CONFLICT DO NOTHING RETURNING 1
                """).rows.count == 1
            return .registered(isNew: inserted)
        }
    }

    public func entry(concertID: Int, user: UUID) async throws -> PresaleEntry? {
        try await self.database.query("""
            SELECT won, code FROM presale_registrations WHERE concert_id = \(concertID) AND user_id = \(user)
            """).first.map { row in
            switch try row.decode(Bool?.self, column: "won") {
            case nil: PresaleEntry(status: .registered, code: nil)
            case true?: PresaleEntry(status: .won, code: try row.decode(String?.self, column: "code"))
            case false?: PresaleEntry(status: .lost, code: nil)
            }
        }
    }

    public func registrations(concertID: Int) async throws -> [String]? {
        try await self.database.withConnection { connection in
            guard try connection.query("SELECT 1 FROM presales WHERE concert_id = \(concertID)").rows.count == 1 else { return nil }
            return try connection.query("""
                SELECT user_id::text FROM presale_registrations WHERE concert_id = \(concertID) ORDER BY registered_at, user_id
                """).map { try $0.decode(String.self, at: 0) }
        }
    }

    public func draw(
        concertID: Int, _ draw: @escaping @Sendable (_ seed: String, _ users: [String], _ winners: Int) -> [(user: String, code: String)]
    ) async throws -> PresaleDrawOutcome {
        try await self.database.transaction { connection in
            guard let row = try connection.query("""
                SELECT seed, winners, drawn_at IS NOT NULL AS drawn, now() < registration_closes_at AS open
                FROM presales WHERE concert_id = \(concertID) FOR UPDATE
                """).first
            else { return .notFound }
            if try row.decode(Bool.self, column: "drawn") { return .alreadyDrawn }
            if try row.decode(Bool.self, column: "open") { return .registrationOpen }
            let users = try connection.query("SELECT user_id::text FROM presale_registrations WHERE concert_id = \(concertID)")
                .map { try $0.decode(String.self, at: 0) }
            let winners = draw(try row.decode(String.self, column: "seed"), users, try row.decode(Int.self, column: "winners"))
            let list = try JSONSerialization.data(withJSONObject: winners.map { ["user_id": $0.user, "code": $0.code] })
            try connection.query("""
                UPDATE presale_registrations r SET won = w.code IS NOT NULL, code = w.code
                FROM presale_registrations a
                LEFT JOIN jsonb_to_recordset(\(String(decoding: list, as: UTF8.self))::jsonb) AS w(user_id uuid, code text) ON w.user_id = a.user_id
                WHERE a.concert_id = \(concertID) AND r.concert_id = a.concert_id AND r.user_id = a.user_id
                """)
            try connection.query("UPDATE presales SET drawn_at = now() WHERE concert_id = \(concertID)")
            guard let drawn = try connection.query("\(unescaped: Self.columns) WHERE p.concert_id = \(concertID)").first.map(Self.presale) else {
                return .notFound
            }
            return .drawn(drawn)
        }
    }

    public func codeHolds(concertID: Int, user: UUID, code: String) async throws -> Bool {
        try await self.database.query("""
            SELECT 1 FROM presale_registrations WHERE concert_id = \(concertID) AND user_id = \(user) AND won AND code = \(code)
            """).rows.count == 1
    }
}
