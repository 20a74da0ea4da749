import ConnectionPool
import Logging
import NIOCore

/// The async face of the PostgreSQL client: every call runs on one of the pool's own threads.
public struct PostgresClient: PooledClient {
    public let pool: BlockingConnectionPool<PostgresConnection>
    /// What every connection of the pool is opened with (also for a connection of one's own, as a listener's).
    public let configuration: PostgresConfiguration

    public init(
        configuration: PostgresConfiguration, poolSize: Int, acquireTimeout: TimeAmount,
        logger: Logger = Logger(label: "boxoffice.postgres")
    ) {
        let watch = ServerWatch(server: "postgres", logger: logger)
        self.configuration = configuration
        self.pool = BlockingConnectionPool(
            configuration: PoolConfiguration(name: "postgres", size: poolSize, acquireTimeout: acquireTimeout)
        ) {
            do {
                let connection = try PostgresConnection(configuration: configuration)
                watch.connected(to: connection.server)
                return connection
            } catch {
                watch.failed(error)
                throw error
            }
        }
    }

    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await self.pool.withConnection { try $0.query(query) }
    }

    /// Runs `body` in one transaction on one connection: committed when it returns, rolled back
    /// when it throws.
    public func transaction<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> Result
    ) async throws -> Result {
        try await self.pool.withConnection { try $0.transaction(body) }
    }

    /// Like `transaction`, but runs the whole transaction again (up to `maxAttempts` times) when the
    /// server aborted it as a deadlock victim or serialization failure; the body must be safe to repeat.
    public func transaction<Result: Sendable>(
        maxAttempts: Int,
        _ body: @escaping @Sendable (PostgresConnection) throws -> Result
    ) async throws -> Result {
        try await self.withConnection(maxAttempts: maxAttempts) { try $0.transaction(body) }
    }

    /// Runs `body` on one connection, again (up to `maxAttempts` times) when the server aborted it
    /// as a deadlock victim or serialization failure: for a single statement in autocommit (a
    /// function that is a whole transaction), or a `transaction` of the caller's.
    public func withConnection<Result: Sendable>(
        maxAttempts: Int,
        _ body: @escaping @Sendable (PostgresConnection) throws -> Result
    ) async throws -> Result {
        try await self.pool.withConnection { connection in
            var attempt = 1
            while true {
                do {
                    return try body(connection)
                } catch let error as PostgresError where error.kind?.isTransient == true && attempt < maxAttempts && connection.isUsable {
                    attempt += 1
                }
            }
        }
    }
}
