import Foundation
import HiredisClient
import Testing

@Suite("Redis reply types, binary safety and pipelining (shared server)")
struct RedisReplyTests {
    @Test func setAnswersStatusOK() async throws {
        try await withSharedRedis { client, prefix in
            let reply = try await client.send(["SET", RedisArgument(prefix, "k"), "v"])
            #expect(reply == .status("OK"))
            #expect(reply.string == "OK")
            #expect(try reply.checked() == .status("OK"))
        }
    }

    @Test func wrongTypeAndUnknownCommandAnswerErrorRepliesAndCheckedThrowsServerError() async throws {
        try await withSharedRedis(poolSize: 1) { client, prefix in
            let list = RedisArgument(prefix, "list")
            try await client.send(["RPUSH", list, "a"]).checked()

            let wrongType = try await client.send(["INCR", list])
            guard case .error(let message) = wrongType else {
                Issue.record("expected an error reply, got \(wrongType)")
                return
            }
            #expect(message.hasPrefix("WRONGTYPE"))
            #expect(throws: RedisError.server(message)) { try wrongType.checked() }

            let unknown = try await client.send(["NOSUCHCOMMAND", "x"])
            guard case .error(let unknownMessage) = unknown else {
                Issue.record("expected an error reply, got \(unknown)")
                return
            }
            #expect(unknownMessage.hasPrefix("ERR unknown command"))

            // An error reply is not an I/O error: the (only) connection keeps working.
            #expect(try await client.send(["PING"]) == .status("PONG"))
            #expect(client.pool.statistics.size == 1)
        }
    }

    @Test func incrAnswersIntegers() async throws {
        try await withSharedRedis { client, prefix in
            let key = RedisArgument(prefix, "counter")
            #expect(try await client.send(["INCR", key]) == .integer(1))
            let second = try await client.send(["INCRBY", key, 41])
            #expect(second == .integer(42))
            #expect(second.int == 42)
            #expect(try await client.send(["DECRBY", key, 50]) == .integer(-8))
        }
    }

    @Test func getAnswersBulkStringAndNullForMissingKey() async throws {
        try await withSharedRedis { client, prefix in
            try await client.send(["SET", RedisArgument(prefix, "text"), "héllo wörld ✓"]).checked()
            let reply = try await client.send(["GET", RedisArgument(prefix, "text")])
            #expect(reply == .bulk(Array("héllo wörld ✓".utf8)))
            #expect(reply.string == "héllo wörld ✓")

            try await client.send(["SET", RedisArgument(prefix, "number"), "1234"]).checked()
            #expect(try await client.send(["GET", RedisArgument(prefix, "number")]).int == 1234)

            let missing = try await client.send(["GET", RedisArgument(prefix, "missing")])
            #expect(missing == .null)
            #expect(missing.isNull)
            #expect(missing.string == nil)

            // An empty bulk string is not nil.
            try await client.send(["SET", RedisArgument(prefix, "empty"), ""]).checked()
            #expect(try await client.send(["GET", RedisArgument(prefix, "empty")]) == .bulk([]))
        }
    }

    @Test func lrangeAnswersArrayAndEmptyArray() async throws {
        try await withSharedRedis { client, prefix in
            let key = RedisArgument(prefix, "list")
            #expect(try await client.send(["RPUSH", key, "a", "b", "c"]) == .integer(3))
            let reply = try await client.send(["LRANGE", key, 0, -1])
            #expect(reply == .array([.bulk(Array("a".utf8)), .bulk(Array("b".utf8)), .bulk(Array("c".utf8))]))
            #expect(reply.array?.compactMap(\.string) == ["a", "b", "c"])
            #expect(try await client.send(["LRANGE", RedisArgument(prefix, "none"), 0, -1]) == .array([]))
        }
    }

    @Test func luaTableInTableAnswersNestedArrayWithMixedElementTypes() async throws {
        try await withSharedRedis { client, _ in
            let reply = try await client.send([
                "EVAL", "return {1, {2, 'three', {}}, 'four', false}", 0,
            ])
            #expect(
                reply
                    == .array([
                        .integer(1),
                        .array([.integer(2), .bulk(Array("three".utf8)), .array([])]),
                        .bulk(Array("four".utf8)),
                        .null,
                    ])
            )
            let status = try await client.send(["EVAL", "return redis.status_reply('FINE')", 0])
            #expect(status == .status("FINE"))
            let error = try await client.send(["EVAL", "return redis.error_reply('MYERR broken')", 0])
            #expect(error == .error("MYERR broken"))
        }
    }

    @Test func valueWithNULBytesAndAll256ByteValuesRoundTrips() async throws {
        try await withSharedRedis { client, prefix in
            var value: [UInt8] = [0, 0, 0]
            value += (0...255).map { UInt8($0) }
            value += (0...255).reversed().map { UInt8($0) }
            value += [0x0D, 0x0A, 0x00, 0x24, 0x2A]  // \r\n NUL $ * : RESP framing bytes
            let key = RedisArgument(prefix, "binary")
            #expect(try await client.send(["SET", key, RedisArgument(bytes: value)]) == .status("OK"))
            #expect(try await client.send(["STRLEN", key]) == .integer(Int64(value.count)))
            #expect(try await client.send(["GET", key]) == .bulk(value))

            // Binary keys too.
            let binaryKey = RedisArgument(bytes: Array(prefix.utf8) + [0, 1, 255, 0])
            try await client.send(["SET", binaryKey, "x"]).checked()
            #expect(try await client.send(["GET", binaryKey]) == .bulk(Array("x".utf8)))
            #expect(try await client.send(["EXISTS", RedisArgument(bytes: Array(prefix.utf8) + [0, 1, 255])]) == .integer(0))
        }
    }

    @Test func keyWithSpacesAndNewlinesIsOneKey() async throws {
        try await withSharedRedis { client, prefix in
            let key = prefix + "a key with spaces\r\nand\nnewlines \"quoted\""
            try await client.send(["SET", RedisArgument(key), "value with spaces\n"]).checked()
            #expect(try await client.send(["GET", RedisArgument(key)]).string == "value with spaces\n")
            #expect(try await client.send(["EXISTS", RedisArgument(prefix + "a key with spaces")]) == .integer(0))
            let keys = try await client.send(["KEYS", RedisArgument(prefix + "*")])
            #expect(keys == .array([.bulk(Array(key.utf8))]))
        }
    }

    @Test func pipelineOf1000CommandsAnswers1000RepliesInOrder() async throws {
        try await withSharedRedis { client, prefix in
            let list = RedisArgument(prefix, "pipelined")
            let commands: [[RedisArgument]] = (0..<1000).map { index in
                index % 2 == 0 ? ["RPUSH", list, RedisArgument(index)] : ["ECHO", RedisArgument("echo-\(index)")]
            }
            let replies = try await client.pipeline(commands)
            #expect(replies.count == 1000)
            var mismatches = 0
            for (index, reply) in replies.enumerated() {
                let expected: RedisReply =
                    index % 2 == 0 ? .integer(Int64(index / 2 + 1)) : .bulk(Array("echo-\(index)".utf8))
                if reply != expected { mismatches += 1 }
            }
            #expect(mismatches == 0)
            let stored = try await client.send(["LRANGE", list, 0, -1]).array?.compactMap(\.int)
            #expect(stored == Array(stride(from: 0, to: 1000, by: 2)))

            // An error reply inside a pipeline stays in its slot.
            let mixed = try await client.pipeline([["PING"], ["INCR", list], ["ECHO", "after"]])
            #expect(mixed.count == 3)
            #expect(mixed[0] == .status("PONG"))
            if case .error(let message) = mixed[1] {
                #expect(message.hasPrefix("WRONGTYPE"))
            } else {
                Issue.record("expected WRONGTYPE in slot 1, got \(mixed[1])")
            }
            #expect(mixed[2] == .bulk(Array("after".utf8)))
        }
    }

    @Test func withConnectionRunsSeveralCallsOnOneConnection() async throws {
        try await withSharedRedis(poolSize: 3) { client, prefix in
            let key = RedisArgument(prefix, "multi")
            let replies = try await client.withConnection { connection in
                [
                    try connection.send(["MULTI"]),
                    try connection.send(["INCR", key]),
                    try connection.send(["INCR", key]),
                    try connection.send(["EXEC"]),
                ]
            }
            #expect(replies == [.status("OK"), .status("QUEUED"), .status("QUEUED"), .array([.integer(1), .integer(2)])])
        }
    }
}
