import ConnectionPool
import Logging
import NIOCore

/// One Redis server: every call runs on one of the pool's own threads. `RedisClient` uses one of
/// these for a single server and one per master for a cluster.
public struct RedisNodeClient: PooledClient {
    public let pool: BlockingConnectionPool<RedisConnection>

    /// A lost server and its return are logged once each (`ServerWatch`), not per failed call.
    public init(configuration: RedisConfiguration, poolSize: Int, acquireTimeout: TimeAmount, logger: Logger = Logger(label: "boxoffice.redis")) {
        let watch = ServerWatch(server: "redis", logger: logger)
        let address = "\(configuration.host):\(configuration.port)"
        self.pool = BlockingConnectionPool(
            configuration: PoolConfiguration(name: "redis", size: poolSize, acquireTimeout: acquireTimeout)
        ) {
            do {
                let connection = try RedisConnection(configuration: configuration)
                watch.connected(to: address)
                return connection
            } catch {
                watch.failed(error)
                throw error
            }
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
        try await self.pool.execute(.script(script, keys: keys, arguments: arguments))
    }

    /// Runs one request after `ASKING` on the same connection: a cluster's answer to a key in a
    /// slot that is migrating to this node. A script goes as EVAL with its source, so that no
    /// `SCRIPT LOAD` can come between `ASKING` and the command it is meant for.
    func asking(_ request: RedisRequest) async throws -> RedisReply {
        let command: [RedisArgument] =
            switch request {
            case .command(let arguments): arguments
            case .script(let script, let keys, let arguments):
                ["EVAL", RedisArgument(script.source), RedisArgument(keys.count)] + keys + arguments
            }
        return try await self.pool.withConnection { try $0.pipeline([["ASKING"], command])[1] }
    }
}
