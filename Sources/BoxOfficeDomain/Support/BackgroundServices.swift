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
        let queue = self.queue
        let concerts = self.concerts
        await PeriodicJob(name: "queue-promotion", interval: self.interval, logger: self.logger) {
            for concertID in try await concerts.allIDs() {
                let result = try await queue.promote(concertID: concertID)
                let dimensions = [("concert", String(concertID))]
                Gauge(label: "boxoffice_queue_waiting", dimensions: dimensions).record(result.waiting)
                Gauge(label: "boxoffice_queue_active", dimensions: dimensions).record(result.active)
                if result.admitted > 0 {
                    Counter(label: "boxoffice_queue_admitted_total", dimensions: dimensions).increment(by: result.admitted)
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
        let sweeper = self.sweeper
        let logger = self.logger
        await PeriodicJob(name: "hold-sweeper", interval: self.interval, logger: self.logger) {
            let (expired, freed) = try await sweeper.sweepOnce()
            if !expired.isEmpty || freed > 0 {
                Counter(label: "boxoffice_holds_expired_total").increment(by: expired.count)
                logger.info("swept lapsed holds", metadata: ["reservations": "\(expired.count)", "seats": "\(freed)"])
            }
            let keys = try await sweeper.expireIdempotencyKeys()
            if keys > 0 { logger.info("deleted old idempotency keys", metadata: ["keys": "\(keys)"]) }
        }.run()
    }
}
