import BoxOfficeDomain
import Testing

@Suite("Seat prices of a new date: full lists and tiers")
struct SeatPricesTests {
    typealias Tier = SeatPrices.Tier

    static func refused(_ body: () throws -> Any, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try body()
            Issue.record("accepted, expected a refusal mentioning '\(fragment)'", sourceLocation: sourceLocation)
        } catch BoxOfficeError.invalidRequest(let detail) {
            #expect(detail.contains(fragment), "\(detail)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func aFullListOfFiftyPositivePricesIsTaken() throws {
        let prices = (1...50).map { $0 * 1_000 }
        #expect(try SeatPrices.validated(prices) == prices)
        #expect(try SeatPrices.validated(Array(repeating: 100_000_000, count: 50)).count == 50)
    }

    @Test func listsOfTheWrongLengthOrWithBadPricesAreRefused() {
        Self.refused({ try SeatPrices.validated(Array(repeating: 1_000, count: 49)) }, "exactly 50")
        Self.refused({ try SeatPrices.validated(Array(repeating: 1_000, count: 51)) }, "exactly 50")
        Self.refused({ try SeatPrices.validated([]) }, "exactly 50")
        Self.refused({ try SeatPrices.validated(Array(repeating: 1_000, count: 49) + [0]) }, "seat 50")
        Self.refused({ try SeatPrices.validated([-5] + Array(repeating: 1_000, count: 49)) }, "seat 1")
        Self.refused({ try SeatPrices.validated(Array(repeating: 100_000_001, count: 50)) }, "seat 1")
    }

    @Test func tiersCoveringEverySeatOnceBecomeAList() throws {
        let prices = try SeatPrices.fromTiers([Tier(from: 11, to: 50, price: 132_000), Tier(from: 1, to: 10, price: 198_000)])
        #expect(prices == Array(repeating: 198_000, count: 10) + Array(repeating: 132_000, count: 40))
        #expect(try SeatPrices.fromTiers([Tier(from: 1, to: 50, price: 5)]) == Array(repeating: 5, count: 50))
    }

    @Test func tiersWithGapsOverlapsOrBadBoundsAreRefused() {
        Self.refused({ try SeatPrices.fromTiers([]) }, "empty")
        Self.refused({ try SeatPrices.fromTiers([Tier(from: 1, to: 10, price: 1), Tier(from: 12, to: 50, price: 1)]) }, "seat 11")
        Self.refused({ try SeatPrices.fromTiers([Tier(from: 1, to: 10, price: 1), Tier(from: 10, to: 50, price: 1)]) }, "overlap at seat 10")
        Self.refused({ try SeatPrices.fromTiers([Tier(from: 0, to: 50, price: 1)]) }, "within 1...50")
        Self.refused({ try SeatPrices.fromTiers([Tier(from: 1, to: 51, price: 1)]) }, "within 1...50")
        Self.refused({ try SeatPrices.fromTiers([Tier(from: 30, to: 20, price: 1)]) }, "from <= to")
        Self.refused({ try SeatPrices.fromTiers([Tier(from: 1, to: 50, price: 0)]) }, "seat 1")
    }
}
