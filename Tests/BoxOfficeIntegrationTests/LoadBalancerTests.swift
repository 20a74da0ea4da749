import Foundation
import Subprocess
import Testing
import TestSupport

/// The haproxy configuration of `make run` (deploy/haproxy.cfg.tmpl, rendered as scripts/run.sh
/// renders it) in front of a real instance: the per-address limit on joining the queue.
@Suite("haproxy: per-address rate limit on queue tokens")
struct LoadBalancerTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("past TOKEN_RATE_LIMIT token requests in 10 s, one address gets 429 RATE_LIMITED from haproxy; other routes pass")
    func tokenRateLimit() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await TestStack.withInstances(1) { bases in
            let backend = try #require(URL(string: bases[0])?.port)
            let (lbPort, statsPort) = (try await freeTCPPort(), try await freeTCPPort())
            let directory = "/tmp/boxoffice-haproxy-\(TestEnvironment.uniqueSuffix(length: 8))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let template = try String(contentsOf: Self.root.appendingPathComponent("deploy/haproxy.cfg.tmpl"), encoding: .utf8)
            let config = template
                .replacingOccurrences(of: "@LB_HOST@", with: "127.0.0.1")
                .replacingOccurrences(of: "@LB_PORT@", with: String(lbPort))
                .replacingOccurrences(of: "@STATS_PORT@", with: String(statsPort))
                .replacingOccurrences(of: "@STATS_SOCKET@", with: directory + "/stats.sock")
                .replacingOccurrences(of: "@TOKEN_RATE_LIMIT@", with: "5")
                .replacingOccurrences(of: "@SERVERS@", with: "    server api-1 127.0.0.1:\(backend) check")
            try config.write(toFile: directory + "/haproxy.cfg", atomically: true, encoding: .utf8)
            let pidFile = directory + "/haproxy.pid"
            let started = try await run(
                .name("haproxy"), arguments: ["-D", "-p", pidFile, "-f", directory + "/haproxy.cfg"],
                output: .discarded, error: .string(limit: 16 * 1024))
            #expect(started.terminationStatus.isSuccess, "haproxy: \(started.standardError)")
            defer {
                if let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                    kill(pid, SIGTERM)
                }
            }
            let lb = "http://127.0.0.1:\(lbPort)"
            try await TestHTTPClient.with { http in
                // haproxy routes once its first health check passed.
                let up = try await HoldsTestKit.eventually(timeout: .seconds(10)) {
                    (try? await http.request(.GET, "\(lb)/health/live").status) == 200
                }
                try #require(up, "haproxy did not route to the instance")
                var statuses: [Int] = []
                var limited: TestHTTPClient.Reply?
                for _ in 0..<8 {
                    let reply = try await http.request(
                        .POST, "\(lb)/v1/queue/tokens", json: ["userId": UUID().uuidString.lowercased(), "concertId": concert.id])
                    statuses.append(reply.status)
                    if reply.status == 429 { limited = reply }
                }
                #expect(statuses.prefix(5).allSatisfy { $0 == 201 }, "\(statuses)")
                #expect(statuses.suffix(3).allSatisfy { $0 == 429 }, "\(statuses)")
                let reply = try #require(limited)
                HoldsTestKit.expectProblem(reply, 429, "RATE_LIMITED")
                #expect(reply.headers.first(name: "retry-after") == "10")
                // Only joining the queue is limited.
                #expect(try await http.request(.GET, "\(lb)/v1/concerts").status == 200)
            }
        }
    }
}
