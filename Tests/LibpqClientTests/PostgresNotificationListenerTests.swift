import Foundation
import LibpqClient
import Logging
import Synchronization
import Testing
import TestSupport

@Suite("PostgreSQL notifications: LISTEN on a connection of its own")
struct PostgresNotificationListenerTests {
    /// The instants of the listener's wake-ups, collected as they come.
    final class Wakes: Sendable {
        let instants = Mutex<[ContinuousClock.Instant]>([])

        func after(_ instant: ContinuousClock.Instant, within timeout: Duration) async throws -> Bool {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if self.instants.withLock({ $0.contains { $0 > instant } }) { return true }
                try await Task.sleep(for: .milliseconds(10))
            }
            return false
        }
    }

    static func listenerBackends(_ client: PostgresClient, channel: String) async throws -> [Int] {
        try await client.query("SELECT pid FROM pg_stat_activity WHERE query = \("LISTEN \(channel)")").map { try $0.decode(Int.self, at: 0) }
    }

    @Test("a notification wakes the listener at once (its interval is 30 s); after its backend is terminated it listens again within seconds", .timeLimit(.minutes(1)))
    func wakesOnNotificationAndListensAgain() async throws {
        try await withSharedPostgres { client in
            let channel = "test_listener_\(TestEnvironment.uniqueSuffix(length: 12))"
            let listener = PostgresNotificationListener(
                configuration: client.configuration, channel: channel, interval: .seconds(30), logger: Logger(label: "test"))
            let wakes = Wakes()
            listener.start()
            let consumer = Task {
                for await _ in listener.wakeUps { wakes.instants.withLock { $0.append(.now) } }
            }
            defer {
                listener.stop()
                consumer.cancel()
            }
            for round in ["first connection", "after the backend was terminated"] {
                var backends: [Int] = []
                for _ in 0..<100 where backends.isEmpty {
                    try await Task.sleep(for: .milliseconds(50))
                    backends = try await Self.listenerBackends(client, channel: channel)
                }
                try #require(backends.count == 1, "\(round)")
                // Past the wake-up of the (re)connection: the next one can only be the notification.
                try await Task.sleep(for: .milliseconds(500))
                let sent = ContinuousClock.now
                try await client.query("SELECT pg_notify(\(channel), 'x')")
                #expect(try await wakes.after(sent, within: .seconds(2)), "\(round)")
                try await client.query("SELECT pg_terminate_backend(\(backends[0]))")
                for _ in 0..<40 where try await Self.listenerBackends(client, channel: channel) == backends {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
        }
    }

    @Test("without notifications the listener wakes every interval (the safety net)", .timeLimit(.minutes(1)))
    func wakesEveryInterval() async throws {
        try await withSharedPostgres { client in
            let listener = PostgresNotificationListener(
                configuration: client.configuration, channel: "test_listener_quiet", interval: .milliseconds(200), logger: Logger(label: "test"))
            listener.start()
            defer { listener.stop() }
            let started = ContinuousClock.now
            var count = 0
            for await _ in listener.wakeUps {
                count += 1
                if count == 6 { break }
            }
            let elapsed = ContinuousClock.now - started
            #expect(elapsed >= .milliseconds(800) && elapsed < .seconds(5), "\(elapsed)")
        }
    }
}
