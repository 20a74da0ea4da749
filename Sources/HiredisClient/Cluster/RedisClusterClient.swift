import ConnectionPool
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Redis Cluster over hiredis: a slot map from `CLUSTER SLOTS`, one `RedisNodeClient` (a blocking
/// pool with pipelining) per master, and every request sent to the master of its key's slot.
///
/// One redirect and retry policy, for single calls and pipelines alike (`execute`):
/// - `MOVED` (the slot has moved for good): update the map, send it there;
/// - `ASK` (the slot is migrating and the request's keys are not all on the source): this one
///   request goes to the target after `ASKING`, the map stays;
/// - `TRYAGAIN` (a multi-key request, a script, whose keys are split by a migration) and
///   `CLUSTERDOWN` (a failover in progress), from the source or the target: wait and retry;
/// - a master that cannot be reached: reload the map (a replica may have taken over) and retry.
/// Retries pause 25 ms, doubling to 400 ms, while `retryBudget` lasts; after that the caller gets
/// the last answer or error, which the app turns into a 503 with Retry-After. A connection that
/// broke with a request in flight is not retried (the request may have run); the map is reloaded
/// for the next one. Every change of the map is logged, and the pools of masters that left it
/// are closed.
public final class RedisClusterClient: Sendable {
    public let seeds: [RedisNodeAddress]
    private let template: RedisConfiguration
    private let poolSize: Int
    private let acquireTimeout: TimeAmount
    private let retryBudget: Duration
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    private struct State {
        var map: RedisClusterMap?
        var nodes: [RedisNodeAddress: RedisNodeClient] = [:]
        var lastRefresh: ContinuousClock.Instant?
        var isShutDown = false
    }

    /// - Parameters:
    ///   - seeds: nodes to ask for the slot map (any node of the cluster will do).
    ///   - configuration: password, timeouts and database of every node connection (host and
    ///     port come from the map).
    ///   - poolSize: connections (threads) per master.
    public init(
        seeds: [RedisNodeAddress], configuration: RedisConfiguration, poolSize: Int, acquireTimeout: TimeAmount,
        retryBudget: Duration = .milliseconds(1500), logger: Logger = Logger(label: "boxoffice.redis.cluster")
    ) {
        precondition(!seeds.isEmpty, "a cluster client needs at least one seed node")
        self.seeds = seeds
        self.template = configuration
        self.poolSize = poolSize
        self.acquireTimeout = acquireTimeout
        self.retryBudget = retryBudget
        self.logger = logger
    }

    /// Sends a request to the master of `slot` (any master when `slot` is nil), following the
    /// cluster's redirections and riding out migrations and failovers within the retry budget.
    func execute(_ request: RedisRequest, slot: Int?) async throws -> RedisReply {
        var retry = Retry(budget: self.retryBudget)
        while true {
            do {
                let reply = try await self.follow(request, first: try await self.node(forSlot: slot))
                guard Self.isTransient(reply), try await retry.pause() else { return reply }
            } catch let error as RedisError {
                guard case .connect = error, try await retry.pause() else {
                    if case .connection = error { try? await self.refreshMap(force: false) }
                    throw error
                }
            }
            try? await self.refreshMap(force: true)
        }
    }

    /// Sends several commands for one slot as one pipeline. The commands whose answer was a
    /// redirection or "try again" (a migration moves a slot key by key, so some may have run on
    /// the source and others not) are then sent again one by one, in order, under `execute`'s
    /// policy; the others' answers stand.
    func pipeline(_ commands: [[RedisArgument]], slot: Int) async throws -> [RedisReply] {
        var replies = try await self.node(forSlot: slot).pipeline(commands)
        for (index, reply) in replies.enumerated() where RedisRedirection(reply) != nil || Self.isTransient(reply) {
            if case .moved(let movedSlot, let target) = RedisRedirection(reply) { self.learn(slot: movedSlot, movedTo: target) }
            replies[index] = try await self.execute(.command(commands[index]), slot: slot)
        }
        return replies
    }

    /// One send of a request, following up to 16 redirections: MOVED updates the map and goes to
    /// the new master, ASK goes to the migration's target once after ASKING.
    private func follow(_ request: RedisRequest, first: RedisNodeClient) async throws -> RedisReply {
        var node = first
        for _ in 0..<16 {
            let reply = try await Self.send(request, to: node)
            switch RedisRedirection(reply) {
            case .moved(let slot, let target):
                self.learn(slot: slot, movedTo: target)
                node = try self.client(for: target)
            case .ask(_, let target):
                let answer = try await self.client(for: target).asking(request)
                guard case .moved(let slot, let owner) = RedisRedirection(answer) else { return answer }
                // The migration finished in between: the target sends us to the slot's owner.
                self.learn(slot: slot, movedTo: owner)
                node = try self.client(for: owner)
            case nil:
                return reply
            }
        }
        throw RedisError.server("CLUSTERDOWN more than 16 redirections for one request")
    }

    /// The pauses between retries, while a budget lasts.
    private struct Retry {
        let deadline: ContinuousClock.Instant
        var pauseLength = Duration.milliseconds(25)

        init(budget: Duration) { self.deadline = .now + budget }

        /// Sleeps before the next try; false when the budget does not allow another.
        mutating func pause() async throws -> Bool {
            guard ContinuousClock.now + self.pauseLength <= self.deadline else { return false }
            try await Task.sleep(for: self.pauseLength)
            self.pauseLength = min(self.pauseLength * 2, .milliseconds(400))
            return true
        }
    }

    /// The current map (loaded on first use).
    public func map() async throws -> RedisClusterMap {
        if let map = self.state.withLockedValue({ $0.map }) { return map }
        try await self.refreshMap(force: true)
        guard let map = self.state.withLockedValue({ $0.map }) else { throw RedisError.connect("no cluster map") }
        return map
    }

    /// Every node client made so far (masters, and seeds that were asked for the map).
    public var nodeClients: [RedisNodeClient] {
        self.state.withLockedValue { Array($0.nodes.values) }
    }

    public func shutdown() {
        let nodes = self.state.withLockedValue { state in
            state.isShutDown = true
            return Array(state.nodes.values)
        }
        for node in nodes { node.shutdown() }
    }

    // MARK: - Map and nodes

    /// A `MOVED` answer: that slot now lives at `target` (the rest of the map stays).
    private func learn(slot: Int, movedTo target: RedisNodeAddress) {
        let moved = self.state.withLockedValue { state -> Bool in
            guard state.map?.master(forSlot: slot) != target else { return false }
            state.map?.assign(slot...slot, to: target)
            return true
        }
        if moved { self.logger.info("redis cluster slot moved", metadata: ["slot": "\(slot)", "master": "\(target)"]) }
    }

    private func node(forSlot slot: Int?) async throws -> RedisNodeClient {
        let map = try await self.map()
        let address = slot.flatMap { map.master(forSlot: $0) } ?? map.masters.first
        guard let address else { throw RedisError.server("CLUSTERDOWN no master serves slot \(slot ?? -1)") }
        return try self.client(for: address)
    }

    private func client(for address: RedisNodeAddress) throws -> RedisNodeClient {
        try self.state.withLockedValue { state in
            guard !state.isShutDown else { throw PoolError.shutDown(pool: "redis") }
            if let client = state.nodes[address] { return client }
            var configuration = self.template
            configuration.host = address.host
            configuration.port = address.port
            let client = RedisNodeClient(configuration: configuration, poolSize: self.poolSize, acquireTimeout: self.acquireTimeout)
            state.nodes[address] = client
            return client
        }
    }

    /// Loads the slot map from the first node that answers: the known masters first (they know
    /// about a failover soonest), then the seeds. Unless `force`d, at most one reload per 100 ms.
    private func refreshMap(force: Bool) async throws {
        let (candidates, skip): ([RedisNodeAddress], Bool) = self.state.withLockedValue { state in
            if !force, let last = state.lastRefresh, ContinuousClock.now - last < .milliseconds(100) { return ([], true) }
            state.lastRefresh = .now
            var candidates = state.map?.masters ?? []
            for seed in self.seeds where !candidates.contains(seed) { candidates.append(seed) }
            return (candidates, false)
        }
        if skip { return }
        var lastError: any Error = RedisError.connect("no cluster node answered")
        for address in candidates {
            do {
                let reply = try await self.client(for: address).send(["CLUSTER", "SLOTS"]).checked()
                let map = try RedisClusterMap(clusterSlots: reply, fallbackHost: address.host)
                guard !map.masters.isEmpty else { continue }
                self.install(map)
                return
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    /// Takes a freshly loaded map, logs how it differs from the one before, and closes the pools of
    /// masters that left it (their queued calls still run; the next call to that address, should
    /// it come back, opens a new pool).
    private func install(_ map: RedisClusterMap) {
        let (before, retired) = self.state.withLockedValue { state -> (RedisClusterMap?, [RedisNodeAddress: RedisNodeClient]) in
            let before = state.map
            state.map = map
            let gone = state.nodes.filter { !map.masters.contains($0.key) && !self.seeds.contains($0.key) }
            for address in gone.keys { state.nodes[address] = nil }
            return (before, gone)
        }
        if let before, before != map {
            let moved = (0..<RedisHashSlot.count).filter { before.master(forSlot: $0) != map.master(forSlot: $0) }.count
            self.logger.info(
                "redis cluster map changed",
                metadata: ["masters": "\(map.masters.map(\.description).sorted())", "slotsMoved": "\(moved)", "coversAllSlots": "\(map.coversAllSlots)"])
        }
        for (address, client) in retired {
            self.logger.info("redis cluster node left the map: pool closed", metadata: ["node": "\(address)"])
            client.shutdown()
        }
    }

    private static func send(_ request: RedisRequest, to node: RedisNodeClient) async throws -> RedisReply {
        switch request {
        case .command(let arguments): try await node.send(arguments)
        case .script(let script, let keys, let arguments): try await node.run(script, keys: keys, arguments: arguments)
        }
    }

    /// Replies that mean "not now, nothing was done": a slot being migrated or a cluster that
    /// lost a master and has not elected its replica yet.
    private static func isTransient(_ reply: RedisReply) -> Bool {
        guard case .error(let message) = reply else { return false }
        return message.hasPrefix("TRYAGAIN") || message.hasPrefix("CLUSTERDOWN")
    }
}
