import Foundation
import Logging
import Synchronization

/// Wakes a task when PostgreSQL sends a notification on `channel` (LISTEN/NOTIFY), and every
/// `interval` when none comes: a job that sleeps until there is work, with a periodic look as the
/// safety net for a notification lost (sent while disconnected, or never sent in a race).
///
/// The connection is its own, on a thread of its own: it spends its life waiting in `poll`, which
/// no pool thread (and no thread of the cooperative pool) may do. After a failure it reconnects,
/// waking once at each attempt; while PostgreSQL is away it wakes about once a second.
public final class PostgresNotificationListener: Sendable {
    /// One element per notification or elapsed interval; a waker that is behind sees one, not a backlog.
    public let wakeUps: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation
    private let configuration: PostgresConfiguration
    private let channel: String
    private let interval: Duration
    private let logger: Logger
    private let stopped = Atomic<Bool>(false)

    /// `channel` is an SQL identifier of letters, digits and underscores (it is written into `LISTEN`).
    public init(configuration: PostgresConfiguration, channel: String, interval: Duration, logger: Logger) {
        precondition(!channel.isEmpty && channel.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }, "bad channel name")
        (self.wakeUps, self.continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.configuration = configuration
        self.channel = channel
        self.interval = interval
        self.logger = logger
    }

    public func start() {
        let thread = Thread { self.listen() }
        thread.name = "pg-listen-\(self.channel)"
        thread.start()
    }

    /// Ends `wakeUps` now; the thread closes its connection within `interval`.
    public func stop() {
        self.stopped.store(true, ordering: .relaxed)
        self.continuation.finish()
    }

    private func listen() {
        let milliseconds = Int(self.interval / .milliseconds(1))
        var connection: PostgresConnection?
        var failing = false
        while !self.stopped.load(ordering: .relaxed) {
            do {
                if connection == nil {
                    let fresh = try PostgresConnection(configuration: self.configuration)
                    connection = fresh
                    try fresh.simple("LISTEN \(self.channel)")
                    if failing { self.logger.notice("listening again", metadata: ["channel": "\(self.channel)"]) }
                    failing = false
                    self.continuation.yield()  // whatever was sent while nobody listened
                }
                _ = try connection?.notifications(waitingUpTo: milliseconds)
            } catch {
                connection?.close()
                connection = nil
                if !failing { self.logger.warning("cannot listen", metadata: ["channel": "\(self.channel)", "error": "\(error)"]) }
                failing = true
                // Again within a second (or the interval, if shorter): a lost listener is a relay
                // that hears nothing but its safety net.
                Thread.sleep(forTimeInterval: Double(min(milliseconds, 1_000)) / 1000)
            }
            self.continuation.yield()
        }
        connection?.close()
    }
}
