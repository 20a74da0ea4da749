/// The result of a payment.
public struct PaymentReceipt: Sendable, Codable, Equatable {
    public let paymentId: String
    public let reservationId: String
    public let amount: Int
    /// The balance left after the payment.
    public let balance: Int
    public let status: String
    public let paidAt: String

    public init(paymentId: String, reservationId: String, amount: Int, balance: Int, status: String, paidAt: String) {
        self.paymentId = paymentId
        self.reservationId = reservationId
        self.amount = amount
        self.balance = balance
        self.status = status
        self.paidAt = paidAt
    }
}

/// Payments in the database of record.
public protocol PaymentStore: Sendable {
    /// Pays a HELD reservation of the user's from the balance, all or nothing: seats SOLD,
    /// reservation CONFIRMED, a PAYMENT ledger entry, a payment row. Throws `reservationNotFound`,
    /// `wrongConcert`, `holdExpired`, `reservationNotHeld` or `insufficientBalance`. With a key, a
    /// retry returns the first receipt, `replayed` (also a duplicate that waited for the first).
    /// The payment row keeps `token`, the queue token that paid: a hold racing the end of that
    /// token finds it and is refused (`ReservationStore.hold`).
    func pay(
        userID: String, token: String, concertID: Int, reservationID: String, idempotencyKey: String?
    ) async throws -> (receipt: PaymentReceipt, replayed: Bool)
    /// The receipt stored for a completed payment with this key, if any.
    func replay(userID: String, reservationID: String, idempotencyKey: String) async throws -> PaymentReceipt?
}
