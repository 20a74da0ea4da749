import ConnectionPool
import NIOConcurrencyHelpers
import NIOCore

/// Redis Cluster over hiredis: a slot map from `CLUSTER SLOTS`, one `RedisNodeClient` (a blocking
/// pool with pipelining) per master, and every request sent to the master of its key's slot.
///
/// The cluster's answers it follows: `MOVED` (the slot has moved: update the map, send it there),
/// `ASK` (the slot is migrating: this one request goes to the target after `ASKING`), `TRYAGAIN`
/// and `CLUSTERDOWN` (a migration or failover in progress), and a master that cannot be reached
/// (reload the map: a replica may have taken over). Each is retried with a growing pause while
/// `retryBudget` lasts; after that the caller gets the error, which the app turns into a 503. A
/// connection that broke with a request in flight is not retried (the request may have run);
/// the map is reloaded for the next one.
public final class RedisClusterClient: Sendable {
    public let seeds: [RedisNodeAddress]
    private let template: RedisConfiguration
    private let poolSize: Int
    private let acquireTimeout: TimeAmount
    private let retryBudget: Duration
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
        retryBudget: Duration = .milliseconds(1500)
    ) {
        precondition(!seeds.isEmpty, "a cluster client needs at least one seed node")
        self.seeds = seeds
        self.template = configuration
        self.poolSize = poolSize
        self.acquireTimeout = acquireTimeout
        self.retryBudget = retryBudget
    }

    /// Sends a request to the master of `slot` (any master when `slot` is nil), following the
    /// cluster's redirections and riding out failovers within the retry budget.
    func execute(_ request: RedisRequest, slot: Int?) async throws -> RedisReply {
        let deadline = ContinuousClock.now + self.retryBudget
        var pause = Duration.milliseconds(25)
        var redirects = 0
        while true {
            let node = try await self.node(forSlot: slot)
            do {
                let reply = try await Self.send(request, to: node)
                switch RedisRedirection(reply) {
                case .moved(let movedSlot, let target):
                    self.learn(slot: movedSlot, movedTo: target)
                    redirects += 1
                    if redirects <= 16 { continue }
                    return reply
                case .ask(_, let target):
                    redirects += 1
                    let answer = try await self.client(for: target).asking(request)
                    if RedisRedirection(answer) != nil, redirects <= 16 { continue }
                    return answer
                case nil:
                    if !Self.isTransient(reply) || ContinuousClock.now + pause > deadline { return reply }
                }
            } catch let error as RedisError {
                guard case .connect = error, ContinuousClock.now + pause <= deadline else {
                    if case .connection = error { try? await self.refreshMap(force: false) }
                    throw error
                }
            }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(400))
            try? await self.refreshMap(force: true)
        }
    }

    /// Sends several commands for one slot as one pipeline. A redirected pipeline is sent again
    /// as a whole to the slot's new master (a pipeline's commands share a slot, so they move
    /// together).
    func pipeline(_ commands: [[RedisArgument]], slot: Int) async throws -> [RedisReply] {
        var attempts = 0
        while true {
            let node = try await self.node(forSlot: slot)
            let replies = try await node.pipeline(commands)
            attempts += 1
            guard attempts < 4, case .moved(let movedSlot, let target) = replies.lazy.compactMap(RedisRedirection.init).first
            else { return replies }
            self.learn(slot: movedSlot, movedTo: target)
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
        self.state.withLockedValue { $0.map?.assign(slot...slot, to: target) }
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
                self.state.withLockedValue { $0.map = map }
                return
            } catch {
                lastError = error
            }
        }
        throw lastError
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
