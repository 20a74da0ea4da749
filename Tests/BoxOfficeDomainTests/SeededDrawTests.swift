@testable import BoxOfficeDomain
import Crypto
import Foundation
import Testing

@Suite("Seeded draws: commitment, tickets, winners, codes")
struct SeededDrawTests {
    let seed = String(repeating: "0f", count: 32)

    @Test("the commitment is SHA-256 of the seed's 32 bytes, and a new seed is 64 hex characters")
    func commitment() {
        let expected = SHA256.hash(data: [UInt8](repeating: 0x0f, count: 32)).map { String(format: "%02x", $0) }.joined()
        #expect(SeededDraw.commitment(seed: self.seed) == expected)
        let fresh = SeededDraw.newSeed()
        #expect(fresh.count == 64 && fresh.allSatisfy(\.isHexDigit) && fresh != SeededDraw.newSeed())
    }

    @Test("winners are the smallest HMAC-SHA256(seed, lowercase user id), whatever the list's order or case")
    func winners() {
        let users = (0..<200).map { _ in UUID().uuidString.lowercased() }
        let key = SymmetricKey(data: [UInt8](repeating: 0x0f, count: 32))
        let byHand = users.sorted {
            Array(HMAC<SHA256>.authenticationCode(for: Array($0.utf8), using: key))
                .lexicographicallyPrecedes(Array(HMAC<SHA256>.authenticationCode(for: Array($1.utf8), using: key)))
        }
        let drawn = SeededDraw.winners(seed: self.seed, users: users, count: 20)
        #expect(drawn == Array(byHand.prefix(20)))
        #expect(SeededDraw.winners(seed: self.seed, users: users.reversed().map { $0.uppercased() }, count: 20) == drawn)
        #expect(SeededDraw.winners(seed: self.seed, users: users, count: 500).count == 200)
        #expect(SeededDraw.winners(seed: SeededDraw.newSeed(), users: users, count: 20) != drawn)
    }

    @Test("an early arrival's place is the ticket's first 48 bits as a fraction: same order as the tickets")
    func places() {
        let users = (0..<300).map { _ in UUID().uuidString.lowercased() }
        let byPlace = users.sorted { SeededDraw.place(seed: self.seed, user: $0) < SeededDraw.place(seed: self.seed, user: $1) }
        #expect(byPlace == SeededDraw.winners(seed: self.seed, users: users, count: users.count))
        #expect(users.allSatisfy { (0..<1).contains(SeededDraw.place(seed: self.seed, user: $0)) })
    }

    @Test("codes: 12 characters without look-alikes; the sale window is [saleOpensAt, saleClosesAt)")
    func codesAndWindow() {
        let code = SeededDraw.newCode()
        #expect(code.count == 12 && !code.contains { "01IO".contains($0) })
        let now = Date()
        let presale = Presale(
            concertID: 1, registrationClosesAt: now, saleOpensAt: now.addingTimeInterval(10), saleClosesAt: now.addingTimeInterval(20),
            winners: 1, registered: 0, seedCommitment: "", seed: nil, drawnAt: nil)
        #expect(!presale.saleWindow.contains(now.addingTimeInterval(9.9)))
        #expect(presale.saleWindow.contains(now.addingTimeInterval(10)))
        #expect(!presale.saleWindow.contains(now.addingTimeInterval(20)))
    }
}
