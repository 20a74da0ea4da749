import BoxOfficeDomain
import Testing

@Suite("QueueToken")
struct QueueTokenTests {
    @Test("generate and concertID round-trip", arguments: [1, 7, 42, 1_000_000, 2_147_483_647, Int.max])
    func roundTrip(concertID: Int) {
        let token = QueueToken.generate(concertID: concertID)
        #expect(token.hasPrefix("\(concertID)."))
        #expect(QueueToken.concertID(of: token) == concertID)
    }

    @Test("128 random bits: 32 lowercase hex digits, and tokens differ")
    func randomness() {
        var seen = Set<String>()
        var ones = 0
        let count = 2_000
        for _ in 0..<count {
            let token = QueueToken.generate(concertID: 3)
            let random = token.dropFirst(2)
            #expect(random.count == 32)
            #expect(random.allSatisfy { "0123456789abcdef".contains($0) })
            seen.insert(token)
            ones += random.reduce(0) { $0 + ($1.hexDigitValue ?? 0).nonzeroBitCount }
        }
        #expect(seen.count == count)
        #expect(QueueToken.generate(concertID: 3) != QueueToken.generate(concertID: 3))
        // Every bit is random: about half of the 128 bits are set (expected 64 per token).
        let average = Double(ones) / Double(count)
        #expect(abs(average - 64) < 1.5, "average set bits \(average)")
    }

    @Test("leading zero bytes keep the width (hex is zero-padded)")
    func padding() {
        // 1 in 16 tokens starts each half with a 0 digit; over many tokens some must, and all keep 32 digits.
        let tokens = (0..<500).map { _ in QueueToken.generate(concertID: 9) }
        #expect(tokens.allSatisfy { $0.count == 2 + 32 })
        #expect(tokens.contains { $0.dropFirst(2).first == "0" })
    }

    static let hex32 = "9f86d081884c7d659a2feaa0c55ad015"

    @Test("malformed tokens are rejected", arguments: [
        "",
        "1",
        "19f86d081884c7d659a2feaa0c55ad015",            // no dot
        ".9f86d081884c7d659a2feaa0c55ad015",            // no concert
        "1.",                                           // no random part
        "01.9f86d081884c7d659a2feaa0c55ad015",          // leading zero
        "+1.9f86d081884c7d659a2feaa0c55ad015",          // sign
        "0.9f86d081884c7d659a2feaa0c55ad015",           // zero concert
        "-1.9f86d081884c7d659a2feaa0c55ad015",          // negative concert
        "1.9F86D081884C7D659A2FEAA0C55AD015",           // uppercase hex
        "1.9f86d081884c7d659a2feaa0c55ad01F",           // one uppercase digit
        "1.9f86d081884c7d659a2feaa0c55ad01",            // 31 digits
        "1.9f86d081884c7d659a2feaa0c55ad0155",          // 33 digits
        "1.9f86d081884c7d659a2feaa0c55ad01g",           // not hex
        "1.9f86d081884c7d65 9a2feaa0c55ad01",           // space
        "1.9f86d081.884c7d659a2feaa0c55ad01",           // two dots
        "1..9f86d081884c7d659a2feaa0c55ad015",          // empty shard
        "1.0.9f86d081884c7d659a2feaa0c55ad015",         // shard 0 has no shard part
        "1.16.9f86d081884c7d659a2feaa0c55ad015",        // shards are numbered 0...15
        "1.02.9f86d081884c7d659a2feaa0c55ad015",        // not canonical
        "1.2.3.9f86d081884c7d659a2feaa0c55ad015",       // three dots
        " 1.9f86d081884c7d659a2feaa0c55ad015",          // whitespace
        "1.9f86d081884c7d659a2feaa0c55ad015\n",
        "99999999999999999999999.9f86d081884c7d659a2feaa0c55ad015", // concert overflows Int
        "1.９f86d081884c7d659a2feaa0c55ad0",             // full-width digit: 32 bytes, 30 characters
    ])
    func malformed(token: String) {
        #expect(QueueToken.concertID(of: token) == nil)
    }

    @Test("a well-formed token by hand is accepted")
    func wellFormed() {
        #expect(QueueToken.concertID(of: "1." + Self.hex32) == 1)
        #expect(QueueToken.concertID(of: "123456789." + Self.hex32) == 123_456_789)
        #expect(QueueToken.concertID(of: "5.00000000000000000000000000000000") == 5)
        #expect(QueueToken.parse("1.2.9f86d081884c7d659a2feaa0c55ad015")! == (1, 2))
        #expect(QueueToken.parse("7.15." + Self.hex32)! == (7, 15))
        #expect(QueueToken.parse("7." + Self.hex32)! == (7, 0))
    }

    @Test("a shard's token names its concert and shard", arguments: [1, 3, 15])
    func shardRoundTrip(shard: Int) {
        let token = QueueToken.generate(concertID: 42, shard: shard)
        #expect(token.hasPrefix("42.\(shard)."))
        #expect(QueueToken.parse(token)! == (42, shard))
        #expect(QueueToken.generate(concertID: 42, shard: 0).split(separator: ".").count == 2)
    }
}
