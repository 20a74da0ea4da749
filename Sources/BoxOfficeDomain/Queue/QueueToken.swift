/// Queue tokens look like `1.9f86d081884c7d659a2feaa0c55ad015`: the concert id, a dot, and 128
/// random bits in hex; in a concert whose line is split in shards, `1.2.9f86...` for shard 2 (shard 0
/// keeps the short form). Clients treat them as opaque; the server reads the concert id and shard
/// to find the queue's keys without a lookup.
public enum QueueToken {
    public static func generate(concertID: Int, shard: Int = 0) -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return (shard == 0 ? "\(concertID)." : "\(concertID).\(shard).") + Text.hex(high) + Text.hex(low)
    }

    /// The concert id of a well-formed token, nil otherwise.
    public static func concertID(of token: String) -> Int? {
        self.parse(token)?.concertID
    }

    /// Concert id and shard of a well-formed token, nil otherwise.
    public static func parse(_ token: String) -> (concertID: Int, shard: Int)? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3, let concertID = Int(parts[0]), concertID > 0, String(concertID) == parts[0],
            let random = parts.last, random.utf8.count == 32,
            random.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
        else { return nil }
        guard parts.count == 3 else { return (concertID, 0) }
        guard let shard = Int(parts[1]), String(shard) == parts[1], (1..<QueueShardPlan.maxShards).contains(shard) else { return nil }
        return (concertID, shard)
    }
}
