import BoxOfficeDomain
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

    /// One statement in autocommit, with or without a key: `boxoffice_pay` also claims the key,
    /// replays a stored receipt and stores the new one.
    public func pay(
        userID: String, token: String, concertID: Int, reservationID: String, idempotencyKey: String?
    ) async throws -> (receipt: PaymentReceipt, replayed: Bool) {
        try await self.database.withConnection(maxAttempts: 3) { connection in
            try Self.pay(
                connection, userID: userID, token: token, concertID: concertID, reservationID: reservationID, idempotencyKey: idempotencyKey)
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

    /// The payment's rules, writes and key bookkeeping are the SQL function `boxoffice_pay`
    /// (migrations 7 and 8), which locks in the shared order; this maps its outcome. A first
    /// answer and a replay both decode the receipt JSON the function stored.
    static func pay(
        _ connection: PostgresConnection, userID: String, token: String, concertID: Int, reservationID: String, idempotencyKey: String?
    ) throws -> (receipt: PaymentReceipt, replayed: Bool) {
        guard let row = try connection.query("""
            SELECT outcome, receipt FROM boxoffice_pay(
                \(UUID().uuidString.lowercased())::uuid, \(reservationID)::uuid, \(userID)::uuid, \(token), \(concertID)::bigint,
                \(idempotencyKey), \(Self.fingerprint(reservationID: reservationID)))
            """).first
        else { throw PostgresError.decoding("boxoffice_pay returned no row") }
        let outcome = try row.decode(String.self, column: "outcome")
        switch outcome {
        case "PAID", "REPLAY": return (try JSON.decode(PaymentReceipt.self, from: try row.decode(String.self, column: "receipt")), outcome == "REPLAY")
        case "IDEMPOTENCY_KEY_REUSED": throw BoxOfficeError.idempotencyKeyReused
        case "RESERVATION_NOT_FOUND": throw BoxOfficeError.reservationNotFound
        case "WRONG_CONCERT": throw BoxOfficeError.wrongConcert
        case "HOLD_EXPIRED": throw BoxOfficeError.holdExpired
        case "RESERVATION_NOT_HELD": throw BoxOfficeError.reservationNotHeld
        case "INSUFFICIENT_BALANCE": throw BoxOfficeError.insufficientBalance
        case let other: throw PostgresError.decoding("boxoffice_pay outcome \(other)")
        }
    }
}
