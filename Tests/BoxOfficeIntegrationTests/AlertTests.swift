import Foundation
import Testing
import TestSupport

/// Operator alerts (ALERT_WEBHOOK_URL) from three real instances to a real receiver: each episode
/// gives exactly one alert and one all-clear, whichever instances observe it. A scratch PostgreSQL
/// and Redis of the suite's own, so their outages and alert records touch no other test.
@Suite("Operator alerts: one message per episode and one when it ends, from N instances")
struct AlertTests {
    typealias Kit = HoldsTestKit
    static let adminToken = "test-admin-" + TestEnvironment.uniqueSuffix(length: 24)

    static func environment(_ stack: ScratchStack, alerts url: String) -> [String: String] {
        [
            "DATABASE_URL": stack.databaseURL, "REDIS_URL": stack.redisURL, "ADMIN_TOKEN": Self.adminToken, "ALERT_WEBHOOK_URL": url,
            "ALERT_CHECK_MS": "200", "ALERT_STORE_SECONDS": "1", "ALERT_STALL_SECONDS": "2", "ALERT_ERROR_WINDOW_SECONDS": "2",
            "ALERT_MIN_RESPONSES": "40", "POOL_TIMEOUT_MS": "1000",
        ]
    }

    /// Waits until some alert contains each of `fragments`, then a little longer (time for a duplicate to show).
    static func alerts(_ receiver: WebhookReceiver, containing fragments: [String], timeout: Duration = .seconds(25)) async throws -> [String] {
        _ = try await WebhookReceiver.eventually(timeout: timeout) { try await receiver.alerts() } until: { alerts in
            fragments.allSatisfy { fragment in alerts.contains { $0.contains(fragment) } }
        }
        try await Task.sleep(for: .seconds(1.5))
        return try await receiver.alerts()
    }

    static func count(_ alerts: [String], _ fragment: String) -> Int { alerts.filter { $0.contains(fragment) }.count }

    @Test("Redis down: one alert that it is unreachable and one that 5xx passed 1%, then one all-clear each; PostgreSQL down: one alert (recorded in Redis), one all-clear")
    func storesDown() async throws {
        try await ScratchStack.with([.postgres, .redis]) { stack in
            try await stack.migrateAndSeed()
            try await WebhookReceiver.with { receiver in
                try await TestStack.withInstances(3, environment: Self.environment(stack, alerts: receiver.alertsURL)) { bases in
                    try await TestHTTPClient.with { http in
                        try await stack.stop(.redis)
                        // Token requests need Redis: 503s, over the minimum volume.
                        for index in 0..<120 {
                            let reply = try await http.request(
                                .POST, "\(bases[index % 3])/v1/queue/tokens", json: ["userId": UUID().uuidString.lowercased(), "concertId": 1])
                            #expect(reply.status == 503, "\(reply.status) \(reply.text)")
                        }
                        var alerts = try await Self.alerts(receiver, containing: ["ALERT: Redis", "were 5xx"])
                        #expect(Self.count(alerts, "ALERT: Redis") == 1 && Self.count(alerts, "were 5xx") == 1, "\(alerts)")
                        try await stack.start(.redis)
                        alerts = try await Self.alerts(receiver, containing: ["RESOLVED: Redis", "RESOLVED: 5xx"])
                        #expect(Self.count(alerts, "RESOLVED: Redis") == 1 && Self.count(alerts, "RESOLVED: 5xx") == 1, "\(alerts)")

                        try await stack.stop(.postgres)
                        alerts = try await Self.alerts(receiver, containing: ["ALERT: PostgreSQL"])
                        #expect(Self.count(alerts, "ALERT: PostgreSQL") == 1, "\(alerts)")
                        try await stack.start(.postgres)
                        alerts = try await Self.alerts(receiver, containing: ["RESOLVED: PostgreSQL"])
                        #expect(Self.count(alerts, "RESOLVED: PostgreSQL") == 1, "\(alerts)")
                        #expect(alerts.count == 6, "\(alerts)")
                    }
                }
            }
        }
    }

    /// A concert with one date (50 seats) through the admin API.
    static func concert(_ http: TestHTTPClient, _ base: String, title: String) async throws -> (id: Int, date: String) {
        let created = try await http.request(.POST, "\(base)/v1/admin/concerts", token: Self.adminToken, json: ["title": title, "artist": "Alerts"])
        let id = try #require(created.json["id"] as? Int, "\(created.text)")
        let date = AdminAPITests.futureDate(days: 30)
        let added = try await http.request(
            .POST, "\(base)/v1/admin/concerts/\(id)/dates", token: Self.adminToken, json: ["date": date, "tiers": [["from": 1, "to": 50, "price": 10_000]]])
        #expect(added.status == 201, "\(added.text)")
        return (id, date)
    }

    @Test("a sell-out gives one alert; a line whose only slot is taken, with a fan waiting, gives one stall alert, and one all-clear once the waiter leaves")
    func soldOutAndStalledLine() async throws {
        try await ScratchStack.with([.postgres, .redis]) { stack in
            try await stack.migrateAndSeed()
            try await WebhookReceiver.with { receiver in
                try await TestStack.withInstances(3, environment: Self.environment(stack, alerts: receiver.alertsURL)) { bases in
                    try await TestHTTPClient.with { http in
                        let sold = try await Self.concert(http, bases[0], title: "Alert Sell-out")
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            for buyer in 0..<12 {
                                group.addTask {
                                    try await SoldOutTests.buy(
                                        http, bases[buyer % 3], concertID: sold.id, date: sold.date, seats: Array(buyer * 4 + 1...buyer * 4 + 4))
                                }
                            }
                            try await group.waitForAll()
                        }
                        try await Task.sleep(for: .seconds(1))
                        #expect(Self.count(try await receiver.alerts(), "Sold out") == 0, "48 of 50 sold is not sold out")
                        try await SoldOutTests.buy(http, bases[1], concertID: sold.id, date: sold.date, seats: [49, 50])
                        var alerts = try await Self.alerts(receiver, containing: ["Sold out: Alert Sell-out (concert \(sold.id))"])
                        #expect(Self.count(alerts, "Sold out: Alert Sell-out") == 1, "\(alerts)")

                        let line = try await Self.concert(http, bases[0], title: "Alert Stall")
                        let patched = try await http.request(
                            .PATCH, "\(bases[0])/v1/admin/concerts/\(line.id)/queue", token: Self.adminToken, json: ["activeCapacity": 1])
                        #expect(patched.status == 200, "\(patched.text)")
                        _ = try await http.activeToken(bases[0], concertID: line.id)
                        let waiter = try await http.takeToken(bases[1], concertID: line.id)
                        // The waiter keeps polling (a fan's page would), and stays in line.
                        let polling = Task {
                            while !Task.isCancelled {
                                _ = try? await http.request(.GET, "\(bases[2])/v1/queue/status", token: waiter.token)
                                try? await Task.sleep(for: .milliseconds(500))
                            }
                        }
                        alerts = try await Self.alerts(receiver, containing: ["Line stalled: concert \(line.id)"])
                        #expect(Self.count(alerts, "Line stalled: concert \(line.id)") == 1, "\(alerts)")
                        polling.cancel()
                        let left = try await http.request(.DELETE, "\(bases[2])/v1/queue/tokens/current", token: waiter.token)
                        #expect(left.status == 200 || left.status == 204, "\(left.status) \(left.text)")
                        alerts = try await Self.alerts(receiver, containing: ["Line moving again: concert \(line.id)"])
                        #expect(Self.count(alerts, "Line moving again: concert \(line.id)") == 1, "\(alerts)")
                        #expect(Self.count(alerts, "Line stalled: concert \(sold.id)") == 0, "a sold-out line is not a stalled one: \(alerts)")
                    }
                }
            }
        }
    }
}
