import BoxOfficeDomain
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

    public init(settings: StoreSettings, applicationName: String) throws {
        let acquireTimeout = TimeAmount.milliseconds(Int64(settings.poolTimeoutMilliseconds))
        self.database = PostgresClient(
            configuration: PostgresConfiguration(
                url: settings.databaseURL,
                statementTimeoutMilliseconds: settings.statementTimeoutMilliseconds,
                lockTimeoutMilliseconds: settings.lockTimeoutMilliseconds,
                replyTimeoutMilliseconds: settings.replyTimeoutMilliseconds,
                applicationName: applicationName
            ),
            poolSize: settings.databasePoolSize,
            acquireTimeout: acquireTimeout
        )
        let redisTimeout = Duration.milliseconds(settings.redisTimeoutMilliseconds)
        // On a cluster, REDIS_URL still gives the password and timeouts; the nodes give the hosts.
        let redisConfiguration = try RedisConfiguration(url: settings.redisURL, connectTimeout: redisTimeout, commandTimeout: redisTimeout)
        if settings.redisClusterNodes.isEmpty {
            self.redis = RedisClient(configuration: redisConfiguration, poolSize: settings.redisPoolSize, acquireTimeout: acquireTimeout)
        } else {
            self.redis = RedisClient(
                cluster: settings.redisClusterNodes, configuration: redisConfiguration, poolSize: settings.redisPoolSize,
                acquireTimeout: acquireTimeout
            )
        }
    }

    public func shutdown() {
        self.database.shutdown()
        self.redis.shutdown()
    }
}

/// Where the stores are and how their pools behave: `DATABASE_URL`, `DB_*`, `REDIS_*`, `POOL_TIMEOUT_MS`.
public struct StoreSettings: Sendable {
    public var databaseURL: String
    public var redisURL: String
    public var databasePoolSize: Int
    public var redisPoolSize: Int
    public var poolTimeoutMilliseconds: Int
    public var statementTimeoutMilliseconds: Int
    public var lockTimeoutMilliseconds: Int
    /// Client-side deadline for any PostgreSQL reply (a server that stops answering).
    public var replyTimeoutMilliseconds: Int
    public var redisTimeoutMilliseconds: Int
    /// Seed nodes of a Redis Cluster (`REDIS_CLUSTER_NODES`); empty means the one server of `REDIS_URL`.
    public var redisClusterNodes: [RedisNodeAddress]

    public init(_ reader: SettingsReader) throws {
        // URLs may carry passwords.
        self.databaseURL = reader.string(
            "database.url", default: "postgres://boxoffice:boxoffice@127.0.0.1:15432/boxoffice", secret: true)
        self.poolTimeoutMilliseconds = try reader.int("pool.timeout.ms", default: 3_000, in: 1...600_000)
        let database = reader.scoped(to: "db")
        self.databasePoolSize = try database.int("pool.size", default: 8, in: 1...256)
        self.statementTimeoutMilliseconds = try database.int("statement.timeout.ms", default: 5_000, in: 1...600_000)
        self.lockTimeoutMilliseconds = try database.int("lock.timeout.ms", default: 2_000, in: 1...600_000)
        // Longer than any statement may run, so only a silent server trips it.
        self.replyTimeoutMilliseconds = try database.int(
            "reply.timeout.ms", default: self.statementTimeoutMilliseconds + 5_000, in: self.statementTimeoutMilliseconds...600_000)
        let redis = reader.scoped(to: "redis")
        self.redisURL = redis.string("url", default: "redis://127.0.0.1:16379/0", secret: true)
        self.redisPoolSize = try redis.int("pool.size", default: 2, in: 1...256)
        self.redisTimeoutMilliseconds = try redis.int("timeout.ms", default: 2_000, in: 1...600_000)
        self.redisClusterNodes = try redis.list("cluster.nodes", form: "host:port") { RedisNodeAddress($0) }
    }
}
