import BoxOfficeStores
import ConnectionPool

/// What /health/ready and /metrics ask of the store clients.
public protocol StoreHealth: Sendable {
    /// The stores that do not answer now ("postgres", "redis"), both asked at once.
    func failing() async -> [String]
    /// Each pool's figures, by name.
    var pools: [(name: String, statistics: PoolStatistics)] { get }
}

extension Stores: StoreHealth {
    public func failing() async -> [String] {
        async let redisOK: Bool = {
            (try? await self.redis.send(["PING"]).checked()) != nil
        }()
        async let postgresOK: Bool = {
            (try? await self.database.query("SELECT 1")) != nil
        }()
        var failing: [String] = []
        if !(await postgresOK) { failing.append("postgres") }
        if !(await redisOK) { failing.append("redis") }
        return failing
    }

    public var pools: [(name: String, statistics: PoolStatistics)] {
        [("postgres", self.database.pool.statistics), ("redis", self.redis.statistics)]
    }
}
