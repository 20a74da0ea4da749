import Crypto
import Foundation

/// The event types an endpoint can subscribe to (`"*"`: all of them).
public enum EventType {
    public static let all = [
        "reservation.held", "reservation.cancelled", "reservation.expired", "order.paid", "balance.charged", "concert.sold_out",
    ]
}

/// A registered webhook endpoint. The secret is read only to sign deliveries and shown once, at creation.
public struct WebhookEndpoint: Sendable, Equatable {
    public var id: String
    public var url: String
    public var events: [String]
    public var enabled: Bool
    /// Why the endpoint was disabled (a 410 from it), when it was.
    public var disabledReason: String?
    public var createdAt: Date

    public init(id: String, url: String, events: [String], enabled: Bool, disabledReason: String?, createdAt: Date) {
        self.id = id
        self.url = url
        self.events = events
        self.enabled = enabled
        self.disabledReason = disabledReason
        self.createdAt = createdAt
    }
}

/// One attempt to deliver an event to an endpoint, as the delivery log shows it.
public struct WebhookAttempt: Sendable, Equatable {
    public var eventID: String
    public var type: String
    public var attempt: Int
    public var attemptedAt: Date
    /// The endpoint's HTTP status, or nil when there was none (`error` says why).
    public var httpStatus: Int?
    public var error: String?
    public var durationMilliseconds: Int
    /// When the next attempt is due; nil once delivered, given up, or the endpoint disabled.
    public var nextAttemptAt: Date?

    public init(eventID: String, type: String, attempt: Int, attemptedAt: Date, httpStatus: Int? = nil, error: String? = nil, durationMilliseconds: Int, nextAttemptAt: Date? = nil) {
        self.eventID = eventID
        self.type = type
        self.attempt = attempt
        self.attemptedAt = attemptedAt
        self.httpStatus = httpStatus
        self.error = error
        self.durationMilliseconds = durationMilliseconds
        self.nextAttemptAt = nextAttemptAt
    }
}

/// A due delivery as the dispatcher claims it: where to, with what secret, which event, which attempt.
public struct WebhookDelivery: Sendable {
    public var id: Int
    public var endpointID: String
    public var url: String
    public var secret: String
    public var attempt: Int
    /// The retries run until `firstDueAt` plus the maximum age (24 hours).
    public var firstDueAt: Date
    public var event: OutboxEvent

    public init(id: Int, endpointID: String, url: String, secret: String, attempt: Int, firstDueAt: Date, event: OutboxEvent) {
        self.id = id
        self.endpointID = endpointID
        self.url = url
        self.secret = secret
        self.attempt = attempt
        self.firstDueAt = firstDueAt
        self.event = event
    }
}

/// What became of one attempt.
public enum WebhookOutcome: Sendable, Equatable {
    case delivered(status: Int)
    /// Retried at `nextAttemptAt`, or given up (nil) once the maximum age has passed.
    case failed(status: Int?, error: String?, nextAttemptAt: Date?)
    /// A 410: the endpoint is disabled and this delivery ends.
    case gone
}

/// The webhook tables (PostgresWebhookStore).
public protocol WebhookStore: Sendable {
    func create(id: String, url: String, events: [String], secret: String) async throws -> WebhookEndpoint
    func list() async throws -> [WebhookEndpoint]
    /// False when there is no such endpoint.
    func delete(id: String) async throws -> Bool
    /// The endpoint's latest attempts, newest first; nil when there is no such endpoint.
    func attempts(endpointID: String, limit: Int) async throws -> [WebhookAttempt]?
    /// Queues the event again for every enabled endpoint subscribed to its type (an earlier
    /// delivery starts over); returns how many, or nil when the event is unknown (or purged).
    func redeliver(eventID: Int) async throws -> Int?
    /// Claims due deliveries of enabled endpoints, at most `perEndpoint` minus `busy[endpoint]` each
    /// and `limit` in all, and leases them for `leaseSeconds` (a dispatcher that dies leaves them due again).
    func claim(limit: Int, perEndpoint: Int, busy: [String: Int], leaseSeconds: Int) async throws -> [WebhookDelivery]
    /// Logs the attempt and settles the delivery (unless a later claim of it has taken over).
    func record(_ delivery: WebhookDelivery, outcome: WebhookOutcome, durationMilliseconds: Int) async throws
}

/// `WEBHOOK_POLL_MS`, `WEBHOOK_CONCURRENCY` (per endpoint and instance), `WEBHOOK_TIMEOUT_SECONDS`,
/// `WEBHOOK_RETRY_BASE_MS`, `WEBHOOK_MAX_AGE_SECONDS`.
public struct WebhookSettings: Sendable {
    public var pollInterval: Duration
    public var concurrencyPerEndpoint: Int
    public var timeout: Duration
    public var retry: WebhookRetryPolicy

    public init(pollInterval: Duration = .milliseconds(250), concurrencyPerEndpoint: Int = 4, timeout: Duration = .seconds(10), retry: WebhookRetryPolicy = .init()) {
        self.pollInterval = pollInterval
        self.concurrencyPerEndpoint = concurrencyPerEndpoint
        self.timeout = timeout
        self.retry = retry
    }

    public init(_ reader: SettingsReader) throws {
        let webhook = reader.scoped(to: "webhook")
        self.init(
            pollInterval: .milliseconds(try webhook.int("poll.ms", default: 250, in: 10...60_000)),
            concurrencyPerEndpoint: try webhook.int("concurrency", default: 4, in: 1...64),
            timeout: .seconds(try webhook.int("timeout.seconds", default: 10, in: 1...60)),
            retry: WebhookRetryPolicy(
                baseMilliseconds: try webhook.int("retry.base.ms", default: 1_000, in: 10...60_000),
                maxAgeSeconds: try webhook.int("max.age.seconds", default: 86_400, in: 1...7 * 86_400)))
    }
}

/// Exponential backoff with jitter: attempt n failed → wait base × 2^(n-1), at most an hour, times
/// a random 0.75...1.25; so about 1, 2 and 4 s after the first three failures (within a minute),
/// and attempts go on until `maxAgeSeconds` after the first was due. Pure: the caller brings the clock and the dice.
public struct WebhookRetryPolicy: Sendable, Equatable {
    public var baseMilliseconds: Int
    public var maxAgeSeconds: Int
    public static let maxDelayMilliseconds = 3_600_000

    public init(baseMilliseconds: Int = 1_000, maxAgeSeconds: Int = 86_400) {
        self.baseMilliseconds = baseMilliseconds
        self.maxAgeSeconds = maxAgeSeconds
    }

    /// When to try again after failed attempt `attempt` (1-based), or nil to give up.
    public func nextAttempt(after attempt: Int, firstDueAt: Date, now: Date, jitter: Double) -> Date? {
        let doubling = Double(1 << min(max(attempt - 1, 0), 30))
        let delay = min(Double(self.baseMilliseconds) * doubling, Double(Self.maxDelayMilliseconds)) * (0.75 + 0.5 * min(max(jitter, 0), 1))
        let next = now.addingTimeInterval(delay / 1000)
        return next.timeIntervalSince(firstDueAt) <= Double(self.maxAgeSeconds) ? next : nil
    }
}

/// Standard Webhooks signing (standardwebhooks.com): the secret is `whsec_` + base64 of the key,
/// and `webhook-signature` is `v1,` + base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>")).
public enum WebhookSignature {
    public static func newSecret() -> String {
        "whsec_" + Data(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }).base64EncodedString()
    }

    public static func sign(secret: String, id: String, timestamp: Int, body: [UInt8]) -> String? {
        let encoded = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
        guard let key = Data(base64Encoded: encoded), !key.isEmpty else { return nil }
        var message = Array("\(id).\(timestamp).".utf8)
        message += body
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key))
        return "v1," + Data(mac).base64EncodedString()
    }

    /// The headers of a delivery: `webhook-id` (the event id), `webhook-timestamp`, `webhook-signature`.
    public static func headers(secret: String, id: String, timestamp: Int, body: [UInt8]) -> [(String, String)] {
        var headers = [("content-type", "application/json"), ("webhook-id", id), ("webhook-timestamp", String(timestamp))]
        if let signature = self.sign(secret: secret, id: id, timestamp: timestamp, body: body) { headers.append(("webhook-signature", signature)) }
        return headers
    }
}

extension OutboxEvent {
    /// The event as consumers receive it: `{"id", "type", "createdAt", "data"}`.
    public var body: [UInt8] {
        Array(#"{"id":\#(JSON.quoted(self.eventID)),"type":\#(JSON.quoted(self.type)),"createdAt":\#(JSON.quoted(Timestamp.format(self.createdAt))),"data":\#(self.data)}"#.utf8)
    }
}

/// Registering, listing and removing endpoints, their delivery log, and redelivery (the admin API).
public struct WebhookService: Sendable {
    let store: any WebhookStore

    public init(store: any WebhookStore) {
        self.store = store
    }

    /// A new endpoint and its secret (shown this once). `url`: http or https with a host;
    /// `events`: known types, or `["*"]`.
    public func register(url: String, events: [String]) async throws -> (WebhookEndpoint, secret: String) {
        guard url.count <= 2_000, let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = parsed.host, !host.isEmpty
        else { throw BoxOfficeError.invalidRequest("url must be an http or https URL with a host (at most 2,000 characters).") }
        guard !events.isEmpty, Set(events).count == events.count, events == ["*"] || events.allSatisfy(EventType.all.contains) else {
            throw BoxOfficeError.invalidRequest(
                "events must be [\"*\"] or distinct event types among \(EventType.all.joined(separator: ", ")).")
        }
        guard url.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f }) else {
            throw BoxOfficeError.invalidRequest("url must be written in printable ASCII, without spaces (percent-encode the rest).")
        }
        let secret = WebhookSignature.newSecret()
        let id = "we_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20)
        return (try await self.store.create(id: id, url: url, events: events, secret: secret), secret)
    }

    public func list() async throws -> [WebhookEndpoint] { try await self.store.list() }

    public func delete(id: String) async throws {
        guard Self.isEndpointID(id), try await self.store.delete(id: id) else { throw BoxOfficeError.webhookNotFound }
    }

    public func attempts(endpointID: String, limit: Int) async throws -> [WebhookAttempt] {
        guard (1...500).contains(limit) else { throw BoxOfficeError.invalidRequest("limit must be between 1 and 500.") }
        guard Self.isEndpointID(endpointID), let attempts = try await self.store.attempts(endpointID: endpointID, limit: limit) else { throw BoxOfficeError.webhookNotFound }
        return attempts
    }

    /// `we_` and hex digits, as `register` makes them; anything else names no endpoint.
    static func isEndpointID(_ id: String) -> Bool {
        id.hasPrefix("we_") && (4...43).contains(id.count) && id.dropFirst(3).allSatisfy(\.isHexDigit)
    }

    /// `evt_<n>`: queued again for every subscribed endpoint; returns how many deliveries.
    public func redeliver(eventID: String) async throws -> Int {
        guard eventID.hasPrefix("evt_"), let id = Int(eventID.dropFirst(4)), id > 0 else { throw BoxOfficeError.eventNotFound }
        guard let queued = try await self.store.redeliver(eventID: id) else { throw BoxOfficeError.eventNotFound }
        return queued
    }
}
