@testable import BoxOfficeDomain
import Crypto
import Testing

@Suite("Proof of work: challenges and their checks, with a fixed clock")
struct ProofOfWorkTests {
    let door = ProofOfWork(secret: Array("a secret of at least thirty-two bytes".utf8))
    let now = 1_800_000_000_000

    func solved(concertID: Int = 7, difficulty: Int = 8) -> ProofOfWork.Proof {
        let challenge = self.door.challenge(concertID: concertID, difficulty: difficulty, nowMilliseconds: self.now)
        return ProofOfWork.Proof(challenge: challenge.challenge, nonce: ProofOfWork.solve(challenge.challenge, difficulty: difficulty))
    }

    @Test("a solved challenge passes once its hash has the difficulty's zero bits; its id and expiry come back")
    func solvedPasses() throws {
        let proof = self.solved()
        let accepted = try self.door.verify(proof, concertID: 7, difficulty: 8, nowMilliseconds: self.now + 1_000).get()
        #expect(accepted.expiresMilliseconds == self.now + ProofOfWork.lifetime * 1000)
        #expect(accepted.id.count == 32)
        let digest = SHA256.hash(data: Array("\(proof.challenge):\(proof.nonce)".utf8))
        #expect(ProofOfWork.leadingZeroBits(digest) >= 8)
    }

    @Test("refused: another concert, expired, a higher difficulty than solved, a forged or altered challenge, a long nonce")
    func refusals() {
        let proof = self.solved(difficulty: 8)
        func refused(_ proof: ProofOfWork.Proof, concertID: Int = 7, difficulty: Int = 8, at: Int? = nil) -> Bool {
            if case .failure(.proofInvalid) = self.door.verify(proof, concertID: concertID, difficulty: difficulty, nowMilliseconds: at ?? self.now) {
                return true
            }
            return false
        }
        #expect(refused(proof, concertID: 8))
        #expect(refused(proof, at: self.now + ProofOfWork.lifetime * 1000))
        // 8 bits solved; asking 24 fails unless the nonce happens to reach them (chance 2^-16).
        #expect(refused(ProofOfWork.Proof(challenge: proof.challenge, nonce: "not-a-solution"), difficulty: 24))
        let other = ProofOfWork(secret: Array("another secret of thirty-two bytes!!".utf8))
        let forged = other.challenge(concertID: 7, difficulty: 0, nowMilliseconds: self.now)
        #expect(refused(ProofOfWork.Proof(challenge: forged.challenge, nonce: "0"), difficulty: 0))
        // The difficulty written into the challenge is signed: lowering it breaks the signature.
        let lowered = proof.challenge.replacingOccurrences(of: "v1.7.8.", with: "v1.7.0.")
        #expect(refused(ProofOfWork.Proof(challenge: lowered, nonce: proof.nonce), difficulty: 0))
        #expect(refused(ProofOfWork.Proof(challenge: "v1.7.8", nonce: "0"), difficulty: 0))
        #expect(refused(ProofOfWork.Proof(challenge: proof.challenge, nonce: String(repeating: "1", count: 65)), difficulty: 0))
    }

    @Test("leading zero bits count across bytes")
    func zeroBits() {
        #expect(ProofOfWork.leadingZeroBits([0x00, 0x00, 0x0f, 0xff]) == 20)
        #expect(ProofOfWork.leadingZeroBits([0x80]) == 0)
        #expect(ProofOfWork.leadingZeroBits([0x00, 0x01]) == 15)
        #expect(ProofOfWork.leadingZeroBits([0x00, 0x00]) == 16)
    }
}
