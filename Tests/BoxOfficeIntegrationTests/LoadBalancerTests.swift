import Foundation
import NIOCore
import NIOPosix
import Subprocess
import Testing
import TestSupport

/// The haproxy configuration of `make run` (deploy/haproxy.cfg.tmpl, rendered as scripts/run.sh
/// renders it) in front of real instances: the per-address limits, and waiting fans' streams never
/// starving the other routes of connections.
@Suite("haproxy: per-address limits and capped event streams")
struct LoadBalancerTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The template's placeholders that a test sets.
    struct Limits {
        var tokenRateLimit = 1_000
        var maxStreams = 2_000
        var perAddressConnections = 500
    }

    /// haproxy with the `make run` template in front of `bases`, until `body` returns.
    static func withHaproxy<Result: Sendable>(
        _ bases: [String], _ limits: Limits, _ body: (String) async throws -> Result
    ) async throws -> Result {
        let (lbPort, statsPort) = (try await freeTCPPort(), try await freeTCPPort())
        let directory = "/tmp/boxoffice-haproxy-\(TestEnvironment.uniqueSuffix(length: 8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let servers = bases.enumerated().map { "    server api-\($0.offset + 1) 127.0.0.1:\(URL(string: $0.element)!.port!) check" }
        let config = try String(contentsOf: Self.root.appendingPathComponent("deploy/haproxy.cfg.tmpl"), encoding: .utf8)
            .replacingOccurrences(of: "@LB_HOST@", with: "127.0.0.1")
            .replacingOccurrences(of: "@LB_PORT@", with: String(lbPort))
            .replacingOccurrences(of: "@STATS_PORT@", with: String(statsPort))
            .replacingOccurrences(of: "@STATS_SOCKET@", with: directory + "/stats.sock")
            .replacingOccurrences(of: "@TOKEN_RATE_LIMIT@", with: String(limits.tokenRateLimit))
            .replacingOccurrences(of: "@MAX_STREAMS@", with: String(limits.maxStreams))
            .replacingOccurrences(of: "@PER_ADDRESS_CONNECTIONS@", with: String(limits.perAddressConnections))
            .replacingOccurrences(of: "\n@SERVERS@\n", with: "\n" + servers.joined(separator: "\n") + "\n")
        try config.write(toFile: directory + "/haproxy.cfg", atomically: true, encoding: .utf8)
        let pidFile = directory + "/haproxy.pid"
        let started = try await run(
            .name("haproxy"), arguments: ["-D", "-p", pidFile, "-f", directory + "/haproxy.cfg"],
            output: .discarded, error: .string(limit: 16 * 1024))
        try #require(started.terminationStatus.isSuccess, "haproxy: \(started.standardError)")
        defer {
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGTERM)
            }
        }
        let lb = "http://127.0.0.1:\(lbPort)"
        // haproxy routes once its first health checks passed.
        let up = try await TestHTTPClient.with { http in
            try await HoldsTestKit.eventually(timeout: .seconds(10)) { (try? await http.request(.GET, "\(lb)/health/live").status) == 200 }
        }
        try #require(up, "haproxy did not route to the instances")
        return try await body(lb)
    }

    @Test("past TOKEN_RATE_LIMIT token requests in 10 s, one address gets 429 RATE_LIMITED from haproxy, whichever spelling of the path it uses; other routes pass")
    func tokenRateLimit() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        // Spellings an instance routes to the token handler: each must count against the limit.
        let paths = ["/v1/queue/tokens", "/v1/queue/tokens/", "//v1/queue/tokens", "/v1//queue/tokens"]
        try await TestStack.withInstances(1) { bases in
            for path in paths.dropFirst() {
                let direct = try await TestHTTPClient.with { http in
                    try await http.request(.POST, bases[0] + path, json: ["userId": UUID().uuidString.lowercased(), "concertId": concert.id])
                }
                #expect(direct.status == 201, "\(path) reaches the handler: \(direct.status)")
            }
            try await Self.withHaproxy(bases, Limits(tokenRateLimit: 5)) { lb in
                try await TestHTTPClient.with { http in
                    var statuses: [Int] = []
                    var limited: TestHTTPClient.Reply?
                    for index in 0..<8 {
                        let reply = try await http.request(
                            .POST, lb + paths[index % paths.count], json: ["userId": UUID().uuidString.lowercased(), "concertId": concert.id])
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
                    // The instances' metrics (every concert's sales) are not for the public.
                    for path in ["/metrics", "//metrics", "/metrics/"] {
                        HoldsTestKit.expectProblem(try await http.request(.GET, lb + path), 404, "NOT_FOUND", path)
                    }
                    #expect(try await http.request(.GET, "\(bases[0])/metrics").status == 200)
                }
            }
        }
    }

    @Test("with the stream caps reached (haproxy's and an instance's MAX_EVENT_STREAMS), more streams get 503 with Retry-After and every other route answers at once")
    func streamsCannotStarveOtherRoutes() async throws {
        try await QueueRig.with(settings: ["paused": "1", "activeCapacity": "1000", "admitPerSecond": "1000"]) { rig in
            let environment = QueueRig.instanceEnvironment.merging(["MAX_EVENT_STREAMS": "4", "EVENT_HEARTBEAT_SECONDS": "1"]) { $1 }
            try await TestStack.withInstances(2, environment: environment) { bases in
                try await Self.withHaproxy(bases, Limits(maxStreams: 6)) { lb in
                    try await TestHTTPClient.with { http in
                        var taken: [String] = []
                        for _ in 0..<12 { taken.append(try await http.takeToken(lb, concertID: rig.concertID).token) }
                        let tokens = taken
                        // Six streams through haproxy (three per instance: leastconn), held open.
                        let holding = QueueTestFlag()
                        let opened = Counter()
                        var streams: [Task<Int, any Error>] = []
                        for token in tokens.prefix(6) {
                            streams.append(Task {
                                try await http.readEvents(lb, token: token, timeout: .seconds(60)) { _ in
                                    opened.bump(token)
                                    return holding.value
                                }.status
                            })
                        }
                        _ = try await queueEventually("six streams open", timeout: .seconds(10)) { opened.count >= 6 ? true : nil }

                        // The seventh through haproxy: 503 from haproxy, a problem with Retry-After.
                        let refused = try await http.request(.GET, "\(lb)/v1/queue/events", token: tokens[6])
                        HoldsTestKit.expectProblem(refused, 503, "SERVICE_UNAVAILABLE")
                        #expect(refused.headers.first(name: "retry-after") == "10")
                        // An instance's own cap: one more stream straight to api-1 fills its four,
                        // the next is refused by the instance, with Retry-After.
                        let fourth = Task { try await http.readEvents(bases[0], token: tokens[7], timeout: .seconds(60)) { _ in holding.value }.status }
                        try await Task.sleep(for: .milliseconds(500))
                        let overCap = try await http.request(.GET, "\(bases[0])/v1/queue/events", token: tokens[8])
                        HoldsTestKit.expectProblem(overCap, 503, "SERVICE_UNAVAILABLE")
                        #expect(overCap.headers.first(name: "retry-after") == "10")
                        #expect(overCap.headers.first(name: "x-instance-id") != nil, "the instance answered, not haproxy")

                        // Meanwhile every other route answers at once through haproxy.
                        let started = ContinuousClock.now
                        #expect(try await http.request(.GET, "\(lb)/v1/concerts").status == 200)
                        #expect(try await http.request(.GET, "\(lb)/v1/queue/status", token: tokens[9]).status == 200)
                        let joined = try await http.request(.POST, "\(lb)/v1/queue/tokens", json: ["userId": UUID().uuidString, "concertId": rig.concertID])
                        #expect(joined.status == 201)
                        #expect(try await http.request(.GET, "\(lb)/health/ready").status == 200)
                        let elapsed = ContinuousClock.now - started
                        #expect(elapsed < .seconds(2), "\(elapsed)")
                        // Streams that end free their places: a new one is served again.
                        holding.value = false
                        for stream in streams + [fourth] { #expect(try await stream.value == 200) }
                        // (An instance learns that a client left at its next heartbeat write.)
                        let again = try await HoldsTestKit.eventually(timeout: .seconds(5)) {
                            try await http.readEvents(lb, token: tokens[10], timeout: .seconds(10)) { _ in false }.status == 200
                        }
                        #expect(again)
                    }
                }
            }
        }
    }

    @Test("one address holding LB_PER_ADDRESS_CONNECTIONS connections gets 429 RATE_LIMITED on the next; freed, it is served again")
    func perAddressConnections() async throws {
        try await TestStack.withInstances(1) { bases in
            try await Self.withHaproxy(bases, Limits(perAddressConnections: 20)) { lb in
                let port = URL(string: lb)!.port!
                // Twenty idle connections (a client that opens and never speaks until the cap).
                let group = MultiThreadedEventLoopGroup.singleton
                var idle: [any Channel] = []
                for _ in 0..<20 {
                    idle.append(try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get())
                }
                try await TestHTTPClient.with { http in
                    let limited = try await http.request(.GET, "\(lb)/v1/concerts")
                    HoldsTestKit.expectProblem(limited, 429, "RATE_LIMITED")
                    for channel in idle { try await channel.close() }
                    let served = try await HoldsTestKit.eventually(timeout: .seconds(5)) {
                        try await http.request(.GET, "\(lb)/v1/concerts").status == 200
                    }
                    #expect(served)
                }
            }
        }
    }
}

/// Distinct stream tokens that have seen their first event.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: Set<String> = []
    func bump(_ token: String) { self.lock.withLock { _ = self.seen.insert(token) } }
    var count: Int { self.lock.withLock { self.seen.count } }
}
