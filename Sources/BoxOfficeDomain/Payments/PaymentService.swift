import Foundation
import LibpqClient
import Logging
import Metrics

public struct PaymentReceipt: Sendable, Encodable, Equatable {
    public let paymentId: String
    public let reservationId: String
    public let amount: Int
    public let balance: Int
    public let status: String
    public let paidAt: String
}

/// Pays a held reservation from the balance in one transaction, locking rows in the shared order:
/// the reservation, its seats, the balance.
public struct PaymentService: Sendable {
    let database: PostgresClient
    let queue: QueueService
    let logger: Logger
    private let payments = Counter(label: "boxoffice_payments_total")

    public init(database: PostgresClient, queue: QueueService, logger: Logger) {
        self.database = database
        self.queue = queue
        self.logger = logger
    }

    static func fingerprint(reservationID: String) -> String { "reservationId=\(reservationID.lowercased())" }

    /// Pays with an ACTIVE token, then ends the token (its queue slot frees at once).
    public func pay(ticket: QueueTicket, reservationID: String, idempotencyKey: String?) async throws -> StoredResponse {
        guard let userID = ticket.userID else { throw ApiError.tokenInvalid }
        let key = try IdempotencyKeys.validate(idempotencyKey)
        guard UUID(uuidString: reservationID) != nil else { throw ApiError.reservationNotFound }
        let reservation = reservationID.lowercased()
        let concertID = ticket.concertID
        let response = try await self.database.transaction(maxAttempts: 3) { connection in
            try IdempotencyKeys.once(
                connection, userID: userID, operation: "payment", key: key, fingerprint: Self.fingerprint(reservationID: reservation)
            ) {
                try Self.payTransaction(connection, userID: userID, concertID: concertID, reservationID: reservation)
            }
        }
        self.payments.increment()
        do {
            try await self.queue.endToken(ticket.token)
        } catch {
            // The payment stands; the token then ends by its own expiry.
            self.logger.warning("could not end the queue token after a payment", metadata: ["error": "\(error)"])
        }
        return response
    }

    /// A retry of a completed payment after its token ended: replays the stored answer, if any.
    public func replay(userID: String, reservationID: String, idempotencyKey: String) async throws -> StoredResponse? {
        guard let key = try IdempotencyKeys.validate(idempotencyKey) else { return nil }
        let fingerprint = Self.fingerprint(reservationID: reservationID)
        return try await self.database.withConnection { connection in
            try IdempotencyKeys.lookup(connection, userID: userID, operation: "payment", key: key, fingerprint: fingerprint)
                .flatMap { $0.status == 0 ? nil : $0 }
        }
    }

    static func payTransaction(_ connection: PostgresConnection, userID: String, concertID: Int, reservationID: String) throws -> StoredResponse {
        guard let row = try connection.query(
            """
            SELECT user_id::text, concert_id, status, expires_at <= now(), amount,
                   (SELECT count(*) FROM reservation_seats WHERE reservation_id = $1)
            FROM reservations WHERE id = $1 FOR UPDATE
            """,
            [reservationID]
        ).first, try row.decode(String.self, at: 0) == userID else { throw ApiError.reservationNotFound }
        guard try row.decode(Int.self, at: 1) == concertID else { throw ApiError.wrongConcert }
        switch try row.decode(String.self, at: 2) {
        case "HELD": break
        case "EXPIRED": throw ApiError.holdExpired
        default: throw ApiError.reservationNotHeld
        }
        guard try !row.decode(Bool.self, at: 3) else { throw ApiError.holdExpired }
        let amount = try row.decode(Int.self, at: 4)
        let seatCount = try row.decode(Int.self, at: 5)

        let heldSeats = try connection.query(
            "SELECT number FROM seats WHERE reservation_id = $1 AND status = 'HELD' ORDER BY date_id, number FOR UPDATE",
            [reservationID]
        )
        guard heldSeats.count == seatCount else { throw ApiError.holdExpired }

        let balance = try connection.query("SELECT balance FROM balances WHERE user_id = $1 FOR UPDATE", [userID])
            .first.map { try $0.decode(Int.self, at: 0) } ?? 0
        guard balance >= amount else { throw ApiError.insufficientBalance }

        let paymentID = UUID().uuidString.lowercased()
        try BalanceService.move(connection, userID: userID, type: "PAYMENT", amount: amount, balanceAfter: balance - amount,
                                reference: "payment:" + paymentID)
        let paidAt = try connection.query(
            "INSERT INTO payments (id, reservation_id, user_id, amount) VALUES ($1, $2, $3, $4) RETURNING paid_at",
            [paymentID, reservationID, userID, amount]
        ).first!.decode(Date.self, at: 0)
        try connection.query(
            "UPDATE seats SET status = 'SOLD', held_until = NULL WHERE reservation_id = $1 AND status = 'HELD'", [reservationID]
        )
        try connection.query("UPDATE reservations SET status = 'CONFIRMED', updated_at = now() WHERE id = $1", [reservationID])
        let receipt = PaymentReceipt(
            paymentId: paymentID, reservationId: reservationID, amount: amount, balance: balance - amount, status: "PAID",
            paidAt: Timestamp.format(paidAt)
        )
        return StoredResponse(status: 201, body: try JSON.encode(receipt))
    }
}
