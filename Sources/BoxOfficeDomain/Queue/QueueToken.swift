/// Queue tokens look like `1.9f86d081884c7d659a2feaa0c55ad015`: the concert id, a dot, and 128
/// random bits in hex. Clients treat them as opaque; the server reads the concert id to find the
/// queue's keys without a lookup.
public enum QueueToken {
    public static func generate(concertID: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return "\(concertID)." + Text.hex(high) + Text.hex(low)
    }

    /// The concert id of a well-formed token, nil otherwise.
    public static func concertID(of token: String) -> Int? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let concertID = Int(parts[0]), concertID > 0, String(concertID) == parts[0],
            parts[1].utf8.count == 32,
            parts[1].utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
        else { return nil }
        return concertID
    }
}
