import ConnectionPool
import Foundation
import HiredisClient
import Testing
import TestSupport

@Suite("Redis scripts: EVALSHA with NOSCRIPT reload (private server)")
struct RedisScriptTests {
    @Test(.timeLimit(.minutes(1)))
    func scriptRunsByEVALSHAAndIsReloadedAfterSCRIPTFLUSH() async throws {
        try await PrivateRedisServer.with { server in
            let client = privateClient(server, poolSize: 1)
            defer { client.shutdown() }
            let script = RedisScript(
                name: "incrby",
                source: "return {redis.call('INCRBY', KEYS[1], ARGV[1]), ARGV[2]}"
            )
            let first = try await client.run(script, keys: ["counter"], arguments: [5, "tag"])
            #expect(first == .array([.integer(5), .bulk(Array("tag".utf8))]))

            // The server forgets its scripts (as after a restart): the next run reloads.
            try await client.send(["SCRIPT", "FLUSH"]).checked()
            let second = try await client.run(script, keys: ["counter"], arguments: [7, "again"])
            #expect(second == .array([.integer(12), .bulk(Array("again".utf8))]))
            let third = try await client.run(script, keys: ["counter"], arguments: [1, "x"])
            #expect(third.array?.first == .integer(13))

            // It used EVALSHA and SCRIPT LOAD, never EVAL with the source.
            let info = try await client.send(["INFO", "commandstats"]).string ?? ""
            #expect(info.contains("cmdstat_evalsha:calls="), "\(info)")
            #expect(!info.contains("cmdstat_eval:"), "\(info)")
            #expect(info.contains("cmdstat_script|load:calls=2") || info.contains("cmdstat_script:calls="), "\(info)")

            // And the script is in the server's cache again.
            let sha = try await client.send(["EVAL", "return redis.sha1hex(ARGV[1])", 0, RedisArgument(script.source)]).string
            let sha1 = try #require(sha)
            #expect(try await client.send(["SCRIPT", "EXISTS", RedisArgument(sha1)]) == .array([.integer(1)]))
        }
    }

    @Test func scriptErrorIsReturnedAsErrorReply() async throws {
        try await withSharedRedis { client, prefix in
            let script = RedisScript(name: "fails", source: "return redis.error_reply('SOLDOUT no seats left')")
            let reply = try await client.run(script, keys: [RedisArgument(prefix, "k")], arguments: [])
            #expect(reply == .error("SOLDOUT no seats left"))
            #expect(throws: RedisError.server("SOLDOUT no seats left")) { try reply.checked() }
        }
    }
}

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
        try await PrivateRedisServer.with { server in
            let client = privateClient(server, poolSize: 4, acquireTimeout: .seconds(2))
            defer { client.shutdown() }
            let recorder = OutageRecorder()

            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        while await !recorder.isStopped {
                            do {
                                let reply = try await client.send(["INCR", RedisArgument("worker-\(worker)")])
                                if reply.int != nil { await recorder.success() } else { await recorder.failure("reply \(reply)") }
                            } catch let error as RedisError {
                                if case .connection = error { await recorder.expectedFailure() } else { await recorder.failure("\(error)") }
                                try await Task.sleep(for: .milliseconds(20))
                            } catch is PoolError {
                                await recorder.expectedFailure()
                                try await Task.sleep(for: .milliseconds(20))
                            } catch {
                                await recorder.failure("\(type(of: error)): \(error)")
                            }
                        }
                    }
                }

                try await recorder.waitForSuccesses(20, within: .seconds(5))
                await server.stop()
                try await Task.sleep(for: .milliseconds(400))
                try await server.start()
                let restarted = ContinuousClock.now
                await recorder.markRestart()
                try await recorder.waitForSuccesses(40, within: .seconds(5))
                let recovery = ContinuousClock.now - restarted
                await recorder.stop()
                try await group.waitForAll()
                #expect(recovery < .seconds(5))
            }

            let summary = await recorder.summary
            #expect(summary.unexpected.isEmpty, "unexpected errors: \(summary.unexpected.prefix(5))")
            #expect(summary.expectedFailures > 0, "the outage was not observed")
            #expect(summary.successesAfterRestart >= 40)
            // The new server process started from nothing.
            #expect(try await client.send(["DBSIZE"]).int ?? 0 <= 4)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func connectingToClosedPortFailsQuicklyWithConnectionError() async throws {
        let port = try freeTCPPort()
        let configuration = RedisConfiguration(host: "127.0.0.1", port: port, connectTimeout: .seconds(2))
        let start = ContinuousClock.now
        do {
            _ = try RedisConnection(configuration: configuration)
            Issue.record("connected to a closed port")
        } catch let error as RedisError {
            guard case .connection = error else {
                Issue.record("expected RedisError.connection, got \(error)")
                return
            }
        }
        #expect(ContinuousClock.now - start < .seconds(1))

        // Through the pool the caller gets the same error, and the pool stays usable.
        let client = RedisClient(configuration: configuration, poolSize: 1, acquireTimeout: .seconds(1))
        defer { client.shutdown() }
        for _ in 0..<3 {
            let callStart = ContinuousClock.now
            do {
                _ = try await client.send(["PING"])
                Issue.record("PING to a closed port succeeded")
            } catch let error as RedisError {
                guard case .connection = error else {
                    Issue.record("expected RedisError.connection, got \(error)")
                    return
                }
            }
            #expect(ContinuousClock.now - callStart < .seconds(1))
        }
    }
}
