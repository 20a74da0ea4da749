import BoxOfficeDomain
import Foundation
import HiredisClient
import Testing
import TestSupport

/// Admission order, capacity and rate under concurrency, against the real Redis scripts.
@Suite("Queue admission: FIFO, capacity, rate", .tags(.redisCluster))
struct QueueAdmissionTests {
    /// One atomic snapshot: {lowest waiting seq or -1, waiting count, highest active seq or -1, active count, tokens issued}.
    static let snapshot = """
        local prefix = ARGV[1]
        local first = redis.call('ZRANGE', prefix .. 'waiting', 0, 0, 'WITHSCORES')
        local minWaiting = -1
        if first[2] then minWaiting = tonumber(first[2]) end
        local maxActive = -1
        local active = redis.call('ZRANGE', prefix .. 'active', 0, -1)
        for _, token in ipairs(active) do
          local seq = tonumber(string.match(redis.call('HGET', prefix .. 'tokens', token) or '', '^%S+ (%S+)'))
          if seq and seq > maxActive then maxActive = seq end
        end
        return {minWaiting, redis.call('ZCARD', prefix .. 'waiting'), maxActive, #active, tonumber(redis.call('GET', prefix .. 'seq') or '0')}
        """

    @Test("1,000 tokens issued concurrently through two instances are admitted in arrival order")
    func fifo() async throws {
        let total = 1_000
        // The rate lives in the settings hash, so every promoter (ours and any other test's) keeps
        // to it; the bank of one second (400) plus 400/s spreads admission over many ticks.
        try await QueueRig.with(settings: ["admitPerSecond": "400", "activeCapacity": "100000"]) { rig in
            try await TestStack.withInstances(2, environment: QueueRig.instanceEnvironment) { bases in
                try await TestHTTPClient.with { http in
                    let concertID = rig.concertID
                    // Sample admission continuously while the tokens arrive and are admitted.
                    let sampler = Task { () throws -> [[Int]] in
                        var samples: [[Int]] = []
                        let deadline = ContinuousClock.now + .seconds(30)
                        while ContinuousClock.now < deadline {
                            let values = try await rig.eval(Self.snapshot).array?.compactMap(\.int) ?? []
                            samples.append(values)
                            if values.count == 5, values[4] == total, values[1] == 0 { break }
                            try await Task.sleep(for: .milliseconds(10))
                        }
                        return samples
                    }
                    let tokens = try await withThrowingTaskGroup(of: String.self) { group in
                        for index in 0..<total {
                            group.addTask {
                                try await http.takeToken(bases[index % 2], concertID: concertID).token
                            }
                        }
                        return try await group.reduce(into: [String]()) { $0.append($1) }
                    }
                    let samples = try await sampler.value
                    #expect(Set(tokens).count == total)

                    // Every token's arrival sequence, as the issue script recorded it: exactly 1...1000.
                    var sequence: [String: Int] = [:]
                    for token in tokens {
                        sequence[token] = try await rig.tokenField(token, "seq").flatMap { Int($0) }
                    }
                    #expect(Set(sequence.values) == Set(1...total))

                    // Admission order: at every instant every admitted token arrived before every waiter.
                    // (Not "the admitted set is exactly 1...n": another suite's instances, ticking every
                    // concert with ACTIVE_SECONDS=2, may admit some of ours with a short window that ends.)
                    var violations: [[Int]] = []
                    for sample in samples where sample.count == 5 && sample[0] >= 0 && sample[2] >= 0 {
                        if sample[2] >= sample[0] { violations.append(sample) }
                    }
                    #expect(violations.isEmpty, "admitted after a later arrival: \(violations.prefix(5))")
                    let levels = Set(samples.compactMap { $0.count == 5 ? $0[3] : nil })
                    #expect(levels.count >= 4, "admission should take several ticks, saw active counts \(levels.sorted())")
                    #expect(samples.last?[1] == 0 && samples.last?[4] == total, "not all admitted: \(samples.last ?? [])")
                    #expect(try await rig.countAdmitted(tokens) == total)

                    // Each token's own view agrees: ACTIVE, with an active window.
                    for token in tokens.prefix(50) {
                        #expect(try await rig.tokenField(token, "status") == "ACTIVE")
                    }
                }
            }
        }
    }

    @Test("capacity holds with three promoters ticking concurrently")
    func capacityWithThreePromoters() async throws {
        let capacity = 50
        // Paused while the waiters arrive, so that no app instance's promoter (they tick every
        // concert, with 300 s windows) fills the slots before ours run.
        try await QueueRig.with(settings: ["paused": "1", "activeCapacity": "\(capacity)", "admitPerSecond": "1000", "activeSeconds": "1"]) { rig in
            // One-second windows so slots keep freeing and being refilled while we watch.
            let promoters = (0..<3).map { _ in rig.service(activeSeconds: 1) }
            let issuer = rig.service()
            let tokens = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<400 {
                    group.addTask { try await issuer.issueToken(userID: UUID(), concertID: rig.concertID).status.token }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            try await rig.set(["paused": "0"])
            let stop = ContinuousClock.now + .milliseconds(2_600)
            let (maxSampled, maxReported, samples) = try await withThrowingTaskGroup(of: (Int, Int, Int).self) { group in
                for promoter in promoters {
                    group.addTask {
                        var highest = 0
                        while ContinuousClock.now < stop {
                            let result = try await promoter.promote(concertID: rig.concertID)
                            highest = max(highest, result.active)
                            try await Task.sleep(for: .milliseconds(Int.random(in: 1...8)))
                        }
                        return (0, highest, 0)
                    }
                }
                // Holders leaving early (as after a payment) free slots too, whoever admitted them.
                group.addTask {
                    while ContinuousClock.now < stop {
                        if let token = try await rig.command("ZRANDMEMBER", rig.keys.active).string {
                            try await issuer.endToken(token)
                        }
                        try await Task.sleep(for: .milliseconds(Int.random(in: 5...30)))
                    }
                    return (0, 0, 0)
                }
                group.addTask {
                    var highest = 0
                    var count = 0
                    while ContinuousClock.now < stop {
                        highest = max(highest, try await rig.zcard(rig.keys.active))
                        count += 1
                    }
                    return (highest, 0, count)
                }
                return try await group.reduce(into: (0, 0, 0)) { total, next in
                    total = (max(total.0, next.0), max(total.1, next.1), total.2 + next.2)
                }
            }
            try await rig.set(["paused": "1"])
            #expect(samples >= 10, "only \(samples) samples")
            #expect(maxSampled <= capacity, "ZCARD active reached \(maxSampled)")
            #expect(maxReported <= capacity, "a tick reported \(maxReported) active")
            #expect(maxSampled == capacity, "capacity should have been filled")
            let admitted = try await rig.countAdmitted(tokens)
            // Slots were freed and refilled many times over, not just filled once.
            #expect(admitted > capacity, "only \(admitted) admitted in total")
        }
    }

    @Test("the admission rate holds within 10% with one promoter and with three", arguments: [1, 3])
    func rate(promoterCount: Int) async throws {
        let rate = 200.0
        try await QueueRig.with(settings: ["paused": "1", "admitPerSecond": "\(Int(rate))", "activeCapacity": "100000"]) { rig in
            let issuer = rig.service()
            let tokens = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<900 {
                    group.addTask { try await issuer.issueToken(userID: UUID(), concertID: rig.concertID).status.token }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            let running = QueueTestFlag()
            let promoters = (0..<promoterCount).map { _ in rig.service() }
            let loops = promoters.map { promoter in
                Task {
                    while running.value {
                        _ = try await promoter.promote(concertID: rig.concertID)
                        try await Task.sleep(for: .milliseconds(Int.random(in: 15...25)))
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(150))  // ticks while paused: no credit banked
            // Pause/resume atomically with reading the promoters' shared tick clock (meta lastTick)
            // and the waiting count: admissions between two ticks are rate x elapsed on that clock,
            // so the window is measured exactly even when the machine is busy and ticks are late.
            let toggle = """
                redis.call('HSET', ARGV[1] .. 'settings', 'paused', ARGV[2])
                return {tonumber(redis.call('HGET', ARGV[1] .. 'meta', 'lastTick') or '0'), redis.call('ZCARD', ARGV[1] .. 'waiting')}
                """
            let first = try await rig.eval(toggle, "0").array?.compactMap(\.int) ?? []
            try await Task.sleep(for: .seconds(3))
            running.value = false
            for loop in loops { try await loop.value }
            let last = try await rig.eval(toggle, "1").array?.compactMap(\.int) ?? []
            try #require(first.count == 2 && last.count == 2)
            let (start, end) = (first[0], last[0])
            let admitted = first[1] - last[1]
            let expected = rate * Double(end - start) / 1000
            #expect(admitted < tokens.count, "the queue must not run dry during the measurement")
            #expect(abs(Double(admitted) - expected) <= expected * 0.10,
                    "\(promoterCount) promoter(s): admitted \(admitted) in \(end - start) ms, expected \(Int(expected))")
        }
    }
}
