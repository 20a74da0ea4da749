import LibpqClient

/// Idempotency-Key bookkeeping, always inside the transaction that moves the money: the key row
/// and the money movement commit together or not at all.
enum IdempotencyKeys {
    /// Validates the header: 1...128 printable ASCII characters.
    static func validate(_ key: String?) throws -> String? {
        guard let key else { return nil }
        guard (1...128).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw ApiError.invalidRequest("Idempotency-Key must be 1 to 128 printable characters.")
        }
        return key
    }

    /// Claims the key for this transaction, or returns the stored response of the transaction that
    /// claimed it first. A concurrent duplicate blocks on the key's unique index until the first
    /// commits (then it replays) or rolls back (then it proceeds), so money never moves twice.
    static func claim(
        _ connection: PostgresConnection, userID: String, operation: String, key: String, fingerprint: String
    ) throws -> StoredResponse? {
        let inserted = try connection.query(
            """
            INSERT INTO idempotency_keys (user_id, operation, key, fingerprint, status_code, response_body)
            VALUES ($1, $2, $3, $4, 0, '') ON CONFLICT DO NOTHING
            """,
            [userID, operation, key, fingerprint]
        ).affectedRows
        if inserted == 1 { return nil }
        guard let stored = try self.lookup(connection, userID: userID, operation: operation, key: key, fingerprint: fingerprint) else {
            throw PostgresError.decoding("idempotency key vanished")
        }
        return stored
    }

    /// The stored response for a completed key; 422 when the key was used with another request.
    static func lookup(
        _ connection: PostgresConnection, userID: String, operation: String, key: String, fingerprint: String
    ) throws -> StoredResponse? {
        guard let row = try connection.query(
            "SELECT fingerprint, status_code, response_body FROM idempotency_keys WHERE user_id = $1 AND operation = $2 AND key = $3",
            [userID, operation, key]
        ).first else { return nil }
        guard try row.decode(String.self, at: 0) == fingerprint else { throw ApiError.idempotencyKeyReused }
        return StoredResponse(status: try row.decode(at: 1), body: try row.decode(at: 2))
    }

    static func complete(
        _ connection: PostgresConnection, userID: String, operation: String, key: String, response: StoredResponse
    ) throws {
        try connection.query(
            "UPDATE idempotency_keys SET status_code = $4, response_body = $5 WHERE user_id = $1 AND operation = $2 AND key = $3",
            [userID, operation, key, response.status, response.body]
        )
    }

    /// Runs `body` once per key: a replay returns the stored response, a fresh call stores its own.
    static func once(
        _ connection: PostgresConnection, userID: String, operation: String, key: String?, fingerprint: String,
        _ body: () throws -> StoredResponse
    ) throws -> StoredResponse {
        guard let key else { return try body() }
        if let stored = try self.claim(connection, userID: userID, operation: operation, key: key, fingerprint: fingerprint) {
            return stored
        }
        let response = try body()
        try self.complete(connection, userID: userID, operation: operation, key: key, response: response)
        return response
    }
}
