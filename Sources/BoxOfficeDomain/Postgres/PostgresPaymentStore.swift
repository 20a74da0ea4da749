import Foundation
import LibpqClient

/// Payments in PostgreSQL: one transaction that locks in the shared order of
/// `PostgresReservationStore`: the reservation, its seats, then the balance.
public struct PostgresPaymentStore: PaymentStore {
    let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    static func fingerprint(reservationID: String) -> String { "reservationId=\(reservationID)" }

    public func pay(userID: String, token: String, concertID: Int, reservationID: String, idempotencyKey: String?) async throws -> PaymentReceipt {
        try await self.database.transaction(maxAttempts: 3) { connection in
            try IdempotencyKeys.once(
                connection, userID: userID, operation: "payment", key: idempotencyKey,
                fingerprint: Self.fingerprint(reservationID: reservationID)
            ) {
                try Self.pay(connection, userID: userID, token: token, concertID: concertID, reservationID: reservationID)
            }
        }
    }

    public func replay(userID: String, reservationID: String, idempotencyKey: String) async throws -> PaymentReceipt? {
        let fingerprint = Self.fingerprint(reservationID: reservationID)
        return try await self.database.withConnection { connection in
            try IdempotencyKeys.lookup(
                connection, PaymentReceipt.self, userID: userID, operation: "payment", key: idempotencyKey, fingerprint: fingerprint
            )
        }
    }

    static func pay(_ connection: PostgresConnection, userID: String, token: String, concertID: Int, reservationID: String) throws -> PaymentReceipt {
        guard let row = try connection.query("""
            SELECT user_id::text, concert_id, status, expires_at <= now(), amount,
                   (SELECT count(*) FROM reservation_seats WHERE reservation_id = \(reservationID))
            FROM reservations WHERE id = \(reservationID) FOR UPDATE
            """).first, try row.decode(String.self, at: 0) == userID
        else { throw BoxOfficeError.reservationNotFound }
        guard try row.decode(Int.self, at: 1) == concertID else { throw BoxOfficeError.wrongConcert }
        switch try row.decode(String.self, at: 2) {
        case "HELD": break
        case "EXPIRED": throw BoxOfficeError.holdExpired
        default: throw BoxOfficeError.reservationNotHeld
        }
        guard try !row.decode(Bool.self, at: 3) else { throw BoxOfficeError.holdExpired }
        let amount = try row.decode(Int.self, at: 4)
        let seatCount = try row.decode(Int.self, at: 5)

        let heldSeats = try connection.query("""
            SELECT number FROM seats WHERE reservation_id = \(reservationID) AND status = 'HELD' ORDER BY date_id, number FOR UPDATE
            """)
        guard heldSeats.count == seatCount else { throw BoxOfficeError.holdExpired }

        let balance = try PostgresBalanceStore.lockedBalance(connection, userID: userID)
        guard balance >= amount else { throw BoxOfficeError.insufficientBalance }

        let paymentID = UUID().uuidString.lowercased()
        try PostgresBalanceStore.move(
            connection, userID: userID, type: "PAYMENT", amount: amount, balanceAfter: balance - amount, reference: "payment:" + paymentID
        )
        let paidAt = try connection.query("""
            INSERT INTO payments (id, reservation_id, user_id, amount, queue_token)
            VALUES (\(paymentID), \(reservationID), \(userID), \(amount), \(token))
            RETURNING paid_at
            """).first!.decode(Date.self, at: 0)
        try connection.query("UPDATE seats SET status = 'SOLD', held_until = NULL WHERE reservation_id = \(reservationID) AND status = 'HELD'")
        try connection.query("UPDATE reservations SET status = 'CONFIRMED', updated_at = now() WHERE id = \(reservationID)")
        return PaymentReceipt(
            paymentId: paymentID, reservationId: reservationID, amount: amount, balance: balance - amount, status: "PAID",
            paidAt: Timestamp.format(paidAt)
        )
    }
}
