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
        return try await self.reload().contains(concertID)
    }

    public func allIDs() async throws -> Set<Int> {
        let (ids, loadedAt) = self.state.withLockedValue { ($0.ids, $0.loadedAt) }
        if let loadedAt, loadedAt.duration(to: .now) < self.maxAge { return ids }
        return try await self.reload()
    }

    @discardableResult
    public func reload() async throws -> Set<Int> {
        let ids = try await self.store.concertIDs()
        self.state.withLockedValue { $0 = (ids, .now) }
        return ids
    }
}
