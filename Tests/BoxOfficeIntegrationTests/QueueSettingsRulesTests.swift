import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import HiredisClient
import Testing
import TestSupport

private typealias Kit = HoldsTestKit

/// The settings a line cannot run with are refused, whatever order they come in: every shard of a
/// split line keeps a share of the capacity and of the cap; the shards of an old count are drained
/// after a change; an opening is never scheduled in front of fans already in line.
@Suite("Queue settings: rules of a split line and of a scheduled opening", .tags(.redisCluster))
struct QueueSettingsRulesTests {
    static func queueURL(_ base: String, _ concertID: Int) -> String { "\(base)/v1/admin/concerts/\(concertID)/queue" }

    @Test("every shard keeps a share of the capacity and of the line cap, whichever setting changes")
    func everyShardKeepsAShare() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await AdminAPITests.withAdmin { base, http in
            let url = Self.queueURL(base, concert.id)
            func patch(_ body: [String: Any]) async throws -> TestHTTPClient.Reply {
                try await http.request(.PATCH, url, token: AdminAPITests.adminToken, json: body)
            }
            for body: [String: Any] in [["queueShards": 4, "activeCapacity": 3], ["queueShards": 4, "maxWaiting": 2]] {
                Kit.expectProblem(try await patch(body), 400, "INVALID_REQUEST", "\(body)")
            }
            #expect(try await patch(["activeCapacity": 3]).status == 200)
            Kit.expectProblem(try await patch(["queueShards": 4]), 400, "INVALID_REQUEST", "the capacity set before is too small")
            #expect(try await patch(["queueShards": 4, "activeCapacity": 4, "maxWaiting": 0]).status == 200)
            for body: [String: Any] in [["activeCapacity": 3], ["maxWaiting": 3]] {
                Kit.expectProblem(try await patch(body), 400, "INVALID_REQUEST", "\(body) with 4 shards")
            }
            let settings = try await patch(["maxWaiting": 4])
            #expect(settings.status == 200)
            #expect(settings.json["queueShards"] as? Int == 4 && settings.json["activeCapacity"] as? Int == 4 && settings.json["maxWaiting"] as? Int == 4)
        }
    }

    @Test("after queueShards goes from 4 to 1, a fan an instance still reading the old plan put in shard 3 is admitted, then the old count is forgotten")
    func oldShardsAreDrained() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        let keys = QueueKeys(concertID: concert.id, shard: 3)
        let redis = try TestDatabase.redis()
        defer { redis.shutdown() }
        try await AdminAPITests.withAdmin { base, http in
            let url = Self.queueURL(base, concert.id)
            #expect(try await http.request(.PATCH, url, token: AdminAPITests.adminToken, json: ["queueShards": 4]).status == 200)
            #expect(try await http.request(.PATCH, url, token: AdminAPITests.adminToken, json: ["queueShards": 1]).status == 200)

            // What an instance with the 4-shard plan cached does for a fan whose user id hashes to shard 3.
            let issue = try #require(QueueScripts.all.first { $0.name == "queue-issue" })
            let token = QueueToken.generate(concertID: concert.id, shard: 3)
            let user = UUID().uuidString.lowercased()
            try await redis.run(issue, keys: keys.line, arguments: [RedisArgument(user), RedisArgument(token), "0", "1", "0.5", "0", "1000"]).checked()
            try await LiveLines(redis: redis).register(concertID: concert.id)

            let admitted = try await queueEventually("the stray fan admitted", timeout: .seconds(10), every: .milliseconds(200)) { () -> Bool? in
                let status = try await http.request(.GET, "\(base)/v1/queue/status", token: token)
                return status.json["status"] as? String == "ACTIVE" ? true : nil
            }
            #expect(admitted)
            let settings = RedisArgument(QueueKeys(concertID: concert.id).settings)
            _ = try await queueEventually("the old shard count forgotten", timeout: .seconds(15), every: .milliseconds(250)) { () -> Bool? in
                try await redis.send(["HEXISTS", settings, "queueShardsBefore"]).checked().int == 0 ? true : nil
            }
        }
    }

    @Test("an opening is refused while anyone waits who arrived while the sale was open, on one line and on a split line; rescheduling a countdown is not")
    func openingNeverJumpsTheLine() async throws {
        let later = Date().addingTimeInterval(3_600), evenLater = Date().addingTimeInterval(7_200)
        try await AdminAPITests.withAdmin { base, http in
            for shards in [1, 3] {
                let concert = try await Fixtures.concert(dates: 1)
                let url = Self.queueURL(base, concert.id)
                #expect(try await http.request(.PATCH, url, token: AdminAPITests.adminToken, json: ["queueShards": shards, "paused": true]).status == 200)
                _ = try await http.takeToken(base, concertID: concert.id)
                Kit.expectProblem(
                    try await http.request(.PATCH, url, token: AdminAPITests.adminToken, json: ["opensAt": Timestamp.format(later)]), 400,
                    "INVALID_REQUEST", "\(shards) shard(s)")
                #expect(try await http.request(.GET, url, token: AdminAPITests.adminToken).json["opensAt"] is NSNull)
                // An opening in the past opens nothing: nobody is put behind anyone.
                #expect(try await http.request(.PATCH, url, token: AdminAPITests.adminToken,
                                               json: ["opensAt": Timestamp.format(Date().addingTimeInterval(-60))]).status == 200)
            }

            let concert = try await Fixtures.concert(dates: 1)
            let url = Self.queueURL(base, concert.id)
            #expect(try await http.request(.PATCH, url, token: AdminAPITests.adminToken, json: ["opensAt": Timestamp.format(later)]).status == 200)
            _ = try await http.takeToken(base, concertID: concert.id)  // a countdown arrival: drawn at the opening
            let moved = try await http.request(.PATCH, url, token: AdminAPITests.adminToken, json: ["opensAt": Timestamp.format(evenLater)])
            #expect(moved.status == 200, "\(moved.text)")
        }
    }
}
