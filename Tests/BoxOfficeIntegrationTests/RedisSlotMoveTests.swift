import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import HiredisClient
import NIOConcurrencyHelpers
import Subprocess
import Testing
import TestSupport

/// The cluster changes under a live on-sale while its fans join, poll (or keep an event stream
/// open), ask again for their token, hold, charge and pay through two instances: the concert's hash slot moves to another master
/// (`scripts/cluster.sh move-slot`, the procedure of `redis-cli --cluster reshard`: IMPORTING /
/// MIGRATING, MIGRATE, SETSLOT NODE), or a new master joins, takes the concert's slot and a
/// rebalance gives it a quarter of all slots (`add-master`, `move-slot`, `rebalance`; the master
/// leaves again afterwards). Runs only in the cluster pass of `make test`.
@Suite("Redis Cluster slot move under an on-sale", .serialized, .enabled(if: TestEnvironment.clusterSeeds != nil), .tags(.redisCluster))
struct RedisSlotMoveTests {
    struct Answer: Sendable {
        let at: Double  // seconds since the load started
        let status: Int
        let code: String?
    }

    /// What one fan saw.
    struct Fan: Sendable {
        let user = UUID().uuidString.lowercased()
        /// The token of their first turn in line (the one whose admission order is checked).
        var firstToken: String?
        /// Live tokens the server gave them for one turn that differ from the first it gave: a second token.
        var secondTokens: [String] = []
        var paid = false
        /// The last status of a fan who never paid: 200 while they are in line or admitted.
        var lastStatus = 0
    }

    /// What changes in the cluster during the sale.
    enum Change: Sendable, CustomTestStringConvertible {
        /// The concert's slot moves to another master, `batch` keys per MIGRATE, `pause` ms apart:
        /// redis-cli's pace (100, 0), or key by key, which keeps the line split between two masters for seconds.
        case moveSlot(batch: Int, pause: Int)
        /// A new master (with its replica) joins, the concert's slot moves to it, then a rebalance.
        case addMaster
        /// The target master dies (`kill -9`) in the middle of a key-by-key move; its replica takes
        /// over, and `redis-cli --cluster fix` closes the open slot (moving the keys back to the source).
        case targetDiesMidMove

        var testDescription: String {
            switch self {
            case .moveSlot(let batch, let pause): "slot moved, \(batch) key(s) per MIGRATE, \(pause) ms apart"
            case .addMaster: "master added, slot moved to it, rebalanced"
            case .targetDiesMidMove: "target master killed mid-move, replica took over, slot fixed"
            }
        }
    }

    @Test(
        "the cluster changes under a live line: zero 500, nobody gets a second token, nobody is lost, FIFO kept, the change completes",
        arguments: [Change.moveSlot(batch: 100, pause: 0), .moveSlot(batch: 1, pause: 50), .addMaster, .targetDiesMidMove])
    func clusterChangesDuringOnSale(change: Change) async throws {
        let concert = try await Fixtures.concert(dates: 12)
        let keys = QueueKeys(concertID: concert.id)
        let redis = try TestDatabase.redis()
        defer { redis.shutdown() }
        // 25 admissions a second: 400 fans are admitted over 16 s, so the line is long during the move.
        try await redis.send(["HSET", RedisArgument(keys.settings), "admitPerSecond", "25", "activeCapacity", "1000"]).checked()
        let slot = RedisHashSlot.of(keys.sequence)
        let map = try #require(try await redis.cluster?.map())
        let source = try #require(map.master(forSlot: slot))
        let other = try #require(map.masters.first { $0 != source })
        let added = NIOLockedValueBox<Int?>(nil)
        let failure = NIOLockedValueBox<(any Error)?>(nil)

        let answers = NIOLockedValueBox<[Answer]>([])
        // What the fans who wait on an event stream (as the page does near the front) saw: HTTP status and events.
        let streams = NIOLockedValueBox<[(refused: [Int], events: [String])]>([])
        let fans = NIOLockedValueBox((0..<400).map { _ in Fan() })
        let seats = NIOLockedValueBox(Array(concert.dates.flatMap { date in (1...50).map { (date, $0) } }.shuffled()))
        let start = ContinuousClock.now
        let elapsed: @Sendable () -> Double = { (ContinuousClock.now - start) / .seconds(1) }
        // The load runs until 3 s after the move (at most 40 s), so every fan's last answer comes after it.
        let moveAt = 4.0
        let move = NIOLockedValueBox<(from: Double, to: Double)?>(nil)
        let loadGoesOn: @Sendable () -> Bool = {
            let now = elapsed()
            return now < 40 && (move.withLockedValue { $0 }.map { now < $0.to + 3 } ?? true)
        }

        try await TestStack.withInstances(2) { bases in
            try await TestHTTPClient.with { http in
                @Sendable func record(_ reply: TestHTTPClient.Reply) -> TestHTTPClient.Reply {
                    answers.withLockedValue { $0.append(Answer(at: elapsed(), status: reply.status, code: reply.code)) }
                    return reply
                }
                @Sendable func fan(_ index: Int) async throws {
                    let base = bases[index % 2], other = bases[(index + 1) % 2]
                    let user = fans.withLockedValue { $0[index].user }
                    try await Task.sleep(for: .milliseconds(5 * index))  // arrivals over 2 s
                    var token: String?
                    var round = 0
                    while loadGoesOn() {
                        round += 1
                        // Ask for a token: at first, and again every few polls as a reloaded page does.
                        if token == nil || round % 4 == 0 {
                            let entered = record(try await http.request(
                                .POST, "\(round % 2 == 0 ? other : base)/v1/queue/tokens", json: ["userId": user, "concertId": concert.id]))
                            if entered.status == 201 || entered.status == 200, let issued = entered.json["token"] as? String {
                                if let token, issued != token {
                                    fans.withLockedValue { $0[index].secondTokens.append(issued) }
                                } else if token == nil {
                                    token = issued
                                    fans.withLockedValue { $0[index].firstToken = $0[index].firstToken ?? issued }
                                }
                            }
                        }
                        guard let current = token else {
                            try await Task.sleep(for: .milliseconds(300))
                            continue
                        }
                        let status = record(try await http.request(.GET, "\(base)/v1/queue/status", token: current))
                        fans.withLockedValue { $0[index].lastStatus = status.status }
                        guard status.json["status"] as? String == "ACTIVE" else {
                            try await Task.sleep(for: .milliseconds(300))
                            continue
                        }
                        guard let (date, seat) = seats.withLockedValue({ $0.popLast() }) else { return }
                        let hold = record(try await http.request(
                            .POST, "\(base)/v1/reservations", token: current, json: ["concertId": concert.id, "date": date, "seatNumbers": [seat]]))
                        guard hold.status == 201, let reservation = hold.json["reservationId"] as? String, let amount = hold.json["amount"] as? Int
                        else { continue }
                        _ = record(try await http.request(.POST, "\(other)/v1/balance/charge", token: current, json: ["amount": amount]))
                        let payment = record(try await http.request(
                            .POST, "\(base)/v1/payments", token: current, headers: [("Idempotency-Key", "move-\(reservation)")],
                            json: ["reservationId": reservation]))
                        if payment.status == 201 {
                            fans.withLockedValue { $0[index].paid = true }
                            return
                        }
                    }
                }
                @Sendable func streamingFan(_ index: Int) async throws {
                    try await Task.sleep(for: .milliseconds(100 * index))
                    let (token, _) = try await http.takeToken(bases[index % 2], concertID: concert.id)
                    var refused: [Int] = [], events: [String] = []
                    // Like EventSource: a refused stream is opened again a second later; the server ends it at ACTIVE.
                    while loadGoesOn(), events.last != "status ACTIVE" {
                        let (status, _, items) = try await http.readEvents(bases[(index + 1) % 2], token: token, timeout: .seconds(45)) { _ in loadGoesOn() }
                        events += EventStreamTests.statuses(items)
                        if status != 200 {
                            refused.append(status)
                            try await Task.sleep(for: .seconds(1))
                        }
                    }
                    streams.withLockedValue { $0.append((refused, events)) }
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<400 { group.addTask { try await fan(index) } }
                    for index in 0..<20 { group.addTask { try await streamingFan(index) } }
                    group.addTask {
                        try await Task.sleep(for: .seconds(moveAt))
                        let began = elapsed()
                        defer { move.withLockedValue { $0 = (began, elapsed()) } }
                        do {
                            try await Self.perform(change, slot: slot, other: other.port, added: added)
                        } catch {
                            failure.withLockedValue { $0 = error }  // rethrown once the cluster is tidied up
                        }
                    }
                    try await group.waitForAll()
                }
            }
        }
        // Whatever happened, the test cluster goes back to three masters for the suites after this one.
        if let master = added.withLockedValue({ $0 }), let error = failure.withLockedValue({ $0 }) {
            try await TestCluster.removeMaster(master)
            throw error
        }
        if let error = failure.withLockedValue({ $0 }) { throw error }
        let owner: Int
        switch change {
        case .moveSlot: owner = other.port
        case .addMaster: owner = try #require(added.withLockedValue { $0 })
        case .targetDiesMidMove: owner = source.port  // fix gives an open slot back to the master it is assigned to
        }
        let ownerAfter = try await TestCluster.owner(ofSlot: slot)
        try await Self.expectClusterClean()
        if let master = added.withLockedValue({ $0 }) {
            try await TestCluster.removeMaster(master)
            try await Self.expectClusterClean()
        }
        #expect(ownerAfter == owner, "the slot lives on \(owner)")

        let window = try #require(move.withLockedValue { $0 })
        let all = answers.withLockedValue { $0 }
        let during = all.filter { $0.at >= window.from && $0.at <= window.to }
        let unavailable = all.filter { $0.status == 503 }
        print(
            "\(change.testDescription): \(String(format: "%.2f", window.to - window.from)) s (\(String(format: "%.2f", window.from))-\(String(format: "%.2f", window.to)) s); "
                + "\(all.count) answers, \(during.count) during the move, \(unavailable.count) × 503 "
                + "(\(unavailable.filter { $0.at >= window.from && $0.at <= window.to + 1.6 }.count) of them within the move + 1.6 s)")
        let failures = all.filter { $0.status >= 500 && $0.status != 503 }
        #expect(failures.isEmpty, "only 503, got \(failures.map { "\($0.status) \($0.code ?? "") at \($0.at)" })")
        #expect(during.filter { $0.status < 300 }.count > 100, "fans were served during the move")

        // A stream rides the change out: it stays open (heartbeats) and every event it sends is a
        // status; one opened while the line's keys are split is refused with 503 and opened again.
        let opened = streams.withLockedValue { $0 }
        let refusals = opened.flatMap(\.refused)
        print("\(change.testDescription): 20 streams, \(refusals.count) openings refused, \(opened.map(\.events.count).reduce(0, +)) events")
        #expect(opened.count == 20 && refusals.allSatisfy { $0 == 503 }, "\(refusals)")
        let odd = opened.flatMap(\.events).filter { $0 != "status WAITING" && $0 != "status ACTIVE" }
        #expect(odd.isEmpty, "stream events: \(odd.prefix(5))")
        #expect(opened.allSatisfy { $0.events.first == "status WAITING" })

        let outcome = fans.withLockedValue { $0 }
        let secondTokens = outcome.flatMap(\.secondTokens)
        #expect(secondTokens.isEmpty, "second tokens: \(secondTokens.prefix(5))")
        let lost = outcome.filter { !$0.paid && $0.lastStatus != 200 }
        #expect(lost.isEmpty, "\(lost.count) fans lost from the line, last answers \(Set(lost.map(\.lastStatus)))")
        #expect(outcome.filter(\.paid).count > 20, "sales went on: \(outcome.filter(\.paid).count) paid")

        // Admission in arrival order across the change: by arrival, admission times never go back
        // (fans admitted in one tick share a time), and nobody still waiting arrived before someone admitted.
        var byArrival: [(seq: Int, admitted: Int?)] = []
        for token in outcome.compactMap(\.firstToken) {
            let fields = try await QueueRig.tokenFields(token, keys: keys, redis: redis)
            guard let seq = fields["seq"].flatMap(Int.init) else { continue }
            byArrival.append((seq, fields["admitted"].flatMap(Int.init)))
        }
        byArrival.sort { $0.seq < $1.seq }
        let admissions = byArrival.prefix { $0.admitted != nil }.compactMap(\.admitted)
        print("\(change.testDescription): \(admissions.count) admitted in order of \(byArrival.count) first tokens")
        #expect(byArrival.count == 400 && !admissions.isEmpty)
        #expect(byArrival.dropFirst(admissions.count).allSatisfy { $0.admitted == nil }, "someone was admitted ahead of an earlier arrival")
        #expect(zip(admissions, admissions.dropFirst()).allSatisfy { $0 <= $1 }, "admitted out of arrival order")

        try await MoneyTests.expectHealthy()
    }

    /// Makes the change (see `Change`); a master it adds goes into `added`.
    static func perform(_ change: Change, slot: Int, other: Int, added: NIOLockedValueBox<Int?>) async throws {
        switch change {
        case .moveSlot(let batch, let pause):
            try await TestCluster.moveSlot(slot, to: other, batch: batch, pauseMilliseconds: pause)
        case .addMaster:
            let master = try await TestCluster.addMaster()
            added.withLockedValue { $0 = master }
            try await TestCluster.moveSlot(slot, to: master)
            try await TestCluster.rebalance()
        case .targetDiesMidMove:
            // The MIGRATE to the dead node fails and leaves the slot half-moved.
            let moving = Task { try? await TestCluster.moveSlot(slot, to: other, batch: 1, pauseMilliseconds: 100) }
            try await Task.sleep(for: .milliseconds(1_500))
            try await TestCluster.kill(port: other)
            _ = await moving.value
            try await Task.sleep(for: .seconds(4))  // cluster-node-timeout (2 s) and the election
            try await TestCluster.start()  // the old target comes back, as a replica
            try await TestCluster.fix()
        }
    }

    /// `redis-cli --cluster check` finds every slot covered, none open, and (once gossip has spread
    /// the last change, within 10 s) every node agreeing.
    static func expectClusterClean() async throws {
        var check = ""
        for _ in 0..<20 {
            check = try await TestCluster.check()
            if check.contains("All 16384 slots covered") && !check.contains("[WARNING]") && !check.contains("[ERR]") { return }
            try await Task.sleep(for: .milliseconds(500))
        }
        Issue.record("cluster check: \(check)")
    }
}
