import Foundation
import Testing
import TestSupport

/// Every server of the local stacks listens below Linux's ephemeral port range: a load test's
/// outgoing connections take their ports from that range, and one of them once held a cluster
/// node's port so that the next `make run` could not bind it (issue 22).
@Suite("Local stack ports")
struct LocalPortsTests {
    /// The first port Linux hands to outgoing connections (`net.ipv4.ip_local_port_range`).
    static func firstEphemeralPort() throws -> Int {
        let range = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
        return try #require(range.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) })
    }

    @Test("the test stack's PostgreSQL, Redis and Redis Cluster listen outside the ephemeral range")
    func outsideEphemeralRange() throws {
        let first = try Self.firstEphemeralPort()
        var ports = [
            try #require(URLComponents(string: TestEnvironment.databaseURL)?.port),
            try #require(URLComponents(string: TestEnvironment.redisURL)?.port),
        ]
        ports += (TestEnvironment.redisClusterNodes ?? "").split(separator: ",").compactMap { $0.split(separator: ":").last.flatMap { Int($0) } }
        #expect(ports.count >= 2)
        for port in ports {
            #expect(port < first, "port \(port) lies in the ephemeral range from \(first)")
            // The cluster bus of a node (PORT + 10000) too.
            if port >= 17_000 && port < 18_000 { #expect(port + 10_000 < first) }
        }
    }
}
