import ConnectionPool
import Foundation
import HiredisClient
import Testing
import TestSupport

@Suite("Redis scripts: EVALSHA with NOSCRIPT reload (private server)")
struct RedisScriptTests {
    @Test(.timeLimit(.minutes(1)))
    func scriptRunsByEVALSHAAndIsReloadedAfterSCRIPTFLUSH() async throws {
        try await ScratchStack.with([.redis]) { server in
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
