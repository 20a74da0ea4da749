/// The 50 seat prices of a new date, given as a full list or as price tiers. Pure rules, so the
/// admin API and the CLI refuse exactly the same input.
public enum SeatPrices {
    public static let seats = 50
    public static let maxPrice = 100_000_000

    /// Seats `from`...`to` (1-based, inclusive) at `price`.
    public struct Tier: Sendable, Codable, Equatable {
        public let from: Int
        public let to: Int
        public let price: Int

        public init(from: Int, to: Int, price: Int) {
            self.from = from
            self.to = to
            self.price = price
        }
    }

    /// Checks a full list: 50 prices, each a whole number of won in 1...100,000,000.
    public static func validated(_ prices: [Int]) throws -> [Int] {
        guard prices.count == Self.seats else {
            throw BoxOfficeError.invalidRequest("prices must list exactly \(Self.seats) seat prices (got \(prices.count)).")
        }
        for (index, price) in prices.enumerated() where !(1...Self.maxPrice).contains(price) {
            throw BoxOfficeError.invalidRequest("The price of seat \(index + 1) must be between 1 and \(Self.maxPrice) (got \(price)).")
        }
        return prices
    }

    /// The list the tiers describe; they must cover seats 1...50 exactly once.
    public static func fromTiers(_ tiers: [Tier]) throws -> [Int] {
        guard !tiers.isEmpty else { throw BoxOfficeError.invalidRequest("tiers must not be empty.") }
        var prices = [Int?](repeating: nil, count: Self.seats)
        for tier in tiers {
            guard 1 <= tier.from, tier.from <= tier.to, tier.to <= Self.seats else {
                throw BoxOfficeError.invalidRequest("A tier must cover seats within 1...\(Self.seats), from <= to (got \(tier.from)...\(tier.to)).")
            }
            for seat in tier.from...tier.to {
                guard prices[seat - 1] == nil else {
                    throw BoxOfficeError.invalidRequest("Tiers overlap at seat \(seat).")
                }
                prices[seat - 1] = tier.price
            }
        }
        if let gap = prices.firstIndex(of: nil) {
            throw BoxOfficeError.invalidRequest("Tiers leave seat \(gap + 1) without a price.")
        }
        return try Self.validated(prices.map { $0! })
    }
}
