import ServiceLifecycle

/// A client whose every call runs on a `BlockingConnectionPool`: the Redis and PostgreSQL clients.
/// They share what a pool gives them (direct connection access, shutdown, running as a Service)
/// and add only their own protocol's calls.
public protocol PooledClient: Service, Sendable {
    associatedtype Connection: BlockingConnection
    var pool: BlockingConnectionPool<Connection> { get }
}

extension PooledClient {
    /// Runs several calls on one connection, on one of the pool's threads, without a trip
    /// through the pool between them.
    public func withConnection<Result: Sendable>(
        _ body: @escaping @Sendable (Connection) throws -> Result
    ) async throws -> Result {
        try await self.pool.withConnection(body)
    }

    public func shutdown() {
        self.pool.shutdown()
    }

    /// Runs until graceful shutdown, then drains the pool (see `BlockingConnectionPool.run()`).
    public func run() async throws {
        try await self.pool.run()
    }
}
