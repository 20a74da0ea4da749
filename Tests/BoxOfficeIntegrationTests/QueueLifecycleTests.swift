import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import HiredisClient
import Testing
import TestSupport

/// Idle waiters, expiring active windows, pause/resume and live settings.
///
/// Short windows (idle 1 s, active 1 s) are only in the test's own QueueService, which ticks this
/// concert alone; the app instances keep their long defaults so they never cut other tests short.
@Suite("Queue lifecycle: idle, expiry, pause, live settings", .tags(.redisCluster))
struct QueueLifecycleTests {
    @Test("an idle waiter is dropped and does not count; a polling waiter stays and is admitted")
    func idleWaitersDropped() async throws {
        try await QueueRig.with(settings: ["paused": "1", "activeCapacity": "1000", "admitPerSecond": "1000", "waitingIdleSeconds": "2"]) { rig in
            // 2 s rather than 1 s: a busy machine (every suite at once) can delay a poll by over a second.
            let promoter = rig.service(waitingIdleSeconds: 2)
            try await TestStack.withInstances(1, environment: QueueRig.instanceEnvironment) { bases in
                try await TestHTTPClient.with { http in
                    let base = bases[0]
                    let idle = try await http.takeToken(base, concertID: rig.concertID)
                    let poller = try await http.takeToken(base, concertID: rig.concertID)
                    let before = try await http.request(.GET, "\(base)/v1/queue/status", token: poller.token)
                    #expect(before.json["position"] as? Int == 2)

                    // The poller polls every 100 ms on its own; we tick every 100 ms for 3.5 s.
                    let polling = QueueTestFlag()
                    let pollerTask = Task {
                        while polling.value {
                            let reply = try await http.request(.GET, "\(base)/v1/queue/status", token: poller.token)
                            #expect(reply.status == 200, "\(reply.text)")
                            #expect(["WAITING", "ACTIVE"].contains(reply.json["status"] as? String ?? ""))
                            try await Task.sleep(for: .milliseconds(100))
                        }
                    }
                    // Any promoter may do the drop (the idle window is in the concert's settings hash,
                    // so the instance's own background promoter applies it too): judge the outcome.
                    let stop = ContinuousClock.now + .milliseconds(3_500)
                    while ContinuousClock.now < stop {
                        _ = try await promoter.promote(concertID: rig.concertID)
                        try await Task.sleep(for: .milliseconds(100))
                    }

                    // The idle one is gone from the line and its token has ended.
                    #expect(try await rig.command("ZSCORE", rig.keys.waiting, idle.token).isNull)
                    #expect(try await rig.tokenField(idle.token, "status") == "ENDED")
                    let ended = try await http.request(.GET, "\(base)/v1/queue/status", token: idle.token)
                    #expect(ended.status == 401)
                    #expect(ended.code == "TOKEN_EXPIRED")
                    #expect(ended.queueIsProblem, "\(ended.queueContentType)")

                    // It does not count: the poller moved up to the front.
                    let now = try await http.request(.GET, "\(base)/v1/queue/status", token: poller.token)
                    #expect(now.json["position"] as? Int == 1)
                    #expect(try await rig.zcard(rig.keys.waiting) == 1)

                    // The dropped user may queue again (at the back, with a new token).
                    let again = try await http.request(.POST, "\(base)/v1/queue/tokens", json: ["userId": idle.userID, "concertId": rig.concertID])
                    #expect(again.status == 201)
                    #expect(again.json["token"] as? String != idle.token)
                    #expect(again.json["position"] as? Int == 2)

                    // Resumed, the poller is admitted.
                    try await rig.set(["paused": "0"])
                    let status = try await queueEventually("poller admitted", timeout: .seconds(5)) { () -> String? in
                        _ = try await promoter.promote(concertID: rig.concertID)
                        let reply = try await http.request(.GET, "\(base)/v1/queue/status", token: poller.token)
                        return reply.json["status"] as? String == "ACTIVE" ? "ACTIVE" : nil
                    }
                    #expect(status == "ACTIVE")
                    polling.value = false
                    try await pollerTask.value
                }
            }
        }
    }

    @Test("a waiter who polls exactly as told (pollAfterSeconds) is never dropped; pollAfterSeconds stays within a third of waitingIdleSeconds")
    func politePollerKept() async throws {
        // A slow line (one admission a minute, so the ETA asks for 30 s polls) with a 6 s idle limit.
        try await QueueRig.with(settings: ["activeCapacity": "1", "admitPerSecond": "0.02", "activeSeconds": "600", "waitingIdleSeconds": "6"]) { rig in
            try await TestStack.withInstances(1, environment: QueueRig.instanceEnvironment) { bases in
                try await TestHTTPClient.with { http in
                    let base = bases[0]
                    var silent: [String] = []
                    for _ in 0..<25 { silent.append(try await http.takeToken(base, concertID: rig.concertID).token) }
                    let polite = try await http.takeToken(base, concertID: rig.concertID)
                    // The instance's own promoter drops the silent waiters after 6 s; the polite one
                    // sleeps exactly what each answer says, for 14 s.
                    var polls: [Int] = []
                    let stop = ContinuousClock.now + .seconds(14)
                    while ContinuousClock.now < stop {
                        let reply = try await http.request(.GET, "\(base)/v1/queue/status", token: polite.token)
                        #expect(reply.status == 200, "dropped after \(polls): \(reply.text)")
                        guard reply.status == 200, let after = reply.json["pollAfterSeconds"] as? Int else { break }
                        polls.append(after)
                        try await Task.sleep(for: .seconds(after))
                    }
                    #expect(polls.count >= 7)
                    #expect(polls.allSatisfy { $0 <= 2 }, "\(polls)")
                    #expect(polls.first == 2, "far back in a slow line: the ceiling, not a tenth of the wait")
                    // The silent ones were dropped meanwhile (the rule is enforced, not just lax).
                    for token in silent.prefix(3) {
                        #expect(try await rig.tokenField(token, "status") == "ENDED")
                    }
                }
            }
        }
    }

    @Test("an expired active token frees its slot for the next waiter (capacity 1)")
    func expiredActiveFreesSlot() async throws {
        try await QueueRig.with(settings: ["paused": "1", "activeCapacity": "1", "admitPerSecond": "1000", "activeSeconds": "1"]) { rig in
            let promoter = rig.service(activeSeconds: 1)
            try await TestStack.withInstances(1, environment: QueueRig.instanceEnvironment) { bases in
                try await TestHTTPClient.with { http in
                    let base = bases[0]
                    let first = try await http.takeToken(base, concertID: rig.concertID)
                    let second = try await http.takeToken(base, concertID: rig.concertID)

                    // A tick while paused sets the tick clock; the tick right after resuming admits one.
                    _ = try await promoter.promote(concertID: rig.concertID)
                    try await Task.sleep(for: .milliseconds(30))
                    try await rig.set(["paused": "0"])
                    let result = try await promoter.promote(concertID: rig.concertID)
                    #expect(result.active == 1)
                    var firstUntil = try #require(try await rig.tokenField(first.token, "admittedUntil").flatMap { Int($0) })
                    let now = try await rig.redisMilliseconds()
                    if firstUntil > now + 1_100 {
                        // Another suite's instance (they tick every concert, with 300 s windows) admitted
                        // it between our resume and our tick: give it the 1 s window ours would have.
                        firstUntil = now + 1_000
                        try await rig.command("ZADD", rig.keys.active, "XX", "\(firstUntil)", first.token)
                    }

                    // While it is active the second waits, however often we tick: checked atomically
                    // in Redis, and through HTTP when the reply comes back well inside the window.
                    let pair = """
                        local function status(token)
                          if redis.call('ZSCORE', ARGV[1] .. 'active', token) then return 'ACTIVE' end
                          if redis.call('ZSCORE', ARGV[1] .. 'waiting', token) then return 'WAITING' end
                          return 'ENDED'
                        end
                        return {status(ARGV[2]), status(ARGV[3]), redis.call('ZCARD', ARGV[1] .. 'active')}
                        """
                    while try await rig.redisMilliseconds() < firstUntil - 200 {
                        let result = try await promoter.promote(concertID: rig.concertID)
                        #expect(result.active <= 1)
                        let states = try await rig.eval(pair, first.token, second.token).array ?? []
                        if states.first?.string == "ACTIVE" {
                            #expect(states.count == 3 && states[1].string == "WAITING" && states[2].int == 1, "\(states)")
                        }
                        let reply = try await http.request(.GET, "\(base)/v1/queue/status", token: second.token)
                        if try await rig.redisMilliseconds() < firstUntil - 50 {
                            #expect(reply.json["status"] as? String == "WAITING")
                            #expect(reply.json["position"] as? Int == 1)
                        }
                        try await Task.sleep(for: .milliseconds(50))
                    }

                    // After the window the slot frees and the second is admitted.
                    _ = try await queueEventually("second admitted", timeout: .seconds(5)) { () -> Bool? in
                        _ = try await promoter.promote(concertID: rig.concertID)
                        let reply = try await http.request(.GET, "\(base)/v1/queue/status", token: second.token)
                        return reply.json["status"] as? String == "ACTIVE" ? true : nil
                    }
                    let secondUntil = try #require(try await rig.tokenField(second.token, "admittedUntil").flatMap { Int($0) })
                    #expect(secondUntil - 1_000 >= firstUntil, "second admitted before the first's window ended")
                    // At most the one slot is taken (the second's own 1 s window may already be over).
                    #expect(try await rig.zcard(rig.keys.active) <= 1)

                    for path in ["/v1/queue/status", "/v1/concerts/\(rig.concertID)/dates"] {
                        let reply = try await http.request(.GET, base + path, token: first.token)
                        #expect(reply.status == 401, "\(path)")
                        #expect(reply.code == "TOKEN_EXPIRED", "\(path)")
                        #expect(reply.queueIsProblem)
                    }
                }
            }
        }
    }

    @Test("pause and resume through the settings hash")
    func pauseAndResume() async throws {
        try await QueueRig.with(settings: ["paused": "1", "activeCapacity": "1000", "admitPerSecond": "1000"]) { rig in
            try await TestStack.withInstances(2, environment: QueueRig.instanceEnvironment) { bases in
                try await TestHTTPClient.with { http in
                    var tokens: [String] = []
                    for index in 0..<5 {
                        tokens.append(try await http.takeToken(bases[index % 2], concertID: rig.concertID).token)
                    }
                    // The instances tick every 50 ms; paused, nobody is admitted.
                    try await Task.sleep(for: .milliseconds(600))
                    #expect(try await rig.zcard(rig.keys.active) == 0)
                    for (index, token) in tokens.enumerated() {
                        let reply = try await http.request(.GET, "\(bases[index % 2])/v1/queue/status", token: token)
                        #expect(reply.json["status"] as? String == "WAITING")
                        #expect(reply.json["position"] as? Int == index + 1)
                    }

                    try await rig.set(["paused": "0"])
                    for token in tokens { try await http.waitUntilActive(bases[0], token: token, timeout: .seconds(5)) }

                    // Paused again: the active stay active, newcomers wait.
                    try await rig.set(["paused": "1"])
                    let late = try await http.takeToken(bases[1], concertID: rig.concertID).token
                    try await Task.sleep(for: .milliseconds(600))
                    let waiting = try await http.request(.GET, "\(bases[0])/v1/queue/status", token: late)
                    #expect(waiting.json["status"] as? String == "WAITING")
                    #expect(waiting.json["position"] as? Int == 1)
                    #expect(try await rig.zcard(rig.keys.active) == 5)

                    try await rig.set(["paused": "0"])
                    try await http.waitUntilActive(bases[1], token: late, timeout: .seconds(5))
                }
            }
        }
    }

    @Test("activeCapacity and admitPerSecond change live through the settings hash")
    func liveSettings() async throws {
        try await QueueRig.with(settings: ["activeCapacity": "2", "admitPerSecond": "1000"]) { capacityRig in
            try await QueueRig.with(settings: ["paused": "1", "activeCapacity": "1000", "admitPerSecond": "4"]) { rateRig in
                try await TestStack.withInstances(1, environment: QueueRig.instanceEnvironment) { bases in
                    try await TestHTTPClient.with { http in
                        let base = bases[0]
                        // Capacity 2, then 4.
                        var tokens: [String] = []
                        for _ in 0..<6 { tokens.append(try await http.takeToken(base, concertID: capacityRig.concertID).token) }
                        _ = try await queueEventually("two admitted", timeout: .seconds(5)) {
                            try await capacityRig.zcard(capacityRig.keys.active) == 2 ? true : nil
                        }
                        try await Task.sleep(for: .milliseconds(400))
                        #expect(try await capacityRig.zcard(capacityRig.keys.active) == 2)
                        try await capacityRig.set(["activeCapacity": "4"])
                        _ = try await queueEventually("four admitted", timeout: .seconds(5)) {
                            try await capacityRig.zcard(capacityRig.keys.active) == 4 ? true : nil
                        }
                        try await Task.sleep(for: .milliseconds(400))
                        #expect(try await capacityRig.zcard(capacityRig.keys.active) == 4)
                        for (index, token) in tokens.enumerated() {
                            let expected = index < 4 ? "ACTIVE" : "WAITING"
                            #expect(try await capacityRig.tokenField(token, "status") == expected, "token \(index)")
                        }

                        // 4/s, then 1000/s.
                        var waiters: [String] = []
                        for _ in 0..<40 { waiters.append(try await http.takeToken(base, concertID: rateRig.concertID).token) }
                        try await rateRig.set(["paused": "0"])
                        try await Task.sleep(for: .milliseconds(1_500))
                        let slow = try await rateRig.zcard(rateRig.keys.active)
                        #expect((2...12).contains(slow), "at 4/s for 1.5 s, \(slow) admitted")
                        try await rateRig.set(["admitPerSecond": "1000"])
                        _ = try await queueEventually("all admitted at the new rate", timeout: .seconds(3)) {
                            try await rateRig.zcard(rateRig.keys.active) == 40 ? true : nil
                        }
                    }
                }
            }
        }
    }

    @Test("concerts whose promotion fails (a corrupt queue key) do not stop the others' admissions")
    func failingPromotionSkipsOnlyItsConcert() async throws {
        // Ten broken concerts and a healthy one: the promoter walks them in an arbitrary order,
        // so the healthy one almost surely comes after some broken ones.
        var broken: [Int] = []
        for _ in 0..<10 { broken.append(try await Fixtures.concert(dates: 1).id) }
        try await QueueRig.with(settings: ["activeCapacity": "1000", "admitPerSecond": "1000"]) { rig in
            // A string where the promoter's state hash belongs: every tick of that concert fails (WRONGTYPE).
            for id in broken { try await rig.command("SET", QueueKeys(concertID: id).meta, "corrupt") }
            try await TestStack.withInstances(1, environment: QueueRig.instanceEnvironment) { bases in
                try await TestHTTPClient.with { http in
                    let (token, _) = try await http.takeToken(bases[0], concertID: rig.concertID)
                    try await http.waitUntilActive(bases[0], token: token, timeout: .seconds(5))
                }
            }
            for id in broken { try await rig.command("DEL", QueueKeys(concertID: id).meta) }
        }
    }
}
