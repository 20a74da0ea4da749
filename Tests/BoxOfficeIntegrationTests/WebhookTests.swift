import BoxOfficeDomain
import Foundation
import Testing
import TestSupport

/// Webhooks end to end: endpoints registered through the admin API of real instances, events from
/// real changes, deliveries to a real receiver (scripts/webhook-receiver.py) that checks every
/// signature with PyPI's standardwebhooks and answers with scripted statuses.
@Suite("Webhooks: signed deliveries, retries with backoff, 410, the delivery log and redelivery")
struct WebhookTests {
    typealias Kit = HoldsTestKit
    static let adminToken = "test-admin-" + TestEnvironment.uniqueSuffix(length: 24)
    /// Retries start at 100 ms here (1 s by default), so five failures take about 3 s, not 31.
    static let environment = ["ADMIN_TOKEN": Self.adminToken, "WEBHOOK_RETRY_BASE_MS": "100", "WEBHOOK_POLL_MS": "100"]

    struct Endpoint { let id: String; let secret: String }

    static func register(_ http: TestHTTPClient, _ base: String, url: String, events: [String]) async throws -> Endpoint {
        let reply = try await http.request(.POST, "\(base)/v1/admin/webhooks", token: Self.adminToken, json: ["url": url, "events": events])
        guard reply.status == 201, let id = reply.json["id"] as? String, let secret = reply.json["secret"] as? String else {
            throw TestServerError("registration failed: \(reply.status) \(reply.text)")
        }
        return Endpoint(id: id, secret: secret)
    }

    /// Registers `name` at the receiver and at BoxOffice, runs `body`, and removes the endpoint.
    static func withEndpoint<Result: Sendable>(
        _ http: TestHTTPClient, _ base: String, _ receiver: WebhookReceiver, _ name: String, events: [String] = ["*"], statuses: [Int] = [],
        delayMilliseconds: Int = 0, _ body: (Endpoint) async throws -> Result
    ) async throws -> Result {
        let endpoint = try await Self.register(http, base, url: receiver.url(name), events: events)
        try await receiver.configure(name, secret: endpoint.secret, statuses: statuses, delayMilliseconds: delayMilliseconds)
        do {
            let result = try await body(endpoint)
            _ = try await http.request(.DELETE, "\(base)/v1/admin/webhooks/\(endpoint.id)", token: Self.adminToken)
            return result
        } catch {
            _ = try? await http.request(.DELETE, "\(base)/v1/admin/webhooks/\(endpoint.id)", token: Self.adminToken)
            throw error
        }
    }

    /// `count` balance charges (one `balance.charged` event each); returns the users.
    static func charges(_ count: Int) async throws -> [String] {
        try await Kit.withDatabase { try await EventOutboxTests.charges(count, database: $0) }
    }

    static func deliveries(_ receiver: WebhookReceiver, _ name: String, users: [String], count: Int, timeout: Duration = .seconds(20)) async throws
        -> [WebhookReceiver.Delivery]
    {
        try await WebhookReceiver.eventually(timeout: timeout) {
            try await receiver.deliveries(name).filter { users.contains($0.fields["userId"] as? String ?? "") }
        } until: { $0.count >= count }
    }

    @Test("the admin API's errors: token, url, events, unknown endpoints and events, limit; a secret shown once, never listed")
    func adminErrors() async throws {
        try await TestStack.withInstances(1, environment: Self.environment) { bases in
            try await TestHTTPClient.with { http in
                let base = bases[0]
                let webhooks = "\(base)/v1/admin/webhooks"
                Kit.expectProblem(try await http.request(.POST, webhooks, json: ["url": "http://x.example/", "events": ["*"]]), 401, "ADMIN_UNAUTHORIZED")
                for (body, comment) in [
                    (["url": "ftp://x.example/", "events": ["*"]], "ftp"), (["url": "not a url", "events": ["*"]], "no scheme"),
                    (["url": "http://", "events": ["*"]], "no host"), (["url": "http://x.example/", "events": [String]()], "no events"),
                    (["url": "http://x.example/", "events": ["order.shipped"]], "unknown type"),
                    (["url": "http://x.example/", "events": ["order.paid", "order.paid"]], "duplicate"),
                    (["url": "http://x.example/", "events": ["*", "order.paid"]], "star and a type"), (["url": "http://x.example/"], "missing events"),
                ] as [([String: Any], String)] {
                    Kit.expectProblem(try await http.request(.POST, webhooks, token: Self.adminToken, json: body), 400, "INVALID_REQUEST", comment)
                }
                Kit.expectProblem(try await http.request(.DELETE, "\(webhooks)/we_unknown", token: Self.adminToken), 404, "WEBHOOK_NOT_FOUND")
                Kit.expectProblem(try await http.request(.GET, "\(webhooks)/we_unknown/deliveries", token: Self.adminToken), 404, "WEBHOOK_NOT_FOUND")
                for id in ["evt_0", "evt_999999999999", "123", "evt_x"] {
                    Kit.expectProblem(try await http.request(.POST, "\(base)/v1/admin/events/\(id)/redeliver", token: Self.adminToken), 404, "EVENT_NOT_FOUND", id)
                }

                let created = try await http.request(
                    .POST, webhooks, token: Self.adminToken, json: ["url": "https://hooks.example/boxoffice", "events": ["order.paid"]])
                #expect(created.status == 201, "\(created.text)")
                let id = try #require(created.json["id"] as? String)
                #expect((created.json["secret"] as? String)?.hasPrefix("whsec_") == true && created.json["enabled"] as? Bool == true)
                for limit in ["0", "501", "x"] {
                    Kit.expectProblem(try await http.request(.GET, "\(webhooks)/\(id)/deliveries?limit=\(limit)", token: Self.adminToken), 400, "INVALID_REQUEST")
                }
                let log = try await http.request(.GET, "\(webhooks)/\(id)/deliveries", token: Self.adminToken)
                #expect(log.status == 200 && (log.json["deliveries"] as? [Any])?.isEmpty == true, "\(log.text)")
                let listed = try await http.request(.GET, webhooks, token: Self.adminToken)
                let mine = (listed.json["webhooks"] as? [[String: Any]] ?? []).filter { $0["id"] as? String == id }
                #expect(mine.count == 1 && mine[0]["secret"] == nil && mine[0]["events"] as? [String] == ["order.paid"], "\(listed.text)")
                #expect(try await http.request(.DELETE, "\(webhooks)/\(id)", token: Self.adminToken).status == 204)
                Kit.expectProblem(try await http.request(.DELETE, "\(webhooks)/\(id)", token: Self.adminToken), 404, "WEBHOOK_NOT_FOUND")
            }
        }
    }

    @Test("each endpoint gets the events it subscribed to, signed (verified by standardwebhooks), with the event id as webhook-id; the log shows the 2xx")
    func signedDeliveriesBySubscription() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await TestStack.withInstances(2, environment: Self.environment) { bases in
            try await TestHTTPClient.with { http in
                try await WebhookReceiver.with { receiver in
                    try await Self.withEndpoint(http, bases[0], receiver, "all") { all in
                        try await Self.withEndpoint(http, bases[1], receiver, "paid", events: ["order.paid"]) { _ in
                            let fan = try await Kit.activeUser(http, bases[0], concertID: concert.id)
                            #expect(try await http.request(.POST, "\(bases[0])/v1/balance/charge", token: fan.token, json: ["amount": 500_000]).status == 200)
                            let held = try await Kit.hold(http, bases[1], fan, concertID: concert.id, date: concert.dates[0], seats: [4])
                            let reservation = try #require(held.json["reservationId"] as? String)
                            let paid = try await http.request(.POST, "\(bases[0])/v1/payments", token: fan.token, json: ["reservationId": reservation])
                            #expect(paid.status == 201, "\(paid.text)")

                            let everything = try await Self.deliveries(receiver, "all", users: [fan.userID], count: 3)
                            // Deliveries run in parallel: their order is not promised (the stream's is).
                            #expect(everything.map(\.type).sorted() == ["balance.charged", "order.paid", "reservation.held"], "\(everything.map(\.type))")
                            #expect(everything.allSatisfy { $0.verified && $0.webhookID.hasPrefix("evt_") }, "\(everything.map(\.error))")
                            #expect(Set(everything.map(\.webhookID)).count == 3)
                            let orders = try await Self.deliveries(receiver, "paid", users: [fan.userID], count: 1)
                            #expect(orders.count == 1 && orders[0].type == "order.paid" && orders[0].verified)
                            #expect(orders.first?.fields["paymentId"] as? String == paid.json["paymentId"] as? String)
                            #expect(orders.first?.webhookID == everything.first { $0.type == "order.paid" }?.webhookID)

                            let log = try await http.request(.GET, "\(bases[1])/v1/admin/webhooks/\(all.id)/deliveries?limit=500", token: Self.adminToken)
                            let attempts = (log.json["deliveries"] as? [[String: Any]] ?? []).filter { attempt in
                                everything.contains { $0.webhookID == attempt["eventId"] as? String }
                            }
                            #expect(attempts.count == 3 && attempts.allSatisfy { $0["httpStatus"] as? Int == 200 && $0["attempt"] as? Int == 1 }, "\(log.text)")
                        }
                    }
                }
            }
        }
    }

    @Test("an endpoint answering 500 five times then 200 gets the event six times with the same id, backing off; the log shows each attempt; redeliver sends it once more")
    func retriesThenRedeliver() async throws {
        try await TestStack.withInstances(2, environment: Self.environment) { bases in
            try await TestHTTPClient.with { http in
                try await WebhookReceiver.with { receiver in
                    try await Self.withEndpoint(http, bases[0], receiver, "flaky", events: ["balance.charged"], statuses: [500, 500, 500, 500, 500]) { endpoint in
                        let users = try await Self.charges(1)
                        let seen = try await Self.deliveries(receiver, "flaky", users: users, count: 6)
                        #expect(seen.map(\.status) == [500, 500, 500, 500, 500, 200])
                        #expect(Set(seen.map(\.webhookID)).count == 1 && seen.allSatisfy(\.verified))
                        let eventID = try #require(seen.first?.webhookID)

                        let log = try await http.request(.GET, "\(bases[1])/v1/admin/webhooks/\(endpoint.id)/deliveries", token: Self.adminToken)
                        let attempts = (log.json["deliveries"] as? [[String: Any]] ?? []).filter { $0["eventId"] as? String == eventID }.reversed()
                        #expect(attempts.map { $0["attempt"] as? Int } == [1, 2, 3, 4, 5, 6], "\(log.text)")
                        #expect(attempts.map { $0["httpStatus"] as? Int } == [500, 500, 500, 500, 500, 200])
                        #expect(attempts.dropLast().allSatisfy { $0["nextAttemptAt"] is String } && attempts.last?["nextAttemptAt"] is NSNull)
                        // Backoff: each wait at least 0.75 × 100 ms × 2^(n-1).
                        let times = attempts.compactMap { Kit.parseTime($0["attemptedAt"] as? String) }
                        for index in 1..<times.count {
                            let wait = times[index].timeIntervalSince(times[index - 1])
                            #expect(wait >= 0.075 * pow(2, Double(index - 1)) - 0.01, "wait \(index): \(wait) s")
                        }

                        let redelivered = try await http.request(.POST, "\(bases[0])/v1/admin/events/\(eventID)/redeliver", token: Self.adminToken)
                        #expect(redelivered.status == 202 && redelivered.json["deliveries"] as? Int == 1, "\(redelivered.text)")
                        let again = try await Self.deliveries(receiver, "flaky", users: users, count: 7)
                        #expect(again.count == 7 && again.last?.webhookID == eventID && again.last?.verified == true)
                    }
                }
            }
        }
    }

    @Test("a 410 disables the endpoint: listed as disabled with the reason, and sent nothing more")
    func goneDisables() async throws {
        try await TestStack.withInstances(1, environment: Self.environment) { bases in
            try await TestHTTPClient.with { http in
                try await WebhookReceiver.with { receiver in
                    try await Self.withEndpoint(http, bases[0], receiver, "gone", events: ["balance.charged"], statuses: [410]) { endpoint in
                        let first = try await Self.charges(1)
                        #expect(try await Self.deliveries(receiver, "gone", users: first, count: 1).map(\.status) == [410])
                        let listed = try await WebhookReceiver.eventually {
                            try await http.request(.GET, "\(bases[0])/v1/admin/webhooks", token: Self.adminToken)
                        } until: { reply in
                            (reply.json["webhooks"] as? [[String: Any]] ?? []).contains { $0["id"] as? String == endpoint.id && $0["enabled"] as? Bool == false }
                        }
                        let mine = (listed.json["webhooks"] as? [[String: Any]] ?? []).first { $0["id"] as? String == endpoint.id }
                        #expect(mine?["enabled"] as? Bool == false && (mine?["disabledReason"] as? String)?.contains("410") == true, "\(listed.text)")
                        let later = try await Self.charges(3)
                        try await Task.sleep(for: .seconds(2))
                        #expect(try await receiver.deliveries("gone").filter { later.contains($0.fields["userId"] as? String ?? "") }.isEmpty)
                        #expect(try await receiver.deliveries("gone").count == 1)
                    }
                }
            }
        }
    }

    @Test("an endpoint that takes 3 s to answer, with a backlog of 1,500 deliveries, holds up neither another endpoint nor the sales: the fast one has all 40 events at once")
    func slowEndpointIsolated() async throws {
        try await TestStack.withInstances(1, environment: Self.environment) { bases in
            try await TestHTTPClient.with { http in
                try await WebhookReceiver.with { receiver in
                    try await Self.withEndpoint(http, bases[0], receiver, "slow", events: ["balance.charged"], delayMilliseconds: 3_000) { _ in
                        // The slow endpoint's backlog: older than anything the fast one will get.
                        _ = try await Self.charges(1_500)
                        try await Self.withEndpoint(http, bases[0], receiver, "fast", events: ["balance.charged"]) { _ in
                            let started = ContinuousClock.now
                            let users = try await Self.charges(40)
                            let fast = try await Self.deliveries(receiver, "fast", users: users, count: 40, timeout: .seconds(10))
                            let elapsed = ContinuousClock.now - started
                            let slow = try await receiver.deliveries("slow")
                            #expect(fast.count == 40 && Set(fast.map(\.webhookID)).count == 40)
                            #expect(elapsed < .seconds(6), "the fast endpoint had every event after \(elapsed)")
                            // At most 4 at a time per endpoint (WEBHOOK_CONCURRENCY), each 3 s.
                            #expect(slow.count <= 12, "the slow endpoint had \(slow.count)")
                        }
                    }
                }
            }
        }
    }
}
