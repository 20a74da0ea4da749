import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import HiredisClient
import LibpqClient
import Testing
import TestSupport

/// Events out of the system: every change writes its event in its own transaction (the outbox), a
/// relay publishes it to a Redis stream at least once, in order per reservation, never losing one.
/// Against real PostgreSQL and Redis, through real instances where the change is an API call.
@Suite("Events: the transactional outbox and its relay to a Redis stream", .tags(.redisCluster, .postgresHA))
struct EventOutboxTests {
    typealias Kit = HoldsTestKit

    struct Entry: Equatable {
        let streamID: String
        let id: String
        let type: String
        let data: [String: Any]

        static func == (lhs: Entry, rhs: Entry) -> Bool { lhs.streamID == rhs.streamID }
    }

    /// Every entry of `stream` (XRANGE), decoded.
    static func entries(_ redis: RedisClient, stream: String = "bo:events", after: String = "-") async throws -> [Entry] {
        let reply = try await redis.send(["XRANGE", RedisArgument(stream), RedisArgument(after), "+"]).checked()
        return (reply.array ?? []).compactMap { entry in
            guard let parts = entry.array, parts.count == 2, let streamID = parts[0].string, let fields = parts[1].array else { return nil }
            var values: [String: String] = [:]
            for index in stride(from: 0, to: fields.count - 1, by: 2) { values[fields[index].string ?? ""] = fields[index + 1].string }
            let data = (try? JSONSerialization.jsonObject(with: Data((values["data"] ?? "{}").utf8))) as? [String: Any] ?? [:]
            return Entry(streamID: streamID, id: values["id"] ?? "", type: values["type"] ?? "", data: data)
        }
    }

    /// Polls the stream until `condition` holds for the entries `matching`; returns them.
    static func eventually(
        _ redis: RedisClient, stream: String = "bo:events", timeout: Duration = .seconds(15), matching: @escaping (Entry) -> Bool,
        until condition: ([Entry]) -> Bool
    ) async throws -> [Entry] {
        let deadline = ContinuousClock.now + timeout
        var seen: [Entry] = []
        while ContinuousClock.now < deadline {
            seen = try await Self.entries(redis, stream: stream).filter(matching)
            if condition(seen) { return seen }
            try await Task.sleep(for: .milliseconds(200))
        }
        return seen
    }

    @Test("a fan's sale as events, in commit order: charged, held, cancelled, held, paid, and a lapsed hold expired; a refused hold or payment emits nothing")
    func eventsOfASale() async throws {
        let concert = try await Fixtures.concert(dates: 1)
        let date = concert.dates[0]
        try await TestStack.withInstances(2, environment: ["HOLD_SECONDS": "3"]) { bases in
            try await TestHTTPClient.with { http in
                try await Kit.withRedis { redis in
                    let fan = try await Kit.activeUser(http, bases[0], concertID: concert.id)
                    let rival = try await Kit.activeUser(http, bases[1], concertID: concert.id)
                    #expect(try await http.request(.POST, "\(bases[0])/v1/balance/charge", token: fan.token, json: ["amount": 500_000]).status == 200)
                    let first = try await Kit.hold(http, bases[1], fan, concertID: concert.id, date: date, seats: [1, 2])
                    let firstID = try #require(first.json["reservationId"] as? String)
                    #expect(try await http.request(.DELETE, "\(bases[0])/v1/reservations/\(firstID)", token: fan.token).status == 200)
                    let second = try await Kit.hold(http, bases[0], fan, concertID: concert.id, date: date, seats: [3])
                    let secondID = try #require(second.json["reservationId"] as? String)
                    // Refused: the rival's hold of the fan's seat, and the rival's payment without money.
                    Kit.expectProblem(try await Kit.hold(http, bases[1], rival, concertID: concert.id, date: date, seats: [3]), 409, "SEAT_UNAVAILABLE")
                    let rivalHold = try await Kit.hold(http, bases[1], rival, concertID: concert.id, date: date, seats: [10])
                    let rivalID = try #require(rivalHold.json["reservationId"] as? String)
                    Kit.expectProblem(try await http.request(.POST, "\(bases[1])/v1/payments", token: rival.token, json: ["reservationId": rivalID]),
                                      402, "INSUFFICIENT_BALANCE")
                    let paid = try await http.request(.POST, "\(bases[1])/v1/payments", token: fan.token, json: ["reservationId": secondID])
                    #expect(paid.status == 201, "\(paid.text)")

                    let mine = try await Self.eventually(redis, matching: { $0.data["userId"] as? String == fan.userID }) { $0.count >= 5 }
                    #expect(mine.map(\.type) == ["balance.charged", "reservation.held", "reservation.cancelled", "reservation.held", "order.paid"])
                    #expect(Set(mine.map(\.id)).count == mine.count && mine.allSatisfy { $0.id.hasPrefix("evt_") })
                    let order = try #require(mine.last)
                    #expect(order.data["reservationId"] as? String == secondID && order.data["paymentId"] as? String == paid.json["paymentId"] as? String)
                    #expect(order.data["concertId"] as? Int == concert.id && order.data["date"] as? String == date)
                    #expect(order.data["seatNumbers"] as? [Int] == [3] && order.data["amount"] as? Int == paid.json["amount"] as? Int)
                    #expect(order.data["paidAt"] as? String == paid.json["paidAt"] as? String)
                    #expect(mine[0].data["amount"] as? Int == 500_000 && mine[0].data["balance"] as? Int == 500_000)
                    // The held event, built by boxoffice_hold from its arguments, says what the hold answered and
                    // what the cancelled event (read back from the tables) says of the same reservation.
                    let (held, cancelled) = (mine[1].data, mine[2].data)
                    #expect(held["reservationId"] as? String == firstID && held["userId"] as? String == fan.userID)
                    #expect(held["seatNumbers"] as? [Int] == [1, 2] && held["amount"] as? Int == first.json["amount"] as? Int)
                    #expect(held["expiresAt"] as? String == first.json["expiresAt"] as? String && held["date"] as? String == date)
                    for field in ["reservationId", "userId", "date", "expiresAt"] {
                        #expect(held[field] as? String == cancelled[field] as? String, "\(field)")
                    }
                    #expect(held["concertId"] as? Int == cancelled["concertId"] as? Int && held["amount"] as? Int == cancelled["amount"] as? Int)
                    #expect(held["seatNumbers"] as? [Int] == cancelled["seatNumbers"] as? [Int])

                    // The rival: one hold (the refused one and the refused payment left nothing), which lapses.
                    let theirs = try await Self.eventually(redis, matching: { $0.data["userId"] as? String == rival.userID }) {
                        $0.map(\.type) == ["reservation.held", "reservation.expired"]
                    }
                    #expect(theirs.map(\.type) == ["reservation.held", "reservation.expired"], "\(theirs.map(\.type))")
                    #expect(theirs.allSatisfy { $0.data["reservationId"] as? String == rivalID })
                }
            }
        }
    }

    /// A relay of the test's own over the test database, publishing to `stream` on `redis`.
    static func relay(redis: RedisClient, stream: String, database: PostgresClient, name: String) -> (EventRelay, PostgresOutbox, RedisStreamPublisher) {
        let outbox = PostgresOutbox(database: database)
        let publisher = RedisStreamPublisher(redis: redis, stream: stream, maxLength: 100_000)
        let settings = EventSettings(stream: stream, batch: 10_000, leaseMilliseconds: 1_000)
        return (EventRelay(outbox: outbox, publisher: publisher, settings: settings, instanceID: name), outbox, publisher)
    }

    /// `count` balance charges through the store, as the API makes them: `count` events in the outbox.
    static func charges(_ count: Int, database: PostgresClient) async throws -> [String] {
        let store = PostgresBalanceStore(database: database)
        var users: [String] = []
        for _ in 0..<count {
            let user = UUID().uuidString.lowercased()
            _ = try await store.charge(userID: user, amount: 1_000, maxBalance: 1_000_000, idempotencyKey: nil)
            users.append(user)
        }
        return users
    }

    /// Claims until this relay has the lease (a relay of an earlier test may hold it for a second).
    static func claim(_ outbox: PostgresOutbox, holder: String) async throws -> [OutboxEvent] {
        for _ in 0..<40 {
            let events = try await outbox.claim(holder: holder, limit: 10_000, leaseMilliseconds: 1_000)
            if !events.isEmpty { return events }
            try await Task.sleep(for: .milliseconds(100))
        }
        return []
    }

    @Test("a relay that dies between publishing and marking: the next holder publishes the batch again after the lease runs out; consumers see duplicates with the same ids, never a gap")
    func crashBetweenPublishAndMark() async throws {
        let stream = "bo:events:test-\(UUID().uuidString)"
        try await Kit.withDatabase { database in
            try await Kit.withRedis { redis in
                let users = try await Self.charges(20, database: database)
                let (_, outbox, publisher) = Self.relay(redis: redis, stream: stream, database: database, name: "crashing")
                // The first relay publishes and "dies" before marking (no markPublished).
                let batch = try await Self.claim(outbox, holder: "crashing-relay")
                let mine = batch.filter { event in users.contains { event.data.contains($0) } }
                #expect(mine.count == 20)
                try await publisher.publish(batch)
                // Another relay takes over once the lease (1 s) has run out, and publishes again.
                let (next, _, _) = Self.relay(redis: redis, stream: stream, database: database, name: "next")
                var republished = 0
                for _ in 0..<30 where republished == 0 {
                    try await Task.sleep(for: .milliseconds(200))
                    republished = try await next.relayOnce()
                }
                #expect(republished >= 20)
                let seen = try await Self.entries(redis, stream: stream)
                for event in mine {
                    #expect(seen.filter { $0.id == event.eventID }.count == 2, "\(event.eventID)")
                }
                let unpublished = try await database.query(
                    "SELECT count(*) FROM outbox_unpublished WHERE id = ANY(\(mine.map(\.id))::bigint[])")
                #expect(try unpublished.first!.decode(Int.self, at: 0) == 0)
                _ = try await redis.send(["DEL", RedisArgument(stream)])
            }
        }
    }

    /// Frees the relay lease, so the next relay to look takes it (instead of waiting out a lease of
    /// an instance of an earlier test), and no relay is left asleep.
    static func freeLease(_ database: PostgresClient) async throws {
        try await database.query("UPDATE outbox_relay SET holder = NULL, lease_until = '-infinity', sleeping = false WHERE id = 1")
    }

    /// Waits until a relay whose holder name starts with `prefix` holds the lease (and, if asked,
    /// sleeps); returns the holder.
    static func relayHolding(_ database: PostgresClient, prefix: String, sleeping: Bool? = nil, timeout: Duration = .seconds(30)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let row = try await database.query("SELECT coalesce(holder, ''), sleeping, lease_until > now() FROM outbox_relay WHERE id = 1").first
            let holder = try row?.decode(String.self, at: 0) ?? ""
            if holder.hasPrefix(prefix), try row?.decode(Bool.self, at: 2) == true, try sleeping == nil || row?.decode(Bool.self, at: 1) == sleeping {
                return holder
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestServerError("no relay \(prefix)* holds the outbox lease\(sleeping == true ? " asleep" : "") within \(timeout)")
    }

    /// Milliseconds from `start` to the time of the stream entry (its id is the XADD time in ms).
    static func lag(_ entry: Entry, since start: Date) -> Int {
        (Int(entry.streamID.split(separator: "-").first ?? "") ?? 0) - Int(start.timeIntervalSince1970 * 1000)
    }

    @Test("a relay with nothing to do sleeps until PostgreSQL notifies it: each new event is in the stream within a second, though the relay's own look comes once a minute")
    func notifiedRelay() async throws {
        let stream = "bo:events:test-\(UUID().uuidString)"
        try await Kit.withDatabase { database in
            try await Kit.withRedis { redis in
                try await Self.freeLease(database)
                let environment = ["EVENTS_STREAM": stream, "OUTBOX_SWEEP_MS": "60000", "OUTBOX_LEASE_MS": "120000"]
                try await TestStack.withInstances(1, environment: environment) { _ in
                    for round in 1...3 {
                        // Asleep: its last claim found nothing and asked to be notified.
                        _ = try await Self.relayHolding(database, prefix: "test-1-", sleeping: true)
                        let start = Date()
                        let user = try await Self.charges(1, database: database)[0]
                        let seen = try await Self.eventually(redis, stream: stream, timeout: .seconds(5), matching: { $0.data["userId"] as? String == user }) { !$0.isEmpty }
                        try #require(seen.count == 1, "round \(round)")
                        #expect(Self.lag(seen[0], since: start) < 1_000, "round \(round): \(Self.lag(seen[0], since: start)) ms")
                    }
                }
                // The stopped instance's two-minute lease must not hold up the next tests' relays.
                try await Self.freeLease(database)
                _ = try await redis.send(["DEL", RedisArgument(stream)])
            }
        }
    }

    @Test("kill -9 of the relaying instance while its mark of a published batch waits: the other instance publishes the batch again once the lease runs out; each event is in the stream twice with its id, none lost, all marked", .timeLimit(.minutes(2)))
    func killedRelayingInstance() async throws {
        let stream = "bo:events:test-\(UUID().uuidString)"
        try await Kit.withDatabase { database in
            try await Kit.withRedis { redis in
                try await Self.freeLease(database)
                let environment = ["EVENTS_STREAM": stream, "OUTBOX_LEASE_MS": "3000", "DB_LOCK_TIMEOUT_MS": "30000", "DB_STATEMENT_TIMEOUT_MS": "30000"]
                let instances = try ["kill-1", "kill-2"].map { try InstanceProcess(instanceID: $0, environment: environment) }
                defer { instances.forEach { $0.kill() } }
                let holder = try await Self.relayHolding(database, prefix: "kill-")

                // The lease lent to nobody while the events are written and the deliveries table
                // locked: the relays can then read and publish them, but a mark (which fans the
                // batch out to webhook deliveries in the statement that moves the cursor) waits.
                try await database.query("UPDATE outbox_relay SET holder = 'test-pause', lease_until = now() + interval '1 minute' WHERE id = 1")
                let users = try await Self.charges(20, database: database)
                let locked = try await database.query("""
                    SELECT id FROM outbox_unpublished WHERE payload->>'userId' = ANY(string_to_array(\(users.joined(separator: ",")), ','))
                    """).map { try $0.decode(Int.self, at: 0) }
                try #require(locked.count == 20)
                let deliveriesLock = try PostgresConnection(configuration: PostgresConfiguration(url: TestEnvironment.databaseURL))
                defer { deliveriesLock.close() }
                try deliveriesLock.simple("BEGIN")
                try deliveriesLock.simple("LOCK TABLE webhook_deliveries IN EXCLUSIVE MODE")
                try await database.query("UPDATE outbox_relay SET holder = \(holder), lease_until = now() + interval '3 seconds' WHERE id = 1")

                let mine: (Entry) -> Bool = { users.contains($0.data["userId"] as? String ?? "") }
                let published = try await Self.eventually(redis, stream: stream, timeout: .seconds(10), matching: mine) { $0.count == 20 }
                try #require(published.count == 20)
                let unmarked = try await database.query("SELECT count(*) FROM outbox_unpublished WHERE id = ANY(\(locked)::bigint[])")
                #expect(try unmarked.first!.decode(Int.self, at: 0) == 20)
                let crashed = try #require(instances.first { holder.hasPrefix($0.instanceID + "-") })
                crashed.kill()
                // Its blocked mark would still commit once it got the rows: PostgreSQL ends a dead
                // client's session when it notices (keepalives, client_connection_check_interval).
                try await database.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = \("boxoffice-\(crashed.instanceID)")")
                try deliveriesLock.simple("ROLLBACK")

                // The survivor takes over after the lease and publishes the unmarked batch again.
                let seen = try await Self.eventually(redis, stream: stream, timeout: .seconds(20), matching: mine) { $0.count >= 40 }
                #expect(seen.count == 40)
                #expect(Set(seen.map(\.id)) == Set(published.map(\.id)))
                for event in Set(published.map(\.id)) { #expect(seen.filter { $0.id == event }.count == 2, "\(event)") }
                let survivor = try await Self.relayHolding(database, prefix: "kill-")
                #expect(!survivor.hasPrefix(crashed.instanceID + "-"))
                let unmarkedAfter = try await database.query("SELECT count(*) FROM outbox_unpublished WHERE id = ANY(\(locked)::bigint[])")
                #expect(try unmarkedAfter.first!.decode(Int.self, at: 0) == 0)
                instances.forEach { $0.kill() }
                try await Self.freeLease(database)
                _ = try await redis.send(["DEL", RedisArgument(stream)])
            }
        }
    }

    /// Carries the plan out of a transaction that must not commit.
    struct RolledBack: Error { let plan: String }

    @Test("the relay's claim reads a few index entries up from its cursor, however many published rows the table holds")
    func claimWalksFromTheCursor() async throws {
        try await TestDatabase.prepare()
        try await Kit.withDatabase { database in
            // In a transaction that rolls back: 100,000 rows of long-finished transactions (as after
            // the relay caught up), their statistics, a batch of this transaction's own, and the
            // lease free, so that the claim runs in full.
            let outcome = await #expect(throws: RolledBack.self) {
                try await database.transaction { connection in
                    try connection.query("""
                        INSERT INTO outbox_events (type, aggregate_id, payload, xid)
                        SELECT 'test.filler', g::text, '{}', '3' FROM generate_series(1, 100000) AS g
                        """)
                    try connection.query("ANALYZE outbox_events")
                    try connection.query("INSERT INTO outbox_events (type, aggregate_id, payload) SELECT 'test.batch', g::text, '{}' FROM generate_series(1, 400) AS g")
                    try connection.query("UPDATE outbox_relay SET lease_until = '-infinity' WHERE id = 1")
                    let claim = PostgresOutbox.claimQuery(holder: "test-plan", limit: 500, leaseMilliseconds: 1_000)
                    let plan = try connection.query(PostgresQuery(unsafeSQL: "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + claim.sql, binds: claim.binds))
                        .map { try $0.decode(String.self, at: 0) }.joined(separator: "\n")
                    throw RolledBack(plan: plan)
                }
            }
            let plan = outcome?.plan ?? ""
            // Rows each step produced or looked at and dropped: the batch's 400 at most, never the table.
            let counts = plan.matches(of: /(?:actual rows=|Rows Removed by (?:Join )?Filter: )(\d+)/).compactMap { Int($0.output.1) }
            #expect(!counts.isEmpty && counts.allSatisfy { $0 <= 1_000 }, "\(plan)")
            #expect(!plan.contains("Seq Scan on outbox_events") && plan.contains("outbox_events_xid"), "\(plan)")
        }
    }

    @Test("Redis down: the events wait in the outbox (the relay fails and marks nothing) and go out once it is back; then two consumer groups each read every event once")
    func redisDownThenConsumerGroups() async throws {
        let stream = "bo:events:test-\(UUID().uuidString)"
        try await ScratchStack.with([.redis]) { stack in
            let redis = RedisClient(configuration: try RedisConfiguration(url: stack.redisURL), poolSize: 2, acquireTimeout: .seconds(5))
            defer { redis.shutdown() }
            try await Kit.withDatabase { database in
                let (relay, outbox, _) = Self.relay(redis: redis, stream: stream, database: database, name: "scratch")
                // Take the lease first, so no other relay publishes these events elsewhere.
                _ = try await Self.claim(outbox, holder: relay.holder)
                try await stack.stop(.redis)
                let users = try await Self.charges(10, database: database)
                await #expect(throws: (any Error).self) { try await relay.relayOnce() }
                let waiting = try await database.query("""
                    SELECT count(*) FROM outbox_unpublished WHERE type = 'balance.charged'
                      AND payload->>'userId' = ANY(string_to_array(\(users.joined(separator: ",")), ','))
                    """)
                #expect(try waiting.first!.decode(Int.self, at: 0) == 10)
                try await stack.start(.redis)
                var published = 0
                for _ in 0..<50 where published == 0 {
                    published = (try? await relay.relayOnce()) ?? 0
                    if published == 0 { try await Task.sleep(for: .milliseconds(200)) }
                }
                let seen = try await Self.entries(redis, stream: stream).filter { users.contains($0.data["userId"] as? String ?? "") }
                #expect(seen.count == 10 && Set(seen.map(\.id)).count == 10)

                // Consumer groups: each group gets every event once, whichever consumer reads it.
                for group in ["billing", "mail"] {
                    _ = try await redis.send(["XGROUP", "CREATE", RedisArgument(stream), RedisArgument(group), "0"]).checked()
                }
                for group in ["billing", "mail"] {
                    var read: [String] = []
                    for consumer in ["a", "b", "a"] {
                        let reply = try await redis.send([
                            "XREADGROUP", "GROUP", RedisArgument(group), RedisArgument(consumer), "COUNT", "4", "STREAMS", RedisArgument(stream), ">",
                        ]).checked()
                        for entry in reply.array?.first?.array?.last?.array ?? [] {
                            guard let streamID = entry.array?.first?.string else { continue }
                            read.append(streamID)
                            _ = try await redis.send(["XACK", RedisArgument(stream), RedisArgument(group), RedisArgument(streamID)]).checked()
                        }
                    }
                    let all = try await Self.entries(redis, stream: stream).map(\.streamID)
                    #expect(read.count >= 10 && Set(read).count == read.count && Set(read) == Set(all.prefix(read.count)), "\(group)")
                }
            }
        }
    }

    @Test("a purchase rush over two instances: one distinct order.paid id per payment in the stream and at a webhook receiver, matching the payments table")
    func rushExactlyOnce() async throws {
        let concert = try await Fixtures.concert(dates: 4)
        try await TestStack.withInstances(2, environment: WebhookTests.environment) { bases in
            try await TestHTTPClient.with { http in
                try await WebhookReceiver.with { receiver in
                    try await WebhookTests.withEndpoint(http, bases[0], receiver, "orders", events: ["order.paid"]) { _ in
                        let outcome = try await PurchaseRush(seconds: 8).run(concert: concert, bases: bases, faultAt: 0) {}
                        #expect(outcome.failures.isEmpty)
                        try await Self.expectOneOrderEventPerPayment(concert: concert, receiver: receiver)
                    }
                }
            }
        }
    }

    static func expectOneOrderEventPerPayment(concert: Fixtures.Concert, receiver: WebhookReceiver) async throws {
        let payments = try await Kit.withDatabase { database in
            try await database.query("""
                SELECT p.id::text FROM payments p JOIN reservations r ON r.id = p.reservation_id WHERE r.concert_id = \(concert.id)
                """).map { try $0.decode(String.self, at: 0) }
        }
        #expect(payments.count >= 20, "the rush paid for \(payments.count) seats")
        try await Kit.withRedis { redis in
            let paid = try await Self.eventually(redis, matching: { $0.type == "order.paid" && $0.data["concertId"] as? Int == concert.id }) {
                Set($0.compactMap { $0.data["paymentId"] as? String }) == Set(payments)
            }
            #expect(Set(paid.compactMap { $0.data["paymentId"] as? String }) == Set(payments))
            // Duplicates may only repeat an event (the same id), never give a payment two ids.
            #expect(Set(paid.map(\.id)).count == payments.count)
            let delivered = try await WebhookReceiver.eventually {
                try await receiver.deliveries("orders").filter { $0.fields["concertId"] as? Int == concert.id }
            } until: { Set($0.compactMap { $0.fields["paymentId"] as? String }) == Set(payments) }
            #expect(delivered.allSatisfy { $0.verified })
            #expect(Set(delivered.compactMap { $0.fields["paymentId"] as? String }) == Set(payments))
            #expect(Set(delivered.map(\.webhookID)) == Set(paid.map(\.id)), "the receiver and the stream name each order by the same event id")
        }
    }
}
