/// A user's prepaid balance.
public struct BalanceView: Sendable, Codable, Equatable {
    public let userId: String
    public let balance: Int

    public init(userId: String, balance: Int) {
        self.userId = userId
        self.balance = balance
    }
}

public struct ChargeResult: Sendable, Codable, Equatable {
    public let userId: String
    public let balance: Int
    public let charged: Int

    public init(userId: String, balance: Int, charged: Int) {
        self.userId = userId
        self.balance = balance
        self.charged = charged
    }
}

public struct LedgerEntry: Sendable, Codable, Equatable {
    /// CHARGE or PAYMENT.
    public let type: String
    public let amount: Int
    public let balanceAfter: Int
    public let at: String
    public let reference: String

    public init(type: String, amount: Int, balanceAfter: Int, at: String, reference: String) {
        self.type = type
        self.amount = amount
        self.balanceAfter = balanceAfter
        self.at = at
        self.reference = reference
    }
}

/// Balances and their ledger in the database of record: every change locks the balance row and
/// appends a ledger entry in the same transaction.
public protocol BalanceStore: Sendable {
    /// 0 for a user never charged.
    func balance(userID: String) async throws -> Int
    /// Adds `amount`; `balanceLimit` when the balance would pass `maxBalance`. With a key, a retry
    /// returns the first result and moves nothing again (`idempotencyKeyReused` for another amount).
    func charge(userID: String, amount: Int, maxBalance: Int, idempotencyKey: String?) async throws -> ChargeResult
    /// Newest first.
    func history(userID: String, limit: Int) async throws -> [LedgerEntry]
}
