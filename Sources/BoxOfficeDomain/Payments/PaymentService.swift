import Foundation
import Logging
import Metrics

/// Pays a held reservation, then ends the payer's queue token so the next in line gets the slot.
public struct PaymentService: Sendable {
    let store: any PaymentStore
    let window: any ActiveWindow
    let logger: Logger
    private let payments = Counter(label: "boxoffice_payments_total")

    public init(store: any PaymentStore, window: any ActiveWindow, logger: Logger) {
        self.store = store
        self.window = window
        self.logger = logger
    }

    /// Pays with an ACTIVE token, then ends the token (its queue slot frees at once).
    public func pay(ticket: QueueTicket, reservationID: String, idempotencyKey: String?) async throws -> PaymentReceipt {
        guard let userID = ticket.userID else { throw BoxOfficeError.tokenInvalid }
        let key = try IdempotencyKey.validate(idempotencyKey)
        guard UUID(uuidString: reservationID) != nil else { throw BoxOfficeError.reservationNotFound }
        let (receipt, replayed) = try await self.store.pay(
            userID: userID, token: ticket.token, concertID: ticket.concertID, reservationID: reservationID.lowercased(), idempotencyKey: key
        )
        // A retry of a payment that already went through answers as before and ends nothing: the
        // token it arrives with may be a newer one than the one that paid.
        if replayed { return receipt }
        self.payments.increment()
        do {
            try await self.window.endToken(ticket.token)
        } catch {
            // The payment stands; the token then ends by its own expiry.
            self.logger.warning("could not end the queue token after a payment", metadata: ["error": "\(error)"])
        }
        return receipt
    }

    /// A retry of a completed payment after its token ended: the stored receipt, if any.
    public func replay(userID: String, reservationID: String, idempotencyKey: String) async throws -> PaymentReceipt? {
        guard let key = try IdempotencyKey.validate(idempotencyKey) else { return nil }
        return try await self.store.replay(userID: userID, reservationID: reservationID.lowercased(), idempotencyKey: key)
    }
}
