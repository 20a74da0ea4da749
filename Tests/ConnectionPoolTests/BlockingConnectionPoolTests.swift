@testable import ConnectionPool
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycleTestKit
import Testing

@Suite("BlockingConnectionPool")
struct BlockingConnectionPoolTests {
    @Test("runs calls on its connections and returns their results")
    func runs() async throws {
        let fake = FakePool(size: 2)
        let serials = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<20 { group.addTask { try await fake.pool.withConnection { $0.serial } } }
            return try await group.reduce(into: Set<Int>()) { $0.insert($1) }
        }
        #expect(serials.isSubset(of: [1, 2]))
        #expect(fake.pool.statistics.completed == 20)
        fake.pool.shutdown()
    }

    @Test("a caller waits at most about the acquire timeout, then PoolError.timedOut")
    func boundedWait() async throws {
        let fake = FakePool(size: 1, acquireTimeout: .milliseconds(200))
        let (gate, busy) = try await fake.occupy()
        let started = ContinuousClock.now
        await #expect(throws: PoolError.timedOut(pool: "fake")) { try await fake.pool.withConnection { _ in 1 } }
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(190) && waited < .milliseconds(600), "waited \(waited)")
        #expect(fake.pool.statistics.waiting == 0)
        gate.open()
        try await busy.value
        fake.pool.shutdown()
    }

    @Test("a waiting caller whose task is cancelled leaves the queue at once")
    func cancellation() async throws {
        let fake = FakePool(size: 1, acquireTimeout: .seconds(30))
        let (gate, busy) = try await fake.occupy()
        let ran = NIOLockedValueBox(false)
        let waiter = Task { try await fake.pool.withConnection { _ in ran.withLockedValue { $0 = true } } }
        try await waitUntil { fake.pool.statistics.waiting == 1 }
        let started = ContinuousClock.now
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(ContinuousClock.now - started < .seconds(1))
        #expect(fake.pool.statistics.waiting == 0)
        gate.open()
        try await busy.value
        #expect(!ran.withLockedValue { $0 }, "a cancelled call never runs")
        fake.pool.shutdown()
    }

    @Test("a broken connection bumps the generation: every thread reconnects before its next call")
    func generationBump() async throws {
        let fake = FakePool(size: 2)
        // Open both connections.
        let (gate, busy) = try await fake.occupy()
        _ = try await fake.pool.withConnection { $0.serial }
        gate.open()
        try await busy.value
        #expect(fake.connects.withLockedValue { $0 } == 2)

        await #expect(throws: FakeIOError.self) { try await fake.pool.withConnection { try $0.fail() } }
        let serials = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<10 { group.addTask { try await fake.pool.withConnection { $0.serial } } }
            return try await group.reduce(into: Set<Int>()) { $0.insert($1) }
        }
        #expect(serials.allSatisfy { $0 > 2 }, "no call after the failure used a connection from before it: \(serials)")
        // The broken connection is closed at once; the healthy one when its thread next takes a
        // call (which may not have happened yet), and at the latest at shutdown.
        #expect(fake.closed.withLockedValue { $0 } >= 1)
        fake.pool.shutdown()
        try await waitUntil { fake.closed.withLockedValue { $0 } == fake.connects.withLockedValue { $0 } }
    }

    @Test("pipelined requests waiting together run as one batch, each with its own typed reply")
    func pipelining() async throws {
        let fake = FakePool(size: 1)
        let (gate, busy) = try await fake.occupy()
        let replies = Task {
            try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for value in 0..<10 { group.addTask { (value, try await fake.pool.execute(value)) } }
                return try await group.reduce(into: [Int: Int]()) { $0[$1.0] = $1.1 }
            }
        }
        try await waitUntil { fake.pool.statistics.waiting == 10 }
        gate.open()
        try await busy.value
        let answers = try await replies.value
        #expect(answers == Dictionary(uniqueKeysWithValues: (0..<10).map { ($0, $0 * 2) }))
        #expect(fake.batches.withLockedValue { $0 } == [10])
        fake.pool.shutdown()
    }

    @Test("shutdown lets queued callers finish, refuses new ones, and run() returns once the threads are done")
    func shutdownWithWaiters() async throws {
        let fake = FakePool(size: 1)
        let (gate, busy) = try await fake.occupy()
        let waiters = (0..<5).map { value in Task { try await fake.pool.withConnection { _ in value } } }
        try await waitUntil { fake.pool.statistics.waiting == 5 }

        try await testGracefulShutdown { trigger in
            let running = Task { try await fake.pool.run() }
            trigger.triggerGracefulShutdown()
            try await waitUntil { fake.pool.isShutDown }
            await #expect(throws: PoolError.shutDown(pool: "fake")) { try await fake.pool.withConnection { _ in 0 } }

            gate.open()
            try await busy.value
            for (value, waiter) in waiters.enumerated() { #expect(try await waiter.value == value) }
            try await running.value
        }
        #expect(fake.closed.withLockedValue { $0 } == fake.connects.withLockedValue { $0 }, "every connection closed")
    }
}
