import HiredisClient
import NIOCore
import Testing
import TestSupport

@Suite("Redis Cluster: slots, map, redirections")
struct RedisHashSlotTests {
    @Test func crc16MatchesTheSpecificationsCheckValue() {
        // Redis Cluster specification, appendix A: CRC16 of "123456789" is 0x31C3.
        #expect(RedisHashSlot.of("123456789") == 0x31C3 & 16383)
    }

    @Test func slotsOfKnownKeys() {
        // Answers of Redis' own CLUSTER KEYSLOT.
        #expect(RedisHashSlot.of("foo") == 12182)
        #expect(RedisHashSlot.of("bar") == 5061)
        #expect(RedisHashSlot.of("hello") == 866)
        #expect(RedisHashSlot.of("") == 0)
    }

    @Test func hashTagsFollowTheSpecification() {
        #expect(RedisHashSlot.of("{user1000}.following") == RedisHashSlot.of("{user1000}.followers"))
        #expect(RedisHashSlot.of("{user1000}.following") == RedisHashSlot.of("user1000"))
        // Empty tag: the whole key is hashed.
        #expect(RedisHashSlot.of("foo{}{bar}") != RedisHashSlot.of("bar"))
        // Only the first { and the first } after it count.
        #expect(RedisHashSlot.of("foo{{bar}}zap") == RedisHashSlot.of("{bar"))
        #expect(RedisHashSlot.of("foo{bar}{zap}") == RedisHashSlot.of("bar"))
        #expect(RedisHashSlot.of("bo:{c:1}:waiting") == RedisHashSlot.of("bo:{c:1}:token:abc"))
        #expect(RedisHashSlot.of("no close {brace") != RedisHashSlot.of("brace"))
    }

    @Test func clusterSlotsReplyBecomesAMap() throws {
        let reply = RedisReply.array([
            .array([.integer(0), .integer(5460), .array([.bulk(Array("10.0.0.1".utf8)), .integer(7000), .bulk(Array("id1".utf8))])]),
            .array([.integer(5461), .integer(16383), .array([.bulk([]), .integer(7001), .bulk(Array("id2".utf8))])]),
        ])
        let map = try RedisClusterMap(clusterSlots: reply, fallbackHost: "seed.example")
        #expect(map.master(forSlot: 0) == RedisNodeAddress(host: "10.0.0.1", port: 7000))
        #expect(map.master(forSlot: 5460) == RedisNodeAddress(host: "10.0.0.1", port: 7000))
        // An empty host means "the host you asked".
        #expect(map.master(forSlot: 5461) == RedisNodeAddress(host: "seed.example", port: 7001))
        #expect(map.coversAllSlots)
        #expect(throws: RedisError.self) { try RedisClusterMap(clusterSlots: .array([.array([.integer(1)])]), fallbackHost: "x") }
    }

    @Test func redirectionsAreParsed() {
        #expect(RedisRedirection(.error("MOVED 3999 127.0.0.1:6381")) == .moved(slot: 3999, to: RedisNodeAddress(host: "127.0.0.1", port: 6381)))
        #expect(RedisRedirection(.error("ASK 3999 ::1:6381")) == .ask(slot: 3999, to: RedisNodeAddress(host: "::1", port: 6381)))
        #expect(RedisRedirection(.error("ERR unknown command")) == nil)
        #expect(RedisRedirection(.error("MOVED x 127.0.0.1:1")) == nil)
        #expect(RedisRedirection(.bulk(Array("MOVED 1 a:1".utf8))) == nil)
    }
}

/// Against the real test cluster (scripts/cluster.sh test, started by `make test`).
@Suite("Redis Cluster: a real cluster", .serialized, .enabled(if: TestEnvironment.redisClusterNodes != nil), .tags(.redisCluster))
struct RedisClusterTests {
    static func seeds() -> [RedisNodeAddress] {
        (TestEnvironment.redisClusterNodes ?? "").split(separator: ",").compactMap { RedisNodeAddress($0) }
    }

    static func client() -> RedisClient {
        RedisClient(
            cluster: Self.seeds(), configuration: RedisConfiguration(connectTimeout: .milliseconds(500)), poolSize: 2,
            acquireTimeout: .seconds(5)
        )
    }

    static func node(_ address: RedisNodeAddress) -> RedisNodeClient {
        RedisNodeClient(
            configuration: RedisConfiguration(host: address.host, port: address.port), poolSize: 1, acquireTimeout: .seconds(5)
        )
    }

    @Test func slotsAgreeWithClusterKeyslot() async throws {
        let node = Self.node(Self.seeds()[0])
        defer { node.shutdown() }
        var keys = (0..<300).map { "k:\($0):\(TestEnvironment.uniqueSuffix(length: $0 % 20))" }
        keys += ["{}", "{", "}", "a{b}c", "{c:42}:waiting", "x{}y{z}", "ü{é}", "bo:{c:7}:seatlock:2027-01-01:3"]
        for key in keys {
            let answer = try await node.send(["CLUSTER", "KEYSLOT", RedisArgument(key)]).checked().int
            #expect(answer == RedisHashSlot.of(key), "\(key)")
        }
    }

    @Test func keysAreSpreadOverTheMastersAndReadBack() async throws {
        let client = Self.client()
        defer { client.shutdown() }
        let prefix = "test:cluster:\(TestEnvironment.uniqueSuffix()):"
        let keys = (0..<200).map { prefix + String($0) }
        for (index, key) in keys.enumerated() {
            try await client.send(["SET", RedisArgument(key), RedisArgument(index), "EX", "60"]).checked()
        }
        for (index, key) in keys.enumerated() {
            #expect(try await client.send(["GET", RedisArgument(key)]).checked().int == index)
        }
        let map = try await client.cluster!.map()
        #expect(map.masters.count == 3)
        #expect(map.coversAllSlots)
        let owners = Set(keys.compactMap { map.master(forSlot: RedisHashSlot.of($0)) })
        #expect(owners.count == 3, "200 keys without a hash tag land on every master")
        // A script runs on the master of its first key.
        let script = RedisScript(name: "test-incr", source: "return redis.call('INCRBY', KEYS[1], ARGV[1])")
        #expect(try await client.run(script, keys: [RedisArgument(keys[7])], arguments: ["5"]).checked().int == 12)
    }

    /// Moves one slot from its master to another by hand, the way `redis-cli --cluster reshard`
    /// does: while it migrates, a key that already moved is answered with ASK; once it has moved,
    /// the old master answers MOVED. The client follows both without an error, then the slot
    /// moves back.
    @Test func followsAskDuringAMigrationAndMovedAfterIt() async throws {
        let client = Self.client()
        defer { client.shutdown() }
        let map = try await client.cluster!.map()
        let tag = try await Self.tagOfAnEmptySlot(map)
        let old = "\(tag):old", new = "\(tag):new"
        let slot = RedisHashSlot.of(old)
        let source = map.master(forSlot: slot)!
        let target = map.masters.first { $0 != source }!
        let sourceNode = Self.node(source), targetNode = Self.node(target)
        defer {
            sourceNode.shutdown()
            targetNode.shutdown()
        }
        let sourceID = try await sourceNode.send(["CLUSTER", "MYID"]).checked().string!
        let targetID = try await targetNode.send(["CLUSTER", "MYID"]).checked().string!
        try await client.send(["SET", RedisArgument(old), "1", "EX", "60"]).checked()

        // Migrating: `new` does not exist on the source, so the source answers ASK.
        try await targetNode.send(["CLUSTER", "SETSLOT", RedisArgument(slot), "IMPORTING", RedisArgument(sourceID)]).checked()
        try await sourceNode.send(["CLUSTER", "SETSLOT", RedisArgument(slot), "MIGRATING", RedisArgument(targetID)]).checked()
        #expect(try await sourceNode.send(["SET", RedisArgument(new), "2"]) == .error("ASK \(slot) \(target)"), "the source redirects")
        try await client.send(["SET", RedisArgument(new), "2", "EX", "60"]).checked()
        #expect(try await client.send(["GET", RedisArgument(old)]).checked().int == 1, "a key still on the source is served there")
        #expect(try await targetNode.send(["EXISTS", RedisArgument(new)]) == .error("MOVED \(slot) \(source)"), "only with ASKING")

        // Moved: the old key follows, every master learns the new owner, the source says MOVED.
        try await sourceNode.send(
            ["MIGRATE", RedisArgument(target.host), RedisArgument(target.port), "", "0", "5000", "KEYS", RedisArgument(old)]
        ).checked()
        try await Self.assign(slot, to: targetID, masters: map.masters)
        #expect(try await client.send(["GET", RedisArgument(old)]).checked().int == 1)
        #expect(try await client.send(["GET", RedisArgument(new)]).checked().int == 2)
        #expect(try await client.cluster!.map().master(forSlot: slot) == target, "MOVED updated the map")

        // Back where it was, for the other tests.
        try await sourceNode.send(["CLUSTER", "SETSLOT", RedisArgument(slot), "IMPORTING", RedisArgument(targetID)]).checked()
        try await targetNode.send(["CLUSTER", "SETSLOT", RedisArgument(slot), "MIGRATING", RedisArgument(sourceID)]).checked()
        try await targetNode.send(
            ["MIGRATE", RedisArgument(source.host), RedisArgument(source.port), "", "0", "5000", "KEYS", RedisArgument(old), RedisArgument(new)]
        ).checked()
        try await Self.assign(slot, to: sourceID, masters: map.masters)
        #expect(try await client.send(["GET", RedisArgument(new)]).checked().int == 2)
        try await client.send(["DEL", RedisArgument(old), RedisArgument(new)]).checked()
    }

    /// Mid-migration, a pipeline whose keys are split is answered command by command (ASK for the
    /// moved ones), and a script whose declared keys are split gets TRYAGAIN from the server:
    /// the client retries it within its budget, so it runs once the move completes, or fails
    /// with an "unavailable" error (the app's 503) when the move takes longer.
    @Test func splitKeysMidMigration() async throws {
        let client = Self.client()
        defer { client.shutdown() }
        let map = try await client.cluster!.map()
        let tag = try await Self.tagOfAnEmptySlot(map)
        let stay = "\(tag):stay", moved = "\(tag):moved", created = "\(tag):created"
        let slot = RedisHashSlot.of(stay)
        let source = map.master(forSlot: slot)!, target = map.masters.first { $0 != source }!
        let sourceNode = Self.node(source), targetNode = Self.node(target)
        defer {
            sourceNode.shutdown()
            targetNode.shutdown()
        }
        let sourceID = try await sourceNode.send(["CLUSTER", "MYID"]).checked().string!
        let targetID = try await targetNode.send(["CLUSTER", "MYID"]).checked().string!
        try await client.send(["SET", RedisArgument(stay), "1", "EX", "60"]).checked()
        try await client.send(["SET", RedisArgument(moved), "2", "EX", "60"]).checked()
        try await targetNode.send(["CLUSTER", "SETSLOT", RedisArgument(slot), "IMPORTING", RedisArgument(sourceID)]).checked()
        try await sourceNode.send(["CLUSTER", "SETSLOT", RedisArgument(slot), "MIGRATING", RedisArgument(targetID)]).checked()
        try await sourceNode.send(
            ["MIGRATE", RedisArgument(target.host), RedisArgument(target.port), "", "0", "5000", "KEYS", RedisArgument(moved)]
        ).checked()

        let replies = try await client.pipeline([
            ["GET", RedisArgument(stay)], ["GET", RedisArgument(moved)], ["SET", RedisArgument(created), "3", "EX", "60"],
        ])
        #expect(replies.map { $0.string } == ["1", "2", "OK"], "\(replies)")

        let sum = RedisScript(name: "test-sum", source: "return tonumber(redis.call('GET', KEYS[1])) + tonumber(redis.call('GET', KEYS[2]))")
        let started = ContinuousClock.now
        let split = try await client.run(sum, keys: [RedisArgument(stay), RedisArgument(moved)], arguments: [])
        guard case .error(let message) = split else { Issue.record("a split script ran: \(split)"); return }
        #expect(message.hasPrefix("TRYAGAIN"), "\(message)")
        #expect(ContinuousClock.now - started > .milliseconds(700), "retried within the budget before giving up")
        #expect(RedisError.server(message).isUnavailable, "the app answers 503")

        // The move completes 300 ms into the next try: the script runs, on the new master.
        let finishing = Task {
            try await Task.sleep(for: .milliseconds(300))
            try await sourceNode.send(
                ["MIGRATE", RedisArgument(target.host), RedisArgument(target.port), "", "0", "5000", "KEYS", RedisArgument(stay)]
            ).checked()
            try await Self.assign(slot, to: targetID, masters: map.masters)
        }
        #expect(try await client.run(sum, keys: [RedisArgument(stay), RedisArgument(moved)], arguments: []).checked().int == 3)
        try await finishing.value
        #expect(try await client.send(["GET", RedisArgument(created)]).checked().int == 3, "the pipeline's SET went to the target")

        // Back where it was, for the other tests.
        try await sourceNode.send(["CLUSTER", "SETSLOT", RedisArgument(slot), "IMPORTING", RedisArgument(targetID)]).checked()
        try await targetNode.send(["CLUSTER", "SETSLOT", RedisArgument(slot), "MIGRATING", RedisArgument(sourceID)]).checked()
        try await targetNode.send(
            ["MIGRATE", RedisArgument(source.host), RedisArgument(source.port), "", "0", "5000", "KEYS", RedisArgument(stay), RedisArgument(moved),
             RedisArgument(created)]
        ).checked()
        try await Self.assign(slot, to: sourceID, masters: map.masters)
        try await client.send(["DEL", RedisArgument(stay), RedisArgument(moved), RedisArgument(created)]).checked()
    }

    /// A hash tag whose slot holds no key yet: a move ends with SETSLOT NODE, which a master refuses
    /// while it still holds keys of the slot, and other suites leave keys (with a TTL) in random slots.
    static func tagOfAnEmptySlot(_ map: RedisClusterMap) async throws -> String {
        while true {
            let tag = "{test:\(TestEnvironment.uniqueSuffix())}"
            let slot = RedisHashSlot.of(tag)
            let node = Self.node(map.master(forSlot: slot)!)
            defer { node.shutdown() }
            if try await node.send(["CLUSTER", "COUNTKEYSINSLOT", RedisArgument(slot)]).checked().int == 0 { return tag }
        }
    }

    /// CLUSTER SETSLOT slot NODE id on every master: the end of a move.
    static func assign(_ slot: Int, to id: String, masters: [RedisNodeAddress]) async throws {
        for master in masters {
            let node = Self.node(master)
            defer { node.shutdown() }
            try await node.send(["CLUSTER", "SETSLOT", RedisArgument(slot), "NODE", RedisArgument(id)]).checked()
        }
    }
}
