import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import LibpqClient
import Testing
import TestSupport

/// The promised wait (`estimatedWaitSeconds`) against the wait that followed, measured as a fan
/// lives it: 300 arrivals through two instances, each promise compared with the moment the
/// promoter admitted that token (its `admitted` time, from the Redis clock that also stamped the
/// arrival). The bound, as Docs/operations.md states it: past position 20, the actual wait is
/// within ±15% of the promise, plus 1 s: half a second because the field counts whole seconds, a
/// quarter for the promotion tick (PROMOTE_INTERVAL_MS, 250) that comes after the due moment, and a
/// quarter for a tick that runs late on a busy machine (the closest a run came: 0.67 s past ±15%).
@Suite("Queue: an honest estimated wait", .tags(.redisCluster))
struct QueueETATests {
    /// A wait promised to one token, and when (Redis ms).
    struct Promise: Sendable {
        let token: String
        let position: Int
        let seconds: Int
        let givenAt: Int
    }

    static let settleSettings = ["activeSeconds": "600", "waitingIdleSeconds": "600", "activeCapacity": "100000"]

    /// 300 arrivals, ten at a time, alternating instances: each arrival's promise.
    static func arrive(_ http: TestHTTPClient, _ bases: [String], rig: QueueRig, count: Int = 300) async throws -> [Promise] {
        var promises: [Promise] = []
        for batch in stride(from: 0, to: count, by: 10) {
            promises += try await withThrowingTaskGroup(of: Promise.self) { group in
                for index in batch..<min(count, batch + 10) {
                    group.addTask {
                        let reply = try await http.request(
                            .POST, "\(bases[index % 2])/v1/queue/tokens", json: ["userId": UUID().uuidString.lowercased(), "concertId": rig.concertID])
                        let token = try #require(reply.json["token"] as? String, "\(reply.text)")
                        let issued = try #require(try await rig.tokenField(token, "issued").flatMap(Int.init))
                        return Promise(token: token, position: reply.json["position"] as? Int ?? 0,
                                       seconds: try #require(reply.json["estimatedWaitSeconds"] as? Int, "\(reply.text)"), givenAt: issued)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        return promises
    }

    /// What every still-waiting token is promised now, asked through the API.
    static func ask(_ http: TestHTTPClient, _ base: String, rig: QueueRig, tokens: [String]) async throws -> [Promise] {
        var promises: [Promise] = []
        for token in tokens {
            let at = try await rig.redisMilliseconds()
            let reply = try await http.request(.GET, "\(base)/v1/queue/status", token: token)
            guard reply.json["status"] as? String == "WAITING", let seconds = reply.json["estimatedWaitSeconds"] as? Int else { continue }
            promises.append(Promise(token: token, position: reply.json["position"] as? Int ?? 0, seconds: seconds, givenAt: at))
        }
        return promises
    }

    /// Waits until every token was admitted; returns each one's admission time (Redis ms).
    static func admissions(of tokens: [String], rig: QueueRig, timeout: Duration) async throws -> [String: Int] {
        try await queueEventually("all \(tokens.count) admitted", timeout: timeout, every: .milliseconds(500)) {
            var admitted: [String: Int] = [:]
            for token in tokens {
                guard let at = try await rig.tokenField(token, "admitted").flatMap(Int.init) else { return nil }
                admitted[token] = at
            }
            return admitted
        }
    }

    /// Compares the promises past position 20 with what happened; prints the figures Docs quote.
    /// `steady`: also at least 85% of them within ±15% itself, as the issue asks of a steady rate
    /// (measured 90-94%).
    static func check(_ label: String, _ promises: [Promise], admitted: [String: Int], steady: Bool = false,
                      sourceLocation: SourceLocation = #_sourceLocation) {
        let judged = promises.filter { $0.position > 20 }
        #expect(judged.count >= 100, "\(label): only \(judged.count) promises past position 20", sourceLocation: sourceLocation)
        var ratios: [Double] = []
        var withinFifteen = 0
        var closest = (room: Double.infinity, position: 0, promised: 0, actual: 0.0)  // the least room left under the bound
        for promise in judged {
            guard let at = admitted[promise.token] else { continue }
            let actual = Double(at - promise.givenAt) / 1000
            let promised = Double(promise.seconds)
            if promised > 0 { ratios.append(actual / promised) }
            if abs(actual - promised) <= 0.15 * promised { withinFifteen += 1 }
            let room = 0.15 * promised + 1 - abs(actual - promised)
            if room < closest.room { closest = (room, promise.position, promise.seconds, actual) }
            #expect(room >= 0,
                    "\(label): position \(promise.position) was promised \(promise.seconds) s and waited \(actual) s", sourceLocation: sourceLocation)
        }
        if steady {
            #expect(Double(withinFifteen) >= 0.85 * Double(judged.count), "\(label): only \(withinFifteen) of \(judged.count) within ±15%",
                    sourceLocation: sourceLocation)
        }
        ratios.sort()
        func quantile(_ q: Double) -> Double { ratios.isEmpty ? .nan : ratios[min(ratios.count - 1, Int(q * Double(ratios.count)))] }
        print(String(format: "ETA %@: %d promises past position 20; actual/promised p10 %.3f, median %.3f, p90 %.3f, max %.3f; within ±15%%: %d; closest to the bound: %.2f s inside (position %d, promised %d s, waited %.2f s)",
                     label, judged.count, quantile(0.1), quantile(0.5), quantile(0.9), ratios.last ?? .nan, withinFifteen,
                     closest.room, closest.position, closest.promised, closest.actual))
    }

    /// `count` more concerts in the catalogue while `body` runs, without queues. Their ids (from
    /// 2,000,000,001) are above the fixtures' random ones.
    static func withOtherConcerts<Result: Sendable>(_ count: Int, _ body: () async throws -> Result) async throws -> Result {
        guard count > 0 else { return try await body() }
        let insert: PostgresQuery = "INSERT INTO concerts (id, title, artist) SELECT 2000000000 + g, 'ETA catalogue', 'x' FROM generate_series(1, \(count)) g ON CONFLICT DO NOTHING"
        let remove: PostgresQuery = "DELETE FROM concerts WHERE id > 2000000000 AND title = 'ETA catalogue'"
        _ = try await HoldsTestKit.withDatabase { try await $0.query(insert) }
        do {
            let result = try await body()
            _ = try await HoldsTestKit.withDatabase { try await $0.query(remove) }
            return result
        } catch {
            _ = try? await HoldsTestKit.withDatabase { try await $0.query(remove) }
            throw error
        }
    }

    /// Scripts (EVALSHA) the single test Redis ran per second over `window`: on a cluster, nil.
    static func scriptsPerSecond(_ rig: QueueRig, over window: Duration) async throws -> Double? {
        guard TestEnvironment.clusterSeeds == nil else { return nil }
        func calls() async throws -> Int {
            let info = try await rig.command("INFO", "commandstats").string ?? ""
            guard let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_evalsha:") }),
                let field = line.split(separator: ",").first?.split(separator: "=").last
            else { return 0 }
            return Int(field) ?? 0
        }
        let before = try await calls()
        try await Task.sleep(for: window)
        return Double(try await calls() - before) / (Double(window.components.seconds) + Double(window.components.attoseconds) / 1e18)
    }

    @Test("at a steady 20 admissions/s, 300 arrivals wait what they were promised at arrival, also with 10,000 other concerts in the catalogue",
          arguments: [0, 10_000])
    func steadyRate(otherConcerts: Int) async throws {
        try await QueueRig.with(settings: Self.settleSettings.merging(["admitPerSecond": "20"]) { $1 }) { rig in
            try await Self.withOtherConcerts(otherConcerts) {
                try await TestStack.withInstances(2, environment: QueueRig.instanceEnvironment) { bases in
                    try await TestHTTPClient.with { http in
                        // Before anyone arrives: the catalogue costs the promoters nothing (only live lines
                        // are ticked; other suites' leftover lines are all the shared Redis sees).
                        if let idle = try await Self.scriptsPerSecond(rig, over: .seconds(2)) {
                            print(String(format: "ETA: %d other concerts, 2 instances idle: %.0f scripts/s on Redis", otherConcerts, idle))
                            #expect(idle < 2_000, "the promoters tick the catalogue: \(idle) scripts/s")
                        }
                        let promises = try await Self.arrive(http, bases, rig: rig)
                        let admitted = try await Self.admissions(of: promises.map(\.token), rig: rig, timeout: .seconds(40))
                        Self.check(otherConcerts == 0 ? "steady 20/s" : "steady 20/s, \(otherConcerts) other concerts", promises,
                                   admitted: admitted, steady: true)
                        if otherConcerts > 0 {
                            // None of the catalogue's concerts was ever ticked.
                            let ticked = try await rig.command("EXISTS", QueueKeys(concertID: 2_000_000_001).meta).int
                            #expect(ticked == 0)
                        }
                    }
                }
            }
        }
    }

    @Test("after the operator doubles the rate, the promises follow within a few seconds")
    func rateChange() async throws {
        try await QueueRig.with(settings: Self.settleSettings.merging(["admitPerSecond": "20"]) { $1 }) { rig in
            try await TestStack.withInstances(2, environment: QueueRig.instanceEnvironment) { bases in
                try await TestHTTPClient.with { http in
                    let arrivals = try await Self.arrive(http, bases, rig: rig)
                    try await Task.sleep(for: .seconds(3))
                    try await rig.set(["admitPerSecond": "40"])
                    // Instances read the settings at most a second late; ask two seconds after the change.
                    try await Task.sleep(for: .seconds(2))
                    let waiting = try await rig.command(["ZRANGE", rig.keys.waiting, "0", "-1"]).array?.compactMap(\.string) ?? []
                    let promises = try await Self.ask(http, bases[1], rig: rig, tokens: waiting)
                    let admitted = try await Self.admissions(of: arrivals.map(\.token), rig: rig, timeout: .seconds(40))
                    Self.check("after 20/s -> 40/s", promises, admitted: admitted)
                }
            }
        }
    }

    @Test("when 30 slots of 3 s limit admission (10/s) rather than the rate (40/s), promises come from the slots' turnover")
    func capacityLimited() async throws {
        try await QueueRig.with(settings: ["admitPerSecond": "40", "activeCapacity": "30", "activeSeconds": "3", "waitingIdleSeconds": "600"]) { rig in
            try await TestStack.withInstances(2, environment: QueueRig.instanceEnvironment) { bases in
                try await TestHTTPClient.with { http in
                    let promises = try await Self.arrive(http, bases, rig: rig, count: 200)
                    let admitted = try await Self.admissions(of: promises.map(\.token), rig: rig, timeout: .seconds(40))
                    Self.check("30 slots of 3 s", promises, admitted: admitted)
                }
            }
        }
    }

    @Test("a paused line says so instead of promising a number, and promises again once resumed")
    func paused() async throws {
        try await QueueRig.with(settings: Self.settleSettings.merging(["admitPerSecond": "20", "paused": "1"]) { $1 }) { rig in
            try await TestStack.withInstances(1, environment: QueueRig.instanceEnvironment) { bases in
                try await TestHTTPClient.with { http in
                    let tokens = try await (0..<30).asyncMap { _ in try await http.takeToken(bases[0], concertID: rig.concertID).token }
                    let status = try await http.request(.GET, "\(bases[0])/v1/queue/status", token: tokens[29])
                    #expect(status.json["paused"] as? Bool == true && status.json["estimatedWaitSeconds"] is NSNull, "\(status.text)")
                    #expect(status.json["position"] as? Int == 30 && status.json["pollAfterSeconds"] as? Int == 5, "\(status.text)")
                    try await rig.set(["paused": "0"])
                    let resumed = try await queueEventually("a promise after resuming", timeout: .seconds(5)) {
                        let reply = try await http.request(.GET, "\(bases[0])/v1/queue/status", token: tokens[29])
                        return reply.json["paused"] as? Bool == false ? reply : nil
                    }
                    #expect(resumed.json["estimatedWaitSeconds"] is Int, "\(resumed.text)")
                }
            }
        }
    }
}

extension Sequence {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
