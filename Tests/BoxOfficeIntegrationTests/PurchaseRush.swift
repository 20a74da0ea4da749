import BoxOfficeDomain
import Foundation
import LibpqClient
import NIOConcurrencyHelpers
import Testing
import TestSupport

/// Fans buying seats through two instances while something breaks: each purchase takes a new
/// token, waits until ACTIVE, holds one seat, charges the amount and pays. Every answer is kept with
/// when it came, and what was acknowledged (a hold or payment answered 201, a charge answered 200)
/// can then be looked for in the database. The failover suites of both stores use it.
struct PurchaseRush: Sendable {
    enum Step: String, Sendable {
        case token, status, hold, charge, pay
    }

    struct Answer: Sendable {
        let at: Double  // seconds since the rush started
        let step: Step
        let status: Int
        let code: String?
        let retryAfter: String?
    }

    struct Outcome: Sendable {
        var answers: [Answer] = []
        var holds: [String] = []  // reservation ids answered 201
        var chargedUsers: [String] = []  // users whose charge was answered 200
        var payments: [String] = []  // reservation ids answered 201

        /// Answers with a 5xx status.
        var failures: [Answer] { self.answers.filter { $0.status >= 500 } }

        /// The writes PostgreSQL decides (holds, charges, payments) that succeeded after `time`.
        func sales(after time: Double) -> [Answer] {
            self.answers.filter { $0.at > time && $0.step != .token && $0.step != .status && $0.status < 300 }
        }

        /// Seconds from `time` (a fault) to the first sale after the last failure that followed it:
        /// how long the fault kept sales out. Nil when no sale came after.
        func window(after time: Double) -> Double? {
            let lastFailure = self.failures.map(\.at).filter { $0 >= time }.max() ?? time
            return self.sales(after: lastFailure).map(\.at).min().map { $0 - time }
        }

        /// The longest stretch without a sale between `from` and `to`.
        func longestGap(from: Double, to: Double) -> Double {
            let times = [from] + self.sales(after: from).map(\.at).filter { $0 < to }.sorted() + [to]
            return zip(times, times.dropFirst()).map { $1 - $0 }.max() ?? 0
        }

        func summary(fault: Double) -> String {
            let failures = self.failures
            let first = failures.map(\.at).min().map { String(format: "%.2f", $0) } ?? "-"
            let last = failures.map(\.at).max().map { String(format: "%.2f", $0) } ?? "-"
            let window = self.window(after: fault).map { String(format: "%.2f", $0) } ?? "none"
            return "\(self.answers.count) answers, \(self.payments.count) payments; \(failures.count) failures from \(first) s to \(last) s "
                + "(fault at \(fault) s); sales back \(window) s after the fault"
        }
    }

    var fans = 12
    var seconds = 16.0
    /// A fan's pause between purchases: the seats must last past the fault.
    var pace = Duration.milliseconds(150)

    /// Runs the rush against `bases` and calls `fault` `faultAt` seconds in.
    func run(
        concert: Fixtures.Concert, bases: [String], faultAt: Double, _ fault: @escaping @Sendable () async throws -> Void
    ) async throws -> Outcome {
        let outcome = NIOLockedValueBox(Outcome())
        let seats = NIOLockedValueBox(Array(concert.dates.flatMap { date in (1...50).map { (date, $0) } }.shuffled()))
        let start = ContinuousClock.now
        let elapsed: @Sendable () -> Double = { (ContinuousClock.now - start) / .seconds(1) }
        let seconds = self.seconds, pace = self.pace
        try await TestHTTPClient.with { http in
            @Sendable func record(_ step: Step, _ reply: TestHTTPClient.Reply) -> TestHTTPClient.Reply {
                let answer = Answer(
                    at: elapsed(), step: step, status: reply.status, code: reply.code, retryAfter: reply.headers.first(name: "Retry-After"))
                outcome.withLockedValue { $0.answers.append(answer) }
                return reply
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for fan in 0..<self.fans {
                    group.addTask {
                        let base = bases[fan % bases.count], other = bases[(fan + 1) % bases.count]
                        while elapsed() < seconds {
                            let user = UUID().uuidString.lowercased()
                            let entered = record(.token, try await http.request(
                                .POST, "\(base)/v1/queue/tokens", json: ["userId": user, "concertId": concert.id]))
                            guard entered.status == 201 || entered.status == 200, let token = entered.json["token"] as? String else {
                                try await Task.sleep(for: .milliseconds(100))
                                continue
                            }
                            var active = false
                            for _ in 0..<40 where !active {
                                let status = record(.status, try await http.request(.GET, "\(base)/v1/queue/status", token: token))
                                active = status.json["status"] as? String == "ACTIVE"
                                if !active { try await Task.sleep(for: .milliseconds(50)) }
                            }
                            guard active else { continue }
                            guard let (date, seat) = seats.withLockedValue({ $0.popLast() }) else { return }
                            let hold = record(.hold, try await http.request(
                                .POST, "\(base)/v1/reservations", token: token,
                                json: ["concertId": concert.id, "date": date, "seatNumbers": [seat]]))
                            guard hold.status == 201, let reservation = hold.json["reservationId"] as? String,
                                let amount = hold.json["amount"] as? Int
                            else { continue }
                            outcome.withLockedValue { $0.holds.append(reservation) }
                            let charge = record(.charge, try await http.request(
                                .POST, "\(other)/v1/balance/charge", token: token, json: ["amount": amount]))
                            if charge.status == 200 { outcome.withLockedValue { $0.chargedUsers.append(user) } }
                            let paid = record(.pay, try await http.request(
                                .POST, "\(base)/v1/payments", token: token, headers: [("Idempotency-Key", "rush-\(reservation)")],
                                json: ["reservationId": reservation]))
                            if paid.status == 201 { outcome.withLockedValue { $0.payments.append(reservation) } }
                            try await Task.sleep(for: pace)
                        }
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(faultAt))
                    try await fault()
                }
                try await group.waitForAll()
            }
        }
        return outcome.withLockedValue { $0 }
    }

    /// Every failure is a 503 with Retry-After, and every acknowledged hold, charge and payment is
    /// in the database; then the invariants (no seat sold twice, money conserved).
    static func expectNothingLost(_ outcome: Outcome, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let unexpected = outcome.failures.filter { $0.status != 503 || $0.retryAfter == nil }
        #expect(
            unexpected.isEmpty, "only 503 with Retry-After, got \(unexpected.prefix(10).map { "\($0.step) \($0.status) \($0.code ?? "")" })",
            sourceLocation: sourceLocation)
        let database = TestDatabase.client(poolSize: 1)
        defer { database.shutdown() }
        let holds = try await Self.count(database, "SELECT count(*) FROM reservations WHERE id", outcome.holds)
        let payments = try await Self.count(database, "SELECT count(*) FROM payments WHERE reservation_id", outcome.payments)
        let charged = try await Self.count(
            database, "SELECT count(DISTINCT user_id) FROM balance_ledger WHERE type = 'CHARGE' AND user_id", outcome.chargedUsers)
        #expect(holds == outcome.holds.count, "acknowledged holds present: \(holds) of \(outcome.holds.count)", sourceLocation: sourceLocation)
        #expect(payments == outcome.payments.count, "acknowledged payments present: \(payments) of \(outcome.payments.count)", sourceLocation: sourceLocation)
        #expect(charged == outcome.chargedUsers.count, "acknowledged charges present: \(charged) of \(outcome.chargedUsers.count)", sourceLocation: sourceLocation)
        try await MoneyTests.expectHealthy(sourceLocation: sourceLocation)
    }

    /// `select` (ending in the id column) `= ANY(ids)`, counted.
    private static func count(_ database: PostgresClient, _ select: String, _ ids: [String]) async throws -> Int {
        let list = ids.joined(separator: ",")
        let rows = try await database.query(
            PostgresQuery(unsafeSQL: select + " = ANY(string_to_array($1, ',')::uuid[])", binds: [list]))
        return try rows.first?.decode(Int.self, at: 0) ?? 0
    }
}
