import ConnectionPool
import Logging
import NIOCore
import Synchronization

/// The async face of the PostgreSQL client: every call runs on one of the pool's own threads.
public struct PostgresClient: PooledClient {
    public let pool: BlockingConnectionPool<PostgresConnection>
    /// What every connection of the pool is opened with (also for a connection of one's own, as a listener's).
    public let configuration: PostgresConfiguration

    public init(
        configuration: PostgresConfiguration, poolSize: Int, acquireTimeout: TimeAmount,
        logger: Logger = Logger(label: "boxoffice.postgres")
    ) {
        let watch = ServerWatch(logger: logger)
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

/// Logs the changes of which server the pool's connections reach: the first connection, a lost
/// server, the primary that replaced it after a failover. Once per change, not per connection.
private final class ServerWatch: Sendable {
    private enum State: Equatable {
        case unknown
        case connected(String)
        case unreachable(last: String?)
    }

    private let logger: Logger
    private let state = Mutex(State.unknown)

    init(logger: Logger) {
        self.logger = logger
    }

    func connected(to server: String) {
        let previous = self.state.withLock { state in
            defer { state = .connected(server) }
            return state
        }
        switch previous {
        case .connected(server):
            return
        case .unknown:
            // Every pool's first connection: only worth a line when debugging.
            self.logger.debug("postgres connected", metadata: ["server": "\(server)"])
        case .connected(let old), .unreachable(last: .some(let old)):
            let metadata: Logger.Metadata = ["server": "\(server)", "previous": "\(old)"]
            if old == server {
                self.logger.notice("postgres reachable again", metadata: metadata)
            } else {
                self.logger.notice("postgres primary changed", metadata: metadata)
            }
        case .unreachable(last: nil):
            self.logger.notice("postgres reachable again", metadata: ["server": "\(server)"])
        }
    }

    func failed(_ error: any Error) {
        let first = self.state.withLock { state -> Bool in
            switch state {
            case .unreachable: return false
            case .connected(let server):
                state = .unreachable(last: server)
            case .unknown:
                state = .unreachable(last: nil)
            }
            return true
        }
        if first {
            self.logger.warning("postgres unreachable", metadata: ["error": "\(error)"])
        }
    }
}
