import AsyncHTTPClient
import Foundation
import Testing
import TestSupport

@Suite("Full purchase flow through two instances", .tags(.redisCluster, .postgresHA))
struct PurchaseFlowTests {
    @Test("take a token, hold two seats, charge, pay; invariants hold")
    func purchase() async throws {
        let concert = try await Fixtures.concert()
        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                let (token, userID) = try await http.activeToken(bases[0], concertID: concert.id)
                let hold = try await http.request(
                    .POST, "\(bases[1])/v1/reservations", token: token,
                    json: ["concertId": concert.id, "date": concert.dates[0], "seatNumbers": [8, 7]]
                )
                #expect(hold.status == 201, "\(hold.text)")
                #expect(hold.json["seatNumbers"] as? [Int] == [7, 8])
                #expect(hold.json["amount"] as? Int == 17_000 + 18_000)
                let reservationID = try #require(hold.json["reservationId"] as? String)

                let charge = try await http.request(.POST, "\(bases[0])/v1/balance/charge", token: token, json: ["amount": 50_000])
                #expect(charge.status == 200)
                #expect(charge.json["balance"] as? Int == 50_000)

                let pay = try await http.request(.POST, "\(bases[1])/v1/payments", token: token, json: ["reservationId": reservationID])
                #expect(pay.status == 201, "\(pay.text)")
                #expect(pay.json["status"] as? String == "PAID")
                #expect(pay.json["balance"] as? Int == 15_000)

                let seats = try await http.request(.GET, "\(bases[0])/v1/queue/status", token: token)
                #expect(seats.status == 401)
                #expect(seats.code == "TOKEN_EXPIRED")
                _ = userID
            }
        }
    }
}
