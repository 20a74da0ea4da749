import DequeModule
import Foundation
import NIOCore
import NIOPosix

/// A connection of a blocking C client library (hiredis, libpq).
///
/// Implementations are not thread-safe. The pool guarantees that a connection is created,
/// used and closed on exactly one of its worker threads, so implementations need no locking.
public protocol BlockingConnection: AnyObject, SendableMetatype {
    /// False once the connection saw an I/O error; the pool then closes it and opens a new one.
    var isUsable: Bool { get }
    func close()
}

/// A connection that can run several queued requests in one go (Redis pipelining): a worker that
/// wakes up takes every such request already waiting (up to `maxPipelineDepth`), so one wake-up
/// and one write/read serve many callers under load.
public protocol PipeliningConnection: BlockingConnection {
    associatedtype Request: Sendable
    associatedtype Reply: Sendable
    /// One result per request, in order.
    func execute(_ requests: [Request]) -> [Result<Reply, any Error>]
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
        self.core.startReaper()
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
            self.core.submit(Job<Connection>(deadline: .now() + self.configuration.acquireTimeout) { connection in
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

extension BlockingConnectionPool where Connection: PipeliningConnection {
    /// Runs one request, pipelined with whatever other requests are waiting when a thread takes it.
    public func execute(_ request: Connection.Request) async throws -> Connection.Reply {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Connection.Reply, any Error>) in
            self.core.submit(Job<Connection>(
                deadline: .now() + self.configuration.acquireTimeout,
                pipelined: request,
                runner: { connection, requests in
                    connection.execute(requests.map { $0 as! Connection.Request }).map { $0.map { $0 as Any } }
                },
                complete: { result in continuation.resume(with: result.map { $0 as! Connection.Reply }) }
            ))
        }
    }
}

/// The state shared by a pool and its threads.
///
/// Invariant that makes the `@unchecked Sendable` sound: the mutable state (`queue`, `busy`,
/// `generation`, `isShutDown`, `reaper`) is only touched under `condition`; each connection object lives in
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
    private var reaper: RepeatedTask?

    init(configuration: PoolConfiguration, connect: @escaping @Sendable () throws -> Connection) {
        self.configuration = configuration
        self.connect = connect
    }

    /// Starts the timer that enforces the acquire timeout.
    func startReaper() {
        let period = TimeAmount.nanoseconds(max(TimeAmount.milliseconds(1).nanoseconds, self.configuration.acquireTimeout.nanoseconds / 4))
        let task = MultiThreadedEventLoopGroup.singleton.any().scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            self.reapExpired()
        }
        self.condition.lock()
        self.reaper = task
        self.condition.unlock()
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
    }

    /// Fails queued jobs whose wait passed the acquire timeout. Every job waits the same timeout and
    /// the queue is FIFO, so expired jobs are exactly a prefix of it. Runs on a NIO timer a few times
    /// per timeout, so a caller hears back within about 1.25 × acquireTimeout, and no request pays
    /// for a timer of its own.
    func reapExpired() {
        let now = NIODeadline.now()
        var expired: [Job<Connection>] = []
        self.condition.lock()
        while let first = self.queue.first, first.deadline <= now {
            expired.append(self.queue.removeFirst())
        }
        self.condition.unlock()
        let error = PoolError.timedOut(pool: self.configuration.name)
        for job in expired { job.fail(error) }
    }

    var statistics: PoolStatistics {
        self.condition.lock()
        defer { self.condition.unlock() }
        return PoolStatistics(size: self.configuration.size, busy: self.busy, waiting: self.queue.count)
    }

    func shutdown() {
        self.condition.lock()
        self.isShutDown = true
        let reaper = self.reaper
        self.reaper = nil
        self.condition.broadcast()
        self.condition.unlock()
        reaper?.cancel()
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
            var batch = [job]
            if job.isPipelined {
                while batch.count < maxPipelineDepth, let next = self.queue.first, next.isPipelined {
                    batch.append(self.queue.removeFirst())
                }
            }
            self.busy += 1
            let currentGeneration = self.generation
            self.condition.unlock()

            if let stale = connection, !stale.isUsable || connectionGeneration < currentGeneration {
                stale.close()
                connection = nil
            }
            do {
                if connection == nil {
                    connection = try self.connect()
                    connectionGeneration = currentGeneration
                }
                Job.perform(batch, on: connection!)
            } catch {
                for queued in batch { queued.fail(error) }
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

/// How many waiting pipelined requests one worker takes at once.
let maxPipelineDepth = 32

/// One queued call. Whoever takes it off the queue under the pool's lock (a worker, or the reaper
/// once its deadline passed) resumes the caller, so the continuation is resumed exactly once.
final class Job<Connection>: @unchecked Sendable {
    enum Work {
        /// A closure that gets the connection to itself.
        case exclusive((Connection) -> Void)
        /// One request of a `PipeliningConnection`; `runner` executes a batch of them.
        case pipelined(request: Any, runner: (Connection, [Any]) -> [Result<Any, any Error>], complete: (Result<Any, any Error>) -> Void)
    }

    let deadline: NIODeadline
    let work: Work
    let fail: (any Error) -> Void

    init(deadline: NIODeadline, run: @escaping (Connection) -> Void, fail: @escaping (any Error) -> Void) {
        self.deadline = deadline
        self.work = .exclusive(run)
        self.fail = fail
    }

    init(
        deadline: NIODeadline, pipelined request: Any, runner: @escaping (Connection, [Any]) -> [Result<Any, any Error>],
        complete: @escaping (Result<Any, any Error>) -> Void
    ) {
        self.deadline = deadline
        self.work = .pipelined(request: request, runner: runner, complete: complete)
        self.fail = { complete(.failure($0)) }
    }

    var isPipelined: Bool {
        if case .pipelined = self.work { return true }
        return false
    }

    /// Runs a batch taken off the queue: one exclusive job, or pipelined jobs of one pool.
    static func perform(_ batch: [Job], on connection: Connection) {
        switch batch[0].work {
        case .exclusive(let run):
            run(connection)
        case .pipelined(_, let runner, _):
            var requests: [Any] = []
            var completions: [(Result<Any, any Error>) -> Void] = []
            for job in batch {
                if case .pipelined(let request, _, let complete) = job.work {
                    requests.append(request)
                    completions.append(complete)
                }
            }
            for (complete, result) in zip(completions, runner(connection, requests)) { complete(result) }
        }
    }
}
