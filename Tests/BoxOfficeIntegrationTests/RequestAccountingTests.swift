import BoxOfficeDomain
import Foundation
import Testing
import TestSupport

/// What each request costs and how it is counted: exactly one token check per request, and every
/// response in `/metrics` under its real status.
@Suite("Request accounting")
struct RequestAccountingTests {
    typealias Kit = HoldsTestKit

    static func metrics(_ http: TestHTTPClient, _ base: String) async throws -> String {
        try await http.request(.GET, "\(base)/metrics").text
    }

    @Test("a 409 and a 401 are counted as 409 and 401 in /metrics, and nothing as a 500")
    func realStatuses() async throws {
        let concert = try await Fixtures.concert()
        try await TestStack.withInstances(1, environment: ["MAX_BALANCE": "10"]) { bases in
            try await TestHTTPClient.with { http in
                let base = bases[0]
                let (token, _) = try await http.takeToken(base, concertID: concert.id)
                let before = try await Self.metrics(http, base)

                Kit.expectProblem(try await http.request(.POST, "\(base)/v1/balance/charge", token: token, json: ["amount": 11]), 409, "BALANCE_LIMIT")
                Kit.expectProblem(try await http.request(.GET, "\(base)/v1/queue/status", token: "1.nonsense"), 401, "TOKEN_INVALID")

                let charge = ["http_route": "/v1/balance/charge", "http_response_status_code": "409"]
                let status = ["http_route": "/v1/queue/status", "http_response_status_code": "401"]
                // Hummingbird counts a request once its body is written, so the counter can trail the reply.
                var after = try await Self.metrics(http, base)
                func delta(_ labels: [String: String]) -> Double {
                    TestMetrics.value("hb_requests", labels, in: after) - TestMetrics.value("hb_requests", labels, in: before)
                }
                let deadline = ContinuousClock.now + .seconds(2)
                while delta(charge) < 1 || delta(status) < 1, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                    after = try await Self.metrics(http, base)
                }
                #expect(delta(charge) == 1, "\(after)")
                #expect(delta(status) == 1, "\(after)")
                #expect(TestMetrics.value("hb_requests", ["http_response_status_code": "500"], in: after) == 0, "\(after)")
                #expect(TestMetrics.value("hb_request_errors", ["error_type": "500"], in: after) == 0, "\(after)")
            }
        }
    }

    @Test("a hold makes exactly one token check: one queue-status script, one seat-lock script, one window extension")
    func oneTokenCheckPerHold() async throws {
        let concert = try await Fixtures.concert()
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let base = bases[0]
                let user = try await Kit.activeUser(http, base, concertID: concert.id)
                let before = try await Self.metrics(http, base)
                let reply = try await http.request(
                    .POST, "\(base)/v1/reservations", token: user.token,
                    json: ["concertId": concert.id, "date": concert.dates[0], "seatNumbers": [1, 2]]
                )
                #expect(reply.status == 201, "\(reply.text)")
                let after = try await Self.metrics(http, base)
                func runs(_ script: String) -> Double {
                    TestMetrics.value("boxoffice_redis_scripts_total", ["script": script], in: after)
                        - TestMetrics.value("boxoffice_redis_scripts_total", ["script": script], in: before)
                }
                #expect(runs("queue-status") == 1)
                #expect(runs("seat-lock-acquire") == 1)
                #expect(runs("queue-extend") == 1)
            }
        }
    }
}
