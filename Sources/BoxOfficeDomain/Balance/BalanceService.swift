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

        /// `MAX_CHARGE`, `MAX_BALANCE`.
        public init(_ reader: SettingsReader) throws {
            self.init(
                maxCharge: try reader.int("max.charge", default: 10_000_000, in: 1...Int(Int32.max) * 1000),
                maxBalance: try reader.int("max.balance", default: 1_000_000_000, in: 1...Int.max / 4)
            )
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
