import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// How a delivery leaves the process: an HTTP POST (BoxOfficeHTTP's `WebhookHTTPClient`, over
/// async-http-client). Returns the status of the answer, or throws on a network error or when no
/// answer came within `timeout`.
public protocol WebhookTransport: Sendable {
    func post(url: String, headers: [(String, String)], body: [UInt8], timeout: Duration) async throws -> Int
}

/// Sends due webhook deliveries; any instance runs it, and `FOR UPDATE SKIP LOCKED` plus a lease
/// share the work (a delivery goes out at least once; receivers deduplicate on `webhook-id`).
/// Never on the request path: sales only write the outbox. Each delivery runs in a task of its own,
/// at most `concurrencyPerEndpoint` per endpoint on this instance, so a slow or dead endpoint only
/// ever occupies its own slots, never another endpoint's or the sales'.
public final class WebhookDispatcher: Service, Sendable {
    let store: any WebhookStore
    let transport: any WebhookTransport
    let settings: WebhookSettings
    let logger: Logger
    /// Deliveries in flight on this instance, per endpoint.
    private let inFlight = Mutex<[String: Int]>([:])
    private let sent = Counter(label: "boxoffice_webhook_attempts_total", dimensions: [("outcome", "delivered")])
    private let failed = Counter(label: "boxoffice_webhook_attempts_total", dimensions: [("outcome", "failed")])
    /// At most this many deliveries in flight on one instance, whatever the number of endpoints.
    static let maxInFlight = 256

    public init(store: any WebhookStore, transport: any WebhookTransport, settings: WebhookSettings, logger: Logger) {
        self.store = store
        self.transport = transport
        self.settings = settings
        self.logger = logger
    }

    public func run() async {
        // At shutdown the deliveries in flight are cancelled, not awaited: a dead endpoint must not
        // hold up every stop for its whole timeout. Their leases run out and they go again (at least once).
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                while !Task.isCancelled {
                    do {
                        for delivery in try await self.claim() {
                            group.addTask { await self.deliver(delivery) }
                        }
                    } catch {
                        self.logger.warning("webhook dispatch failed", metadata: ["error": "\(error)"])
                    }
                    try? await Task.sleep(for: self.settings.pollInterval)
                }
            }
        }
    }

    /// Claims what this instance has room for and counts it in flight.
    func claim() async throws -> [WebhookDelivery] {
        let busy = self.inFlight.withLock { $0 }
        let room = Self.maxInFlight - busy.values.reduce(0, +)
        guard room > 0 else { return [] }
        // The lease outlasts the request's timeout, so a live dispatcher settles it before anyone reclaims it.
        let lease = Int(self.settings.timeout.components.seconds) * 2 + 5
        let deliveries = try await self.store.claim(limit: room, perEndpoint: self.settings.concurrencyPerEndpoint, busy: busy, leaseSeconds: lease)
        self.inFlight.withLock { counts in
            for delivery in deliveries { counts[delivery.endpointID, default: 0] += 1 }
        }
        return deliveries
    }

    /// One attempt: POST, judge, record.
    func deliver(_ delivery: WebhookDelivery) async {
        defer {
            self.inFlight.withLock { counts in
                counts[delivery.endpointID, default: 1] -= 1
                if counts[delivery.endpointID] == 0 { counts[delivery.endpointID] = nil }
            }
        }
        let body = delivery.event.body
        let headers = WebhookSignature.headers(
            secret: delivery.secret, id: delivery.event.eventID, timestamp: Int(Date().timeIntervalSince1970), body: body)
        let started = ContinuousClock.now
        var status: Int?
        var failure: String?
        do {
            status = try await self.transport.post(url: delivery.url, headers: headers, body: body, timeout: self.settings.timeout)
        } catch {
            failure = String(describing: error).prefix(500).description
        }
        let elapsed = ContinuousClock.now - started
        let milliseconds = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
        let outcome = Self.outcome(status: status, error: failure, delivery: delivery, policy: self.settings.retry, now: Date(), jitter: .random(in: 0...1))
        if case .delivered = outcome { self.sent.increment() } else { self.failed.increment() }
        if outcome == .gone {
            self.logger.warning("a webhook endpoint answered 410 Gone: disabled", metadata: ["endpoint": "\(delivery.endpointID)"])
        }
        do {
            try await self.store.record(delivery, outcome: outcome, durationMilliseconds: milliseconds)
        } catch {
            // The lease runs out and the delivery is tried again: at least once.
            self.logger.warning("could not record a webhook attempt", metadata: ["delivery": "\(delivery.id)", "error": "\(error)"])
        }
    }

    /// Any 2xx delivers; a 410 disables the endpoint; anything else is retried per the policy.
    static func outcome(status: Int?, error: String?, delivery: WebhookDelivery, policy: WebhookRetryPolicy, now: Date, jitter: Double) -> WebhookOutcome {
        if let status, (200..<300).contains(status) { return .delivered(status: status) }
        if status == 410 { return .gone }
        return .failed(
            status: status, error: error ?? status.map { "HTTP \($0)" },
            nextAttemptAt: policy.nextAttempt(after: delivery.attempt, firstDueAt: delivery.firstDueAt, now: now, jitter: jitter))
    }
}
