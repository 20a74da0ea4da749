import HiredisClient
import LibpqClient
import NIOCore

/// The two shared stores every instance talks to.
public struct Stores: Sendable {
    public let database: PostgresClient
    public let redis: RedisClient

    public init(database: PostgresClient, redis: RedisClient) {
        self.database = database
        self.redis = redis
    }

    public init(configuration: AppConfiguration) throws {
        let acquireTimeout = TimeAmount.milliseconds(Int64(configuration.poolTimeoutMilliseconds))
        self.database = PostgresClient(
            configuration: PostgresConfiguration(
                url: configuration.databaseURL,
                statementTimeoutMilliseconds: configuration.statementTimeoutMilliseconds,
                lockTimeoutMilliseconds: configuration.lockTimeoutMilliseconds,
                applicationName: "boxoffice-\(configuration.instanceID)"
            ),
            poolSize: configuration.databasePoolSize,
            acquireTimeout: acquireTimeout
        )
        let redisTimeout = Duration.milliseconds(configuration.redisTimeoutMilliseconds)
        self.redis = RedisClient(
            configuration: try RedisConfiguration(url: configuration.redisURL, connectTimeout: redisTimeout, commandTimeout: redisTimeout),
            poolSize: configuration.redisPoolSize,
            acquireTimeout: acquireTimeout
        )
    }

    public func shutdown() {
        self.database.shutdown()
        self.redis.shutdown()
    }
}
