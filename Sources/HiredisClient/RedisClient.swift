import ConnectionPool
import NIOCore

/// The async face of the Redis client: every call runs on one of the pool's own threads.
public struct RedisClient: PooledClient {
    public let pool: BlockingConnectionPool<RedisConnection>

    public init(configuration: RedisConfiguration, poolSize: Int, acquireTimeout: TimeAmount) {
        self.pool = BlockingConnectionPool(
            configuration: PoolConfiguration(name: "redis", size: poolSize, acquireTimeout: acquireTimeout)
        ) {
            try RedisConnection(configuration: configuration)
        }
    }

    /// Sends one command (pipelined with other callers' waiting requests). An error reply is
    /// returned as `.error`; use `checked()` to throw it.
    public func send(_ arguments: [RedisArgument]) async throws -> RedisReply {
        try await self.pool.execute(.command(arguments))
    }

    /// Sends several commands in one round trip and returns their replies in order.
    public func pipeline(_ commands: [[RedisArgument]]) async throws -> [RedisReply] {
        try await self.pool.withConnection { try $0.pipeline(commands) }
    }

    /// Runs a Lua script by EVALSHA (pipelined with other callers' waiting requests).
    public func run(_ script: RedisScript, keys: [RedisArgument], arguments: [RedisArgument]) async throws -> RedisReply {
        script.countRun()
        return try await self.pool.execute(.script(script, keys: keys, arguments: arguments))
    }
}
