import ConnectionPool
import Foundation
import HiredisClient
import Testing
import TestSupport

@Suite("Redis pool: exhaustion, restart recovery, refused connections")
struct RedisPoolTests {
    @Test(.timeLimit(.minutes(1)))
    func exhaustedPoolFailsWithTimedOutWithinAcquireTimeout() async throws {
        try await withSharedRedis(poolSize: 1, acquireTimeout: .milliseconds(200)) { client, prefix in
            let key = RedisArgument(prefix, "never-pushed")
            // The only connection blocks for 1.5 s in BLPOP.
            async let held = client.send(["BLPOP", key, "1.5"])
            let waitStart = ContinuousClock.now
            while client.pool.statistics.busy == 0 && ContinuousClock.now - waitStart < .seconds(2) {
                try await Task.sleep(for: .milliseconds(5))
            }
            try await Task.sleep(for: .milliseconds(50))  // let it send BLPOP

            let start = ContinuousClock.now
            await #expect(throws: PoolError.timedOut(pool: "redis")) {
                try await client.send(["PING"])
            }
            let elapsed = ContinuousClock.now - start
            #expect(elapsed >= .milliseconds(150), "gave up after \(elapsed), before its acquire timeout")
            #expect(elapsed < .seconds(1), "took \(elapsed) to time out")

            #expect(try await held == .null)
            // The connection is free again and works.
            #expect(try await client.send(["PING"]) == .status("PONG"))
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func callsRecoverAfterServerRestartAndOutageErrorsAreConnectionOrPoolErrors() async throws {
        try await ScratchStack.with([.redis]) { server in
            let client = privateClient(server, poolSize: 4, acquireTimeout: .seconds(2))
            defer { client.shutdown() }
            let summary = try await OutageRecorder.measure(
                within: .seconds(5),
                call: { worker in
                    let reply = try await client.send(["INCR", RedisArgument("worker-\(worker)")])
                    guard reply.int != nil else { throw TestServerError("reply \(reply)") }
                },
                isExpected: { error in
                    switch error as? RedisError {
                    case .connect?, .connection?: return true
                    default: return error is PoolError
                    }
                },
                outage: {
                    try await server.stop(.redis)
                    try await Task.sleep(for: .milliseconds(400))
                    try await server.start(.redis)
                }
            )
            #expect(summary.recovery < .seconds(5))
            #expect(summary.unexpected.isEmpty, "unexpected errors: \(summary.unexpected.prefix(5))")
            #expect(summary.expectedFailures > 0, "the outage was not observed")
            #expect(summary.successesAfterRestart >= 40)
            // The new server process started from nothing.
            #expect(try await client.send(["DBSIZE"]).int ?? 0 <= 4)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func connectingToClosedPortFailsQuicklyWithConnectError() async throws {
        let port = try await freeTCPPort()
        let configuration = RedisConfiguration(host: "127.0.0.1", port: port, connectTimeout: .seconds(2))
        let start = ContinuousClock.now
        do {
            _ = try RedisConnection(configuration: configuration)
            Issue.record("connected to a closed port")
        } catch let error as RedisError {
            guard case .connect = error else {
                Issue.record("expected RedisError.connect, got \(error)")
                return
            }
        }
        #expect(ContinuousClock.now - start < .seconds(1))

        // Through the pool the caller gets the same error, and the pool stays usable.
        let client = RedisNodeClient(configuration: configuration, poolSize: 1, acquireTimeout: .seconds(1))
        defer { client.shutdown() }
        for _ in 0..<3 {
            let callStart = ContinuousClock.now
            do {
                _ = try await client.send(["PING"])
                Issue.record("PING to a closed port succeeded")
            } catch let error as RedisError {
                guard case .connect = error else {
                    Issue.record("expected RedisError.connect, got \(error)")
                    return
                }
            }
            #expect(ContinuousClock.now - callStart < .seconds(1))
        }
    }
}
