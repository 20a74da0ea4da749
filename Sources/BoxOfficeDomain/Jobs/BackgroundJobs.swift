import Logging
import Metrics
import ServiceLifecycle

/// A background job: runs `tick` every `interval` until graceful shutdown, on every instance.
/// Errors are logged and the loop goes on: a store that is down for a while must not stop the job
/// for good. Each job is a service of its own, so one failing never holds up another.
public struct PeriodicJob: Service {
    let name: String
    let interval: Duration
    let logger: Logger
    let tick: @Sendable () async throws -> Void

    public init(name: String, interval: Duration, logger: Logger, tick: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.interval = interval
        self.logger = logger
        self.tick = tick
    }

    public func run() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await self.tick()
            } catch {
                self.logger.warning("background job tick failed", metadata: ["job": "\(self.name)", "error": "\(error)"])
            }
            // Jitter spreads the ticks of several instances over the interval.
            let pause = self.interval + self.interval * Double.random(in: 0...0.1)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
        }
    }
}

/// How often the background jobs run and how long idempotency keys are kept:
/// `PROMOTE_INTERVAL_MS`, `SWEEP_INTERVAL_MS`, `IDEMPOTENCY_KEY_SECONDS`.
public struct JobSettings: Sendable {
    public var promoteInterval: Duration
    public var sweepInterval: Duration
    public var idempotencyKeySeconds: Int

    public init(_ reader: SettingsReader) throws {
        self.promoteInterval = .milliseconds(try reader.int("promote.interval.ms", default: 250, in: 10...60_000))
        self.sweepInterval = .milliseconds(try reader.int("sweep.interval.ms", default: 1_000, in: 10...600_000))
        self.idempotencyKeySeconds = try reader.int("idempotency.key.seconds", default: 86_400, in: 60...365 * 86_400)
    }
}

extension PeriodicJob {
    /// Admits waiters; the Lua script's shared tick clock keeps the total rate right whatever the
    /// number of instances. Only live lines are ticked (`LiveLines`: concerts with waiters or admitted
    /// fans), so the cost follows the on-sales under way, not the catalogue; a line found idle is
    /// retired from the set. Concerts are promoted `concurrency` at a time: one after another, a tick
    /// takes a Redis round trip per live line. More at a time would only queue in the Redis pool
    /// ahead of the fans' requests.
    public static func queuePromotion(queue: QueueService, interval: Duration, concurrency: Int = 4, logger: Logger) -> PeriodicJob {
        PeriodicJob(name: "queue-promotion", interval: interval, logger: logger) {
            let lines = try await queue.liveLines()
            await withTaskGroup(of: Void.self) { group in
                for (index, line) in lines.enumerated() {
                    if index >= max(1, concurrency) { await group.next() }
                    group.addTask {
                        guard let result = await Self.promote(line.concertID, queue: queue, logger: logger), result.isIdle else { return }
                        do {
                            try await queue.retireIdleLine(line)
                        } catch {
                            logger.warning("could not retire an idle line", metadata: ["concert": "\(line.concertID)", "error": "\(error)"])
                        }
                    }
                }
            }
        }
    }

    /// Refreshes this instance's snapshots of the lines its waiters poll, and carries those polls'
    /// signs of life to Redis (QueueSnapshots).
    public static func queueSnapshots(queue: QueueService, interval: Duration, logger: Logger) -> PeriodicJob {
        PeriodicJob(name: "queue-snapshots", interval: interval, logger: logger) {
            try await queue.refreshSnapshots()
        }
    }

    /// One concert's promotion and its gauges. A failure is logged: it must not hold up the
    /// others' admissions.
    private static func promote(_ concertID: Int, queue: QueueService, logger: Logger) async -> PromotionResult? {
        let result: PromotionResult
        do {
            result = try await queue.promote(concertID: concertID)
        } catch {
            logger.warning("promotion failed", metadata: ["concert": "\(concertID)", "error": "\(error)"])
            return nil
        }
        let dimensions = [("concert", String(concertID))]
        Gauge(label: "boxoffice_queue_waiting", dimensions: dimensions).record(result.waiting)
        Gauge(label: "boxoffice_queue_active", dimensions: dimensions).record(result.active)
        Gauge(label: "boxoffice_queue_admitted_per_second", dimensions: dimensions).record(result.admittedPerSecond)
        Gauge(label: "boxoffice_queue_drain_seconds", dimensions: dimensions).record(result.estimatedDrainSeconds ?? .infinity)
        for (label, count) in [
            ("boxoffice_queue_admitted_total", result.admitted),
            ("boxoffice_queue_expired_total", result.expired),  // active windows that ran out
            ("boxoffice_queue_dropped_total", result.dropped),  // waiters that stopped polling
        ] where count > 0 {
            Counter(label: label, dimensions: dimensions).increment(by: count)
        }
        return result
    }

    /// Checks for the episodes operators hear about (AlertMonitor).
    public static func alertMonitoring(_ monitor: AlertMonitor, interval: Duration, logger: Logger) -> PeriodicJob {
        PeriodicJob(name: "alert-monitor", interval: interval, logger: logger) {
            await monitor.check()
        }
    }
}
