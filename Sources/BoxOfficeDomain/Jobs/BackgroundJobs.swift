import Logging
import Metrics
import ServiceLifecycle

/// Runs `tick` every `interval` until graceful shutdown. Errors are logged and the loop goes on:
/// a store that is down for a while must not stop the job for good.
struct PeriodicJob: Sendable {
    let name: String
    let interval: Duration
    let logger: Logger
    let tick: @Sendable () async throws -> Void

    func run() async {
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

/// Admits waiters on every instance; the Lua script's shared tick clock keeps the total rate right.
public struct QueuePromotionService: Service {
    let queue: QueueService
    let concerts: ConcertDirectory
    let interval: Duration
    let logger: Logger

    public init(queue: QueueService, concerts: ConcertDirectory, interval: Duration, logger: Logger) {
        self.queue = queue
        self.concerts = concerts
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        let (queue, concerts, logger) = (self.queue, self.concerts, self.logger)
        await PeriodicJob(name: "queue-promotion", interval: self.interval, logger: self.logger) {
            for concertID in try await concerts.allIDs() {
                // One concert's failure must not hold up the others' admissions.
                let result: PromotionResult
                do {
                    result = try await queue.promote(concertID: concertID)
                } catch {
                    logger.warning("promotion failed", metadata: ["concert": "\(concertID)", "error": "\(error)"])
                    continue
                }
                let dimensions = [("concert", String(concertID))]
                Gauge(label: "boxoffice_queue_waiting", dimensions: dimensions).record(result.waiting)
                Gauge(label: "boxoffice_queue_active", dimensions: dimensions).record(result.active)
                for (label, count) in [
                    ("boxoffice_queue_admitted_total", result.admitted),
                    ("boxoffice_queue_expired_total", result.expired),  // active windows that ran out
                    ("boxoffice_queue_dropped_total", result.dropped),  // waiters that stopped polling
                ] where count > 0 {
                    Counter(label: label, dimensions: dimensions).increment(by: count)
                }
            }
        }.run()
    }
}

/// Expires lapsed holds on every instance (SKIP LOCKED shares the work).
public struct HoldSweeperService: Service {
    let sweeper: HoldSweeper
    let interval: Duration
    let logger: Logger

    public init(sweeper: HoldSweeper, interval: Duration, logger: Logger) {
        self.sweeper = sweeper
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        let (sweeper, logger) = (self.sweeper, self.logger)
        await PeriodicJob(name: "hold-sweeper", interval: self.interval, logger: logger) {
            let (expired, freed) = try await sweeper.sweepOnce()
            if !expired.isEmpty || freed > 0 {
                Counter(label: "boxoffice_holds_expired_total").increment(by: expired.count)
                logger.info("swept lapsed holds", metadata: ["reservations": "\(expired.count)", "seats": "\(freed)"])
            }
        }.run()
    }
}

/// Deletes idempotency keys past their retention on every instance; a job of its own, so a
/// failing key sweep never holds up the hold sweeper or the other way round.
public struct IdempotencyKeySweeperService: Service {
    let sweeper: IdempotencyKeySweeper
    let interval: Duration
    let logger: Logger

    public init(sweeper: IdempotencyKeySweeper, interval: Duration, logger: Logger) {
        self.sweeper = sweeper
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        let (sweeper, logger) = (self.sweeper, self.logger)
        await PeriodicJob(name: "idempotency-key-sweeper", interval: self.interval, logger: logger) {
            let keys = try await sweeper.sweepOnce()
            if keys > 0 { logger.info("deleted old idempotency keys", metadata: ["keys": "\(keys)"]) }
        }.run()
    }
}
