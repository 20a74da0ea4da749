import Foundation
import HiredisClient

/// The test Redis Cluster of `make test` (scripts/cluster.sh test): crash a node, bring it back, move a slot.
public enum TestCluster {
    /// SIGKILL on the node at `port`, as a crash.
    public static func kill(port: Int) async throws {
        try await self.cluster(["kill", String(port)])
    }

    /// Starts every node that is not running (a killed master comes back as a replica of the node
    /// that took over) and waits until the whole cluster reports `cluster_state:ok`.
    public static func start() async throws {
        try await self.cluster(["start"])
    }

    /// Moves hash slot `slot` to the master at `port` while the cluster serves (`cluster.sh move-slot`),
    /// `batch` keys per MIGRATE with a pause between batches.
    public static func moveSlot(_ slot: Int, to port: Int, batch: Int = 100, pauseMilliseconds: Int = 0) async throws {
        try await self.cluster(
            ["move-slot", String(slot), String(port)], environment: ["MOVE_BATCH": String(batch), "MOVE_PAUSE_MS": String(pauseMilliseconds)])
    }

    /// Adds a master and its replica to the test cluster (`cluster.sh add-master`); returns the master's port.
    public static func addMaster() async throws -> Int {
        let output = try await self.cluster(["add-master"])
        guard let port = Int(output) else {
            throw TestServerError("cluster.sh add-master printed \(output)")
        }
        return port
    }

    /// Spreads the slots evenly over the masters, empty ones included (`cluster.sh rebalance`).
    public static func rebalance() async throws {
        try await self.cluster(["rebalance"])
    }

    /// Moves the slots of the master at `port` to the others and takes it and its replica out of the cluster.
    public static func removeMaster(_ port: Int) async throws {
        try await self.cluster(["remove-master", String(port)])
    }

    /// The port of the master that serves `slot`, as the cluster itself says.
    public static func owner(ofSlot slot: Int) async throws -> Int? {
        Int(try await self.cluster(["owner", String(slot)]))
    }

    /// Closes slots left open by a move that stopped (`redis-cli --cluster fix`).
    public static func fix() async throws {
        try await self.cluster(["fix"])
    }

    /// `redis-cli --cluster check`'s report.
    public static func check() async throws -> String {
        try await self.cluster(["check"])
    }

    @discardableResult
    private static func cluster(_ arguments: [String], environment: [String: String] = [:]) async throws -> String {
        try await StackScript("cluster.sh")(["test"] + arguments, environment: environment)
    }
}
