import AsyncHTTPClient
import BoxOfficeDomain
import BoxOfficeStores
import BoxOfficeHTTP
import Foundation
import HiredisClient
import Hummingbird
import LibpqClient
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import Prometheus
import ServiceLifecycle

/// Real BoxOffice instances for integration tests: each is a full `buildApplication` (HTTP
/// server, promoter, sweeper, its own pools) on an ephemeral port, against the shared test
/// PostgreSQL and Redis. Tests isolate themselves by using their own concerts (`Fixtures`).
public enum TestStack {
    /// Settings that make admission immediate unless a test says otherwise.
    public static let defaultEnvironment: [String: String] = [
        "ACTIVE_CAPACITY": "1000000",
        "ADMIT_PER_SECOND": "1000000",
        "PROMOTE_INTERVAL_MS": "50",
        "SWEEP_INTERVAL_MS": "200",
        // Many suites run at once against one PostgreSQL (max_connections 300): small pools.
        "DB_POOL_SIZE": "4",
        "REDIS_POOL_SIZE": "4",
        "POOL_TIMEOUT_MS": "10000",
        "LOG_LEVEL": "warning",
        // Tests start and stop instances all the time: a stopped instance's relay lease must not
        // hold up the next test's events for long.
        "OUTBOX_LEASE_MS": "1000",
        // One key for every instance of a test, as a deployment shares it: challenges issued by one verify on another.
        "CHALLENGE_SECRET": "test-challenge-secret-" + TestEnvironment.uniqueSuffix(length: 24),
    ]

    public static func configuration(_ overrides: [String: String] = [:], instance: String = "test") throws -> AppConfiguration {
        var environment = Self.defaultEnvironment
        environment["DATABASE_URL"] = TestEnvironment.databaseURL
        environment["REDIS_URL"] = TestEnvironment.redisURL
        // A test that points its instances at a Redis of its own (a scratch server) keeps it.
        if TestEnvironment.clusterSeeds != nil, overrides["REDIS_URL"] == nil {
            environment["REDIS_CLUSTER_NODES"] = TestEnvironment.redisClusterNodes
        }
        environment["HOST"] = "127.0.0.1"
        environment["PORT"] = "0"
        environment["INSTANCE_ID"] = instance
        environment.merge(overrides) { _, new in new }
        return try AppConfiguration(environment: environment)
    }

    /// Runs `count` instances, hands their base URLs to `body`, and stops them afterwards.
    public static func withInstances<Result: Sendable>(
        _ count: Int,
        environment: [String: String] = [:],
        _ body: @Sendable ([String]) async throws -> Result
    ) async throws -> Result {
        try await TestDatabase.prepare()
        let ports = PortCollector(expected: count)
        var services: [any Service] = []
        for index in 1...count {
            let configuration = try Self.configuration(environment, instance: "test-\(index)")
            var logger = Logger(label: "test-\(index)")
            // Readiness tests run instances against dead stores on purpose: keep their retries quiet.
            logger.logLevel = .error
            services.append(try await buildApplication(
                configuration: configuration, logger: logger, registry: TestMetrics.registry
            ) { channel in
                await ports.add(channel.localAddress?.port ?? 0, index: index)
            })
        }
        var logger = Logger(label: "test-stack")
        logger.logLevel = .warning
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let bound = try await ports.wait()
            let outcome: Swift.Result<Result, any Error>
            do {
                outcome = .success(try await body(bound.map { "http://127.0.0.1:\($0)" }))
            } catch {
                outcome = .failure(error)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try outcome.get()
        }
    }
}

/// The process-wide metrics backend, set up as `boxoffice serve` sets it up, so that the request
/// counters of in-process instances reach `/metrics`. All instances of the test process share it:
/// tests compare counts before and after their own requests (tests run one at a time).
public enum TestMetrics {
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    /// The sum of the samples of `metric` whose labels include every one of `labels`.
    public static func value(_ metric: String, _ labels: [String: String] = [:], in text: String) -> Double {
        var total = 0.0
        for line in text.split(separator: "\n") where line.hasPrefix(metric + "{") || line.hasPrefix(metric + " ") {
            guard labels.allSatisfy({ line.contains("\($0.key)=\"\($0.value)\"") }),
                let value = line.split(separator: " ").last.flatMap({ Double($0) })
            else { continue }
            total += value
        }
        return total
    }
}

/// Collects the ports the instances bound, and lets the test wait for all of them. Ports are
/// returned in instance order (test-1 first), whatever order the servers came up in.
actor PortCollector {
    let expected: Int
    var ports: [Int: Int] = [:]
    var waiters: [CheckedContinuation<[Int], Never>] = []

    init(expected: Int) { self.expected = expected }

    func add(_ port: Int, index: Int) {
        self.ports[index] = port
        if self.ports.count == self.expected {
            for waiter in self.waiters { waiter.resume(returning: self.ordered) }
            self.waiters = []
        }
    }

    private var ordered: [Int] { self.ports.keys.sorted().map { self.ports[$0]! } }

    func wait() async throws -> [Int] {
        if self.ports.count == self.expected { return self.ordered }
        return await withCheckedContinuation { self.waiters.append($0) }
    }
}

/// The shared test database, migrated once per test process.
public enum TestDatabase {
    private static let migrated = MigrationOnce()

    public static func prepare() async throws {
        try await self.migrated.run()
    }

    public static func client(poolSize: Int = 4) -> PostgresClient {
        PostgresClient(configuration: PostgresConfiguration(url: TestEnvironment.databaseURL), poolSize: poolSize, acquireTimeout: .seconds(10))
    }

    /// The test Redis: the test cluster in cluster mode (`BOXOFFICE_TEST_REDIS_MODE=cluster`), else the single server.
    public static func redis(poolSize: Int = 4) throws -> RedisClient {
        let configuration = try RedisConfiguration(url: TestEnvironment.redisURL)
        if let seeds = TestEnvironment.clusterSeeds {
            return RedisClient(cluster: seeds, configuration: configuration, poolSize: poolSize, acquireTimeout: .seconds(10))
        }
        return RedisClient(configuration: configuration, poolSize: poolSize, acquireTimeout: .seconds(10))
    }
}

actor MigrationOnce {
    private var done = false

    func run() async throws {
        if self.done { return }
        let client = TestDatabase.client(poolSize: 1)
        defer { client.shutdown() }
        try await Migrator(database: client, logger: Logger(label: "test-migrate")).migrate()
        self.done = true
    }
}

/// Concerts of a test's own, so parallel tests never share seats or queues.
public enum Fixtures {
    public struct Concert: Sendable {
        public let id: Int
        /// Bookable dates, YYYY-MM-DD, ascending.
        public let dates: [String]
    }

    /// Queue settings every fixture concert starts with, in its Redis settings hash. Every instance's
    /// promoter ticks every concert, and the hash overrides an instance's environment: pinning them
    /// here means no suite's instance settings (say ACTIVE_SECONDS=2) ever reach another suite's concert.
    /// A test changes its own concert's queue by HSET on that hash.
    public static let queueSettings = [
        "activeCapacity": "1000000", "admitPerSecond": "1000000", "activeSeconds": "300", "waitingIdleSeconds": "60",
    ]

    /// A new concert with `dates` future dates of 50 seats; seat n costs `price(n)`.
    public static func concert(dates: Int = 2, price: @Sendable (Int) -> Int = { 10_000 + $0 * 1_000 }) async throws -> Concert {
        try await TestDatabase.prepare()
        let client = TestDatabase.client(poolSize: 1)
        defer { client.shutdown() }
        let id = Int.random(in: 1_000_000...2_000_000_000)
        let prices = (1...50).map(price)
        let created = try await client.transaction { connection -> [String] in
            try connection.query("INSERT INTO concerts (id, title, artist) VALUES (\(id), \("Test concert \(id)"), \("Test artist"))")
            for offset in 0..<dates {
                _ = try Seeder.addDate(connection, concertID: id, daysFromToday: 3 + offset, prices: prices)
            }
            return try connection.query("SELECT date::text FROM concert_dates WHERE concert_id = \(id) ORDER BY date")
                .map { try $0.decode(String.self, at: 0) }
        }
        let redis = try TestDatabase.redis(poolSize: 1)
        defer { redis.shutdown() }
        try await redis.send(
            ["HSET", RedisArgument(QueueKeys(concertID: id).settings)] + Self.queueSettings.flatMap { [RedisArgument($0.key), RedisArgument($0.value)] }
        ).checked()
        return Concert(id: id, dates: created)
    }
}

/// A small JSON-over-HTTP client for racing many real requests (its pool opens as many
/// connections as there are concurrent requests).
public final class TestHTTPClient: Sendable {
    public struct Reply: Sendable {
        public let status: Int
        public let headers: HTTPHeaders
        public let body: Data

        public var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: self.body)) as? [String: Any] ?? [:]
        }

        public var code: String? { self.json["code"] as? String }
        public var text: String { String(decoding: self.body, as: UTF8.self) }
    }

    public let client: HTTPClient

    public init() {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 2_000)
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(60))
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async throws {
        try await self.client.shutdown()
    }

    /// Runs `body` with a client and always shuts it down.
    public static func with<Result: Sendable>(_ body: (TestHTTPClient) async throws -> Result) async throws -> Result {
        let client = TestHTTPClient()
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    public func request(
        _ method: HTTPMethod, _ url: String, token: String? = nil, headers: [(String, String)] = [], json: Any? = nil, rawBody: Data? = nil
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: json)))
        } else if let rawBody {
            request.body = .bytes(ByteBuffer(data: rawBody))
        }
        let response = try await self.client.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return Reply(status: Int(response.status.code), headers: response.headers, body: Data(body.readableBytesView))
    }

    /// Takes a queue token for a new random user; returns (token, userId).
    public func takeToken(_ base: String, concertID: Int, userID: String = UUID().uuidString.lowercased()) async throws -> (token: String, userID: String) {
        let reply = try await self.request(.POST, "\(base)/v1/queue/tokens", json: ["userId": userID, "concertId": concertID])
        guard reply.status == 201 || reply.status == 200, let token = reply.json["token"] as? String else {
            throw TestServerError("token request failed: \(reply.status) \(reply.text)")
        }
        return (token, userID)
    }

    /// Polls the status until ACTIVE (the test stack admits at once) or fails after `timeout`.
    public func waitUntilActive(_ base: String, token: String, timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let reply = try await self.request(.GET, "\(base)/v1/queue/status", token: token)
            if reply.json["status"] as? String == "ACTIVE" { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestServerError("token \(token) not admitted within \(timeout)")
    }

    /// A token that is already ACTIVE.
    public func activeToken(_ base: String, concertID: Int) async throws -> (token: String, userID: String) {
        let taken = try await self.takeToken(base, concertID: concertID)
        try await self.waitUntilActive(base, token: taken.token)
        return taken
    }
}
