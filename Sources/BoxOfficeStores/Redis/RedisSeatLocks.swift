import BoxOfficeDomain
import HiredisClient

/// The Redis fast path in front of seat holds: one `SET NX PX` key per seat whose value is the
/// reservation id. It only rejects losers early; PostgreSQL still decides (a lost key never
/// lets a seat be sold twice, the row lock and status check catch it).
public struct RedisSeatLocks: SeatLocking {
    /// Takes every key in the given (ascending seat) order, or none: on the first taken key it
    /// deletes the ones it set and returns that key's 1-based index. 0 means all were taken.
    static let acquire = RedisScript(name: "seat-lock-acquire", source: """
        for i, key in ipairs(KEYS) do
          if not redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then
            for j = 1, i - 1 do
              if redis.call('GET', KEYS[j]) == ARGV[1] then redis.call('DEL', KEYS[j]) end
            end
            return i
          end
        end
        return 0
        """)

    /// Compare-and-delete: removes only keys still holding our value.
    static let release = RedisScript(name: "seat-lock-release", source: """
        local n = 0
        for _, key in ipairs(KEYS) do
          if redis.call('GET', key) == ARGV[1] then n = n + redis.call('DEL', key) end
        end
        return n
        """)

    let redis: RedisClient

    public init(redis: RedisClient) {
        self.redis = redis
    }

    static func keys(concertID: Int, date: String, seats: [Int]) -> [RedisArgument] {
        let keys = QueueKeys(concertID: concertID)
        return seats.sorted().map { RedisArgument(keys.seatLock(date: date, seat: $0)) }
    }

    /// True when every seat's key was taken for `owner`.
    public func acquire(concertID: Int, date: String, seats: [Int], owner: String, milliseconds: Int) async throws -> Bool {
        let reply = try await self.redis.run(
            Self.acquire,
            keys: Self.keys(concertID: concertID, date: date, seats: seats),
            arguments: [RedisArgument(owner), RedisArgument(milliseconds)]
        ).checked()
        return reply.int == 0
    }

    public func release(concertID: Int, date: String, seats: [Int], owner: String) async throws {
        try await self.redis.run(
            Self.release,
            keys: Self.keys(concertID: concertID, date: date, seats: seats),
            arguments: [RedisArgument(owner)]
        ).checked()
    }
}
