/// The `Idempotency-Key` of a money-moving call: a retry with the same key and the same request
/// gets the first call's result and moves nothing again.
public enum IdempotencyKey {
    /// Nil stays nil; otherwise 1...128 printable characters, else `invalidRequest`.
    public static func validate(_ key: String?) throws -> String? {
        guard let key else { return nil }
        guard Text.isPrintableToken(key) else {
            throw BoxOfficeError.invalidRequest("Idempotency-Key must be 1 to 128 printable characters.")
        }
        return key
    }
}
