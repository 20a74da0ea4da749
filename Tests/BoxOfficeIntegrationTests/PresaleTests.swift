import BoxOfficeDomain
import Crypto
import Foundation
import Testing
import TestSupport

/// A presale end to end through two real instances and PostgreSQL: registration, a draw that the
/// repository's script recomputes from the published seed and list, codes bound to their winners,
/// and every error code of the contract.
@Suite("Presales: registration, a verifiable draw, codes at the door", .tags(.postgresHA))
struct PresaleTests {
    typealias Kit = HoldsTestKit
    static let adminToken = "test-admin-" + TestEnvironment.uniqueSuffix(length: 24)
    static let environment = ["ADMIN_TOKEN": Self.adminToken]

    static func at(_ seconds: Double) -> String { Timestamp.format(Date().addingTimeInterval(seconds)) }

    static func createPresale(_ http: TestHTTPClient, _ base: String, concertID: Int, closes: Double, opens: Double, ends: Double, winners: Int)
        async throws -> TestHTTPClient.Reply
    {
        try await http.request(.POST, "\(base)/v1/admin/concerts/\(concertID)/presale", token: Self.adminToken, json: [
            "registrationClosesAt": Self.at(closes), "saleOpensAt": Self.at(opens), "saleClosesAt": Self.at(ends), "winners": winners,
        ])
    }

    @Test("register, draw once after registration closes, the seed matches its commitment and the script recomputes the winners; in the sale window only a winner with their own code gets a token")
    func wholePresale() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await TestStack.withInstances(2, environment: Self.environment) { bases in
            try await TestHTTPClient.with { http in
                let created = try await Self.createPresale(http, bases[0], concertID: concert.id, closes: 3, opens: 4, ends: 120, winners: 4)
                #expect(created.status == 201, "\(created.text)")
                let commitment = try #require(created.json["seedCommitment"] as? String)
                #expect(commitment.count == 64 && created.json["seed"] is NSNull && created.json["drawnAt"] is NSNull)
                Kit.expectProblem(try await Self.createPresale(http, bases[1], concertID: concert.id, closes: 3, opens: 4, ends: 120, winners: 4), 409, "PRESALE_EXISTS")

                let users = (0..<12).map { _ in UUID().uuidString.lowercased() }
                for (index, user) in users.enumerated() {
                    let reply = try await http.request(.POST, "\(bases[index % 2])/v1/concerts/\(concert.id)/presale/registrations", json: ["userId": user])
                    #expect(reply.status == 201 && reply.json["status"] as? String == "REGISTERED", "\(reply.text)")
                }
                let again = try await http.request(.POST, "\(bases[1])/v1/concerts/\(concert.id)/presale/registrations", json: ["userId": users[0]])
                #expect(again.status == 200, "\(again.text)")
                let shown = try await http.request(.GET, "\(bases[1])/v1/concerts/\(concert.id)/presale")
                #expect(shown.json["registered"] as? Int == 12 && shown.json["seedCommitment"] as? String == commitment)
                Kit.expectProblem(try await http.request(.POST, "\(bases[0])/v1/admin/concerts/\(concert.id)/presale/draw", token: Self.adminToken), 409, "REGISTRATION_OPEN")

                try await Task.sleep(for: .seconds(3.2))
                Kit.expectProblem(try await http.request(.POST, "\(bases[0])/v1/concerts/\(concert.id)/presale/registrations", json: ["userId": UUID().uuidString]),
                                  409, "REGISTRATION_CLOSED")
                let drawn = try await http.request(.POST, "\(bases[0])/v1/admin/concerts/\(concert.id)/presale/draw", token: Self.adminToken)
                #expect(drawn.status == 200, "\(drawn.text)")
                let seed = try #require(drawn.json["seed"] as? String)
                #expect(SHA256.hash(data: Data(Self.bytes(hex: seed))).map { String(format: "%02x", $0) }.joined() == commitment)
                Kit.expectProblem(try await http.request(.POST, "\(bases[1])/v1/admin/concerts/\(concert.id)/presale/draw", token: Self.adminToken), 409, "ALREADY_DRAWN")

                var codes: [String: String] = [:]
                for user in users {
                    let entry = try await http.request(.GET, "\(bases[1])/v1/concerts/\(concert.id)/presale/registrations/\(user)")
                    #expect(entry.status == 200, "\(entry.text)")
                    if entry.json["status"] as? String == "WON" { codes[user] = try #require(entry.json["code"] as? String) }
                    else { #expect(entry.json["status"] as? String == "LOST" && entry.json["code"] is NSNull) }
                }
                #expect(codes.count == 4)
                let list = try await http.request(.GET, "\(bases[0])/v1/admin/concerts/\(concert.id)/presale/registrations", token: Self.adminToken)
                #expect(Set(list.json["userIds"] as? [String] ?? []) == Set(users))
                let public_ = try await http.request(.GET, "\(bases[0])/v1/concerts/\(concert.id)/presale")
                let checked = try await VerifyDraw.run("presale", published: public_.body, entries: list.body, announced: Array(codes.keys))
                #expect(checked.succeeded, "verify-draw.py presale: \(checked.error)")
                #expect(checked.output["commitmentMatches"] as? Bool == true)
                #expect(Set(checked.output["winners"] as? [String] ?? []) == Set(codes.keys))

                // The sale window: only winners, each with their own code.
                try await Task.sleep(for: .seconds(1.2))
                let (winner, code) = try #require(codes.first)
                let loser = try #require(users.first { codes[$0] == nil })
                func token(_ user: String, _ code: String?, _ base: String) async throws -> TestHTTPClient.Reply {
                    var body: [String: Any] = ["userId": user, "concertId": concert.id]
                    if let code { body["presaleCode"] = code }
                    return try await http.request(.POST, "\(base)/v1/queue/tokens", json: body)
                }
                Kit.expectProblem(try await token(loser, nil, bases[0]), 403, "PRESALE_CODE_REQUIRED")
                Kit.expectProblem(try await token(loser, code, bases[1]), 403, "PRESALE_CODE_INVALID")
                Kit.expectProblem(try await token(winner, "WRONGCODE", bases[0]), 403, "PRESALE_CODE_INVALID")
                let admitted = try await token(winner, code, bases[1])
                #expect(admitted.status == 201, "\(admitted.text)")
                let returning = try await token(winner, nil, bases[0])
                #expect(returning.status == 200 && returning.json["token"] as? String == admitted.json["token"] as? String, "\(returning.text)")
            }
        }
    }

    @Test("errors: 404 PRESALE_NOT_FOUND and REGISTRATION_NOT_FOUND, 400 for times out of order and bad bodies, 404 CONCERT_NOT_FOUND")
    func errors() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await TestStack.withInstances(1, environment: Self.environment) { bases in
            try await TestHTTPClient.with { http in
                let base = bases[0]
                Kit.expectProblem(try await http.request(.GET, "\(base)/v1/concerts/\(concert.id)/presale"), 404, "PRESALE_NOT_FOUND")
                Kit.expectProblem(try await http.request(.POST, "\(base)/v1/concerts/\(concert.id)/presale/registrations", json: ["userId": UUID().uuidString]),
                                  404, "PRESALE_NOT_FOUND")
                for (closes, opens, ends, winners) in [(60.0, 30.0, 90.0, 5), (10, 20, 20, 5), (10, 20, 30, 0)] {
                    Kit.expectProblem(try await Self.createPresale(http, base, concertID: concert.id, closes: closes, opens: opens, ends: ends, winners: winners),
                                      400, "INVALID_REQUEST", "\(closes) \(opens) \(ends) \(winners)")
                }
                Kit.expectProblem(try await http.request(.POST, "\(base)/v1/admin/concerts/\(concert.id)/presale", token: Self.adminToken,
                                                         json: ["registrationClosesAt": "soon", "saleOpensAt": Self.at(20), "saleClosesAt": Self.at(30), "winners": 1]),
                                  400, "INVALID_REQUEST")
                Kit.expectProblem(try await Self.createPresale(http, base, concertID: 999_999_999_999, closes: 10, opens: 20, ends: 30, winners: 1), 404, "CONCERT_NOT_FOUND")
                #expect(try await Self.createPresale(http, base, concertID: concert.id, closes: 60, opens: 70, ends: 80, winners: 1).status == 201)
                Kit.expectProblem(try await http.request(.GET, "\(base)/v1/concerts/\(concert.id)/presale/registrations/\(UUID().uuidString)"),
                                  404, "REGISTRATION_NOT_FOUND")
                Kit.expectProblem(try await http.request(.GET, "\(base)/v1/concerts/\(concert.id)/presale/registrations/not-a-uuid"), 400, "INVALID_REQUEST")
                Kit.expectProblem(try await http.request(.POST, "\(base)/v1/concerts/\(concert.id)/presale/registrations", json: ["userId": 5]), 400, "INVALID_REQUEST")
                // Before the sale window the queue follows its normal rules.
                #expect(try await http.takeToken(base, concertID: concert.id).token.isEmpty == false)
            }
        }
    }

    static func bytes(hex: String) -> [UInt8] {
        stride(from: 0, to: hex.count, by: 2).map { UInt8(hex.dropFirst($0).prefix(2), radix: 16) ?? 0 }
    }
}
