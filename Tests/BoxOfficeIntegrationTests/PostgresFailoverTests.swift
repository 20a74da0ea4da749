import BoxOfficeDomain
import Foundation
import LibpqClient
import NIOConcurrencyHelpers
import Testing
import TestSupport

/// PostgreSQL under Patroni (three nodes, synchronous replication) loses a node, its primary role
/// or its consensus store while fans buy seats through two instances, which reach the primary
/// through a multi-host URL with target_session_attrs=read-write. Fans see 503 with Retry-After
/// and nothing else, only while there is no primary; nothing acknowledged is lost; the stack
/// ends with exactly one primary. Runs only in the HA pass of `make test` (PG_MODE=ha).
@Suite("PostgreSQL HA: failover, switchover and faults under purchases", .serialized, .enabled(if: TestEnvironment.postgresHA), .tags(.postgresHA))
struct PostgresFailoverTests {
    static let faultAt = 3.0

    @Test("kill -9 of the primary mid-rush: 503 only until the standby takes over (under 10 s), nothing acknowledged lost; the old primary rejoins as a replica")
    func primaryKilled() async throws {
        let killed = NIOLockedValueBox<String?>(nil)
        let outcome = try await Self.rush(seconds: 18) {
            let node = try await TestPatroni.kill(.primary)
            killed.withLockedValue { $0 = node }
        }
        print("primary killed: \(outcome.summary(fault: Self.faultAt))")
        let window = try #require(outcome.window(after: Self.faultAt), "sales resumed after the kill")
        #expect(window < 10, "from the kill to the first sale: \(window) s")
        #expect(outcome.sales(after: 0).contains { $0.at < Self.faultAt }, "sales before the kill")
        #expect(outcome.failures.allSatisfy { $0.at >= Self.faultAt - 0.05 }, "no failure before the kill")
        try await PurchaseRush.expectNothingLost(outcome)

        try await TestPatroni.start()
        let old = try #require(killed.withLockedValue { $0 })
        let role = try await TestPatroni.role(of: old)
        #expect(role == .replica || role == .sync, "the old primary \(old) came back as a standby, not \(role)")
        try await Self.expectOnePrimary()
    }

    @Test("planned switchover under the rush: only 503 with Retry-After, the window measured, nothing acknowledged lost")
    func switchover() async throws {
        let outcome = try await Self.rush(seconds: 14) {
            _ = try await TestPatroni.switchover()
        }
        print("switchover: \(outcome.summary(fault: Self.faultAt))")
        let window = try #require(outcome.window(after: Self.faultAt), "sales resumed after the switchover")
        #expect(window < 10, "from the switchover to the first sale: \(window) s")
        try await PurchaseRush.expectNothingLost(outcome)
        try await Self.expectOnePrimary()
    }

    @Test("the synchronous standby killed: the other replica becomes synchronous and sales go on; nothing acknowledged lost")
    func synchronousStandbyKilled() async throws {
        let killed = NIOLockedValueBox<String?>(nil)
        let outcome = try await Self.rush(seconds: 12) {
            let node = try await TestPatroni.kill(.sync)
            killed.withLockedValue { $0 = node }
        }
        Self.expectSalesWentOn(outcome, "synchronous standby killed", until: 12)
        try await PurchaseRush.expectNothingLost(outcome)
        let survivors = try await TestPatroni.nodes.asyncFilter { try await TestPatroni.role(of: $0) == .sync }
        #expect(survivors.count == 1 && survivors.first != killed.withLockedValue { $0 }, "the remaining replica became synchronous: \(survivors)")
        try await TestPatroni.start()
        try await Self.expectOnePrimary()
    }

    @Test("etcd stopped for 8 s: Patroni demotes the primary, fans get 503 with Retry-After, sales resume once etcd is back")
    func consensusStoreStopped() async throws {
        let outcome = try await Self.rush(seconds: 24) {
            try await TestPatroni.stopEtcd()
            try await Task.sleep(for: .seconds(8))
            try await TestPatroni.startEtcd()
        }
        print("etcd stopped 8 s: \(outcome.summary(fault: Self.faultAt))")
        let back = Self.faultAt + 8
        let window = try #require(outcome.window(after: back), "sales resumed after etcd came back")
        #expect(window < 15, "from etcd's return to the first sale: \(window) s")
        try await PurchaseRush.expectNothingLost(outcome)
        try await TestPatroni.start()
        try await Self.expectOnePrimary()
    }

    /// Twelve fans buy through two instances for `seconds`, with `fault` `faultAt` seconds in.
    static func rush(seconds: Double, _ fault: @escaping @Sendable () async throws -> Void) async throws -> PurchaseRush.Outcome {
        let concert = try await Fixtures.concert(dates: 14)
        return try await TestStack.withInstances(2) { bases in
            try await PurchaseRush(seconds: seconds).run(concert: concert, bases: bases, faultAt: Self.faultAt, fault)
        }
    }

    /// A standby's death is not the fans' business: no failure, and commits never waited long for
    /// a synchronous standby.
    static func expectSalesWentOn(
        _ outcome: PurchaseRush.Outcome, _ label: String, until end: Double, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let gap = outcome.longestGap(from: Self.faultAt, to: end)
        print("\(label): \(outcome.summary(fault: Self.faultAt)); longest stretch without a sale \(String(format: "%.2f", gap)) s")
        #expect(gap < 5, "commits waited for a synchronous standby for \(gap) s", sourceLocation: sourceLocation)
        #expect(outcome.failures.isEmpty, "\(outcome.failures.count) failures", sourceLocation: sourceLocation)
    }

    /// Asks each node itself: exactly one is out of recovery (no split brain).
    static func expectOnePrimary(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        var primaries: [String] = []
        for node in TestPatroni.nodes {
            let client = PostgresClient(configuration: PostgresConfiguration(url: TestPatroni.nodeURL(node)), poolSize: 1, acquireTimeout: .seconds(5))
            defer { client.shutdown() }
            let rows = try await client.query("SELECT NOT pg_is_in_recovery()")
            if try rows.first?.decode(Bool.self, at: 0) == true { primaries.append(node) }
        }
        #expect(primaries.count == 1, "one primary, got \(primaries)", sourceLocation: sourceLocation)
    }
}

extension Array where Element: Sendable {
    fileprivate func asyncFilter(_ isIncluded: (Element) async throws -> Bool) async rethrows -> [Element] {
        var kept: [Element] = []
        for element in self where try await isIncluded(element) { kept.append(element) }
        return kept
    }
}
