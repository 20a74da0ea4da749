import BoxOfficeDomain
import Foundation
import HiredisClient
import Testing
import TestSupport

/// Status polls behind the front of a line answered from each instance's snapshot of the line
/// (QUEUE_SNAPSHOT_MS, default 500 ms), against real instances and Redis: positions within the
/// sampling error, no script per poll, a waiter who left told so within a snapshot on another
/// instance, polls still keeping waiters alive, admissions seen at once.
@Suite("Status polls from the line's snapshot", .tags(.redisCluster))
struct QueuePollSnapshotTests {
    typealias Kit = HoldsTestKit
    static let waiters = 1_200

    /// The status of each token through `base`, 16 at a time, in the tokens' order.
    static func poll(_ http: TestHTTPClient, _ base: String, _ tokens: [String]) async throws -> [TestHTTPClient.Reply] {
        var replies = [TestHTTPClient.Reply?](repeating: nil, count: tokens.count)
        try await withThrowingTaskGroup(of: (Int, TestHTTPClient.Reply).self) { group in
            for (index, token) in tokens.enumerated() {
                if index >= 16, let (done, reply) = try await group.next() { replies[done] = reply }
                group.addTask { (index, try await http.request(.GET, "\(base)/v1/queue/status", token: token)) }
            }
            for try await (done, reply) in group { replies[done] = reply }
        }
        return replies.map { $0! }
    }

    /// queue-status scripts an instance has run, and its polls answered from a snapshot.
    static func counts(_ http: TestHTTPClient, _ base: String) async throws -> (scripts: Int, fromSnapshot: Int) {
        let metrics = try await http.request(.GET, "\(base)/metrics").text
        return (
            Int(TestMetrics.value("boxoffice_redis_scripts_total", ["script": "queue-status"], in: metrics)),
            Int(TestMetrics.value("boxoffice_queue_polls_total", ["answer": "snapshot"], in: metrics))
        )
    }

    @Test("1,200 waiters: polls behind the front come from the snapshot (positions off by less than the sampling step), leaving is seen within a snapshot, polls keep waiters alive, admission is seen at once")
    func snapshotPolls() async throws {
        // Paused, so every rank stays put; 10 admissions/s, so the exact front is the first 100.
        try await QueueRig.with(settings: ["paused": "1", "activeCapacity": "2000", "admitPerSecond": "10"]) { rig in
            let service = rig.service()
            var issued: [String] = []
            for _ in 0..<Self.waiters {
                issued.append(try await service.issueToken(userID: UUID(), concertID: rig.concertID).status.token)
            }
            let tokens = issued
            try await TestStack.withInstances(2, environment: QueueRig.instanceEnvironment) { bases in
                try await TestHTTPClient.with { http in
                    // The first round asks Redis (the instance learns each waiter's place); the second,
                    // a snapshot later, is answered from memory.
                    _ = try await Self.poll(http, bases[0], tokens)
                    try await Task.sleep(for: .milliseconds(1_200))
                    _ = try await Self.poll(http, bases[0], tokens)
                    let before = try await Self.counts(http, bases[0])
                    let started = ContinuousClock.now
                    let replies = try await Self.poll(http, bases[0], tokens)
                    let elapsed = ContinuousClock.now - started
                    let after = try await Self.counts(http, bases[0])
                    print("snapshot polls: \(Self.waiters) polls in \(elapsed): \(after.fromSnapshot - before.fromSnapshot) from the snapshot, \(after.scripts - before.scripts) queue-status scripts")
                    // The first 100 (the exact front, give or take the sampling step at its edge) ask Redis,
                    // everyone behind is answered from memory.
                    let scripts = after.scripts - before.scripts
                    #expect(abs(scripts - 100) <= 2)
                    #expect(after.fromSnapshot - before.fromSnapshot == Self.waiters - scripts)
                    var worst = 0
                    for (token, reply) in zip(tokens, replies) {
                        #expect(reply.status == 200, "\(reply.text)")
                        let rank = try #require(try await rig.command("ZRANK", rig.keys.waiting, token).int)
                        let position = try #require(reply.json["position"] as? Int)
                        worst = max(worst, abs(position - (rank + 1)))
                    }
                    // 1,200 waiters, 1,000 samples: a step of 2.
                    #expect(worst <= 1, "worst position error \(worst)")

                    // A waiter leaves through the other instance: within a snapshot this one says so, and
                    // the waiter behind moves up.
                    let leaver = tokens[600]
                    #expect(try await http.request(.DELETE, "\(bases[1])/v1/queue/tokens/current", token: leaver).status == 204)
                    let left = ContinuousClock.now
                    var reply = try await http.request(.GET, "\(bases[0])/v1/queue/status", token: leaver)
                    while reply.status == 200, ContinuousClock.now - left < .seconds(3) {
                        try await Task.sleep(for: .milliseconds(50))
                        reply = try await http.request(.GET, "\(bases[0])/v1/queue/status", token: leaver)
                    }
                    Kit.expectProblem(reply, 401, "TOKEN_EXPIRED")
                    #expect(ContinuousClock.now - left < .milliseconds(1_600), "told after \(ContinuousClock.now - left)")
                    let behind = try await http.request(.GET, "\(bases[0])/v1/queue/status", token: tokens[601])
                    let behindRank = try #require(try await rig.command("ZRANK", rig.keys.waiting, tokens[601]).int)
                    #expect(abs((behind.json["position"] as? Int ?? 0) - (behindRank + 1)) <= 1)

                    // With a 3 s idle limit, waiters polled every second through the snapshot stay (their
                    // polls reach Redis with the snapshots); the ones nobody polls are dropped.
                    let polite = Array(tokens[300..<400])
                    try await rig.set(["waitingIdleSeconds": "3"])
                    let stop = ContinuousClock.now + .seconds(6)
                    while ContinuousClock.now < stop {
                        for reply in try await Self.poll(http, bases[0], polite) { #expect(reply.status == 200, "\(reply.text)") }
                        try await Task.sleep(for: .seconds(1))
                    }
                    for token in polite { #expect(try await rig.tokenField(token, "status") == "WAITING") }
                    for token in tokens[900..<1_000] { #expect(try await rig.tokenField(token, "status") == "ENDED") }

                    // Admitted: the next poll says ACTIVE (the cached place lies ahead of the line's head).
                    try await rig.set(["paused": "0", "admitPerSecond": "1000"])
                    var admitted = false
                    let deadline = ContinuousClock.now + .seconds(5)
                    while !admitted, ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(200))
                        admitted = try await rig.zcard(rig.keys.waiting) == 0
                    }
                    #expect(admitted)
                    for reply in try await Self.poll(http, bases[0], polite) {
                        #expect(reply.json["status"] as? String == "ACTIVE", "\(reply.text)")
                    }
                }
            }
        }
    }
}
