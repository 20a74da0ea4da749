import DequeModule
import NIOCore

/// What the pool's state machine needs to know of a queued call.
protocol PoolJob {
    var id: Int { get }
    /// When the caller stops waiting for a connection.
    var deadline: NIODeadline { get }
    /// Whether it may share a worker's round trip with its neighbours in the queue.
    var isPipelined: Bool { get }
}

/// The pool's bookkeeping as a pure state machine, in the shape of postgres-nio's
/// `PoolStateMachine`: each event (a call submitted, taken by a worker, finished, cancelled, timed
/// out; shutdown) is a mutating function that returns what the caller must do. No locks, threads or
/// clocks inside: `PoolCore` calls it under its lock and performs the actions outside it, and the
/// tests drive it with made-up deadlines and instants.
///
/// Waiting calls are kept by id, and the queue holds their ids in arrival order: a cancellation
/// removes the call in O(1) and leaves its id behind, skipped when it reaches the front.
struct PoolStateMachine<Job: PoolJob> {
    enum SubmitAction {
        /// Queued: wake a worker.
        case wakeWorker
        /// The pool is shut down: fail the call.
        case fail(Job)
    }

    enum TakeAction {
        /// Run these calls (one exclusive call, or up to `maxPipelineDepth` pipelined ones) on a
        /// connection no older than `generation`.
        case run([Job], generation: Int)
        /// Nothing queued: wait for a wake-up.
        case wait
        /// Shut down and nothing left: close the connection and end the thread.
        case exit
    }

    let size: Int
    let maxPipelineDepth: Int
    private var queue = Deque<Int>()
    private var waiting: [Int: Job] = [:]
    private var busy = 0
    private var completed = 0
    private var connects = 0
    private var liveWorkers: Int
    /// Bumped whenever a connection breaks: the other workers then reconnect before their next
    /// call, so a restarted server costs one failed call rather than one per pooled connection.
    private(set) var generation = 0
    private(set) var isShutDown = false

    init(size: Int, maxPipelineDepth: Int) {
        self.size = size
        self.maxPipelineDepth = maxPipelineDepth
        self.liveWorkers = size
    }

    mutating func submit(_ job: Job) -> SubmitAction {
        guard !self.isShutDown else { return .fail(job) }
        self.queue.append(job.id)
        self.waiting[job.id] = job
        return .wakeWorker
    }

    /// A worker asks for work. Queued calls still run after shutdown.
    mutating func take() -> TakeAction {
        guard let first = self.popWaiting() else { return self.isShutDown ? .exit : .wait }
        var batch = [first]
        if first.isPipelined {
            while batch.count < self.maxPipelineDepth, let next = self.frontWaiting(), next.isPipelined {
                batch.append(self.popWaiting()!)
            }
        }
        self.busy += 1
        return .run(batch, generation: self.generation)
    }

    /// A worker opened a connection.
    mutating func connected() {
        self.connects += 1
    }

    /// A worker ran a batch of `count` calls; `connectionBroke` when its connection failed meanwhile.
    mutating func finished(count: Int, connectionBroke: Bool) {
        self.busy -= 1
        self.completed += count
        if connectionBroke { self.generation += 1 }
    }

    /// The caller gave up (its task was cancelled): the call, if still waiting, to fail. A call a
    /// worker already took runs on.
    mutating func cancel(id: Int) -> Job? {
        self.waiting.removeValue(forKey: id)
    }

    /// The waiting calls whose deadline is `now` or earlier, to fail. Every call waits the same
    /// timeout and the queue is in arrival order, so they are a prefix of it.
    mutating func expire(now: NIODeadline) -> [Job] {
        var expired: [Job] = []
        while let front = self.frontWaiting(), front.deadline <= now {
            expired.append(self.popWaiting()!)
        }
        return expired
    }

    /// Refuses new calls from now on; the queued ones still run.
    mutating func shutdown() {
        self.isShutDown = true
    }

    /// A worker ended; true when it was the last (the pool is drained).
    mutating func workerExited() -> Bool {
        self.liveWorkers -= 1
        return self.liveWorkers == 0
    }

    var isDrained: Bool { self.liveWorkers == 0 }

    var statistics: PoolStatistics {
        PoolStatistics(size: self.size, busy: self.busy, waiting: self.waiting.count, completed: self.completed, connects: self.connects)
    }

    /// The first call still waiting, dropping the ids of cancelled calls ahead of it.
    private mutating func frontWaiting() -> Job? {
        while let id = self.queue.first {
            if let job = self.waiting[id] { return job }
            self.queue.removeFirst()
        }
        return nil
    }

    private mutating func popWaiting() -> Job? {
        guard let job = self.frontWaiting() else { return nil }
        self.queue.removeFirst()
        self.waiting[job.id] = nil
        return job
    }
}
