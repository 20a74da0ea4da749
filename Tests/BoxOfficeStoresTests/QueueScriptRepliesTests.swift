@testable import BoxOfficeStores
import BoxOfficeDomain
import HiredisClient
import Testing

/// The Swift side of the Swift-Lua protocol, without a server: the key layout, and the typed calls'
/// decoding of the replies the scripts give (the real-server suites run the scripts themselves).
@Suite("Queue keys and script replies")
struct QueueScriptRepliesTests {
    static func bulk(_ text: String) -> RedisReply { .bulk(Array(text.utf8)) }

    @Test func shardKeysCarryTheirOwnHashTag() {
        #expect(QueueKeys(concertID: 9).prefix == "bo:{c:9}:")
        #expect(QueueKeys(concertID: 9, shard: 2).prefix == "bo:{c:9:2}:")
        #expect(QueueKeys(QueueLineID(concertID: 9, shard: 2)) == QueueKeys(concertID: 9, shard: 2))
        let slots = Set((0..<3).map { RedisHashSlot.of(QueueKeys(concertID: 9, shard: $0).waiting) })
        #expect(slots.count == 3)
    }

    @Test func aWaitersDescriptionCarriesItsRankPlaceAndLineInputs() throws {
        let inputs: [RedisReply] = [.integer(5_000), .integer(4_900), Self.bulk("0.5"), .integer(3), .integer(0), Self.bulk("1200")]
        let reply: [RedisReply] = [Self.bulk("WAITING"), Self.bulk("u1"), .integer(7), Self.bulk("42"), .integer(0)] + inputs
        let description = try TokenDescription(reply[...])
        #expect(description.state == .waiting && description.user == "u1" && description.rank == 7 && description.place == 42)
        #expect(description.inputs == LineInputs(now: 5_000, lastTick: 4_900, banked: 0.5, active: 3, slotEnd: 0, meanHoldMilliseconds: 1_200))
        // A waiter in an open line without its inputs is a protocol fault, not a guess.
        #expect(throws: RedisError.self) { try TokenDescription(reply.prefix(5)) }
        // Before the opening a waiter has no inputs, and needs none.
        let early: [RedisReply] = [Self.bulk("WAITING"), Self.bulk("u1"), .integer(0), Self.bulk("-0.3"), .integer(9_000)]
        #expect(try TokenDescription(early[...]).opensAt == 9_000)
    }

    @Test func anActiveDescriptionCarriesTheEndOfItsWindow() throws {
        let reply: [RedisReply] = [Self.bulk("ACTIVE"), Self.bulk("u2"), .integer(0), .integer(123_456), .integer(0)]
        let description = try TokenDescription(reply[...])
        #expect(description.state == .active && description.activeUntil == 123_456 && description.place == nil)
        #expect(throws: RedisError.self) { try TokenDescription([Self.bulk("LOST"), Self.bulk("u2"), .integer(0), .integer(0), .integer(0)][...]) }
    }

    @Test func issueRepliesDecodeToTheirOutcomes() throws {
        let call = QueueIssueCall(
            QueueIssueRequest(
                line: QueueLineID(concertID: 1, shard: 0), user: "u", candidate: "t", maxWaiting: 0, isShare: false, arrivalDraw: 0.5,
                opening: nil, capacity: 10, existingOnly: false))
        #expect(try call.decode(.array([.integer(0), .integer(-1)])) == .full)
        #expect(try call.decode(.array([.integer(0), .integer(-2)])) == .noLiveToken)
        let active: [RedisReply] = [Self.bulk("t"), .integer(1), Self.bulk("ACTIVE"), Self.bulk("u"), .integer(0), .integer(99), .integer(0)]
        guard case .token("t", isNew: true, let description) = try call.decode(.array(active)) else {
            Issue.record("not a token")
            return
        }
        #expect(description.activeUntil == 99)
        #expect(throws: RedisError.self) { try call.decode(.integer(1)) }
        // One line's opening is read by the script itself: an empty argument, not 0 (which means open).
        #expect(call.arguments[5] == "")
    }

    @Test func aPromoteReplyDecodesByNameAndRefusesTheWrongShape() throws {
        let call = QueuePromoteCall(
            keys: QueueKeys(concertID: 1),
            QueuePromoteRequest(
                capacity: 10, rate: 2, idleSeconds: 60, activeSeconds: 300, endedTokenSeconds: 3_600, split: (paused: true, opening: 0),
                noSeatFree: false))
        let inputs: [RedisReply] = [.integer(5_000), .integer(4_900), Self.bulk("0"), .integer(3), .integer(0), .null]
        let values: [RedisReply] = [1, 2, 3, 40, 5, 1_500, 2_000, 10, 300, 1].map { .integer($0) }
        let tick = try call.decode(.array(values + inputs))
        #expect(tick.admitted == 1 && tick.expired == 2 && tick.dropped == 3 && tick.waiting == 40 && tick.active == 5)
        #expect(tick.measuredPerSecond == 1.5 && tick.admitPerSecond == 2 && tick.capacity == 10 && tick.activeSeconds == 300 && tick.paused)
        #expect(throws: RedisError.self) { try call.decode(.array(values)) }
        // A split line's shard carries shard 0's pause and opening.
        #expect(Array(call.arguments[5...8]) == ["1", "1", "0", "0"])
    }
}
