import Foundation
import HiredisClient
import Subprocess

/// The test Redis Cluster of `make test` (scripts/cluster.sh test): crash a node, bring it back.
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

    private static func cluster(_ arguments: [String]) async throws {
        let result = try await run(
            .name("bash"), arguments: Arguments([Self.script, "test"] + arguments), output: .discarded,
            error: .string(limit: 64 * 1024)
        )
        guard result.terminationStatus.isSuccess else {
            throw TestServerError("cluster.sh test \(arguments.joined(separator: " ")) failed: \(result.standardError)")
        }
    }

    /// scripts/cluster.sh of this checkout.
    private static var script: String {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/cluster.sh").path
    }
}
