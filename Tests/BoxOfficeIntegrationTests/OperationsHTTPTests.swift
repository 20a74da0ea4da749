import AsyncHTTPClient
import BoxOfficeDomain
import Foundation
import LibpqClient
import Logging
import NIOCore
import Testing
import TestSupport

@Suite("Health, readiness, headers and problem details")
struct OperationsHTTPTests {
    @Test("live and ready answer 200 with the instance id; every response carries X-Instance-Id and X-Request-Id")
    func healthAndHeaders() async throws {
        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                for (index, base) in bases.enumerated() {
                    let live = try await http.request(.GET, "\(base)/health/live")
                    #expect(live.status == 200)
                    #expect(live.json["instance"] as? String == "test-\(index + 1)")
                    let ready = try await http.request(.GET, "\(base)/health/ready")
                    #expect(ready.status == 200, "\(ready.text)")
                    #expect(ready.headers["X-Instance-Id"].first == "test-\(index + 1)")
                    #expect(ready.headers["X-Request-Id"].first?.isEmpty == false)
                }
                // Connection: close is answered in kind (RFC 9112), on answers and on errors alike.
                for path in ["/health/live", "/v1/nope"] {
                    let closing = try await http.request(.GET, "\(bases[0])\(path)", headers: [("Connection", "close")])
                    #expect(closing.headers["Connection"].first == "close", "\(path)")
                }
                #expect(try await http.request(.GET, "\(bases[0])/health/live").headers["Connection"].first != "close")
                // A caller's request id is kept; errors carry both headers too.
                let missing = try await http.request(.GET, "\(bases[0])/v1/nope", headers: [("X-Request-Id", "trace-123")])
                #expect(missing.headers["X-Request-Id"].first == "trace-123")
                #expect(missing.headers["X-Instance-Id"].first == "test-1")
            }
        }
    }

    @Test("the pages: / and /admin and their assets from web/, the seat limit filled in; anything else under /assets is a 404")
    func pages() async throws {
        try await TestStack.withInstances(1, environment: ["MAX_SEATS_PER_RESERVATION": "3"]) { bases in
            try await TestHTTPClient.with { http in
                let fan = try await http.request(.GET, "\(bases[0])/")
                #expect(fan.status == 200)
                #expect(fan.headers["Content-Type"].first == "text/html; charset=utf-8")
                #expect(fan.text.contains(#"data-testid="concert-list""#))
                #expect(fan.text.contains(#"<meta name="max-seats" content="3">"#), "the instance's MAX_SEATS_PER_RESERVATION")
                let admin = try await http.request(.GET, "\(bases[0])/admin")
                #expect(admin.status == 200 && admin.text.contains(#"data-testid="admin-token""#))
                for (asset, type) in [("fan.js", "text/javascript"), ("admin.js", "text/javascript"), ("common.js", "text/javascript"), ("app.css", "text/css")] {
                    let reply = try await http.request(.GET, "\(bases[0])/assets/\(asset)")
                    #expect(reply.status == 200 && reply.headers["Content-Type"].first?.hasPrefix(type) == true, "\(asset)")
                }
                for path in ["/assets/nope.js", "/assets/..%2FPackage.swift", "/assets/index.html%00.js", "/admin/x"] {
                    let reply = try await http.request(.GET, "\(bases[0])\(path)")
                    #expect(reply.status == 404 && reply.code == "NOT_FOUND", "\(path): \(reply.status)")
                }
                // The pages and their assets: no inline code or framing, no sniffing, no referrer.
                for path in ["/", "/admin", "/assets/fan.js", "/assets/app.css"] {
                    let headers = try await http.request(.GET, "\(bases[0])\(path)").headers
                    let policy = headers["Content-Security-Policy"].first ?? ""
                    #expect(policy.contains("script-src 'self'") && policy.contains("style-src 'self'") && policy.contains("frame-ancestors 'none'"),
                            "\(path): \(policy)")
                    #expect(!policy.contains("unsafe"), "\(path): \(policy)")
                    #expect(headers["X-Content-Type-Options"].first == "nosniff" && headers["X-Frame-Options"].first == "DENY", "\(path)")
                    #expect(headers["Referrer-Policy"].first == "no-referrer", "\(path)")
                }
                // The pages' markup has no inline style or script the policy would block.
                for page in [fan.text, admin.text] {
                    #expect(!page.contains("style=\"") && !page.contains("<script>"), "inline style or script")
                    #expect(page.range(of: #"\son[a-z]+\s*="#, options: .regularExpression) == nil, "an inline event handler")
                }
            }
        }
    }

    @Test("HEAD answers wherever GET does: the same status and content type, no body")
    func headWhereverGet() async throws {
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                for path in ["/", "/admin", "/assets/app.css", "/v1/concerts", "/health/live", "/health/ready"] {
                    let get = try await http.request(.GET, "\(bases[0])\(path)")
                    let head = try await http.request(.HEAD, "\(bases[0])\(path)")
                    #expect(head.status == get.status && head.status == 200, "\(path): HEAD \(head.status), GET \(get.status)")
                    #expect(head.headers["Content-Type"].first == get.headers["Content-Type"].first, "\(path)")
                    #expect(head.text.isEmpty, "\(path): a body")
                }
                let missing = try await http.request(.HEAD, "\(bases[0])/assets/nope.js")
                #expect(missing.status == 404)
            }
        }
    }

    @Test("unknown route → 404 NOT_FOUND problem+json")
    func unknownRoute() async throws {
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let reply = try await http.request(.GET, "\(bases[0])/v1/does-not-exist")
                #expect(reply.status == 404)
                #expect(reply.code == "NOT_FOUND")
                #expect(reply.headers["Content-Type"].first == "application/problem+json")
                #expect(reply.json["status"] as? Int == 404)
                #expect(reply.json["title"] is String)
                #expect(reply.json["type"] is String)
            }
        }
    }

    @Test("malformed JSON, wrong types and missing fields → 400 INVALID_REQUEST")
    func badJSON() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let url = "\(bases[0])/v1/queue/tokens"
                let bodies: [Data] = [
                    Data("{not json".utf8),
                    Data("[]".utf8),
                    Data(#"{"userId": 5, "concertId": \#(concert.id)}"#.utf8),
                    Data(#"{"concertId": \#(concert.id)}"#.utf8),
                    Data(#"{"userId": "not-a-uuid", "concertId": \#(concert.id)}"#.utf8),
                    Data(),
                ]
                for body in bodies {
                    let reply = try await http.request(.POST, url, rawBody: body)
                    #expect(reply.status == 400, "\(String(decoding: body, as: UTF8.self)) → \(reply.text)")
                    #expect(reply.code == "INVALID_REQUEST")
                    #expect(reply.headers["Content-Type"].first == "application/problem+json")
                }
            }
        }
    }

    @Test("a body over 64 KiB → 413 PAYLOAD_TOO_LARGE, and the instance keeps serving")
    func bodyTooLarge() async throws {
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let big = Data(#"{"userId": ""#.utf8) + Data(repeating: UInt8(ascii: "a"), count: 70 * 1024) + Data(#"", "concertId": 1}"#.utf8)
                let reply = try await http.request(.POST, "\(bases[0])/v1/queue/tokens", rawBody: big)
                #expect(reply.status == 413)
                #expect(reply.code == "PAYLOAD_TOO_LARGE")
                let live = try await http.request(.GET, "\(bases[0])/health/live")
                #expect(live.status == 200)
            }
        }
    }

    @Test("readiness is 503 naming Redis when Redis is unreachable")
    func readinessRedisDown() async throws {
        try await TestStack.withInstances(1, environment: ["REDIS_URL": "redis://127.0.0.1:1/0", "POOL_TIMEOUT_MS": "1000"]) { bases in
            try await TestHTTPClient.with { http in
                let reply = try await http.request(.GET, "\(bases[0])/health/ready")
                #expect(reply.status == 503)
                #expect(reply.json["failing"] as? [String] == ["redis"])
                #expect(reply.json["instance"] as? String == "test-1")
                // A route that needs Redis answers 503 SERVICE_UNAVAILABLE, not 500.
                let status = try await http.request(.GET, "\(bases[0])/v1/queue/status", token: "1.0123456789abcdef0123456789abcdef")
                #expect(status.status == 503)
                #expect(status.code == "SERVICE_UNAVAILABLE")
            }
        }
    }

    @Test("readiness is 503 naming PostgreSQL when PostgreSQL is unreachable")
    func readinessPostgresDown() async throws {
        let environment = ["DATABASE_URL": "postgres://boxoffice@127.0.0.1:1/boxoffice", "POOL_TIMEOUT_MS": "1000"]
        try await TestStack.withInstances(1, environment: environment) { bases in
            try await TestHTTPClient.with { http in
                let reply = try await http.request(.GET, "\(bases[0])/health/ready")
                #expect(reply.status == 503)
                #expect(reply.json["failing"] as? [String] == ["postgres"])
                let concerts = try await http.request(.GET, "\(bases[0])/v1/concerts")
                #expect(concerts.status == 503)
                #expect(concerts.code == "SERVICE_UNAVAILABLE")
            }
        }
    }

    /// Request counters come from the process-wide metrics factory that `boxoffice serve` bootstraps;
    /// in-process test instances share one process, so here only the instance's own gauges are checked.
    @Test("/metrics serves Prometheus text with the pool gauges")
    func metrics() async throws {
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                _ = try await http.request(.GET, "\(bases[0])/health/live")
                let reply = try await http.request(.GET, "\(bases[0])/metrics")
                #expect(reply.status == 200)
                #expect(reply.headers["Content-Type"].first?.hasPrefix("text/plain") == true)
                let size = TestStack.defaultEnvironment["DB_POOL_SIZE"]!
                #expect(reply.text.contains("boxoffice_pool_connections{pool=\"postgres\",state=\"size\"} \(size)"), "\(reply.text)")
                #expect(reply.text.contains("boxoffice_pool_waiting"))
            }
        }
    }

    @Test("/metrics reads the sales figures at most every 5 s: a sale shows at the first scrape after that, not before")
    func salesFiguresAreReadEveryFewSeconds() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        let date = concert.dates[0]
        try await TestStack.withInstances(1) { bases in
            try await TestHTTPClient.with { http in
                let sold = "boxoffice_concert_seats{concert=\"\(concert.id)\",state=\"sold\"}"
                func soldNow() async throws -> Double? {
                    let text = try await http.request(.GET, "\(bases[0])/metrics").text
                    return text.split(separator: "\n").first { $0.hasPrefix(sold) }.flatMap { Double($0.dropFirst(sold.count + 1)) }
                }
                #expect(try await soldNow() == 0)
                let started = ContinuousClock.now
                let buyer = try await http.activeToken(bases[0], concertID: concert.id)
                let hold = try await HoldsTestKit.hold(http, bases[0], buyer, concertID: concert.id, date: date, seats: [1])
                let reservation = try #require(hold.json["reservationId"] as? String)
                let amount = try #require(hold.json["amount"] as? Int)
                #expect(try await http.request(.POST, "\(bases[0])/v1/balance/charge", token: buyer.token, json: ["amount": amount]).status == 200)
                #expect(try await http.request(.POST, "\(bases[0])/v1/payments", token: buyer.token, json: ["reservationId": reservation]).status == 201)
                let early = try await soldNow()
                if ContinuousClock.now - started < .seconds(4) { #expect(early == 0, "read again within 5 s") }
                try await Task.sleep(until: started + .seconds(5.5))
                #expect(try await soldNow() == 1)
            }
        }
    }
}
