import DequeModule
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A connection of a blocking C client library (hiredis, libpq).
///
/// Implementations are not thread-safe. The pool guarantees that a connection is created,
/// used and closed on exactly one of its worker threads, so implementations need no locking.
public protocol BlockingConnection: AnyObject {
    /// False once the connection saw an I/O error; the pool then closes it and opens a new one.
    var isUsable: Bool { get }
    func close()
}

public struct PoolConfiguration: Sendable {
    /// Number of worker threads, and so of connections.
    public var size: Int
    /// How long a caller may wait for a free connection before `PoolError.timedOut`.
    public var acquireTimeout: TimeAmount
    /// Used in thread names, errors and metrics.
    public var name: String

    public init(name: String, size: Int, acquireTimeout: TimeAmount) {
        precondition(size > 0, "a pool needs at least one connection")
        self.name = name
        self.size = size
        self.acquireTimeout = acquireTimeout
    }
}

public enum PoolError: Error, Equatable, CustomStringConvertible {
    /// No connection became free within the pool's acquire timeout.
    case timedOut(pool: String)
    /// The pool was shut down before the job ran.
    case shutDown(pool: String)

    public var description: String {
        switch self {
        case .timedOut(let pool): "no \(pool) connection became free in time"
        case .shutDown(let pool): "the \(pool) pool is shut down"
        }
    }
}

/// A snapshot of a pool's usage, for metrics and readiness.
public struct PoolStatistics: Sendable, Equatable {
    public var size: Int
    public var busy: Int
    public var waiting: Int
}

/// Runs blocking calls of a C client library on dedicated threads, one connection per thread.
///
/// Why: hiredis and libpq block the calling thread for the whole network round trip. Running them
/// on Swift's cooperative pool or on a NIO event loop would stall unrelated tasks, so every call is
/// handed to one of this pool's own threads and the caller's task is suspended meanwhile.
///
/// The threads hold only the inner `PoolCore`, never this object, so dropping the last reference
/// to the pool shuts it down (its `deinit` stops the threads and closes the connections).
public final class BlockingConnectionPool<Connection: BlockingConnection>: Sendable {
    public var configuration: PoolConfiguration { self.core.configuration }
    private let core: PoolCore<Connection>

    public init(configuration: PoolConfiguration, connect: @escaping @Sendable () throws -> Connection) {
        self.core = PoolCore(configuration: configuration, connect: connect)
        for index in 0..<configuration.size {
            let core = self.core
            let thread = Thread { core.workerLoop() }
            thread.name = "\(configuration.name)-\(index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    deinit {
        self.core.shutdown()
    }

    /// Runs `body` with a connection on one of the pool's threads and returns its result.
    ///
    /// Waits at most `acquireTimeout` for a free thread; the time `body` itself takes is bounded by
    /// the connection's own command timeouts.
    public func withConnection<Result: Sendable>(
        _ body: @escaping @Sendable (Connection) throws -> Result
    ) async throws -> Result {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
            self.core.submit(Job<Connection> { connection in
                continuation.resume(with: Swift.Result { try body(connection) })
            } fail: { error in
                continuation.resume(throwing: error)
            })
        }
    }

    public var statistics: PoolStatistics { self.core.statistics }

    /// Stops the threads once queued jobs are done; later calls fail with `PoolError.shutDown`.
    public func shutdown() {
        self.core.shutdown()
    }
}

/// The state shared by a pool and its threads.
///
/// Invariant that makes the `@unchecked Sendable` sound: the mutable state (`queue`, `busy`,
/// `generation`, `isShutDown`) is only touched under `condition`; each connection object lives in
/// exactly one worker thread's local variable and never crosses threads.
private final class PoolCore<Connection: BlockingConnection>: @unchecked Sendable {
    let configuration: PoolConfiguration
    private let connect: @Sendable () throws -> Connection
    private let condition = NSCondition()
    private var queue = Deque<Job<Connection>>()
    private var busy = 0
    private var isShutDown = false
    /// Bumped whenever a connection breaks: the other threads then reconnect before their next
    /// job, so a restarted server costs one failed call rather than one per pooled connection.
    private var generation = 0
    private let timerLoop: any EventLoop

    init(configuration: PoolConfiguration, connect: @escaping @Sendable () throws -> Connection) {
        self.configuration = configuration
        self.connect = connect
        self.timerLoop = MultiThreadedEventLoopGroup.singleton.any()
    }

    func submit(_ job: Job<Connection>) {
        self.condition.lock()
        if self.isShutDown {
            self.condition.unlock()
            job.fail(PoolError.shutDown(pool: self.configuration.name))
            return
        }
        self.queue.append(job)
        self.condition.signal()
        self.condition.unlock()
        let name = self.configuration.name
        let timeout = self.timerLoop.scheduleTask(in: self.configuration.acquireTimeout) {
            if job.claim() { job.fail(PoolError.timedOut(pool: name)) }
        }
        job.setTimer(timeout)
    }

    var statistics: PoolStatistics {
        self.condition.lock()
        defer { self.condition.unlock() }
        return PoolStatistics(size: self.configuration.size, busy: self.busy, waiting: self.queue.count)
    }

    func shutdown() {
        self.condition.lock()
        self.isShutDown = true
        self.condition.broadcast()
        self.condition.unlock()
    }

    func workerLoop() {
        var connection: Connection?
        var connectionGeneration = 0
        while true {
            self.condition.lock()
            while self.queue.isEmpty && !self.isShutDown {
                self.condition.wait()
            }
            guard let job = self.queue.popFirst() else {
                self.condition.unlock()
                break
            }
            self.busy += 1
            let currentGeneration = self.generation
            self.condition.unlock()

            if job.claim() {
                job.cancelTimer()
                if let stale = connection, !stale.isUsable || connectionGeneration < currentGeneration {
                    stale.close()
                    connection = nil
                }
                do {
                    if connection == nil {
                        connection = try self.connect()
                        connectionGeneration = currentGeneration
                    }
                    job.run(connection!)
                } catch {
                    job.fail(error)
                }
            }

            self.condition.lock()
            self.busy -= 1
            if let broken = connection, !broken.isUsable {
                self.generation += 1
                broken.close()
                connection = nil
            }
            self.condition.unlock()
        }
        connection?.close()
    }
}

/// One queued call. Exactly one of the worker and the timeout wins `claim()`, so the caller's
/// continuation is resumed exactly once.
private final class Job<Connection>: @unchecked Sendable {
    private let lock = NIOLock()
    private var claimed = false
    private var timer: Scheduled<Void>?
    let run: (Connection) -> Void
    let fail: (any Error) -> Void

    init(run: @escaping (Connection) -> Void, fail: @escaping (any Error) -> Void) {
        self.run = run
        self.fail = fail
    }

    func claim() -> Bool {
        self.lock.withLock {
            if self.claimed { return false }
            self.claimed = true
            return true
        }
    }

    func setTimer(_ timer: Scheduled<Void>) {
        let cancelNow = self.lock.withLock {
            self.timer = timer
            return self.claimed
        }
        if cancelNow { timer.cancel() }
    }

    func cancelTimer() {
        self.lock.withLock { self.timer }?.cancel()
    }
}
