import Foundation
import Testing

@testable import BoxOfficeDomain

@Suite("Webhook signing and retry schedule (pure)")
struct WebhookSigningTests {
    @Test("the Standard Webhooks reference vector: the same signature as the specification's libraries")
    func referenceVector() {
        // From the standard-webhooks repository's test suites.
        let signature = WebhookSignature.sign(
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330,
            body: Array(#"{"test": 2432232314}"#.utf8))
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        #expect(WebhookSignature.sign(secret: "whsec_", id: "x", timestamp: 1, body: []) == nil)
    }

    @Test("a new secret is whsec_ and 32 random bytes; no two alike")
    func secrets() {
        let (first, second) = (WebhookSignature.newSecret(), WebhookSignature.newSecret())
        #expect(first.hasPrefix("whsec_") && Data(base64Encoded: String(first.dropFirst(6)))?.count == 32 && first != second)
    }

    @Test("backoff: about 1, 2, 4 s after the first failures (jitter ±25%), at most an hour, given up after 24 hours")
    func backoff() {
        let policy = WebhookRetryPolicy()
        let start = Date(timeIntervalSince1970: 1_000_000)
        for (attempt, seconds) in [(1, 1.0), (2, 2.0), (3, 4.0), (13, 3_600.0), (40, 3_600.0)] {
            let low = policy.nextAttempt(after: attempt, firstDueAt: start, now: start, jitter: 0)!.timeIntervalSince(start)
            let high = policy.nextAttempt(after: attempt, firstDueAt: start, now: start, jitter: 1)!.timeIntervalSince(start)
            #expect(abs(low - seconds * 0.75) < 0.001 && abs(high - seconds * 1.25) < 0.001, "attempt \(attempt): \(low)...\(high)")
        }
        // The first three attempts fall within a minute even at the longest jitter: waits of at most 1.25 s and 2.5 s.
        let third = policy.nextAttempt(after: 2, firstDueAt: start, now: start.addingTimeInterval(1.25), jitter: 1)!
        #expect(third.timeIntervalSince(start) < 60)
        let late = start.addingTimeInterval(86_400 - 1)
        #expect(policy.nextAttempt(after: 30, firstDueAt: start, now: late, jitter: 0.5) == nil)
        #expect(policy.nextAttempt(after: 1, firstDueAt: start, now: start.addingTimeInterval(86_399.5), jitter: 0) == nil)
        #expect(policy.nextAttempt(after: 1, firstDueAt: start, now: start.addingTimeInterval(86_000), jitter: 0) != nil)
    }

    @Test("any 2xx delivers, a 410 disables, everything else is retried until the policy gives up")
    func outcomes() {
        let event = OutboxEvent(id: 7, type: "order.paid", createdAt: Date(), data: #"{"a":1}"#)
        let delivery = WebhookDelivery(id: 1, endpointID: "we_1", url: "http://x", secret: "whsec_AAAA", attempt: 1, firstDueAt: Date(), event: event)
        let now = Date()
        #expect(WebhookDispatcher.outcome(status: 204, error: nil, delivery: delivery, policy: .init(), now: now, jitter: 0) == .delivered(status: 204))
        #expect(WebhookDispatcher.outcome(status: 410, error: nil, delivery: delivery, policy: .init(), now: now, jitter: 0) == .gone)
        for status in [301, 404, 500, 503] as [Int?] + [nil] {
            guard case .failed(let code, let error, let next) = WebhookDispatcher.outcome(
                status: status, error: status == nil ? "timeout" : nil, delivery: delivery, policy: .init(), now: now, jitter: 0)
            else {
                Issue.record("\(String(describing: status)) should be retried")
                continue
            }
            #expect(code == status && error != nil && next != nil)
        }
        #expect(String(decoding: event.body, as: UTF8.self).hasPrefix(#"{"id":"evt_7","type":"order.paid","createdAt":""#))
    }

    @Test("every episode's all-clear names its subject")
    func allClear() {
        #expect(AlertMonitor.allClear("sold-out:12") == "Concert 12 has seats on sale again.")
        #expect(AlertMonitor.allClear("store-unavailable:redis") == "Redis is reachable again.")
        #expect(AlertMonitor.allClear("line-stalled:3").contains("concert 3"))
        #expect(AlertMonitor.allClear("http-5xx").contains("under 1%"))
    }
}
