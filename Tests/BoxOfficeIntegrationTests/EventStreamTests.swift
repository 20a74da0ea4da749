import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import HiredisClient
import Testing
import TestSupport

/// Docs/api.md, Queue: `GET /v1/queue/events` reports changes, costs what polling costs, sends
/// heartbeats also while a store is down, allows one stream per token and ends open streams when
/// the instance shuts down.
@Suite("Queue event streams", .tags(.redisCluster))
struct EventStreamTests {
    static func statuses(_ items: [ServerSentItem]) -> [String] {
        items.filter { !$0.isHeartbeat }.map { "\($0.event ?? "") \($0.json["status"] as? String ?? $0.json["code"] as? String ?? "")" }
    }

    static func statusScriptRuns(_ http: TestHTTPClient, _ base: String) async throws -> Double {
        TestMetrics.value("boxoffice_redis_scripts_total", ["script": "queue-status"], in: try await http.request(.GET, "\(base)/metrics").text)
    }

    @Test("the stream reports WAITING, then ACTIVE, then ends; ?token= works like the header", arguments: [false, true])
    func waitingThenActive(viaQuery: Bool) async throws {
        try await QueueRig.with(settings: ["paused": "1", "activeCapacity": "1000", "admitPerSecond": "1000"]) { rig in
            try await TestStack.withInstances(1, environment: QueueRig.instanceEnvironment) { bases in
                try await TestHTTPClient.with { http in
                    let (token, _) = try await http.takeToken(bases[0], concertID: rig.concertID)
                    let resumed = QueueTestFlag()
                    resumed.value = false
                    let (status, headers, items) = try await http.readEvents(bases[0], token: token, viaQuery: viaQuery, timeout: .seconds(20)) { _ in
                        // Resume the concert once the first (WAITING) event has arrived.
                        if !resumed.value {
                            resumed.value = true
                            try await rig.set(["paused": "0"])
                        }
                        return true
                    }
                    #expect(status == 200)
                    #expect(headers.first(name: "Content-Type")?.hasPrefix("text/event-stream") == true)
                    // readEvents only returns here when the server ended the stream.
                    let events = items.filter { !$0.isHeartbeat }
                    #expect(Self.statuses(items).first == "status WAITING", "\(Self.statuses(items))")
                    #expect(Self.statuses(items).last == "status ACTIVE", "\(Self.statuses(items))")
                    #expect(events.first?.json["position"] as? Int == 1)
                    #expect(events.allSatisfy { $0.json["token"] as? String == token })
                    #expect(events.last?.json["activeUntil"] is String)

                    let forged = try await http.readEvents(bases[0], token: "1.forged", viaQuery: viaQuery)
                    #expect(forged.status == 401)
                }
            }
        }
    }

    @Test("?token= is taken out of the query for every spelling of the stream's path the router accepts")
    func queryTokenOnEverySpelling() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                // An ended token: read from the query it answers TOKEN_EXPIRED; left in the query, the
                // request would carry no token at all.
                let (token, _) = try await http.takeToken(bases[0], concertID: concert.id)
                #expect(try await http.request(.DELETE, "\(bases[0])/v1/queue/tokens/current", token: token).status == 204)
                for path in ["/v1/queue/events", "//v1/queue/events", "/v1//queue/events", "/v1/queue/events/"] {
                    let reply = try await http.request(.GET, "\(bases[0])\(path)?token=\(token)")
                    HoldsTestKit.expectProblem(reply, 401, "TOKEN_EXPIRED", path)
                }
            }
        }
    }

    @Test("a stream reads the status about every pollAfterSeconds, not every second, and sends heartbeats in between")
    func costsWhatPollingCosts() async throws {
        // A paused line: the 40th waiter is promised no wait and told to poll every 5 s.
        try await QueueRig.with(settings: ["paused": "1", "admitPerSecond": "1"]) { rig in
            try await TestStack.withInstances(1, environment: QueueRig.instanceEnvironment.merging(["EVENT_HEARTBEAT_SECONDS": "2"]) { $1 }) { bases in
                try await TestHTTPClient.with { http in
                    var token = ""
                    for _ in 0..<40 { token = try await http.takeToken(bases[0], concertID: rig.concertID).token }
                    let before = try await Self.statusScriptRuns(http, bases[0])
                    let start = ContinuousClock.now
                    let (_, _, items) = try await http.readEvents(bases[0], token: token, timeout: .seconds(30)) { _ in
                        ContinuousClock.now - start < .seconds(9)
                    }
                    let runs = try await Self.statusScriptRuns(http, bases[0]) - before
                    let first = items.first?.json ?? [:]
                    #expect(first["position"] as? Int == 40, "\(first)")
                    #expect(first["pollAfterSeconds"] as? Int == 5, "\(first)")
                    #expect(first["paused"] as? Bool == true && first["estimatedWaitSeconds"] is NSNull, "\(first)")
                    // The token check, the stream's claim, and a look at 5 s. One look per second
                    // (the old stream) would be 11.
                    #expect(runs >= 2 && runs <= 4, "queue-status ran \(runs) times in 9 s")
                    let gaps = zip(items.dropFirst(), items).map { $0.at - $1.at }
                    #expect(items.filter(\.isHeartbeat).count >= 3, "\(items.map(\.data))")
                    #expect(gaps.allSatisfy { $0 < .milliseconds(2_800) }, "\(gaps)")
                }
            }
        }
    }

    @Test("a stream whose fan has gone ends at its next event and gives its slot to the next fan, long before a heartbeat")
    func departedFanFreesTheSlot() async throws {
        // One stream slot, heartbeats every 15 s; a line too slow to admit anyone in the test.
        let environment = QueueRig.instanceEnvironment.merging(["MAX_EVENT_STREAMS": "1", "EVENT_HEARTBEAT_SECONDS": "15"]) { $1 }
        try await QueueRig.with(settings: ["admitPerSecond": "0.001"]) { rig in
            try await TestStack.withInstances(1, environment: environment) { bases in
                try await TestHTTPClient.with { http in
                    let ahead = try await http.takeToken(bases[0], concertID: rig.concertID)
                    let gone = try await http.takeToken(bases[0], concertID: rig.concertID)
                    let next = try await http.takeToken(bases[0], concertID: rig.concertID)
                    // The fan reads its first status and closes the page.
                    let first = try await http.readEvents(bases[0], token: gone.token, timeout: .seconds(10)) { _ in false }
                    #expect(first.status == 200 && Self.statuses(first.items) == ["status WAITING"])
                    // The waiter ahead leaves: the stream's next look (within a second) has news to write.
                    #expect(try await http.request(.DELETE, "\(bases[0])/v1/queue/tokens/current", token: ahead.token).status == 204)
                    let left = ContinuousClock.now
                    var opened = try await http.readEvents(bases[0], token: next.token, timeout: .seconds(10)) { _ in false }
                    while opened.status == 503, ContinuousClock.now - left < .seconds(8) {
                        try await Task.sleep(for: .milliseconds(200))
                        opened = try await http.readEvents(bases[0], token: next.token, timeout: .seconds(10)) { _ in false }
                    }
                    #expect(opened.status == 200, "the slot stayed taken: \(opened.status)")
                    #expect(ContinuousClock.now - left < .seconds(5), "the slot came free after \(ContinuousClock.now - left)")
                }
            }
        }
    }

    @Test("a second stream for the same token, on another instance, ends the first")
    func oneStreamPerToken() async throws {
        // Not paused (a paused line is looked at every 5 s) but too slow to admit anyone in the test.
        try await QueueRig.with(settings: ["admitPerSecond": "0.001"]) { rig in
            try await TestStack.withInstances(2, environment: QueueRig.instanceEnvironment) { bases in
                try await TestHTTPClient.with { http in
                    let (token, _) = try await http.takeToken(bases[0], concertID: rig.concertID)
                    let (opened, signal) = AsyncStream<Void>.makeStream()
                    let first = Task {
                        try await http.readEvents(bases[0], token: token, viaQuery: true, timeout: .seconds(20)) { _ in
                            signal.yield()
                            return true
                        }
                    }
                    var iterator = opened.makeAsyncIterator()
                    _ = await iterator.next()
                    let second = try await http.readEvents(bases[1], token: token, timeout: .seconds(20)) { item in item.isHeartbeat }
                    #expect(Self.statuses(second.items) == ["status WAITING"])
                    // The first stream looks again within pollAfterSeconds (1 s at position 1) and ends.
                    let ended = try await queueWithTimeout(.seconds(5), "the first stream to end") { try await first.value }
                    #expect(Self.statuses(ended.items) == ["status WAITING", "ended STREAM_REPLACED"], "\(ended.items.map(\.data))")
                }
            }
        }
    }

    @Test("heartbeats go on while Redis is down, and the stream carries on once it is back")
    func heartbeatsDuringOutage() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await ScratchStack.with([.redis], redisConfig: ["appendonly yes", "appendfsync always"]) { stack in
            let environment = ["REDIS_URL": stack.redisURL, "EVENT_HEARTBEAT_SECONDS": "1"]
            try await TestStack.withInstances(1, environment: environment) { bases in
                try await TestHTTPClient.with { http in
                    let admin = try StoreFaultTests.redisClient(stack.redisURL)
                    let settings = QueueKeys(concertID: concert.id).settings
                    try await admin.send(["HSET", RedisArgument(settings), "paused", "1"]).checked()
                    admin.shutdown()
                    let (token, _) = try await http.takeToken(bases[0], concertID: concert.id)

                    // On the first event, a separate task takes Redis down for 4 s (the reader keeps reading).
                    let outage = OutageWindow()
                    let (_, _, items) = try await http.readEvents(bases[0], token: token, timeout: .seconds(40)) { _ in
                        if await outage.begin() {
                            Task {
                                try await stack.crashRedis()
                                await outage.mark(.down)
                                try await Task.sleep(for: .seconds(4))
                                try await stack.start(.redis)
                                await outage.mark(.up)
                                let reconnected = try StoreFaultTests.redisClient(stack.redisURL)
                                defer { reconnected.shutdown() }
                                try await reconnected.send(["HSET", RedisArgument(settings), "paused", "0"]).checked()
                            }
                        }
                        return true
                    }
                    let (down, up) = try #require(await outage.window)
                    let during = items.filter { $0.isHeartbeat && $0.at > down && $0.at < up }.count
                    // 4 s down with a 1 s heartbeat (a look at the status may wait up to REDIS_TIMEOUT_MS).
                    #expect(during >= 2, "heartbeats while Redis was down: \(during)")
                    #expect(Self.statuses(items).first == "status WAITING", "\(Self.statuses(items))")
                    #expect(Self.statuses(items).last == "status ACTIVE", "\(Self.statuses(items))")
                }
            }
        }
    }

    /// When the outage test took Redis down and brought it back.
    actor OutageWindow {
        enum Mark { case down, up }
        private var begun = false
        private var down: ContinuousClock.Instant?
        private var up: ContinuousClock.Instant?

        /// True once: the caller starts the outage.
        func begin() -> Bool {
            defer { self.begun = true }
            return !self.begun
        }

        func mark(_ mark: Mark) {
            switch mark {
            case .down: self.down = .now
            case .up: self.up = .now
            }
        }

        var window: (ContinuousClock.Instant, ContinuousClock.Instant)? {
            guard let down, let up else { return nil }
            return (down, up)
        }
    }

    @Test("shutting an instance down ends its open streams at once, so a rolling restart does not hang")
    func gracefulShutdownEndsStreams() async throws {
        try await QueueRig.with(settings: ["paused": "1"]) { rig in
            try await TestHTTPClient.with { http in
                let concertID = rig.concertID
                // withInstances triggers the graceful shutdown when its body returns, and waits for it.
                let (reader, bodyReturned) = try await queueWithTimeout(.seconds(30), "the instance to stop with a stream open") {
                    try await TestStack.withInstances(1, environment: QueueRig.instanceEnvironment) { bases in
                        let (token, _) = try await http.takeToken(bases[0], concertID: concertID)
                        let (opened, signal) = AsyncStream<Void>.makeStream()
                        let reader = Task {
                            try await http.readEvents(bases[0], token: token, timeout: .seconds(60)) { _ in
                                signal.yield()
                                return true
                            }.items
                        }
                        var iterator = opened.makeAsyncIterator()
                        _ = await iterator.next()
                        return (reader, ContinuousClock.now)
                    }
                }
                #expect(ContinuousClock.now - bodyReturned < .seconds(3), "shutdown took \(ContinuousClock.now - bodyReturned)")
                let items = try await queueWithTimeout(.seconds(5), "the stream to end") { try await reader.value }
                #expect(Self.statuses(items) == ["status WAITING"])
            }
        }
    }
}
