@testable import ConnectionPool
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// A stand-in for a C client connection: calls block the worker thread like hiredis or libpq do.
final class FakeConnection: BlockingConnection {
    typealias PipelinedRequest = Int
    typealias PipelinedReply = Int

    let serial: Int
    var isUsable = true
    let closed: NIOLockedValueBox<Int>
    /// Sizes of the pipelined batches this connection ran.
    let batches: NIOLockedValueBox<[Int]>

    init(serial: Int, closed: NIOLockedValueBox<Int>, batches: NIOLockedValueBox<[Int]>) {
        self.serial = serial
        self.closed = closed
        self.batches = batches
    }

    func close() { self.closed.withLockedValue { $0 += 1 } }

    /// Doubles each request.
    func execute(_ requests: [Int]) -> [Result<Int, any Error>] {
        self.batches.withLockedValue { $0.append(requests.count) }
        return requests.map { .success($0 * 2) }
    }

    /// Marks the connection broken, as an I/O error does.
    func fail() throws -> Int {
        self.isUsable = false
        throw FakeIOError()
    }
}

struct FakeIOError: Error {}

/// A one-shot gate a worker thread can block on (a stand-in for a slow network round trip).
final class Gate: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    func wait() { self.semaphore.wait() }
    func open(_ count: Int = 1) { for _ in 0..<count { self.semaphore.signal() } }
}

final class FakePool: Sendable {
    let connects = NIOLockedValueBox(0)
    let closed = NIOLockedValueBox(0)
    let batches = NIOLockedValueBox<[Int]>([])
    let pool: BlockingConnectionPool<FakeConnection>

    init(size: Int = 1, acquireTimeout: TimeAmount = .seconds(5)) {
        let (connects, closed, batches) = (self.connects, self.closed, self.batches)
        self.pool = BlockingConnectionPool(configuration: PoolConfiguration(name: "fake", size: size, acquireTimeout: acquireTimeout)) {
            let serial = connects.withLockedValue { $0 += 1; return $0 }
            return FakeConnection(serial: serial, closed: closed, batches: batches)
        }
    }

    /// Occupies one worker until the returned gate opens.
    func occupy() async throws -> (gate: Gate, done: Task<Void, any Error>) {
        let gate = Gate()
        let started = Gate()
        let done = Task { try await self.pool.withConnection { _ in started.open(); gate.wait() } }
        try await offloadWait(started)
        return (gate, done)
    }
}

/// Waits for a gate without blocking the cooperative pool.
func offloadWait(_ gate: Gate) async throws {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        Thread { gate.wait(); continuation.resume() }.start()
    }
}

func waitUntil(_ timeout: Duration = .seconds(5), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { throw CancellationError() }
        try await Task.sleep(for: .milliseconds(5))
    }
}
