import Foundation
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A connection of a blocking C client library (hiredis, libpq).
///
/// Implementations are not thread-safe. The pool guarantees that a connection is created,
/// used and closed on exactly one of its worker threads, so implementations need no locking.
///
/// A connection that can run several queued requests in one go (Redis pipelining) names their
/// types in `PipelinedRequest` / `PipelinedReply` and implements `execute(_:)`: a worker that wakes
/// up takes every such request already waiting (up to `maxPipelineDepth`), so one wake-up and one
/// write/read serve many callers under load. Connections without pipelining keep the `Never` defaults.
public protocol BlockingConnection: AnyObject, SendableMetatype {
    associatedtype PipelinedRequest: Sendable = Never
    associatedtype PipelinedReply: Sendable = Never
    /// False once the connection saw an I/O error; the pool then closes it and opens a new one.
    var isUsable: Bool { get }
    func close()
    /// One result per request, in order.
    func execute(_ requests: [PipelinedRequest]) -> [Result<PipelinedReply, any Error>]
}

extension BlockingConnection where PipelinedRequest == Never, PipelinedReply == Never {
    public func execute(_ requests: [Never]) -> [Result<Never, any Error>] { [] }
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

/// A snapshot of a pool's usage, for metrics, readiness and tests.
public struct PoolStatistics: Sendable, Equatable {
    public var size: Int
    public var busy: Int
    public var waiting: Int
    /// Requests run so far (each pipelined request counts once).
    public var completed: Int
    /// Connections opened so far.
    public var connects: Int

    public init(size: Int = 0, busy: Int = 0, waiting: Int = 0, completed: Int = 0, connects: Int = 0) {
        self.size = size
        self.busy = busy
        self.waiting = waiting
        self.completed = completed
        self.connects = connects
    }

    /// Several pools seen as one (a Redis Cluster client's pool per master).
    public static func + (lhs: PoolStatistics, rhs: PoolStatistics) -> PoolStatistics {
        PoolStatistics(
            size: lhs.size + rhs.size, busy: lhs.busy + rhs.busy, waiting: lhs.waiting + rhs.waiting,
            completed: lhs.completed + rhs.completed, connects: lhs.connects + rhs.connects
        )
    }
}

/// Runs blocking calls of a C client library on dedicated threads, one connection per thread.
///
/// Why: hiredis and libpq block the calling thread for the whole network round trip. Running them
/// on Swift's cooperative pool or on a NIO event loop would stall unrelated tasks, so every call is
/// handed to one of this pool's own threads and the caller's task is suspended meanwhile.
///
/// Waits are bounded (`acquireTimeout`) and cancellable: a caller whose task is cancelled while
/// waiting leaves the queue at once. As a ServiceLifecycle `Service`, `run()` returns after
/// graceful shutdown once the queued calls are done and the threads have closed their connections.
/// The threads hold only the inner `PoolCore`, never this object, so dropping the last reference
/// to the pool shuts it down too.
public final class BlockingConnectionPool<Connection: BlockingConnection>: Service, Sendable {
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
    /// the connection's own command timeouts. Once `body` has started it runs to the end, even if
    /// the caller is cancelled (a C call cannot be interrupted halfway).
    public func withConnection<Result: Sendable>(
        _ body: @escaping @Sendable (Connection) throws -> Result
    ) async throws -> Result {
        try await self.submit { continuation in
            .exclusive { connection in
                let result = Swift.Result { try body(connection) }
                return { continuation.resume(with: result) }
            }
        }
    }

    /// Runs one request, pipelined with whatever other requests are waiting when a thread takes it.
    public func execute(_ request: Connection.PipelinedRequest) async throws -> Connection.PipelinedReply {
        try await self.submit { continuation in
            .pipelined(request) { continuation.resume(with: $0) }
        }
    }

    private func submit<Result: Sendable>(
        _ work: (CheckedContinuation<Result, any Error>) -> Job<Connection>.Work
    ) async throws -> Result {
        let id = self.core.nextJobID()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
                // Cancelled before it was queued: the cancellation handler below found nothing to remove.
                if Task.isCancelled { return continuation.resume(throwing: CancellationError()) }
                self.core.submit(Job(
                    id: id, deadline: .now() + self.configuration.acquireTimeout, work: work(continuation),
                    fail: { continuation.resume(throwing: $0) }
                ))
            }
        } onCancel: {
            self.core.cancel(jobID: id)
        }
    }

    public var statistics: PoolStatistics { self.core.statistics }

    /// True once the pool refuses new calls.
    public var isShutDown: Bool { self.core.isShutDownNow }

    /// Stops taking calls (later ones fail with `PoolError.shutDown`); queued calls still run.
    public func shutdown() {
        self.core.shutdown()
    }

    /// Waits for graceful shutdown, then shuts the pool down and waits until every thread has
    /// finished its queued calls and closed its connection.
    public func run() async throws {
        try? await gracefulShutdown()
        self.core.shutdown()
        await self.core.waitUntilDrained()
    }
}

/// The state shared by a pool and its threads: the state machine (`PoolStateMachine`) under a
/// lock, the threads' wake-ups, and the actions it returns, performed outside the lock.
///
/// Invariant that makes the `@unchecked Sendable` sound: `state`, `reaper` and `drainWaiters` are
/// only touched under `condition` (`jobIDs` is atomic); each connection object lives in exactly one
/// worker thread's local variable and never crosses threads.
private final class PoolCore<Connection: BlockingConnection>: @unchecked Sendable {
    let configuration: PoolConfiguration
    private let connect: @Sendable () throws -> Connection
    private let condition = NSCondition()
    private var state: PoolStateMachine<Job<Connection>>
    private var drainWaiters: [CheckedContinuation<Void, Never>] = []
    private var reaper: RepeatedTask?
    /// Ids for cancellation; atomic, so a call takes the pool's lock once, to queue its job.
    private let jobIDs = Atomic<Int>(0)

    init(configuration: PoolConfiguration, connect: @escaping @Sendable () throws -> Connection) {
        self.configuration = configuration
        self.connect = connect
        self.state = PoolStateMachine(size: configuration.size, maxPipelineDepth: maxPipelineDepth)
    }

    private func locked<T>(_ body: () -> T) -> T {
        self.condition.lock()
        defer { self.condition.unlock() }
        return body()
    }

    func nextJobID() -> Int {
        self.jobIDs.wrappingAdd(1, ordering: .relaxed).newValue
    }

    /// Starts the timer that enforces the acquire timeout: a few times per timeout, so a caller
    /// hears back within about 1.25 × acquireTimeout, and no request pays for a timer of its own.
    func startReaper() {
        let period = TimeAmount.nanoseconds(max(TimeAmount.milliseconds(1).nanoseconds, self.configuration.acquireTimeout.nanoseconds / 4))
        let task = MultiThreadedEventLoopGroup.singleton.any().scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            let expired = self.locked { self.state.expire(now: .now()) }
            let error = PoolError.timedOut(pool: self.configuration.name)
            for job in expired { job.fail(error) }
        }
        self.locked { self.reaper = task }
    }

    func submit(_ job: Job<Connection>) {
        let action = self.locked {
            let action = self.state.submit(job)
            if case .wakeWorker = action { self.condition.signal() }
            return action
        }
        if case .fail(let refused) = action { refused.fail(PoolError.shutDown(pool: self.configuration.name)) }
    }

    /// Takes a cancelled caller's job off the queue and fails it; a job a thread already took runs on.
    /// (When cancellation comes before `submit`, the job is not queued yet: it then waits as usual.)
    func cancel(jobID: Int) {
        self.locked { self.state.cancel(id: jobID) }?.fail(CancellationError())
    }

    var statistics: PoolStatistics { self.locked { self.state.statistics } }

    var isShutDownNow: Bool { self.locked { self.state.isShutDown } }

    func shutdown() {
        let reaper: RepeatedTask? = self.locked {
            self.state.shutdown()
            self.condition.broadcast()
            defer { self.reaper = nil }
            return self.reaper
        }
        reaper?.cancel()
    }

    func waitUntilDrained() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = self.locked {
                if self.state.isDrained { return true }
                self.drainWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// A worker thread: waits for work, runs it on its connection (reconnecting when the connection
    /// broke, or another broke since it was opened), hands the results over.
    func workerLoop() {
        var connection: Connection?
        var connectionGeneration = 0
        while true {
            self.condition.lock()
            var action = self.state.take()
            while case .wait = action {
                self.condition.wait()
                action = self.state.take()
            }
            self.condition.unlock()
            guard case .run(let batch, let generation) = action else { break }

            if let stale = connection, !stale.isUsable || connectionGeneration < generation {
                stale.close()
                connection = nil
            }
            let deliver: () -> Void
            do {
                if connection == nil {
                    connection = try self.connect()
                    connectionGeneration = generation
                    self.locked { self.state.connected() }
                }
                deliver = Job.perform(batch, on: connection!)
            } catch {
                deliver = { for queued in batch { queued.fail(error) } }
            }
            let broken = connection.map { !$0.isUsable } ?? false
            if broken {
                connection?.close()
                connection = nil
            }
            self.locked { self.state.finished(count: batch.count, connectionBroke: broken) }
            // Callers hear of a failure only after the generation moved on, so their next call
            // never lands on a connection opened before it.
            deliver()
        }
        connection?.close()
        let waiters: [CheckedContinuation<Void, Never>] = self.locked {
            guard self.state.workerExited() else { return [] }
            defer { self.drainWaiters = [] }
            return self.drainWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// How many waiting pipelined requests one worker takes at once.
let maxPipelineDepth = 32

/// One queued call. Whoever takes it off the queue under the pool's lock (a worker, the reaper once
/// its deadline passed, or a cancellation) resumes the caller, so the continuation is resumed once.
final class Job<Connection: BlockingConnection>: PoolJob, @unchecked Sendable {
    enum Work {
        /// A closure that gets the connection to itself; it returns how to hand its result over.
        case exclusive((Connection) -> () -> Void)
        /// One request of a pipelining connection and what to do with its result.
        case pipelined(Connection.PipelinedRequest, (Result<Connection.PipelinedReply, any Error>) -> Void)
    }

    let id: Int
    let deadline: NIODeadline
    let work: Work
    let fail: (any Error) -> Void

    init(id: Int, deadline: NIODeadline, work: Work, fail: @escaping (any Error) -> Void) {
        self.id = id
        self.deadline = deadline
        self.work = work
        self.fail = fail
    }

    var isPipelined: Bool {
        if case .pipelined = self.work { return true }
        return false
    }

    /// Runs a batch taken off the queue (one exclusive job, or pipelined jobs) and returns what
    /// hands the results to the callers, for the worker to call once its bookkeeping is done.
    static func perform(_ batch: [Job], on connection: Connection) -> () -> Void {
        if case .exclusive(let run) = batch[0].work {
            return run(connection)
        }
        var requests: [Connection.PipelinedRequest] = []
        var completions: [(Result<Connection.PipelinedReply, any Error>) -> Void] = []
        for job in batch {
            if case .pipelined(let request, let complete) = job.work {
                requests.append(request)
                completions.append(complete)
            }
        }
        let results = connection.execute(requests)
        return { for (complete, result) in zip(completions, results) { complete(result) } }
    }
}
