import NIOConcurrencyHelpers

/// Which concerts exist and which are sold out, as the queue needs to know on every call without
/// a query each time.
///
/// Existence: concerts are never deleted, so a concert seen once is known for good; an id not seen
/// yet is asked of PostgreSQL every time (one primary-key lookup), so a concert created through one
/// instance is usable through every instance at once (issue 22: a five-second cache of all ids
/// answered 404 to a PATCH right after a create on another instance).
///
/// Sold out: asked of PostgreSQL at most once a second per concert and instance, so a waiter learns
/// it within about a second of the last sale, and so does the promoter, which then admits nobody.
public final class ConcertDirectory: Sendable {
    private let store: any CatalogStore
    private let soldOutMaxAge: Duration
    private let known = NIOLockedValueBox<Set<Int>>([])
    private let soldOut = NIOLockedValueBox<[Int: (soldOut: Bool, checked: ContinuousClock.Instant)]>([:])

    public init(store: any CatalogStore, soldOutMaxAge: Duration = .seconds(1)) {
        self.store = store
        self.soldOutMaxAge = soldOutMaxAge
    }

    public func exists(_ concertID: Int) async throws -> Bool {
        if self.known.withLockedValue({ $0.contains(concertID) }) { return true }
        // While PostgreSQL is down, a known concert still works (admission lives in Redis); an
        // unknown one throws and becomes 503.
        guard try await self.store.concertExists(concertID) else { return false }
        self.known.withLockedValue { _ = $0.insert(concertID) }
        return true
    }

    /// Whether the concert is sold out, at most about `soldOutMaxAge` old. One caller at a time
    /// refreshes it; the others meanwhile take the last answer, so thousands of polls a second cost
    /// one query a second. While PostgreSQL is down the last answer stands (or "not sold out"):
    /// the line neither stops nor fails for it.
    public func isSoldOut(_ concertID: Int) async -> Bool {
        let now = ContinuousClock.now
        let (last, refresh) = self.soldOut.withLockedValue { table -> (Bool, Bool) in
            let entry = table[concertID]
            if let entry, now - entry.checked < self.soldOutMaxAge { return (entry.soldOut, false) }
            table[concertID] = (entry?.soldOut ?? false, now)
            return (entry?.soldOut ?? false, true)
        }
        guard refresh, let fresh = try? await self.store.isSoldOut(concertID) else { return last }
        self.soldOut.withLockedValue { $0[concertID] = (fresh, .now) }
        return fresh
    }
}
