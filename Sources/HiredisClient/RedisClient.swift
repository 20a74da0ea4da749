import ConnectionPool
import NIOCore

/// The async face of the Redis client: every call runs on one of the pool's own threads.
public struct RedisClient: Sendable {
    public let pool: BlockingConnectionPool<RedisConnection>

    public init(configuration: RedisConfiguration, poolSize: Int, acquireTimeout: TimeAmount) {
        self.pool = BlockingConnectionPool(
            configuration: PoolConfiguration(name: "redis", size: poolSize, acquireTimeout: acquireTimeout)
        ) {
            try RedisConnection(configuration: configuration)
        }
    }

    /// Sends one command. An error reply is returned as `.error`; use `checked()` to throw it.
    public func send(_ arguments: [RedisArgument]) async throws -> RedisReply {
        try await self.pool.withConnection { try $0.send(arguments) }
    }

    /// Sends several commands in one round trip and returns their replies in order.
    public func pipeline(_ commands: [[RedisArgument]]) async throws -> [RedisReply] {
        try await self.pool.withConnection { try $0.pipeline(commands) }
    }

    public func run(_ script: RedisScript, keys: [RedisArgument], arguments: [RedisArgument]) async throws -> RedisReply {
        try await self.pool.withConnection { try $0.run(script, keys: keys, arguments: arguments) }
    }

    /// Runs several calls on one connection without a trip through the pool between them.
    public func withConnection<Result: Sendable>(
        _ body: @escaping @Sendable (RedisConnection) throws -> Result
    ) async throws -> Result {
        try await self.pool.withConnection(body)
    }

    public func shutdown() {
        self.pool.shutdown()
    }
}
