import AsyncHTTPClient
import BoxOfficeDomain
import Foundation
import HiredisClient
import NIOCore
import Testing
import TestSupport

/// The queue's HTTP contract: error codes, repeat issue, the status shape and the event stream.
@Suite("Queue HTTP API", .tags(.redisCluster))
struct QueueAPITests {
    static func expectProblem(
        _ reply: TestHTTPClient.Reply, _ status: Int, _ code: String, _ what: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(reply.status == status, "\(what): \(reply.status) \(reply.text)", sourceLocation: sourceLocation)
        #expect(reply.code == code, "\(what): \(reply.text)", sourceLocation: sourceLocation)
        #expect(reply.queueIsProblem, "\(what): content type \(reply.queueContentType)", sourceLocation: sourceLocation)
        #expect(reply.json["status"] as? Int == status, "\(what): problem status field", sourceLocation: sourceLocation)
    }

    static func randomHex32() -> String {
        (0..<32).map { _ in String("0123456789abcdef".randomElement()!) }.joined()
    }

    @Test("a full line (maxWaiting) answers 503 QUEUE_FULL with Retry-After; users already in line keep their token")
    func queueFull() async throws {
        try await QueueRig.with(settings: ["paused": "1", "maxWaiting": "3"]) { rig in
            try await TestStack.withInstances(2, environment: QueueRig.instanceEnvironment) { bases in
                try await TestHTTPClient.with { http in
                    var users: [String] = []
                    for index in 0..<3 {
                        let user = UUID().uuidString.lowercased()
                        _ = try await http.takeToken(bases[index % 2], concertID: rig.concertID, userID: user)
                        users.append(user)
                    }
                    let full = try await http.request(
                        .POST, "\(bases[0])/v1/queue/tokens", json: ["userId": UUID().uuidString, "concertId": rig.concertID])
                    Self.expectProblem(full, 503, "QUEUE_FULL", "fourth arrival")
                    #expect(full.headers.first(name: "retry-after") != nil)
                    let again = try await http.request(.POST, "\(bases[1])/v1/queue/tokens", json: ["userId": users[0], "concertId": rig.concertID])
                    #expect(again.status == 200, "a waiter asking again keeps its place: \(again.text)")
                    #expect(try await rig.zcard(rig.keys.waiting) == 3)
                    // Raising the limit live lets the next one in.
                    try await rig.set(["maxWaiting": "4"])
                    let admitted = try await http.request(
                        .POST, "\(bases[0])/v1/queue/tokens", json: ["userId": UUID().uuidString, "concertId": rig.concertID])
                    #expect(admitted.status == 201, "\(admitted.text)")
                }
            }
        }
    }

    @Test("every queue error code, with problem+json")
    func errorCodes() async throws {
        try await QueueRig.with(settings: ["activeCapacity": "1000", "admitPerSecond": "1000"]) { open in
            try await QueueRig.with(settings: ["paused": "1", "activeCapacity": "1000", "admitPerSecond": "1000"]) { paused in
                try await TestStack.withInstances(2, environment: QueueRig.instanceEnvironment) { bases in
                    try await TestHTTPClient.with { http in
                        let (a, b) = (bases[0], bases[1])
                        let tokens = "\(a)/v1/queue/tokens"
                        let user = UUID().uuidString

                        // POST /v1/queue/tokens
                        Self.expectProblem(try await http.request(.POST, tokens, json: ["userId": "not-a-uuid", "concertId": open.concertID]),
                                           400, "INVALID_REQUEST", "userId not a UUID")
                        Self.expectProblem(try await http.request(.POST, tokens, json: ["userId": "", "concertId": open.concertID]),
                                           400, "INVALID_REQUEST", "empty userId")
                        Self.expectProblem(try await http.request(.POST, tokens, json: ["userId": 42, "concertId": open.concertID]),
                                           400, "INVALID_REQUEST", "userId a number")
                        Self.expectProblem(try await http.request(.POST, tokens, json: ["userId": user, "concertId": "1"]),
                                           400, "INVALID_REQUEST", "concertId a string")
                        Self.expectProblem(try await http.request(.POST, tokens, json: ["userId": user]),
                                           400, "INVALID_REQUEST", "concertId missing")
                        Self.expectProblem(try await http.request(.POST, tokens, json: [String: Any]()),
                                           400, "INVALID_REQUEST", "empty object")
                        Self.expectProblem(try await http.request(.POST, tokens, headers: [("Content-Type", "application/json")],
                                                                  rawBody: Data("{\"userId\": ".utf8)),
                                           400, "INVALID_REQUEST", "malformed JSON")
                        Self.expectProblem(try await http.request(.POST, tokens, headers: [("Content-Type", "application/json")],
                                                                  rawBody: Data("[1,2]".utf8)),
                                           400, "INVALID_REQUEST", "JSON array")
                        Self.expectProblem(try await http.request(.POST, tokens, json: ["userId": user, "concertId": 2_100_000_000 + Int.random(in: 0..<1_000_000)]),
                                           404, "CONCERT_NOT_FOUND", "unknown concert")
                        Self.expectProblem(try await http.request(.POST, tokens, json: ["userId": user, "concertId": 0]),
                                           404, "CONCERT_NOT_FOUND", "concert 0")
                        Self.expectProblem(try await http.request(.POST, tokens, json: ["userId": user, "concertId": -5]),
                                           404, "CONCERT_NOT_FOUND", "negative concert")

                        // GET /v1/queue/status without a usable token
                        let status = "\(b)/v1/queue/status"
                        Self.expectProblem(try await http.request(.GET, status), 401, "TOKEN_INVALID", "no Authorization")
                        Self.expectProblem(try await http.request(.GET, status, token: "garbage"), 401, "TOKEN_INVALID", "malformed token")
                        Self.expectProblem(try await http.request(.GET, status, headers: [("Authorization", "Basic dXNlcjpwYXNz")]),
                                           401, "TOKEN_INVALID", "Basic scheme")
                        Self.expectProblem(try await http.request(.GET, status, headers: [("Authorization", "Bearer")]),
                                           401, "TOKEN_INVALID", "Bearer without token")
                        Self.expectProblem(try await http.request(.GET, status, token: "\(open.concertID).\(Self.randomHex32())"),
                                           401, "TOKEN_INVALID", "unknown well-formed token")
                        Self.expectProblem(try await http.request(.GET, status, token: "\(open.concertID).\(Self.randomHex32().uppercased())"),
                                           401, "TOKEN_INVALID", "uppercase token")
                        Self.expectProblem(try await http.request(.GET, status, token: "2100000001.\(Self.randomHex32())"),
                                           401, "TOKEN_INVALID", "token of an unknown concert")
                        Self.expectProblem(try await http.request(.GET, "\(b)/v1/queue/events", token: "garbage"),
                                           401, "TOKEN_INVALID", "events with a malformed token")

                        // WAITING where ACTIVE is needed
                        let waiting = try await http.takeToken(a, concertID: paused.concertID)
                        let waitingStatus = try await http.request(.GET, status, token: waiting.token)
                        #expect(waitingStatus.status == 200)
                        #expect(waitingStatus.json["status"] as? String == "WAITING")
                        Self.expectProblem(try await http.request(.GET, "\(b)/v1/concerts/\(paused.concertID)/dates", token: waiting.token),
                                           403, "NOT_ADMITTED", "WAITING token on dates")
                        Self.expectProblem(try await http.request(.GET, "\(a)/v1/concerts/\(paused.concertID)/dates/\(Self.anyDate)/seats", token: waiting.token),
                                           403, "NOT_ADMITTED", "WAITING token on seats")

                        // ACTIVE for another concert
                        let active = try await http.activeToken(a, concertID: open.concertID)
                        let dates = try await http.request(.GET, "\(b)/v1/concerts/\(open.concertID)/dates", token: active.token)
                        #expect(dates.status == 200, "\(dates.text)")
                        Self.expectProblem(try await http.request(.GET, "\(b)/v1/concerts/\(paused.concertID)/dates", token: active.token),
                                           403, "WRONG_CONCERT", "ACTIVE token on another concert's dates")

                        // Ended by payment
                        let openConcertDates = try #require((dates.json["dates"] as? [[String: Any]])?.first?["date"] as? String)
                        let hold = try await http.request(.POST, "\(a)/v1/reservations", token: active.token,
                                                          json: ["concertId": open.concertID, "date": openConcertDates, "seatNumbers": [1]])
                        #expect(hold.status == 201, "\(hold.text)")
                        let reservation = try #require(hold.json["reservationId"] as? String)
                        let charge = try await http.request(.POST, "\(b)/v1/balance/charge", token: active.token, json: ["amount": 1_000_000])
                        #expect(charge.status == 200, "\(charge.text)")
                        let pay = try await http.request(.POST, "\(a)/v1/payments", token: active.token, json: ["reservationId": reservation])
                        #expect(pay.status == 201, "\(pay.text)")
                        Self.expectProblem(try await http.request(.GET, status, token: active.token), 401, "TOKEN_EXPIRED", "status after payment")
                        Self.expectProblem(try await http.request(.GET, "\(a)/v1/concerts/\(open.concertID)/dates", token: active.token),
                                           401, "TOKEN_EXPIRED", "dates after payment")
                        Self.expectProblem(try await http.request(.GET, "\(a)/v1/queue/events", token: active.token),
                                           401, "TOKEN_EXPIRED", "events after payment")
                        // The user may queue again; a new token, not the ended one.
                        let again = try await http.request(.POST, tokens, json: ["userId": active.userID, "concertId": open.concertID])
                        #expect(again.status == 201)
                        #expect(again.json["token"] as? String != active.token)
                    }
                }
            }
        }
    }

    static let anyDate = "2030-01-01"

    @Test("the same user asking 100 times at once across two instances gets one token: one 201, 99 x 200")
    func repeatIssue() async throws {
        try await QueueRig.with(settings: ["paused": "1", "activeCapacity": "1000", "admitPerSecond": "1000"]) { rig in
            try await TestStack.withInstances(2, environment: QueueRig.instanceEnvironment) { bases in
                try await TestHTTPClient.with { http in
                    let user = UUID().uuidString.lowercased()
                    let replies = try await withThrowingTaskGroup(of: TestHTTPClient.Reply.self) { group in
                        for index in 0..<100 {
                            group.addTask {
                                try await http.request(.POST, "\(bases[index % 2])/v1/queue/tokens", json: ["userId": user, "concertId": rig.concertID])
                            }
                        }
                        return try await group.reduce(into: [TestHTTPClient.Reply]()) { $0.append($1) }
                    }
                    #expect(replies.filter { $0.status == 201 }.count == 1)
                    #expect(replies.filter { $0.status == 200 }.count == 99)
                    let tokens = Set(replies.compactMap { $0.json["token"] as? String })
                    #expect(tokens.count == 1, "\(tokens)")
                    #expect(replies.allSatisfy { $0.json["userId"] as? String == user })
                    #expect(replies.allSatisfy { $0.json["position"] as? Int == 1 })
                    #expect(try await rig.zcard(rig.keys.waiting) == 1)
                    #expect(try await rig.command("GET", rig.keys.sequence).int == 1)

                    // An upper-case spelling of the same UUID is the same user.
                    let upper = try await http.request(.POST, "\(bases[0])/v1/queue/tokens", json: ["userId": user.uppercased(), "concertId": rig.concertID])
                    #expect(upper.status == 200)
                    #expect(upper.json["token"] as? String == tokens.first)
                }
            }
        }
    }

    @Test("status shape while WAITING and once ACTIVE")
    func statusShape() async throws {
        try await QueueRig.with(settings: ["paused": "1", "activeCapacity": "1000", "admitPerSecond": "50"]) { rig in
            try await TestStack.withInstances(1, environment: QueueRig.instanceEnvironment) { bases in
                try await TestHTTPClient.with { http in
                    let base = bases[0]
                    var issued: [(token: String, userID: String)] = []
                    for _ in 0..<3 {
                        let user = UUID().uuidString.lowercased()
                        let reply = try await http.request(.POST, "\(base)/v1/queue/tokens", json: ["userId": user, "concertId": rig.concertID])
                        #expect(reply.status == 201)
                        #expect(reply.headers.first(name: "Content-Type")?.hasPrefix("application/json") == true)
                        Self.expectWaitingShape(reply.json, position: issued.count + 1, user: user, concertID: rig.concertID)
                        issued.append((try #require(reply.json["token"] as? String), user))
                    }
                    for (index, entry) in issued.enumerated() {
                        let reply = try await http.request(.GET, "\(base)/v1/queue/status", token: entry.token)
                        #expect(reply.status == 200)
                        Self.expectWaitingShape(reply.json, position: index + 1, user: entry.userID, concertID: rig.concertID)
                        #expect(reply.json["token"] as? String == entry.token)
                    }

                    try await rig.set(["paused": "0"])
                    try await http.waitUntilActive(base, token: issued[0].token, timeout: .seconds(5))
                    let reply = try await http.request(.GET, "\(base)/v1/queue/status", token: issued[0].token)
                    let json = reply.json
                    #expect(Set(json.keys) == Self.shapeKeys)
                    #expect(json["status"] as? String == "ACTIVE")
                    #expect(json["position"] is NSNull)
                    #expect(json["estimatedWaitSeconds"] as? Int == 0)
                    #expect((json["pollAfterSeconds"] as? Int ?? 0) >= 1)
                    let until = try #require(json["activeUntil"] as? String)
                    let formatter = ISO8601DateFormatter()
                    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                    let parsed = try #require(formatter.date(from: until), "activeUntil \(until)")
                    #expect(until.hasSuffix("Z"), "\(until)")
                    #expect(parsed > Date(), "activeUntil \(until) is in the past")
                    #expect(parsed < Date().addingTimeInterval(400), "activeUntil \(until) too far")
                }
            }
        }
    }

    static let shapeKeys: Set<String> = ["token", "userId", "concertId", "status", "position", "estimatedWaitSeconds", "activeUntil", "pollAfterSeconds", "opensAt", "paused", "soldOut"]

    /// The WAITING shape in a paused line.
    static func expectWaitingShape(_ json: [String: Any], position: Int, user: String, concertID: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(Set(json.keys) == Self.shapeKeys, "\(json.keys.sorted())", sourceLocation: sourceLocation)
        #expect(json["status"] as? String == "WAITING", sourceLocation: sourceLocation)
        #expect(json["userId"] as? String == user, sourceLocation: sourceLocation)
        #expect(json["concertId"] as? Int == concertID, sourceLocation: sourceLocation)
        #expect(json["position"] as? Int == position, sourceLocation: sourceLocation)
        // This rig's line is paused: a waiter keeps its place and is promised no wait.
        #expect(json["paused"] as? Bool == true, "\(json)", sourceLocation: sourceLocation)
        #expect(json["estimatedWaitSeconds"] is NSNull, "\(json)", sourceLocation: sourceLocation)
        #expect(json["activeUntil"] is NSNull, "\(json)", sourceLocation: sourceLocation)
        #expect(json["opensAt"] is NSNull, "\(json)", sourceLocation: sourceLocation)
        #expect((json["pollAfterSeconds"] as? Int ?? 0) >= 1, sourceLocation: sourceLocation)
        let token = json["token"] as? String ?? ""
        #expect(QueueToken.concertID(of: token) == concertID, "\(token)", sourceLocation: sourceLocation)
    }
}
