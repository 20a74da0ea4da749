import BoxOfficeDomain
import Foundation
import LibpqClient

/// Balances and the ledger in PostgreSQL: balance = sum of the ledger at every commit.
public struct PostgresBalanceStore: BalanceStore {
    let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    public func balance(userID: String) async throws -> Int {
        try await self.database.query("SELECT balance FROM balances WHERE user_id = \(userID)")
            .first.map { try $0.decode(Int.self, at: 0) } ?? 0
    }

    public func charge(userID: String, amount: Int, maxBalance: Int, idempotencyKey: String?) async throws -> ChargeResult {
        try await self.database.transaction(maxAttempts: 3) { connection in
            try IdempotencyKeys.once(connection, userID: userID, operation: "charge", key: idempotencyKey, fingerprint: "amount=\(amount)") {
                // Created on first use; ON CONFLICT makes two first charges race safely.
                try connection.query("INSERT INTO balances (user_id, balance) VALUES (\(userID), 0) ON CONFLICT DO NOTHING")
                let updated = try Self.lockedBalance(connection, userID: userID) + amount
                guard updated <= maxBalance else { throw BoxOfficeError.balanceLimit }
                try Self.move(connection, userID: userID, type: "CHARGE", amount: amount, balanceAfter: updated,
                              reference: "charge:" + UUID().uuidString.lowercased())
                try connection.query("""
                    INSERT INTO outbox_events (type, aggregate_id, payload)
                    SELECT 'balance.charged', \(userID), jsonb_build_object('userId', \(userID)::text, 'amount', \(amount)::bigint,
                                                                           'balance', \(updated)::bigint)
                    WHERE boxoffice_outbox_on()
                    """)
                return ChargeResult(userId: userID, balance: updated, charged: amount)
            }
        }
    }

    public func history(userID: String, limit: Int) async throws -> [LedgerEntry] {
        try await self.database.query("""
            SELECT type, amount, balance_after, created_at, reference FROM balance_ledger
            WHERE user_id = \(userID) ORDER BY id DESC LIMIT \(limit)
            """).map {
            LedgerEntry(
                type: try $0.decode(column: "type"), amount: try $0.decode(column: "amount"), balanceAfter: try $0.decode(column: "balance_after"),
                at: Timestamp.format(try $0.decode(Date.self, column: "created_at")), reference: try $0.decode(column: "reference")
            )
        }
    }

    /// The user's balance, its row locked until the transaction ends (0 when there is no row).
    static func lockedBalance(_ connection: PostgresConnection, userID: String) throws -> Int {
        try connection.query("SELECT balance FROM balances WHERE user_id = \(userID) FOR UPDATE")
            .first.map { try $0.decode(Int.self, at: 0) } ?? 0
    }

    /// Sets the (already locked) balance row and appends the matching ledger entry.
    static func move(_ connection: PostgresConnection, userID: String, type: String, amount: Int, balanceAfter: Int, reference: String) throws {
        try connection.query("UPDATE balances SET balance = \(balanceAfter), updated_at = now() WHERE user_id = \(userID)")
        try connection.query("""
            INSERT INTO balance_ledger (user_id, type, amount, balance_after, reference)
            VALUES (\(userID), \(type), \(amount), \(balanceAfter), \(reference))
            """)
    }
}
