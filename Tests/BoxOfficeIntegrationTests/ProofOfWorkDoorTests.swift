import BoxOfficeDomain
import BoxOfficeStores
import Crypto
import Foundation
import HiredisClient
import Testing
import TestSupport

/// The proof of work at the door (`powDifficulty`), through two real instances sharing Redis and
/// `CHALLENGE_SECRET`: every error code, single use across instances, a live token without a new proof.
@Suite("Queue door: proof of work", .tags(.redisCluster))
struct ProofOfWorkDoorTests {
    typealias Kit = HoldsTestKit
    static let difficulty = 12

    /// A concert whose settings hash asks for `difficulty` bits (written before any instance reads it).
    static func concert(difficulty: Int) async throws -> Int {
        let concert = try await Fixtures.concert(dates: 1)
        let redis = try TestDatabase.redis(poolSize: 1)
        defer { redis.shutdown() }
        try await redis.send(["HSET", RedisArgument(QueueKeys(concertID: concert.id).settings), "powDifficulty", RedisArgument(difficulty)]).checked()
        return concert.id
    }

    static func challenge(_ http: TestHTTPClient, _ base: String, concertID: Int) async throws -> (challenge: String, difficulty: Int) {
        let reply = try await http.request(.GET, "\(base)/v1/queue/challenge?concertId=\(concertID)")
        #expect(reply.status == 200, "\(reply.text)")
        return (try #require(reply.json["challenge"] as? String), try #require(reply.json["difficulty"] as? Int))
    }

    static func token(_ http: TestHTTPClient, _ base: String, concertID: Int, user: String, proof: [String: String]?) async throws -> TestHTTPClient.Reply {
        var body: [String: Any] = ["userId": user, "concertId": concertID]
        if let proof { body["proof"] = proof }
        return try await http.request(.POST, "\(base)/v1/queue/tokens", json: body)
    }

    @Test("every refusal: 403 PROOF_REQUIRED without a proof, 403 PROOF_INVALID for a wrong nonce, a forged challenge or another concert's; 400 and 404 for the challenge route")
    func refusals() async throws {
        let concertID = try await Self.concert(difficulty: Self.difficulty)
        let otherID = try await Self.concert(difficulty: Self.difficulty)
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let base = bases[0]
                let user = UUID().uuidString.lowercased()
                Kit.expectProblem(try await Self.token(http, base, concertID: concertID, user: user, proof: nil), 403, "PROOF_REQUIRED")
                let (challenge, difficulty) = try await Self.challenge(http, base, concertID: concertID)
                #expect(difficulty == Self.difficulty)
                let expires = try #require(try await http.request(.GET, "\(base)/v1/queue/challenge?concertId=\(concertID)").json["expiresAt"] as? String)
                #expect(Kit.parseTime(expires).map { $0.timeIntervalSinceNow } ?? 0 > 100)
                // A nonce that does not solve it.
                let wrong = try #require((0..<100).map(String.init).first { Self.zeroBits(challenge, nonce: $0) < difficulty })
                Kit.expectProblem(try await Self.token(http, base, concertID: concertID, user: user, proof: ["challenge": challenge, "nonce": wrong]), 403, "PROOF_INVALID")
                Kit.expectProblem(try await Self.token(http, base, concertID: concertID, user: user, proof: ["challenge": "v1.1.0.1.ab.cd", "nonce": "0"]), 403, "PROOF_INVALID")
                let foreign = try await Self.challenge(http, base, concertID: otherID).challenge
                Kit.expectProblem(try await Self.token(http, base, concertID: concertID, user: user, proof: [
                    "challenge": foreign, "nonce": ProofOfWork.solve(foreign, difficulty: Self.difficulty),
                ]), 403, "PROOF_INVALID")
                let malformed = try await http.request(.POST, "\(base)/v1/queue/tokens", json: ["userId": user, "concertId": concertID, "proof": ["challenge": 5]])
                Kit.expectProblem(malformed, 400, "INVALID_REQUEST")
                Kit.expectProblem(try await http.request(.GET, "\(base)/v1/queue/challenge"), 400, "INVALID_REQUEST")
                Kit.expectProblem(try await http.request(.GET, "\(base)/v1/queue/challenge?concertId=abc"), 400, "INVALID_REQUEST")
                Kit.expectProblem(try await http.request(.GET, "\(base)/v1/queue/challenge?concertId=999999999999"), 404, "CONCERT_NOT_FOUND")
            }
        }
    }

    /// Leading zero bits of SHA-256(challenge + ":" + nonce), as a client computes them.
    static func zeroBits(_ challenge: String, nonce: String) -> Int {
        var bits = 0
        for byte in SHA256.hash(data: Array("\(challenge):\(nonce)".utf8)) {
            bits += byte == 0 ? 8 : byte.leadingZeroBitCount
            if byte != 0 { break }
        }
        return bits
    }

    @Test("a solved challenge gives a place once: 40 users sending it at once over two instances get one 201 and 39 PROOF_INVALID; the winner asks again without a proof and gets the same token")
    func singleUseAcrossInstances() async throws {
        let concertID = try await Self.concert(difficulty: Self.difficulty)
        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                let (challenge, difficulty) = try await Self.challenge(http, bases[0], concertID: concertID)
                let proof = ["challenge": challenge, "nonce": ProofOfWork.solve(challenge, difficulty: difficulty)]
                let users = (0..<40).map { _ in UUID().uuidString.lowercased() }
                let replies = try await withThrowingTaskGroup(of: (String, TestHTTPClient.Reply).self) { group in
                    for (index, user) in users.enumerated() {
                        group.addTask { (user, try await Self.token(http, bases[index % 2], concertID: concertID, user: user, proof: proof)) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let winners = replies.filter { $0.1.status == 201 }
                #expect(winners.count == 1)
                #expect(replies.filter { $0.1.status == 403 && $0.1.code == "PROOF_INVALID" }.count == 39)
                let (winner, first) = try #require(winners.first)
                let again = try await Self.token(http, bases[1], concertID: concertID, user: winner, proof: nil)
                #expect(again.status == 200 && again.json["token"] as? String == first.json["token"] as? String, "\(again.text)")
                // A fresh challenge from the other instance works there too.
                let next = try await Self.challenge(http, bases[1], concertID: concertID).challenge
                let second = try await Self.token(http, bases[0], concertID: concertID, user: UUID().uuidString.lowercased(), proof: [
                    "challenge": next, "nonce": ProofOfWork.solve(next, difficulty: Self.difficulty),
                ])
                #expect(second.status == 201, "\(second.text)")
            }
        }
    }

    @Test("difficulty 0 asks nothing: the challenge says 0 and a token needs no proof")
    func off() async throws {
        let concertID = try await Self.concert(difficulty: 0)
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let challenge = try await Self.challenge(http, bases[0], concertID: concertID)
                #expect(challenge.difficulty == 0)
                let token = try await Self.token(http, bases[0], concertID: concertID, user: UUID().uuidString.lowercased(), proof: nil)
                #expect(token.status == 201, "\(token.text)")
            }
        }
    }
}
