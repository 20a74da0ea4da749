import Foundation
import Logging
import Metrics

/// An event as the outbox holds it: `id` orders events (per reservation, their commit order), and
/// `eventID` (`evt_<id>`) is what consumers deduplicate on; it is never reused.
public struct OutboxEvent: Sendable, Equatable {
    public var id: Int
    public var type: String
    public var createdAt: Date
    /// The event's data as JSON text.
    public var data: String
    /// The payload's `concertId`, read by the store where it has one: the relay checks whether the
    /// concert of a payment is sold out without parsing the payload.
    public var concertID: Int?

    public var eventID: String { "evt_\(self.id)" }

    public init(id: Int, type: String, createdAt: Date, data: String, concertID: Int? = nil) {
        self.id = id
        self.type = type
        self.createdAt = createdAt
        self.data = data
        self.concertID = concertID
    }
}

/// Where published events go: the seam between the outbox and a broker. One implementation here,
/// Redis Streams (`RedisStreamPublisher`); a Kafka producer would be another (Docs/architecture.md).
/// `publish` returns once every event is durably accepted, in order, or throws (and the relay
/// publishes them again: at least once).
public protocol EventPublisher: Sendable {
    func publish(_ events: [OutboxEvent]) async throws
}

/// The outbox's side in the database of record (PostgresOutbox).
public protocol Outbox: Sendable {
    /// Takes (or renews) the relay lease for `holder` and returns up to `limit` unpublished events in
    /// an order that keeps each reservation's events in commit order; empty when another holder has
    /// the lease. A holder that finds none asks, in the same statement, to be notified of the next
    /// event (EventRelayJob).
    func claim(holder: String, limit: Int, leaseMilliseconds: Int) async throws -> [OutboxEvent]
    /// Marks events published, if `holder` still holds the lease (a relay that lost it publishes
    /// them again; consumers see a duplicate, never a gap).
    func markPublished(ids: [Int], holder: String) async throws
    /// Records `concert.sold_out` for those of `concertIDs` with no seat left on a bookable date,
    /// once per concert.
    func recordSoldOut(concertIDs: [Int]) async throws -> Int
    /// Deletes published events older than `seconds`, a batch at a time; returns how many.
    func purge(olderThanSeconds seconds: Int, limit: Int) async throws -> Int
}

/// `EVENTS_STREAM`, `EVENTS_STREAM_MAXLEN`, `OUTBOX_POLL_MS`, `OUTBOX_SWEEP_MS`, `OUTBOX_BATCH`,
/// `OUTBOX_LEASE_MS`, `OUTBOX_RETENTION_SECONDS`.
public struct EventSettings: Sendable {
    public var stream: String
    public var streamMaxLength: Int
    /// The pause between rounds while events keep coming (no notification is asked for then).
    public var pollInterval: Duration
    /// The safety net: how often a relay looks without being notified.
    public var sweepInterval: Duration
    public var batch: Int
    public var leaseMilliseconds: Int
    public var retentionSeconds: Int

    public init(
        stream: String = "bo:events", streamMaxLength: Int = 1_000_000, pollInterval: Duration = .milliseconds(200),
        sweepInterval: Duration = .milliseconds(1_000), batch: Int = 500, leaseMilliseconds: Int = 5_000, retentionSeconds: Int = 86_400
    ) {
        self.stream = stream
        self.streamMaxLength = streamMaxLength
        self.pollInterval = pollInterval
        self.sweepInterval = sweepInterval
        self.batch = batch
        self.leaseMilliseconds = leaseMilliseconds
        self.retentionSeconds = retentionSeconds
    }

    public init(_ reader: SettingsReader) throws {
        let outbox = reader.scoped(to: "outbox")
        self.init(
            stream: reader.string("events.stream", default: "bo:events"),
            streamMaxLength: try reader.int("events.stream.maxlen", default: 1_000_000, in: 1_000...1_000_000_000),
            pollInterval: .milliseconds(try outbox.int("poll.ms", default: 200, in: 10...60_000)),
            sweepInterval: .milliseconds(try outbox.int("sweep.ms", default: 1_000, in: 10...60_000)),
            batch: try outbox.int("batch", default: 500, in: 1...10_000),
            leaseMilliseconds: try outbox.int("lease.ms", default: 5_000, in: 500...600_000),
            retentionSeconds: try outbox.int("retention.seconds", default: 86_400, in: 60...365 * 86_400))
    }
}

/// Publishes the outbox: any instance runs it, one at a time holds the lease (so events leave in the
/// outbox's order, which per reservation is commit order). Each round claims a batch, publishes it,
/// marks it; a relay that dies between publishing and marking leaves the batch unmarked, and the next
/// holder (after the lease runs out) publishes it again: at least once, same event ids. A broker
/// that is down leaves the events in the outbox until it is back.
public struct EventRelay: Sendable {
    let outbox: any Outbox
    let publisher: any EventPublisher
    let settings: EventSettings
    /// This relay's name in the lease: the instance and a random part (two relays in one process differ).
    public let holder: String
    private let published = Counter(label: "boxoffice_events_published_total")

    public init(outbox: any Outbox, publisher: any EventPublisher, settings: EventSettings, instanceID: String) {
        self.outbox = outbox
        self.publisher = publisher
        self.settings = settings
        self.holder = "\(instanceID)-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// One round; returns how many events it published (0: nothing to do, or another relay holds the lease).
    @discardableResult
    public func relayOnce() async throws -> Int {
        let events = try await self.outbox.claim(holder: self.holder, limit: self.settings.batch, leaseMilliseconds: self.settings.leaseMilliseconds)
        guard !events.isEmpty else { return 0 }
        try await self.publisher.publish(events)
        try await self.outbox.markPublished(ids: events.map(\.id), holder: self.holder)
        self.published.increment(by: events.count)
        // A payment may have sold the last seat; checked after its commit, so two last payments
        // racing on two dates cannot both miss it.
        let paidConcerts = Set(events.filter { $0.type == "order.paid" }.compactMap(\.concertID))
        if !paidConcerts.isEmpty { _ = try await self.outbox.recordSoldOut(concertIDs: paidConcerts.sorted()) }
        return events.count
    }

    /// Rounds while they come back full, then an occasional purge; returns the last round's count
    /// (0: the outbox is empty, or another relay holds the lease).
    @discardableResult
    public func drain() async throws -> Int {
        var count = try await self.relayOnce()
        while count == self.settings.batch { count = try await self.relayOnce() }
        if Int.random(in: 0..<50) == 0 { _ = try await self.outbox.purge(olderThanSeconds: self.settings.retentionSeconds, limit: 10_000) }
        return count
    }
}
