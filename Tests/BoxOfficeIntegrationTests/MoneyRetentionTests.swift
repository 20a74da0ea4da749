import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import LibpqClient
import Testing
import TestSupport

@Suite("Idempotency keys: retention")
struct MoneyRetentionTests {
    @Test("keys older than IDEMPOTENCY_KEY_SECONDS are deleted by the sweeper; recent ones stay and still replay")
    func oldKeysExpire() async throws {
        try await TestDatabase.prepare()
        let database = TestDatabase.client(poolSize: 2)
        defer { database.shutdown() }
        let user = UUID().uuidString.lowercased()
        for (key, age) in [("old", 2 * 86_400), ("recent", 60)] {
            try await database.query(
                """
                INSERT INTO idempotency_keys (user_id, operation, key, fingerprint, result, created_at)
                VALUES (\(user), 'charge', \(key), 'amount=1', '{}', now() - make_interval(secs => \(age)))
                """)
        }
        // Two sweepers at once (as on two instances): SKIP LOCKED splits the work, nothing fails.
        let sweeper = IdempotencyKeySweeper(database: database, batchSize: 50, retentionSeconds: 86_400)
        async let first = sweeper.sweepOnce()
        async let second = sweeper.sweepOnce()
        _ = try await (first, second)
        while try await sweeper.sweepOnce() > 0 {}

        let left = try await database.query("SELECT key FROM idempotency_keys WHERE user_id = \(user) ORDER BY key")
            .map { try $0.decode(String.self, at: 0) }
        #expect(left == ["recent"])
        try await database.query("DELETE FROM idempotency_keys WHERE user_id = \(user)")
    }
}
