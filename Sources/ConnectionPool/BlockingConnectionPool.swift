import DequeModule
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

/// The state shared by a pool and its threads.
///
/// Invariant that makes the `@unchecked Sendable` sound: the mutable state (`queue`, `busy`,
/// counters, `generation`, `isShutDown`, `reaper`, `drainWaiters`) is only touched under
/// `condition` (`jobIDs` is atomic); each connection object lives in exactly one worker thread's local variable and
/// never crosses threads.
private final class PoolCore<Connection: BlockingConnection>: @unchecked Sendable {
    let configuration: PoolConfiguration
    private let connect: @Sendable () throws -> Connection
    private let condition = NSCondition()
    private var queue = Deque<Job<Connection>>()
    private var busy = 0
    private var completed = 0
    private var connects = 0
    private var liveThreads: Int
    private var drainWaiters: [CheckedContinuation<Void, Never>] = []
    private var isShutDown = false
    /// Bumped whenever a connection breaks: the other threads then reconnect before their next
    /// job, so a restarted server costs one failed call rather than one per pooled connection.
    private var generation = 0
    private var reaper: RepeatedTask?
    /// Ids for cancellation; atomic, so a call takes the pool's lock once, to queue its job.
    private let jobIDs = Atomic<Int>(0)

    init(configuration: PoolConfiguration, connect: @escaping @Sendable () throws -> Connection) {
        self.configuration = configuration
        self.connect = connect
        self.liveThreads = configuration.size
    }

    private func locked<T>(_ body: () -> T) -> T {
        self.condition.lock()
        defer { self.condition.unlock() }
        return body()
    }

    func nextJobID() -> Int {
        self.jobIDs.wrappingAdd(1, ordering: .relaxed).newValue
    }

    /// Starts the timer that enforces the acquire timeout.
    func startReaper() {
        let period = TimeAmount.nanoseconds(max(TimeAmount.milliseconds(1).nanoseconds, self.configuration.acquireTimeout.nanoseconds / 4))
        let task = MultiThreadedEventLoopGroup.singleton.any().scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            self.reapExpired()
        }
        self.locked { self.reaper = task }
    }

    func submit(_ job: Job<Connection>) {
        let accepted = self.locked {
            guard !self.isShutDown else { return false }
            self.queue.append(job)
            self.condition.signal()
            return true
        }
        if !accepted { job.fail(PoolError.shutDown(pool: self.configuration.name)) }
    }

    /// Takes a cancelled caller's job off the queue and fails it; a job a thread already took runs on.
    /// (When cancellation comes before `submit`, the job is not queued yet: it then waits as usual.)
    func cancel(jobID: Int) {
        let removed: Job<Connection>? = self.locked {
            guard let index = self.queue.firstIndex(where: { $0.id == jobID }) else { return nil }
            return self.queue.remove(at: index)
        }
        removed?.fail(CancellationError())
    }

    /// Fails queued jobs whose wait passed the acquire timeout. Every job waits the same timeout and
    /// the queue is FIFO, so expired jobs are exactly a prefix of it. Runs on a NIO timer a few times
    /// per timeout, so a caller hears back within about 1.25 × acquireTimeout, and no request pays
    /// for a timer of its own.
    func reapExpired() {
        let now = NIODeadline.now()
        let expired: [Job<Connection>] = self.locked {
            var expired: [Job<Connection>] = []
            while let first = self.queue.first, first.deadline <= now {
                expired.append(self.queue.removeFirst())
            }
            return expired
        }
        let error = PoolError.timedOut(pool: self.configuration.name)
        for job in expired { job.fail(error) }
    }

    var statistics: PoolStatistics {
        self.locked {
            PoolStatistics(
                size: self.configuration.size, busy: self.busy, waiting: self.queue.count, completed: self.completed,
                connects: self.connects
            )
        }
    }

    var isShutDownNow: Bool { self.locked { self.isShutDown } }

    func shutdown() {
        let reaper: RepeatedTask? = self.locked {
            self.isShutDown = true
            self.condition.broadcast()
            defer { self.reaper = nil }
            return self.reaper
        }
        reaper?.cancel()
    }

    func waitUntilDrained() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = self.locked {
                if self.liveThreads == 0 { return true }
                self.drainWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
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
            let deliver: () -> Void
            self.condition.unlock()

            if let stale = connection, !stale.isUsable || connectionGeneration < currentGeneration {
                stale.close()
                connection = nil
            }
            do {
                if connection == nil {
                    connection = try self.connect()
                    connectionGeneration = currentGeneration
                    self.locked { self.connects += 1 }
                }
                deliver = Job.perform(batch, on: connection!)
            } catch {
                deliver = { for queued in batch { queued.fail(error) } }
            }

            self.condition.lock()
            self.busy -= 1
            self.completed += batch.count
            if let broken = connection, !broken.isUsable {
                self.generation += 1
                broken.close()
                connection = nil
            }
            self.condition.unlock()
            // Callers hear of a failure only after the generation moved on, so their next call
            // never lands on a connection opened before it.
            deliver()
        }
        connection?.close()
        let waiters: [CheckedContinuation<Void, Never>] = self.locked {
            self.liveThreads -= 1
            guard self.liveThreads == 0 else { return [] }
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
final class Job<Connection: BlockingConnection>: @unchecked Sendable {
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
