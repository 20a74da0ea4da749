import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import HiredisClient
import Testing
import TestSupport

/// A scheduled opening (`opensAt`): arrivals before it wait without a place, are put in a uniformly
/// random order at the opening, ahead of everyone after it, and nobody is admitted before it. The
/// order comes from a seed committed when the opening is scheduled and revealed at the opening, so
/// anyone can check it (SeededDraw, scripts/verify-draw.py).
@Suite("Queue: a scheduled opening with a fair pre-queue", .tags(.redisCluster))
struct QueueOpeningTests {
    static let adminToken = "test-admin-" + TestEnvironment.uniqueSuffix(length: 24)

    /// Spearman's rank correlation of two orders of the same items.
    static func spearman(_ x: [Int], _ y: [Int]) -> Double {
        func ranks(_ values: [Int]) -> [Int] {
            var ranks = [Int](repeating: 0, count: values.count)
            for (rank, index) in values.indices.sorted(by: { values[$0] < values[$1] }).enumerated() { ranks[index] = rank }
            return ranks
        }
        let (rx, ry) = (ranks(x), ranks(y))
        let n = Double(x.count)
        let squares = zip(rx, ry).reduce(0.0) { $0 + pow(Double($1.0 - $1.1), 2) }
        return 1 - 6 * squares / (n * (n * n - 1))
    }

    @Test(
        "1,000 arrivals before an opening scheduled through the admin API come out in the order of the committed seed, uncorrelated with arrival, all ahead of later arrivals; nobody is admitted before the opening; asking again keeps one place; the revealed seed matches its commitment and the script checks the order",
        arguments: [1, 3])
    func fairOpening(shards: Int) async throws {
        let opensInSeconds = 10.0
        let activeSeconds = 600
        try await QueueRig.with(settings: [
            "admitPerSecond": "800", "activeCapacity": "100000", "activeSeconds": String(activeSeconds), "waitingIdleSeconds": "600",
            "queueShards": String(shards),
        ]) { rig in
            // With a split line each shard has its own line; the rules hold in every one of them.
            let lines = (0..<shards).map { QueueKeys(concertID: rig.concertID, shard: $0) }
            let opening = try await rig.redisMilliseconds() + Int(opensInSeconds * 1000)
            let environment = QueueRig.instanceEnvironment.merging(["ADMIN_TOKEN": Self.adminToken]) { $1 }
            try await TestStack.withInstances(2, environment: environment) { bases in
                try await TestHTTPClient.with { http in
                    let scheduled = try await http.request(
                        .PATCH, "\(bases[0])/v1/admin/concerts/\(rig.concertID)/queue", token: Self.adminToken,
                        json: ["opensAt": Timestamp.format(Date(timeIntervalSince1970: Double(opening) / 1000))])
                    try #require(scheduled.status == 200, "\(scheduled.text)")
                    let committed = try await http.request(.GET, "\(bases[1])/v1/concerts/\(rig.concertID)/opening")
                    let commitment = try #require(committed.json["seedCommitment"] as? String, "\(committed.text)")
                    #expect(committed.json["seed"] is NSNull, "the seed stays secret until the opening")
                    // 1,000 arrivals, 50 at a time, alternating instances.
                    var early: [(token: String, userID: String)] = []
                    for batch in stride(from: 0, to: 1_000, by: 50) {
                        early += try await withThrowingTaskGroup(of: (token: String, userID: String).self) { group in
                            for index in batch..<batch + 50 { group.addTask { try await http.takeToken(bases[index % 2], concertID: rig.concertID) } }
                            return try await group.reduce(into: []) { $0.append($1) }
                        }
                    }
                    let before = try await rig.redisMilliseconds()
                    try #require(before < opening - 500, "the arrivals took too long to be all before the opening")

                    // Before the opening: no place, a countdown, the opening time; asking again keeps the token.
                    for (index, arrival) in early.prefix(20).enumerated() {
                        let again = try await http.request(.POST, "\(bases[(index + 1) % 2])/v1/queue/tokens",
                                                           json: ["userId": arrival.userID, "concertId": rig.concertID])
                        #expect(again.status == 200 && again.json["token"] as? String == arrival.token)
                        let status = try await http.request(.GET, "\(bases[index % 2])/v1/queue/status", token: arrival.token)
                        #expect(status.json["status"] as? String == "WAITING")
                        #expect(status.json["position"] is NSNull, "\(status.text)")
                        #expect(status.json["opensAt"] as? String != nil, "\(status.text)")
                        let wait = status.json["estimatedWaitSeconds"] as? Int ?? -1
                        #expect((1...Int(opensInSeconds) + 1).contains(wait), "countdown \(wait)")
                    }
                    for keys in lines { #expect(try await rig.zcard(keys.active) == 0, "nobody admitted before the opening") }

                    // The order each line will admit in, fixed at arrival: read it before the opening.
                    var drawn: [[String]] = []
                    var scores: [[String: Double]] = []
                    for keys in lines {
                        let line = (try await rig.command(["ZRANGE", keys.waiting, "0", "-1"]).array ?? []).compactMap(\.string)
                        var sequence: [Int] = []
                        for token in line {
                            sequence.append(try await QueueRig.tokenFields(token, keys: keys, redis: rig.redis)["seq"].flatMap { Int($0) } ?? -1)
                        }
                        let rho = Self.spearman(sequence, Array(line.indices))
                        print("opening (\(shards) shard(s)): Spearman correlation of arrival and place among \(line.count) early arrivals: \(rho)")
                        // For a uniformly random order the correlation has mean 0 and standard deviation
                        // 1/sqrt(n - 1) (0.032 for 1,000); four of them: a false alarm about once in 16,000 runs.
                        #expect(abs(rho) < 4 / sqrt(Double(line.count - 1)))
                        drawn.append(line)
                        // The place each early arrival got is the seed's, not a draw of the instance.
                        let places = try await rig.command(["ZRANGE", keys.waiting, "0", "-1", "WITHSCORES"]).array ?? []
                        scores.append(Dictionary(uniqueKeysWithValues: stride(from: 0, to: places.count - 1, by: 2).compactMap { index in
                            places[index].string.flatMap { token in places[index + 1].string.flatMap(Double.init).map { (token, $0) } }
                        }))
                    }
                    #expect(drawn.map(\.count).reduce(0, +) == 1_000)

                    // After the opening: 200 more arrivals, then everyone is admitted.
                    while try await rig.redisMilliseconds() < opening + 200 { try await Task.sleep(for: .milliseconds(100)) }
                    var late: [String] = []
                    for index in 0..<200 {
                        let arrival = try await http.takeToken(bases[index % 2], concertID: rig.concertID)
                        late.append(arrival.token)
                        if index == 0 {
                            let status = try await http.request(.GET, "\(bases[0])/v1/queue/status", token: arrival.token)
                            #expect(status.json["opensAt"] is NSNull, "\(status.text)")
                        }
                    }
                    _ = try await queueEventually("everyone admitted", timeout: .seconds(30), every: .milliseconds(200)) { () async throws -> Bool? in
                        var waiting = 0
                        for keys in lines { waiting += try await rig.zcard(keys.waiting) }
                        return waiting == 0 ? true : nil
                    }
                    func admittedAt(_ token: String) async throws -> Int {
                        let keys = lines[QueueToken.parse(token)!.shard]
                        return try await QueueRig.tokenFields(token, keys: keys, redis: rig.redis)["admitted"].flatMap { Int($0) } ?? Int.max
                    }
                    for (shard, line) in drawn.enumerated() {
                        var earlyAdmissions: [Int] = []
                        for token in line { earlyAdmissions.append(try await admittedAt(token)) }
                        var lateAdmissions: [Int] = []
                        for token in late where QueueToken.parse(token)!.shard == shard { lateAdmissions.append(try await admittedAt(token)) }
                        #expect(earlyAdmissions.min()! >= opening, "nobody admitted before the opening")
                        #expect(earlyAdmissions == earlyAdmissions.sorted(), "admitted in the drawn order")
                        #expect(earlyAdmissions.max()! <= lateAdmissions.min()!, "every early arrival before every later one")
                        #expect(lateAdmissions == lateAdmissions.sorted(), "later arrivals in arrival order")
                    }

                    // After the opening the seed is public: it matches the commitment, it gives every
                    // early arrival's place, and the repository's script finds the admissions in its order.
                    let revealed = try await http.request(.GET, "\(bases[0])/v1/concerts/\(rig.concertID)/opening")
                    let seed = try #require(revealed.json["seed"] as? String, "\(revealed.text)")
                    #expect(SeededDraw.commitment(seed: seed) == commitment)
                    let users = Dictionary(uniqueKeysWithValues: early.map { ($0.token, $0.userID) })
                    for (shard, line) in drawn.enumerated() {
                        for token in line {
                            #expect(scores[shard][token] == -1 + SeededDraw.place(seed: seed, user: users[token] ?? ""), "\(token)")
                        }
                    }
                    let arrivals = try await http.request(.GET, "\(bases[1])/v1/admin/concerts/\(rig.concertID)/opening/arrivals", token: Self.adminToken)
                    #expect((arrivals.json["arrivals"] as? [Any])?.count == 1_000, "\(arrivals.text.prefix(300))")
                    let checked = try await VerifyDraw.run("opening", published: revealed.body, entries: arrivals.body)
                    #expect(checked.succeeded, "verify-draw.py opening: \(checked.error)")
                    #expect(checked.output["outOfOrder"] as? Int == 0 && checked.output["arrivals"] as? Int == 1_000)
                }
            }
        }
    }
}
