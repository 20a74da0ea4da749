import NIOConcurrencyHelpers

/// Which concerts exist: queue entry and the admin routes check the concert on every call, which
/// should not cost a query each time. Concerts are never deleted, so a concert seen once is known
/// for good; an id not seen yet is asked of PostgreSQL every time (one primary-key lookup), so a
/// concert created through one instance is usable through every instance at once (issue 22: a
/// five-second cache of all ids answered 404 to a PATCH right after a create on another instance).
public final class ConcertDirectory: Sendable {
    private let store: any CatalogStore
    private let known = NIOLockedValueBox<Set<Int>>([])

    public init(store: any CatalogStore) {
        self.store = store
    }

    public func exists(_ concertID: Int) async throws -> Bool {
        if self.known.withLockedValue({ $0.contains(concertID) }) { return true }
        // While PostgreSQL is down, a known concert still works (admission lives in Redis); an
        // unknown one throws and becomes 503.
        guard try await self.store.concertExists(concertID) else { return false }
        self.known.withLockedValue { _ = $0.insert(concertID) }
        return true
    }
}
