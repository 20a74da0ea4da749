import Foundation
import Logging
import Synchronization

/// `ALERT_WEBHOOK_URL` (unset: no alerts), `ALERT_CHECK_MS`, `ALERT_STALL_SECONDS`,
/// `ALERT_STORE_SECONDS`, `ALERT_ERROR_WINDOW_SECONDS`, `ALERT_MIN_RESPONSES`.
public struct AlertSettings: Sendable {
    public var url: String?
    public var checkInterval: Duration
    /// A line with waiters, open and not paused, that admitted nobody for this long has stalled.
    public var stallSeconds: Int
    /// A store unreachable for this long is an episode.
    public var storeSeconds: Int
    /// The error rate is judged over windows this long (the last complete one), and only over at
    /// least `minResponses` responses, so three 503s out of a hundred quiet requests stay quiet.
    public var errorWindowSeconds: Int
    public var minResponses: Int

    public init(_ reader: SettingsReader) throws {
        let alert = reader.scoped(to: "alert")
        let url = alert.string("webhook.url", default: "")
        self.url = url.isEmpty ? nil : url
        self.checkInterval = .milliseconds(try alert.int("check.ms", default: 5_000, in: 100...600_000))
        self.stallSeconds = try alert.int("stall.seconds", default: 30, in: 1...86_400)
        self.storeSeconds = try alert.int("store.seconds", default: 10, in: 1...86_400)
        self.errorWindowSeconds = try alert.int("error.window.seconds", default: 60, in: 1...3_600)
        self.minResponses = try alert.int("min.responses", default: 100, in: 1...1_000_000)
    }
}

/// Every response of this instance, counted by status class (fed by the HTTP layer's middleware).
public final class ResponseTally: Sendable {
    private let total = Atomic<Int>(0)
    private let errors = Atomic<Int>(0)

    public init() {}

    public func record(status: Int) {
        self.total.add(1, ordering: .relaxed)
        if status >= 500 { self.errors.add(1, ordering: .relaxed) }
    }

    /// Totals since the start: (responses, 5xx).
    public var counts: (total: Int, errors: Int) { (self.total.load(ordering: .relaxed), self.errors.load(ordering: .relaxed)) }
}

/// What became of a report: this call began the episode (send the alert), ended it (send the
/// all-clear), or neither (another instance holds it, or nothing changed).
public enum AlertTransition: Sendable, Equatable { case opened, closed }

/// Where open episodes are recorded, so that of N instances observing the same condition exactly
/// one sends each alert and each all-clear. One row (or key) per open episode: the instance that
/// creates it sends the alert and holds it, refreshing it while the condition lasts; the holder
/// (or anyone, once the holder has not refreshed it for `staleSeconds`: it died) deletes it and
/// sends the all-clear.
public protocol AlertLedger: Sendable {
    func report(key: String, active: Bool, holder: String, staleSeconds: Int) async throws -> AlertTransition?
    /// The keys of the open episodes.
    func openKeys() async throws -> [String]
}

/// What the monitor watches, from the stores (AlertMonitor's seams; StoreAlertSources in production).
public protocol AlertSources: Sendable {
    /// Throws when PostgreSQL does not answer.
    func pingPostgres() async throws
    /// Throws when Redis does not answer.
    func pingRedis() async throws
    /// Concerts with upcoming dates and no seat left to sell or hold: (id, title).
    func soldOutConcerts() async throws -> [(id: Int, title: String)]
    /// Adds this instance's responses since its last call to the window they fell in; returns the
    /// fleet's (responses, 5xx) in the last complete window.
    func recordResponses(instance: String, total: Int, errors: Int, windowSeconds: Int) async throws -> (total: Int, errors: Int)
}

/// Watches for the episodes an operator must hear about and posts a Slack-compatible
/// `{"text": ...}` to `ALERT_WEBHOOK_URL` once when one begins and once when it ends: a concert
/// sold out; a line stalled; PostgreSQL or Redis unreachable for `storeSeconds`; more than 1% 5xx
/// in the last window. Every instance with background jobs runs it; the ledgers make sure one
/// instance sends each message. An alert whose ledger is down (both stores at once) is not sent.
public final class AlertMonitor: Sendable {
    let settings: AlertSettings
    let url: String
    let instanceID: String
    let queue: QueueService
    let sources: any AlertSources
    /// Where every episode but PostgreSQL's own unavailability is recorded (in PostgreSQL).
    let ledger: any AlertLedger
    /// Where PostgreSQL's own unavailability is recorded (in Redis), under `postgresKey`.
    let postgresLedger: any AlertLedger
    let transport: any WebhookTransport
    let responses: ResponseTally
    let logger: Logger
    private let state = Mutex(State())

    struct State {
        /// When each store was first seen unreachable in the current outage.
        var downSince: [String: ContinuousClock.Instant] = [:]
        /// When each line was first seen with waiters and admitting (its stall clock starts there at the latest).
        var waitingSince: [Int: Date] = [:]
        /// The tally already counted into the shared windows.
        var reported = (total: 0, errors: 0)
    }

    public init(
        settings: AlertSettings, url: String, instanceID: String, sources: any AlertSources, ledger: any AlertLedger,
        postgresLedger: any AlertLedger, queue: QueueService, transport: any WebhookTransport, responses: ResponseTally, logger: Logger
    ) {
        self.settings = settings
        self.url = url
        self.instanceID = instanceID
        self.queue = queue
        self.sources = sources
        self.ledger = ledger
        self.postgresLedger = postgresLedger
        self.transport = transport
        self.responses = responses
        self.logger = logger
    }

    static func storeKey(_ store: String) -> String { "store-unavailable:\(store)" }

    /// The key of PostgreSQL's own unavailability, which `postgresLedger` keeps.
    public static let postgresKey = storeKey("postgres")

    /// A holder that has not refreshed its episode for this long has died: another may end it.
    var staleSeconds: Int { max(30, Int(self.settings.checkInterval.components.seconds) * 6) }

    /// One round: observe, then report every condition (and every open episode no longer observed).
    public func check() async {
        let postgresUp = await self.storeUp("postgres") { try await self.sources.pingPostgres() }
        let redisUp = await self.storeUp("redis") { try await self.sources.pingRedis() }

        // PostgreSQL's own episode, in Redis.
        if redisUp {
            let down = self.downLongEnough("postgres")
            await self.report(key: Self.postgresKey, active: down, ledger: self.postgresLedger) { transition in
                transition == .opened
                    ? "PostgreSQL has been unreachable from instance \(self.instanceID) for \(self.settings.storeSeconds) s or more: sales answer 503 until it is back."
                    : "PostgreSQL is reachable again."
            }
        }
        guard postgresUp else { return }
        var active: [String: String] = [:]  // key -> what the alert says
        if self.downLongEnough("redis") {
            active[Self.storeKey("redis")] =
                "Redis has been unreachable from instance \(self.instanceID) for \(self.settings.storeSeconds) s or more: the waiting lines and holds answer 503 until it is back."
        }
        do {
            for concert in try await self.sources.soldOutConcerts() {
                active["sold-out:\(concert.id)"] = "Sold out: \(concert.title) (concert \(concert.id)) has no seat left on any upcoming date."
            }
            let (tallyTotal, tallyErrors) = self.responses.counts
            let delta = self.state.withLock { state in
                defer { state.reported = (tallyTotal, tallyErrors) }
                return (tallyTotal - state.reported.total, tallyErrors - state.reported.errors)
            }
            let window = try await self.sources.recordResponses(
                instance: self.instanceID, total: delta.0, errors: delta.1, windowSeconds: self.settings.errorWindowSeconds)
            if window.total >= self.settings.minResponses && window.errors * 100 > window.total {
                active["http-5xx"] =
                    "\(window.errors) of \(window.total) responses (\(String(format: "%.1f", Double(window.errors) * 100 / Double(window.total)))%) were 5xx in the last \(self.settings.errorWindowSeconds) s, across all instances."
            }
        } catch {
            self.logger.warning("alert check could not read PostgreSQL", metadata: ["error": "\(error)"])
        }
        if redisUp {
            let soldOut = Set(active.keys.filter { $0.hasPrefix("sold-out:") }.compactMap { Int($0.dropFirst("sold-out:".count)) })
            for (concertID, stalledFor) in await self.stalledLines() where !soldOut.contains(concertID) {
                active["line-stalled:\(concertID)"] =
                    "Line stalled: concert \(concertID) has fans waiting, is open and not paused, and has admitted nobody for \(stalledFor) s."
            }
        }

        let open = (try? await self.ledger.openKeys()) ?? []
        for key in Set(active.keys).union(open).sorted() where key != Self.postgresKey {
            await self.report(key: key, active: active[key] != nil, ledger: self.ledger) { transition in
                transition == .opened ? active[key] ?? key : Self.allClear(key)
            }
        }
    }

    /// The all-clear of an episode, from its key alone (its subject may be gone by then).
    static func allClear(_ key: String) -> String {
        let parts = key.split(separator: ":", maxSplits: 1).map(String.init)
        let subject = parts.count == 2 ? parts[1] : ""
        switch parts.first {
        case "sold-out": return "Concert \(subject) has seats on sale again."
        case "line-stalled": return "Line moving again: concert \(subject) admits fans (or nobody waits any more)."
        case "store-unavailable": return "\(subject == "redis" ? "Redis" : "PostgreSQL") is reachable again."
        case "http-5xx": return "5xx responses are back under 1%."
        default: return "Resolved: \(key)."
        }
    }

    private func report(key: String, active: Bool, ledger: any AlertLedger, text: (AlertTransition) -> String) async {
        let transition: AlertTransition?
        do {
            transition = try await ledger.report(key: key, active: active, holder: self.instanceID, staleSeconds: self.staleSeconds)
        } catch {
            self.logger.warning("alert ledger unavailable", metadata: ["alert": "\(key)", "error": "\(error)"])
            return
        }
        guard let transition else { return }
        let message = (transition == .opened ? "[BoxOffice] ALERT: " : "[BoxOffice] RESOLVED: ") + text(transition)
        self.logger.notice("operator alert", metadata: ["alert": "\(key)", "transition": "\(transition)"])
        await self.send(message)
    }

    /// Posts the message, three tries a second or two apart; an alert that cannot be sent is logged.
    func send(_ text: String) async {
        let body = Array(#"{"text":\#(JSON.quoted(text))}"#.utf8)
        for attempt in 1...3 {
            do {
                let status = try await self.transport.post(
                    url: self.url, headers: [("content-type", "application/json")], body: body, timeout: .seconds(10))
                if (200..<300).contains(status) { return }
                self.logger.warning("alert webhook answered \(status)", metadata: ["attempt": "\(attempt)"])
            } catch {
                self.logger.warning("alert webhook failed", metadata: ["attempt": "\(attempt)", "error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(attempt))
        }
        self.logger.error("operator alert not delivered", metadata: ["text": "\(text)"])
    }

    private func storeUp(_ store: String, _ ping: () async throws -> Void) async -> Bool {
        let up = (try? await ping()) != nil
        self.state.withLock { state in
            if up { state.downSince[store] = nil } else if state.downSince[store] == nil { state.downSince[store] = .now }
        }
        return up
    }

    private func downLongEnough(_ store: String) -> Bool {
        self.state.withLock { state in
            state.downSince[store].map { ContinuousClock.now - $0 >= .seconds(self.settings.storeSeconds) } ?? false
        }
    }

    /// Lines with waiters, open and not paused, nobody admitted for `stallSeconds`: (concert, seconds).
    private func stalledLines() async -> [(Int, Int)] {
        let lines: [LiveLine]
        do {
            lines = try await self.queue.liveLines()
        } catch {
            return []
        }
        let now = Date()
        var stalled: [(Int, Int)] = []
        var watching: [Int: Date] = [:]
        for line in lines {
            guard let health = try? await self.queue.lineHealth(concertID: line.concertID), health.waiting > 0, health.admitting else { continue }
            let since = self.state.withLock { $0.waitingSince[line.concertID] } ?? now
            watching[line.concertID] = since
            let progress = max(since, health.lastAdmission ?? .distantPast)
            let quiet = Int(now.timeIntervalSince(progress))
            if quiet >= self.settings.stallSeconds { stalled.append((line.concertID, quiet)) }
        }
        self.state.withLock { $0.waitingSince = watching }
        return stalled
    }
}
