import NIOConcurrencyHelpers

/// Which concerts exist and what is left of their seats, as the queue needs to know on every call
/// without a query each time.
///
/// Existence: concerts are never deleted, so a concert seen once is known for good; an id not seen
/// yet is asked of PostgreSQL every time (one primary-key lookup), so a concert created through one
/// instance is usable through every instance at once (issue 22: a five-second cache of all ids
/// answered 404 to a PATCH right after a create on another instance).
///
/// The seat supply (SeatSupply): asked of PostgreSQL at most once a second per concert and instance,
/// so a waiter learns of a sell-out within about a second of the last sale, and so does the
/// promoter, which then admits nobody; as it does while every seat left is in a live hold.
public final class ConcertDirectory: Sendable {
    private let store: any CatalogStore
    private let supplyMaxAge: Duration
    private let known = NIOLockedValueBox<Set<Int>>([])
    private let supplies = NIOLockedValueBox<[Int: (supply: SeatSupply, checked: ContinuousClock.Instant)]>([:])

    public init(store: any CatalogStore, supplyMaxAge: Duration = .seconds(1)) {
        self.store = store
        self.supplyMaxAge = supplyMaxAge
    }

    public func exists(_ concertID: Int) async throws -> Bool {
        if self.known.withLockedValue({ $0.contains(concertID) }) { return true }
        // While PostgreSQL is down, a known concert still works (admission lives in Redis); an
        // unknown one throws and becomes 503.
        guard try await self.store.concertExists(concertID) else { return false }
        self.known.withLockedValue { _ = $0.insert(concertID) }
        return true
    }

    /// What is left of the concert's seats, at most about `supplyMaxAge` old. One caller at a time
    /// refreshes it; the others meanwhile take the last answer, so thousands of polls a second cost
    /// one query a second. While PostgreSQL is down the last answer stands (or "seats free"): the
    /// line neither stops nor fails for it.
    public func seatSupply(_ concertID: Int) async -> SeatSupply {
        let now = ContinuousClock.now
        let (last, refresh) = self.supplies.withLockedValue { table -> (SeatSupply, Bool) in
            let entry = table[concertID]
            if let entry, now - entry.checked < self.supplyMaxAge { return (entry.supply, false) }
            table[concertID] = (entry?.supply ?? .seatsFree, now)
            return (entry?.supply ?? .seatsFree, true)
        }
        guard refresh, let fresh = try? await self.store.seatSupply(concertID) else { return last }
        self.supplies.withLockedValue { $0[concertID] = (fresh, .now) }
        return fresh
    }

    public func isSoldOut(_ concertID: Int) async -> Bool {
        await self.seatSupply(concertID) == .soldOut
    }
}
