import BoxOfficeDomain
import Foundation
import HiredisClient
import LibpqClient
import Testing
import TestSupport

/// `DELETE /v1/queue/tokens/current`: a fan who gives up says so, and their place or slot goes to
/// the next fan at once instead of after the idle drop or the end of the active window.
@Suite("Leaving the line", .tags(.redisCluster))
struct QueueLeaveTests {
    typealias Kit = HoldsTestKit

    @Test("a waiter who leaves gives up the place at once: everyone behind moves up; the token is ended")
    func waiterLeaves() async throws {
        try await QueueRig.with(settings: ["paused": "1", "activeCapacity": "1000", "admitPerSecond": "1000"]) { rig in
            try await TestStack.withInstances(2, environment: QueueRig.instanceEnvironment) { bases in
                try await TestHTTPClient.with { http in
                    let first = try await http.takeToken(bases[0], concertID: rig.concertID)
                    let leaver = try await http.takeToken(bases[1], concertID: rig.concertID)
                    let last = try await http.takeToken(bases[0], concertID: rig.concertID)
                    let before = try await http.request(.GET, "\(bases[0])/v1/queue/status", token: last.token)
                    #expect(before.json["position"] as? Int == 3)

                    let left = try await http.request(.DELETE, "\(bases[1])/v1/queue/tokens/current", token: leaver.token)
                    #expect(left.status == 204, "\(left.text)")
                    #expect(left.text.isEmpty)
                    // At once, on the other instance too, before any promotion tick could drop anyone.
                    let after = try await http.request(.GET, "\(bases[0])/v1/queue/status", token: last.token)
                    #expect(after.json["position"] as? Int == 2)
                    #expect(try await rig.zcard(rig.keys.waiting) == 2)
                    #expect(try await rig.command("ZSCORE", rig.keys.waiting, leaver.token).isNull)
                    let firstStatus = try await http.request(.GET, "\(bases[1])/v1/queue/status", token: first.token)
                    #expect(firstStatus.json["position"] as? Int == 1)

                    // Later calls with the token: 401 TOKEN_EXPIRED, leaving again too.
                    Kit.expectProblem(try await http.request(.GET, "\(bases[0])/v1/queue/status", token: leaver.token), 401, "TOKEN_EXPIRED")
                    Kit.expectProblem(
                        try await http.request(.DELETE, "\(bases[0])/v1/queue/tokens/current", token: leaver.token), 401, "TOKEN_EXPIRED")
                    // Unknown and malformed tokens: 401 TOKEN_INVALID; no token at all too.
                    Kit.expectProblem(
                        try await http.request(.DELETE, "\(bases[0])/v1/queue/tokens/current", token: "\(rig.concertID).0123456789abcdef0123456789abcdef"),
                        401, "TOKEN_INVALID")
                    Kit.expectProblem(try await http.request(.DELETE, "\(bases[0])/v1/queue/tokens/current", token: "garbage"), 401, "TOKEN_INVALID")
                    Kit.expectProblem(try await http.request(.DELETE, "\(bases[0])/v1/queue/tokens/current"), 401, "TOKEN_INVALID")

                    // The fan may come back, at the end of the line, with a new token.
                    let again = try await http.request(.POST, "\(bases[1])/v1/queue/tokens", json: ["userId": leaver.userID, "concertId": rig.concertID])
                    #expect(again.status == 201)
                    #expect(again.json["position"] as? Int == 3)
                }
            }
        }
    }

    @Test("an admitted fan who leaves frees the slot for the next waiter and the held seats at once")
    func activeFanLeaves() async throws {
        try await QueueRig.with(settings: ["activeCapacity": "1", "admitPerSecond": "1000", "activeSeconds": "600"]) { rig in
            try await TestStack.withInstances(2, environment: QueueRig.instanceEnvironment) { bases in
                try await TestHTTPClient.with { http in
                    let holder = try await http.activeToken(bases[0], concertID: rig.concertID)
                    let concert = try await Kit.withDatabase { database in
                        try await database.query("SELECT date::text FROM concert_dates WHERE concert_id = \(rig.concertID)").first!.decode(String.self, at: 0)
                    }
                    let hold = try await http.request(
                        .POST, "\(bases[0])/v1/reservations", token: holder.token,
                        json: ["concertId": rig.concertID, "date": concert, "seatNumbers": [7, 8]])
                    #expect(hold.status == 201, "\(hold.text)")
                    let reservationID = try #require(hold.json["reservationId"] as? String)

                    // Capacity 1: the next fan waits behind the holder.
                    let next = try await http.takeToken(bases[1], concertID: rig.concertID)
                    try await Task.sleep(for: .milliseconds(600))
                    let waiting = try await http.request(.GET, "\(bases[1])/v1/queue/status", token: next.token)
                    #expect(waiting.json["status"] as? String == "WAITING")

                    let left = try await http.request(.DELETE, "\(bases[1])/v1/queue/tokens/current", token: holder.token)
                    #expect(left.status == 204, "\(left.text)")
                    // The hold is cancelled and its seats are free at once.
                    let state = try await Kit.withDatabase { database in
                        try await database.query("SELECT status FROM reservations WHERE id = \(reservationID)::uuid").first!.decode(String.self, at: 0)
                    }
                    #expect(state == "CANCELLED")
                    // The slot goes to the next fan within a tick or two.
                    try await http.waitUntilActive(bases[0], token: next.token, timeout: .seconds(5))
                    let seats = try await http.request(.GET, "\(bases[0])/v1/concerts/\(rig.concertID)/dates/\(concert)/seats", token: next.token)
                    let map = try #require(seats.json["seats"] as? [[String: Any]])
                    #expect(map.filter { [7, 8].contains($0["number"] as? Int ?? 0) }.allSatisfy { $0["status"] as? String == "AVAILABLE" })
                    // The one who left cannot pay or hold with the ended token.
                    Kit.expectProblem(
                        try await http.request(.POST, "\(bases[0])/v1/payments", token: holder.token, json: ["reservationId": reservationID]),
                        401, "TOKEN_EXPIRED")
                }
            }
        }
    }
}
