import Foundation
import LibpqClient
import Metrics

public struct BalanceView: Sendable, Encodable, Equatable {
    public let userId: String
    public let balance: Int
}

public struct ChargeResult: Sendable, Encodable, Equatable {
    public let userId: String
    public let balance: Int
    public let charged: Int
}

public struct LedgerEntry: Sendable, Encodable, Equatable {
    public let type: String
    public let amount: Int
    public let balanceAfter: Int
    public let at: String
    public let reference: String
}

/// Prepaid balances. Every change locks the balance row and appends a ledger entry in the same
/// transaction, so balance = sum of the ledger at every commit.
public struct BalanceService: Sendable {
    public struct Settings: Sendable {
        public var maxCharge: Int
        public var maxBalance: Int

        public init(maxCharge: Int, maxBalance: Int) {
            self.maxCharge = maxCharge
            self.maxBalance = maxBalance
        }
    }

    let database: PostgresClient
    let settings: Settings
    private let charges = Counter(label: "boxoffice_charges_total")

    public init(database: PostgresClient, settings: Settings) {
        self.database = database
        self.settings = settings
    }

    public func balance(userID: String) async throws -> BalanceView {
        let balance = try await self.database.query("SELECT balance FROM balances WHERE user_id = $1", [userID])
            .first.map { try $0.decode(Int.self, at: 0) } ?? 0
        return BalanceView(userId: userID, balance: balance)
    }

    public func validateAmount(_ amount: Int) throws {
        guard amount > 0 else { throw ApiError.invalidAmount("The amount must be a positive integer number of won.") }
        guard amount <= self.settings.maxCharge else {
            throw ApiError.invalidAmount("The amount must not exceed \(self.settings.maxCharge) won per charge.")
        }
    }

    /// Adds `amount` to the user's balance; with an Idempotency-Key a retry replays the first answer.
    public func charge(userID: String, amount: Int, idempotencyKey: String?) async throws -> StoredResponse {
        try self.validateAmount(amount)
        let key = try IdempotencyKeys.validate(idempotencyKey)
        let maxBalance = self.settings.maxBalance
        let response = try await self.database.transaction(maxAttempts: 3) { connection in
            try IdempotencyKeys.once(connection, userID: userID, operation: "charge", key: key, fingerprint: "amount=\(amount)") {
                // Created on first use; ON CONFLICT makes two first charges race safely.
                try connection.query("INSERT INTO balances (user_id, balance) VALUES ($1, 0) ON CONFLICT DO NOTHING", [userID])
                let current = try connection.query("SELECT balance FROM balances WHERE user_id = $1 FOR UPDATE", [userID])
                    .first!.decode(Int.self, at: 0)
                let updated = current + amount
                guard updated <= maxBalance else { throw ApiError.balanceLimit }
                try Self.move(connection, userID: userID, type: "CHARGE", amount: amount, balanceAfter: updated,
                              reference: "charge:" + UUID().uuidString.lowercased())
                return StoredResponse(status: 200, body: try JSON.encode(ChargeResult(userId: userID, balance: updated, charged: amount)))
            }
        }
        self.charges.increment()
        return response
    }

    public func history(userID: String, limit: Int) async throws -> [LedgerEntry] {
        try await self.database.query(
            "SELECT type, amount, balance_after, created_at, reference FROM balance_ledger WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
            [userID, limit]
        ).map {
            LedgerEntry(
                type: try $0.decode(at: 0), amount: try $0.decode(at: 1), balanceAfter: try $0.decode(at: 2),
                at: Timestamp.format(try $0.decode(Date.self, at: 3)), reference: try $0.decode(at: 4)
            )
        }
    }

    /// Sets the (already locked) balance row and appends the matching ledger entry.
    static func move(_ connection: PostgresConnection, userID: String, type: String, amount: Int, balanceAfter: Int, reference: String) throws {
        try connection.query("UPDATE balances SET balance = $2, updated_at = now() WHERE user_id = $1", [userID, balanceAfter])
        try connection.query(
            "INSERT INTO balance_ledger (user_id, type, amount, balance_after, reference) VALUES ($1, $2, $3, $4, $5)",
            [userID, type, amount, balanceAfter, reference]
        )
    }
}
