import NIOConcurrencyHelpers

/// The ids of existing concerts, cached for a few seconds: queue entry checks the concert on every
/// call and the promoter walks every concert on every tick, neither should cost a query each time.
public final class ConcertDirectory: Sendable {
    private let store: any CatalogStore
    private let maxAge: Duration
    private let state = NIOLockedValueBox<(ids: Set<Int>, loadedAt: ContinuousClock.Instant?)>((ids: [], loadedAt: nil))

    public init(store: any CatalogStore, maxAge: Duration = .seconds(5)) {
        self.store = store
        self.maxAge = maxAge
    }

    public func exists(_ concertID: Int) async throws -> Bool {
        let (ids, loadedAt) = self.state.withLockedValue { ($0.ids, $0.loadedAt) }
        if ids.contains(concertID), let loadedAt, loadedAt.duration(to: .now) < self.maxAge { return true }
        // A miss may be a concert added since the last load: reload, at most once a second.
        if let loadedAt, loadedAt.duration(to: .now) < .seconds(1) { return ids.contains(concertID) }
        do {
            return try await self.reload().contains(concertID)
        } catch where ids.contains(concertID) {
            // PostgreSQL is down: a concert known a moment ago still exists (concerts are not
            // deleted), so people can still join its queue.
            return true
        }
    }

    public func allIDs() async throws -> Set<Int> {
        let (ids, loadedAt) = self.state.withLockedValue { ($0.ids, $0.loadedAt) }
        if let loadedAt, loadedAt.duration(to: .now) < self.maxAge { return ids }
        do {
            return try await self.reload()
        } catch where loadedAt != nil {
            // Admission lives in Redis: while PostgreSQL is down, the last known concerts keep
            // admitting.
            return ids
        }
    }

    @discardableResult
    public func reload() async throws -> Set<Int> {
        let ids = try await self.store.concertIDs()
        self.state.withLockedValue { $0 = (ids, .now) }
        return ids
    }
}
