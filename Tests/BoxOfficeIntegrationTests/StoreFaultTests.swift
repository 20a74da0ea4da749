import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import HiredisClient
import LibpqClient
import Logging
import NIOCore
import Testing
import TestSupport

/// Docs/api.md, Operations: a store that is out of memory, read-only, busy, cut off from its master or
/// out of connections gives 503 SERVICE_UNAVAILABLE with Retry-After, never a 500. Each case puts
/// a scratch server of its own into that state under a real instance.
@Suite("Store faults: real servers in a failing state give 503 with Retry-After")
struct StoreFaultTests {
    typealias Kit = HoldsTestKit

    enum RedisFault: String, CaseIterable, Sendable {
        case outOfMemory, readOnlyReplica, masterDown, busyScript, failedSnapshot

        /// redis.conf lines the fault needs from the start.
        var config: [String] {
            switch self {
            case .masterDown: ["replica-serve-stale-data no"]
            case .busyScript: ["busy-reply-threshold 100"]
            // MISCONF: writes stop after a failed snapshot when snapshots are on; `dir` is a
            // protected setting in Redis 7.
            case .failedSnapshot: ["save 3600 1", "stop-writes-on-bgsave-error yes", "enable-protected-configs yes"]
            case .outOfMemory, .readOnlyReplica: []
            }
        }
    }

    static func expect503(_ reply: TestHTTPClient.Reply, _ comment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        Kit.expectProblem(reply, 503, "SERVICE_UNAVAILABLE", comment, sourceLocation: sourceLocation)
        #expect(reply.headers.first(name: "retry-after") != nil, "\(comment): no Retry-After", sourceLocation: sourceLocation)
    }

    static func redisClient(_ url: String, poolSize: Int = 1) throws -> RedisClient {
        let timeout = Duration.seconds(30)
        return RedisClient(
            configuration: try RedisConfiguration(url: url, connectTimeout: .seconds(2), commandTimeout: timeout), poolSize: poolSize,
            acquireTimeout: .seconds(5))
    }

    static func takeToken(_ http: TestHTTPClient, _ base: String, concertID: Int) async throws -> TestHTTPClient.Reply {
        try await http.request(.POST, "\(base)/v1/queue/tokens", json: ["userId": UUID().uuidString.lowercased(), "concertId": concertID])
    }

    @Test("Redis out of memory, a read-only replica, a replica whose master is down, a script running too long, a failed snapshot (MISCONF)", arguments: RedisFault.allCases)
    func redisFaults(fault: RedisFault) async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await ScratchStack.with([.redis], redisConfig: fault.config) { stack in
            try await TestStack.withInstances(1, environment: ["REDIS_URL": stack.redisURL]) { bases in
                try await TestHTTPClient.with { http in
                    let healthy = try await Self.takeToken(http, bases[0], concertID: concert.id)
                    #expect(healthy.status == 201, "before the fault: \(healthy.text)")

                    let admin = try Self.redisClient(stack.redisURL, poolSize: 2)
                    defer { admin.shutdown() }
                    let deadPort = try await freeTCPPort()
                    var script: Task<RedisReply, any Error>?
                    var originalDirectory = ""
                    switch fault {
                    case .outOfMemory:
                        try await admin.send(["CONFIG", "SET", "maxmemory", "1"]).checked()
                    case .readOnlyReplica, .masterDown:
                        try await admin.send(["REPLICAOF", "127.0.0.1", RedisArgument(deadPort)]).checked()
                    case .busyScript:
                        let runner = try Self.redisClient(stack.redisURL)
                        script = Task {
                            defer { runner.shutdown() }
                            return try await runner.send(["EVAL", "local i = 0 while true do i = i + 1 end", "0"])
                        }
                        try await Task.sleep(for: .milliseconds(400))
                    case .failedSnapshot:
                        // A snapshot into a directory nobody can create files in (not even root) fails.
                        let directory = try await admin.send(["CONFIG", "GET", "dir"]).checked().array?.last?.string ?? ""
                        originalDirectory = directory
                        try await admin.send(["CONFIG", "SET", "dir", "/proc"]).checked()
                        try await admin.send(["BGSAVE"]).checked()
                        let failed = try await Kit.eventually(timeout: .seconds(5)) {
                            let info = try await admin.send(["INFO", "persistence"]).checked().string ?? ""
                            return info.contains("rdb_last_bgsave_status:err")
                        }
                        #expect(failed, "the snapshot did not fail")
                    }

                    let refused = try await Self.takeToken(http, bases[0], concertID: concert.id)
                    Self.expect503(refused, "\(fault)")

                    switch fault {
                    case .outOfMemory: try await admin.send(["CONFIG", "SET", "maxmemory", "0"]).checked()
                    case .readOnlyReplica, .masterDown: try await admin.send(["REPLICAOF", "NO", "ONE"]).checked()
                    case .busyScript:
                        try await admin.send(["SCRIPT", "KILL"]).checked()
                        _ = try await script?.value
                    case .failedSnapshot:
                        try await admin.send(["CONFIG", "SET", "dir", RedisArgument(originalDirectory)]).checked()
                        try await admin.send(["BGSAVE"]).checked()
                    }
                    // Once the server serves again, so does the instance.
                    let recovered = try await Kit.eventually(timeout: .seconds(5)) {
                        try await Self.takeToken(http, bases[0], concertID: concert.id).status == 201
                    }
                    #expect(recovered, "\(fault): no 201 after the fault was undone")
                }
            }
        }
    }

    @Test("PostgreSQL read-only (default_transaction_read_only) and out of connections for the role")
    func postgresFaults() async throws {
        try await ScratchStack.with([.postgres]) { stack in
            let superuser = "postgres://postgres@127.0.0.1:\(stack.postgresPort)/boxoffice"
            let admin = PostgresClient(configuration: PostgresConfiguration(url: superuser), poolSize: 1, acquireTimeout: .seconds(5))
            defer { admin.shutdown() }
            try await stack.migrateAndSeed()

            // Read-only: reads still work (a token for a known concert), every write is refused.
            try await admin.query("ALTER DATABASE boxoffice SET default_transaction_read_only = on")
            try await TestStack.withInstances(1, environment: ["DATABASE_URL": stack.databaseURL]) { bases in
                try await TestHTTPClient.with { http in
                    let token = try await Self.takeToken(http, bases[0], concertID: 1)
                    #expect(token.status == 201 || token.status == 200, "\(token.text)")
                    let value = try #require(token.json["token"] as? String)
                    let charge = try await http.request(.POST, "\(bases[0])/v1/balance/charge", token: value, json: ["amount": 1_000])
                    Self.expect503(charge, "read-only charge")
                }
            }
            try await admin.query("ALTER DATABASE boxoffice RESET default_transaction_read_only")

            // No connection for the role: every call that needs PostgreSQL is 503.
            try await admin.query("ALTER ROLE boxoffice CONNECTION LIMIT 0")
            try await TestStack.withInstances(1, environment: ["DATABASE_URL": stack.databaseURL]) { bases in
                try await TestHTTPClient.with { http in
                    let concerts = try await http.request(.GET, "\(bases[0])/v1/concerts")
                    Self.expect503(concerts, "no connections")
                }
            }
        }
    }
}

@Suite("Redis durability: the queue survives kill -9 of Redis with AOF (as make run and docker-compose run it)")
struct RedisDurabilityTests {
    @Test("tokens issued more than a second before the crash still work, in the same order")
    func queueSurvivesCrash() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        // The run stack's persistence settings (scripts/services.sh, docker-compose.yml).
        try await ScratchStack.with([.redis], redisConfig: ["appendonly yes", "appendfsync everysec"]) { stack in
            // One active slot: the first token is admitted, the others wait in arrival order.
            let environment = ["REDIS_URL": stack.redisURL, "ACTIVE_CAPACITY": "1"]
            try await TestStack.withInstances(1, environment: environment) { bases in
                try await TestHTTPClient.with { http in
                    var tokens: [String] = []
                    for _ in 0..<20 {
                        tokens.append(try await http.takeToken(bases[0], concertID: concert.id).token)
                    }
                    try await Task.sleep(for: .milliseconds(1_500))
                    try await stack.crashRedis()
                    try await stack.start(.redis)

                    var positions: [Int] = []
                    for token in tokens {
                        var reply = try await http.request(.GET, "\(bases[0])/v1/queue/status", token: token)
                        // The instance's pool reconnects on the first call after the crash.
                        if reply.status == 503 { reply = try await http.request(.GET, "\(bases[0])/v1/queue/status", token: token) }
                        #expect(reply.status == 200, "\(token): \(reply.text)")
                        if let position = reply.json["position"] as? Int { positions.append(position) }
                    }
                    // The admitted one has no position; the 19 waiters keep their order.
                    #expect(positions.count >= 18, "\(positions)")
                    #expect(positions == positions.sorted() && Set(positions).count == positions.count, "\(positions)")
                }
            }
        }
    }

    @Test("while Redis loads its data after a restart (LOADING), token requests get 503, then work again")
    func loadingGives503() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        // 30,000 keys with a `key-load-delay` of 25 µs each (about 130 µs with the sleep's overhead):
        // about 4 s of LOADING after a restart.
        try await ScratchStack.with([.redis], redisConfig: [
            "enable-debug-command yes", "key-load-delay 25",
            // Answer clients (with LOADING) while loading, instead of only once it is done.
            "loading-process-events-interval-bytes 1024",
        ]) { stack in
            let seeder = try StoreFaultTests.redisClient(stack.redisURL)
            try await seeder.send(["DEBUG", "POPULATE", "30000"]).checked()
            try await seeder.send(["SAVE"]).checked()
            seeder.shutdown()
            try await TestStack.withInstances(1, environment: ["REDIS_URL": stack.redisURL]) { bases in
                try await TestHTTPClient.with { http in
                    #expect(try await StoreFaultTests.takeToken(http, bases[0], concertID: concert.id).status == 201)
                    try await stack.crashRedis()
                    let loaded = QueueTestFlag()
                    loaded.value = false
                    let restart = Task {
                        defer { loaded.value = true }
                        try await stack.start(.redis)  // returns once Redis answers PING, i.e. after loading
                    }
                    var sawLoading = false
                    var statusesWhileLoading: [Int] = []
                    while !loaded.value {
                        if try await stack.redisPing().hasPrefix("LOADING") {
                            sawLoading = true
                            statusesWhileLoading.append(try await StoreFaultTests.takeToken(http, bases[0], concertID: concert.id).status)
                        }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    try await restart.value
                    #expect(sawLoading, "Redis never answered LOADING")
                    // 201 only for a request that reached Redis just as it finished loading.
                    #expect(statusesWhileLoading.contains(503) && statusesWhileLoading.allSatisfy { $0 == 503 || $0 == 201 }, "\(statusesWhileLoading)")
                    let recovered = try await HoldsTestKit.eventually(timeout: .seconds(5)) {
                        try await StoreFaultTests.takeToken(http, bases[0], concertID: concert.id).status == 201
                    }
                    #expect(recovered, "no 201 after loading")
                }
            }
        }
    }
}

@Suite("PostgreSQL down: the queue, which lives in Redis, keeps going")
struct QueueWithoutPostgresTests {
    @Test("with PostgreSQL stopped past the concert cache's age, tokens are still issued and admitted")
    func admissionsContinue() async throws {
        try await ScratchStack.with([.postgres, .redis]) { stack in
            try await stack.migrateAndSeed()
            let environment = ["DATABASE_URL": stack.databaseURL, "REDIS_URL": stack.redisURL]
            try await TestStack.withInstances(1, environment: environment) { bases in
                try await TestHTTPClient.with { http in
                    _ = try await http.activeToken(bases[0], concertID: 1)
                    try await stack.stop(.postgres)
                    // Past the directory's 5 s cache: every read of the concert list now fails.
                    try await Task.sleep(for: .seconds(6))
                    let late = try await http.request(
                        .POST, "\(bases[0])/v1/queue/tokens", json: ["userId": UUID().uuidString.lowercased(), "concertId": 1])
                    #expect(late.status == 201, "\(late.text)")
                    let token = try #require(late.json["token"] as? String)
                    try await http.waitUntilActive(bases[0], token: token, timeout: .seconds(5))
                }
            }
        }
    }
}

extension ScratchStack {
    /// The schema and the demo concerts in the scratch PostgreSQL, as `make run` has them.
    func migrateAndSeed() async throws {
        let database = PostgresClient(configuration: PostgresConfiguration(url: self.databaseURL), poolSize: 1, acquireTimeout: .seconds(5))
        defer { database.shutdown() }
        try await Migrator(database: database, logger: Logger(label: "test")).migrate()
        try await Seeder(database: database, logger: Logger(label: "test")).seed()
    }
}
