import AsyncHTTPClient
import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import HiredisClient
import LibpqClient
import NIOCore
import Testing
import TestSupport

/// Direct access to one test concert's queue in Redis, and QueueService instances of the test's
/// own (with short windows) for driving promotion by hand.
///
/// Isolation: app instances promote *every* concert in the database, and other suites start
/// instances too. Every promoter honours the concert's settings hash (Fixtures pins defaults
/// there), so each queue test puts its capacity, rate and short active/idle windows in that hash,
/// never in the environment of an app instance.
struct QueueRig: Sendable {
    let concertID: Int
    let keys: QueueKeys
    let redis: RedisClient
    let database: PostgresClient

    /// App instances of the queue tests barely touch PostgreSQL: small pools, so a dozen of them
    /// running at once leave connections for the other suites.
    static let instanceEnvironment = ["DB_POOL_SIZE": "2"]

    static func with<Result: Sendable>(
        settings: [String: String] = [:],
        _ body: (QueueRig) async throws -> Result
    ) async throws -> Result {
        let concert = try await Fixtures.concert(dates: 1)
        let rig = QueueRig(
            concertID: concert.id, keys: QueueKeys(concertID: concert.id),
            redis: try TestDatabase.redis(poolSize: 8), database: TestDatabase.client(poolSize: 2)
        )
        defer {
            rig.redis.shutdown()
            rig.database.shutdown()
        }
        try await rig.set(settings)
        return try await body(rig)
    }

    @discardableResult
    func command(_ arguments: String...) async throws -> RedisReply {
        try await self.redis.send(arguments.map { RedisArgument($0) }).checked()
    }

    @discardableResult
    func command(_ arguments: [String]) async throws -> RedisReply {
        try await self.redis.send(arguments.map { RedisArgument($0) }).checked()
    }

    /// HSET on the concert's settings hash (paused, activeCapacity, admitPerSecond, activeSeconds, waitingIdleSeconds).
    func set(_ settings: [String: String]) async throws {
        guard !settings.isEmpty else { return }
        try await self.command(["HSET", self.keys.settings] + settings.flatMap { [$0.key, $0.value] })
    }

    /// A QueueService of the test's own. The settings hash overrides its settings, so a test that
    /// wants short windows also puts them in the hash (`with(settings:)`).
    func service(activeSeconds: Int = 300, waitingIdleSeconds: Int = 60) -> QueueService {
        QueueService(
            store: RedisQueueStore(redis: self.redis), concerts: ConcertDirectory(store: PostgresCatalogStore(database: self.database)),
            settings: .init(activeCapacity: 1_000_000, admitPerSecond: 1_000_000, activeSeconds: activeSeconds,
                            waitingIdleSeconds: waitingIdleSeconds, endedTokenSeconds: 3_600)
        )
    }

    /// One field of a token of the rig's concert (see `tokenFields`).
    func tokenField(_ token: String, _ field: String) async throws -> String? {
        try await Self.tokenFields(token, keys: QueueKeys(concertID: self.concertID, shard: QueueToken.parse(token)?.shard ?? 0), redis: self.redis)[field]
    }

    /// A token's fields, read atomically from where the line keeps them (QueueKeys): status
    /// (WAITING, ACTIVE, ENDED; absent when unknown), user, seq, issued, and once admitted
    /// admitted and admittedUntil (kept after it ended), and activeUntil while in `active`.
    static func tokenFields(_ token: String, keys: QueueKeys, redis: RedisClient) async throws -> [String: String] {
        let read = """
            local record = redis.call('HGET', KEYS[1], ARGV[1])
            if not record then return {} end
            local user, seq, issued = string.match(record, '^(%S+) (%S+) (%S+)$')
            local out = {'user', user, 'seq', seq, 'issued', issued, 'status', 'ENDED'}
            if redis.call('ZSCORE', KEYS[2], ARGV[1]) then out[8] = 'WAITING' end
            local until_ms = redis.call('ZSCORE', KEYS[3], ARGV[1])
            if until_ms then
              out[8] = 'ACTIVE'
              out[#out + 1] = 'activeUntil'
              out[#out + 1] = until_ms
            end
            local admission = redis.call('HGET', KEYS[4], ARGV[1])
            if admission then
              local at, admitted_until = string.match(admission, '^(%S+) (%S+)$')
              for _, v in ipairs({'admitted', at, 'admittedUntil', admitted_until}) do out[#out + 1] = v end
            end
            return out
            """
        let reply = try await redis.send(
            ["EVAL", RedisArgument(read), "4"] + [keys.tokens, keys.waiting, keys.active, keys.admissions].map { RedisArgument($0) }
                + [RedisArgument(token)]
        ).checked()
        let fields = (reply.array ?? []).compactMap(\.string)
        return Dictionary(uniqueKeysWithValues: stride(from: 0, to: fields.count - 1, by: 2).map { (fields[$0], fields[$0 + 1]) })
    }

    /// How many of `tokens` were ever admitted (an admitted token keeps its admission, even once ended).
    func countAdmitted(_ tokens: [String]) async throws -> Int {
        var admitted = 0
        for token in tokens {
            if try await self.tokenField(token, "admitted") != nil { admitted += 1 }
        }
        return admitted
    }

    func zcard(_ key: String) async throws -> Int {
        try await self.command("ZCARD", key).int ?? -1
    }

    /// Redis TIME in milliseconds.
    func redisMilliseconds() async throws -> Int {
        let parts = try await self.command("TIME").array ?? []
        guard parts.count == 2, let seconds = parts[0].int, let micros = parts[1].int else {
            throw TestServerError("TIME: \(parts)")
        }
        return seconds * 1000 + micros / 1000
    }

    /// Runs a small Lua script against the concert's line (KEYS: every line key, in QueueKeys.Line
    /// order, as the queue scripts declare them; ARGV[1] = the prefix).
    func eval(_ source: String, _ arguments: String...) async throws -> RedisReply {
        let keys = QueueKeys.Line.allCases.map { self.keys[$0] }
        return try await self.command(["EVAL", source, String(keys.count)] + keys + [self.keys.prefix] + arguments)
    }
}

extension TestHTTPClient.Reply {
    var queueContentType: String { self.headers.first(name: "Content-Type") ?? "" }
    var queueIsProblem: Bool { self.queueContentType.lowercased().hasPrefix("application/problem+json") }
}

/// Calls `body` until it returns a value or `timeout` passes.
func queueEventually<T: Sendable>(
    _ what: String, timeout: Duration = .seconds(10), every: Duration = .milliseconds(50),
    _ body: () async throws -> T?
) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while true {
        if let value = try await body() { return value }
        if ContinuousClock.now >= deadline { throw TestServerError("timed out after \(timeout): \(what)") }
        try await Task.sleep(for: every)
    }
}

/// Runs `body`, failing with a timeout error after `timeout`.
func queueWithTimeout<T: Sendable>(_ timeout: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TestServerError("timed out after \(timeout): \(what)")
        }
        let first = try await group.next()!
        group.cancelAll()
        return first
    }
}

/// A flag shared between a test and its loops.
final class QueueTestFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var _value = true
    var value: Bool {
        get { self.lock.withLock { self._value } }
        set { self.lock.withLock { self._value = newValue } }
    }
}
