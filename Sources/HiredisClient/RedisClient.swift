import ConnectionPool
import NIOCore
import ServiceLifecycle

/// The Redis the app talks to: one server (`REDIS_URL`) or a Redis Cluster (`REDIS_CLUSTER_NODES`).
/// Callers do not care which: a script is routed by its first key, a command by its key (the
/// second argument), so all keys of one call must share a slot (the queue's `{c:ID}` hash tags
/// see to that).
public struct RedisClient: Service, Sendable {
    private enum Backend: Sendable {
        case node(RedisNodeClient)
        case cluster(RedisClusterClient)
    }

    private let backend: Backend

    /// One Redis server.
    public init(configuration: RedisConfiguration, poolSize: Int, acquireTimeout: TimeAmount) {
        self.backend = .node(RedisNodeClient(configuration: configuration, poolSize: poolSize, acquireTimeout: acquireTimeout))
    }

    /// A Redis Cluster, found through `seeds`; `poolSize` connections per master.
    public init(cluster seeds: [RedisNodeAddress], configuration: RedisConfiguration, poolSize: Int, acquireTimeout: TimeAmount) {
        self.backend = .cluster(
            RedisClusterClient(seeds: seeds, configuration: configuration, poolSize: poolSize, acquireTimeout: acquireTimeout)
        )
    }

    /// The cluster client, when this is a cluster.
    public var cluster: RedisClusterClient? {
        if case .cluster(let cluster) = self.backend { return cluster }
        return nil
    }

    /// Sends one command (pipelined with other callers' waiting requests). An error reply is
    /// returned as `.error`; use `checked()` to throw it.
    public func send(_ arguments: [RedisArgument]) async throws -> RedisReply {
        switch self.backend {
        case .node(let node): try await node.send(arguments)
        case .cluster(let cluster): try await cluster.execute(.command(arguments), slot: Self.slot(of: arguments))
        }
    }

    /// Sends several commands in one round trip and returns their replies in order. On a cluster
    /// all their keys must share one slot.
    public func pipeline(_ commands: [[RedisArgument]]) async throws -> [RedisReply] {
        switch self.backend {
        case .node(let node): return try await node.pipeline(commands)
        case .cluster(let cluster):
            guard let slot = commands.lazy.compactMap(Self.slot(of:)).first else {
                return try await cluster.pipeline(commands, slot: 0)
            }
            return try await cluster.pipeline(commands, slot: slot)
        }
    }

    /// Runs a Lua script by EVALSHA (pipelined with other callers' waiting requests), on the node
    /// that serves its first key.
    public func run(_ script: RedisScript, keys: [RedisArgument], arguments: [RedisArgument]) async throws -> RedisReply {
        script.countRun()
        switch self.backend {
        case .node(let node):
            return try await node.run(script, keys: keys, arguments: arguments)
        case .cluster(let cluster):
            return try await cluster.execute(.script(script, keys: keys, arguments: arguments), slot: keys.first.map(RedisHashSlot.of))
        }
    }

    /// Usage of all connection pools together (one per master on a cluster).
    public var statistics: PoolStatistics {
        switch self.backend {
        case .node(let node): node.pool.statistics
        case .cluster(let cluster): cluster.nodeClients.map(\.pool.statistics).reduce(PoolStatistics(), +)
        }
    }

    public func shutdown() {
        switch self.backend {
        case .node(let node): node.shutdown()
        case .cluster(let cluster): cluster.shutdown()
        }
    }

    /// Runs until graceful shutdown, then drains the pools.
    public func run() async throws {
        try? await gracefulShutdown()
        self.shutdown()
        switch self.backend {
        case .node(let node): try await node.run()
        case .cluster(let cluster):
            for node in cluster.nodeClients { try await node.run() }
        }
    }

    /// Commands that name no key go to any master.
    private static let keyless: Set<String> = [
        "PING", "ECHO", "INFO", "TIME", "SCRIPT", "CONFIG", "CLUSTER", "DBSIZE", "COMMAND", "CLIENT", "MEMORY", "SLOWLOG",
        "FUNCTION", "LATENCY", "ROLE", "LASTSAVE", "BGSAVE", "BGREWRITEAOF", "WAIT",
    ]

    /// The slot of a command's key (its second argument), nil for keyless commands.
    static func slot(of arguments: [RedisArgument]) -> Int? {
        guard arguments.count >= 2 else { return nil }
        let name = String(decoding: arguments[0].bytes, as: UTF8.self).uppercased()
        if Self.keyless.contains(name) { return nil }
        if name == "EVAL" || name == "EVALSHA" {  // EVAL script numkeys key...
            return arguments.count >= 4 && arguments[2].bytes != Array("0".utf8) ? RedisHashSlot.of(arguments[3]) : nil
        }
        return RedisHashSlot.of(arguments[1])
    }
}
