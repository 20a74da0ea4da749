import Foundation
import LibpqClient

/// Payments in PostgreSQL: one transaction (the SQL function `boxoffice_pay`) that locks in the
/// shared order of `PostgresReservationStore`: the reservation, its seats, then the balance.
public struct PostgresPaymentStore: PaymentStore {
    let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    static func fingerprint(reservationID: String) -> String { "reservationId=\(reservationID)" }

    public func pay(userID: String, token: String, concertID: Int, reservationID: String, idempotencyKey: String?) async throws -> PaymentReceipt {
        guard let idempotencyKey else {
            // One round trip: boxoffice_pay is the whole transaction (autocommit).
            return try await self.database.withConnection(maxAttempts: 3) { connection in
                try Self.pay(connection, userID: userID, token: token, concertID: concertID, reservationID: reservationID)
            }
        }
        return try await self.database.transaction(maxAttempts: 3) { connection in
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

    /// The payment's rules and writes are the SQL function `boxoffice_pay` (migration 7), which
    /// locks in the shared order; this maps its outcome.
    static func pay(_ connection: PostgresConnection, userID: String, token: String, concertID: Int, reservationID: String) throws -> PaymentReceipt {
        let paymentID = UUID().uuidString.lowercased()
        guard let row = try connection.query("""
            SELECT outcome, paid_amount, balance_after, paid_at FROM boxoffice_pay(
                \(paymentID)::uuid, \(reservationID)::uuid, \(userID)::uuid, \(token), \(concertID)::bigint)
            """).first
        else { throw PostgresError.decoding("boxoffice_pay returned no row") }
        switch try row.decode(String.self, at: 0) {
        case "PAID":
            return PaymentReceipt(
                paymentId: paymentID, reservationId: reservationID, amount: try row.decode(Int.self, at: 1),
                balance: try row.decode(Int.self, at: 2), status: "PAID", paidAt: Timestamp.format(try row.decode(Date.self, at: 3))
            )
        case "RESERVATION_NOT_FOUND": throw BoxOfficeError.reservationNotFound
        case "WRONG_CONCERT": throw BoxOfficeError.wrongConcert
        case "HOLD_EXPIRED": throw BoxOfficeError.holdExpired
        case "RESERVATION_NOT_HELD": throw BoxOfficeError.reservationNotHeld
        case "INSUFFICIENT_BALANCE": throw BoxOfficeError.insufficientBalance
        case let other: throw PostgresError.decoding("boxoffice_pay outcome \(other)")
        }
    }
}
