import BoxOfficeDomain
import Foundation
import LibpqClient

/// Idempotency-Key bookkeeping, always inside the transaction that moves the money: the key row
/// and the money movement commit together or not at all. The row stores the operation's result
/// (as JSON), not an HTTP response: a replay returns the same value and the caller renders it.
enum IdempotencyKeys {
    /// Runs `body` once per key: a replay returns the stored result, a fresh call stores its own.
    ///
    /// The key is claimed first; a concurrent duplicate blocks on the key's unique index until the
    /// first commits (then it replays) or rolls back (then it proceeds), so money never moves twice.
    static func once<Result: Codable>(
        _ connection: PostgresConnection, userID: String, operation: String, key: String?, fingerprint: String,
        _ body: () throws -> Result
    ) throws -> Result {
        guard let key else { return try body() }
        let claimed = try connection.query("""
            INSERT INTO idempotency_keys (user_id, operation, key, fingerprint, result)
            VALUES (\(userID), \(operation), \(key), \(fingerprint), '') ON CONFLICT DO NOTHING
            """).affectedRows == 1
        if !claimed {
            // The INSERT waited for the claiming transaction and it committed: its row is complete.
            guard let stored = try self.lookup(connection, Result.self, userID: userID, operation: operation, key: key, fingerprint: fingerprint) else {
                throw PostgresError.decoding("idempotency key \(key) vanished")
            }
            return stored
        }
        let result = try body()
        try connection.query("""
            UPDATE idempotency_keys SET result = \(try JSON.encode(result))
            WHERE user_id = \(userID) AND operation = \(operation) AND key = \(key)
            """)
        return result
    }

    /// The stored result of a key, nil when the key is unknown (a key row is only ever seen by
    /// others once its transaction committed it with its result); `idempotencyKeyReused` when the
    /// key was used with another request.
    static func lookup<Result: Decodable>(
        _ connection: PostgresConnection, _ type: Result.Type, userID: String, operation: String, key: String, fingerprint: String
    ) throws -> Result? {
        guard let row = try connection.query("""
            SELECT fingerprint, result FROM idempotency_keys
            WHERE user_id = \(userID) AND operation = \(operation) AND key = \(key)
            """).first
        else { return nil }
        guard try row.decode(String.self, column: "fingerprint") == fingerprint else { throw BoxOfficeError.idempotencyKeyReused }
        return try JSON.decode(Result.self, from: try row.decode(String.self, column: "result"))
    }
}
