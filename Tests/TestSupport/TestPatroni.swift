import Foundation

/// The test stack's PostgreSQL under Patroni (scripts/patroni.sh test): three nodes pg1..pg3, one
/// primary, one synchronous standby. Used by the failover suites of the HA pass of `make test`.
public enum TestPatroni {
    public enum Role: String, Sendable {
        case primary, sync, replica, down
    }

    /// SIGKILL on Patroni and PostgreSQL of the node in `role` (a machine dying); returns its name.
    @discardableResult
    public static func kill(_ role: Role) async throws -> String {
        try await self.patroni(["kill", role.rawValue])
    }

    /// Starts every node that is not running (a killed one rejoins as a replica) and etcd, and waits
    /// for a primary and a synchronous standby.
    public static func start() async throws {
        try await self.patroni(["start"])
    }

    /// `patronictl switchover` to the synchronous standby; returns the new primary once it is one.
    @discardableResult
    public static func switchover() async throws -> String {
        try await self.patroni(["switchover"])
    }

    public static func stopEtcd() async throws {
        try await self.patroni(["stop-etcd"])
    }

    public static func startEtcd() async throws {
        try await self.patroni(["start-etcd"])
    }

    /// The node's role, as its Patroni REST API says.
    public static func role(of node: String) async throws -> Role {
        Role(rawValue: try await self.patroni(["role", node])) ?? .down
    }

    /// The libpq URL of one node alone (no failover, no read-write check): to look at it directly.
    public static func nodeURL(_ node: String) -> String {
        let index = Int(node.dropFirst(2)) ?? 1
        return "postgres://boxoffice:boxoffice@127.0.0.1:\(15450 + index)/boxoffice"
    }

    public static let nodes = ["pg1", "pg2", "pg3"]

    @discardableResult
    private static func patroni(_ arguments: [String]) async throws -> String {
        try await StackScript("patroni.sh")(["test"] + arguments)
    }
}
