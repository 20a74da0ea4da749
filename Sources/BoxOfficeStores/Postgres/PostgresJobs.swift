import BoxOfficeDomain
import LibpqClient
import Logging
import Metrics
import ServiceLifecycle

extension PeriodicJob {
    /// Expires lapsed holds (SKIP LOCKED shares the work between instances).
    public static func holdSweeping(_ sweeper: HoldSweeper, interval: Duration, logger: Logger) -> PeriodicJob {
        PeriodicJob(name: "hold-sweeper", interval: interval, logger: logger) {
            let (expired, freed) = try await sweeper.sweepOnce()
            if !expired.isEmpty || freed > 0 {
                Counter(label: "boxoffice_holds_expired_total").increment(by: expired.count)
                logger.info("swept lapsed holds", metadata: ["reservations": "\(expired.count)", "seats": "\(freed)"])
            }
        }
    }

    /// Deletes idempotency keys past their retention.
    public static func idempotencyKeySweeping(_ sweeper: IdempotencyKeySweeper, interval: Duration, logger: Logger) -> PeriodicJob {
        PeriodicJob(name: "idempotency-key-sweeper", interval: interval, logger: logger) {
            let keys = try await sweeper.sweepOnce()
            if keys > 0 { logger.info("deleted old idempotency keys", metadata: ["keys": "\(keys)"]) }
        }
    }
}

/// Publishes the outbox (EventRelay) on every instance; whichever holds the lease does the work.
/// It sleeps until woken: by PostgreSQL's notification that an event was written while the relay
/// had nothing to do, or by the listener's safety-net tick (`sweepInterval`; also how a relay
/// notices a lease that ran out). While events keep coming it does not ask to be notified (a
/// notifying commit takes a database-wide lock) and looks again every `pollInterval` instead.
public struct EventRelayJob: Service {
    /// The channel of the outbox's notifications (Functions/boxoffice_events.sql).
    public static let channel = "boxoffice_outbox"
    let relay: EventRelay
    let listener: PostgresNotificationListener
    let pollInterval: Duration
    let logger: Logger

    public init(relay: EventRelay, database: PostgresConfiguration, settings: EventSettings, logger: Logger) {
        self.relay = relay
        self.listener = PostgresNotificationListener(configuration: database, channel: Self.channel, interval: settings.sweepInterval, logger: logger)
        self.pollInterval = settings.pollInterval
        self.logger = logger
    }

    public func run() async {
        self.listener.start()
        await withGracefulShutdownHandler {
            for await _ in self.listener.wakeUps {
                await self.rounds()
            }
        } onGracefulShutdown: {
            self.listener.stop()
        }
        self.listener.stop()
    }

    /// Rounds until one finds the outbox empty (its claim then asked for a notification).
    private func rounds() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                guard try await self.relay.drain() > 0 else { return }
            } catch {
                self.logger.warning("background job tick failed", metadata: ["job": "event-relay", "error": "\(error)"])
                return
            }
            try? await Task.sleep(for: self.pollInterval)
        }
    }
}
