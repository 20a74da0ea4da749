import Metrics

/// Prepaid balances: the rules on amounts, in front of the store that moves the money.
public struct BalanceService: Sendable {
    public struct Settings: Sendable {
        public var maxCharge: Int
        public var maxBalance: Int

        public init(maxCharge: Int, maxBalance: Int) {
            self.maxCharge = maxCharge
            self.maxBalance = maxBalance
        }
    }

    let store: any BalanceStore
    let settings: Settings
    private let charges = Counter(label: "boxoffice_charges_total")

    public init(store: any BalanceStore, settings: Settings) {
        self.store = store
        self.settings = settings
    }

    public func balance(userID: String) async throws -> BalanceView {
        BalanceView(userId: userID, balance: try await self.store.balance(userID: userID))
    }

    public func validateAmount(_ amount: Int) throws {
        guard amount > 0 else { throw BoxOfficeError.invalidAmount("The amount must be a positive integer number of won.") }
        guard amount <= self.settings.maxCharge else {
            throw BoxOfficeError.invalidAmount("The amount must not exceed \(self.settings.maxCharge) won per charge.")
        }
    }

    /// Adds `amount` to the user's balance; with an Idempotency-Key a retry replays the first result.
    public func charge(userID: String, amount: Int, idempotencyKey: String?) async throws -> ChargeResult {
        try self.validateAmount(amount)
        let key = try IdempotencyKey.validate(idempotencyKey)
        let result = try await self.store.charge(userID: userID, amount: amount, maxBalance: self.settings.maxBalance, idempotencyKey: key)
        self.charges.increment()
        return result
    }

    public func history(userID: String, limit: Int) async throws -> [LedgerEntry] {
        try await self.store.history(userID: userID, limit: limit)
    }
}
