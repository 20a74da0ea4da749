@testable import BoxOfficeHTTP
import BoxOfficeDomain
import Foundation
import Testing

@Suite("QueueStatus.json, the hand-written body of status polls")
struct QueueStatusJSONTests {
    static func object(_ text: String) throws -> NSDictionary {
        try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary)
    }

    @Test("equals the Encodable form, WAITING and ACTIVE, nulls included", arguments: [
        QueueStatus(token: "1.0123456789abcdef0123456789abcdef", userId: "3f1c9a52-8d0e-4b6f-9a57-1c2d3e4f5a6b", concertId: 1,
                    status: .waiting, position: 17, estimatedWaitSeconds: 42, activeUntil: nil, pollAfterSeconds: 3),
        QueueStatus(token: "22.ffffffffffffffffffffffffffffffff", userId: "00000000-0000-4000-8000-000000000000", concertId: 22,
                    status: .active, position: nil, estimatedWaitSeconds: 0,
                    activeUntil: Date(timeIntervalSince1970: 1_800_000_000.123), pollAfterSeconds: 1),
        QueueStatus(token: "3.00000000000000000000000000000000", userId: "00000000-0000-4000-8000-000000000000", concertId: 3,
                    status: .waiting, position: nil, estimatedWaitSeconds: 600, activeUntil: nil, pollAfterSeconds: 30,
                    opensAt: Date(timeIntervalSince1970: 1_900_000_000.5)),
        // A paused line: no wait promised.
        QueueStatus(token: "4.00000000000000000000000000000000", userId: "00000000-0000-4000-8000-000000000000", concertId: 4,
                    status: .waiting, position: 12, estimatedWaitSeconds: nil, activeUntil: nil, pollAfterSeconds: 5),
        // A sold-out line: no wait promised either, and not paused.
        QueueStatus(token: "5.00000000000000000000000000000000", userId: "00000000-0000-4000-8000-000000000000", concertId: 5,
                    status: .waiting, position: 3, estimatedWaitSeconds: nil, activeUntil: nil, pollAfterSeconds: 5, soldOut: true),
    ])
    func matchesEncoder(status: QueueStatus) throws {
        let direct = try Self.object(status.json)
        let encoded = try Self.object(try JSON.encode(status))
        #expect(direct == encoded)
        #expect(direct.count == 11)
        #expect(direct["paused"] as? Bool == (status.estimatedWaitSeconds == nil && !status.soldOut))
        #expect(direct["soldOut"] as? Bool == status.soldOut)
        #expect(status.json.contains(#""estimatedWaitSeconds":null"#) == (status.paused || status.soldOut))
        #expect(status.json.contains(#""opensAt":null"#) == (status.opensAt == nil))
        #expect(status.json.contains(#""activeUntil":null"#) == (status.activeUntil == nil))
    }

    @Test("strings are escaped: quotes, backslashes, control characters and non-ASCII survive a round trip")
    func escaping() throws {
        let awkward = "a\"b\\c\nd\te\u{01}f\u{1F3B5}é"
        let status = QueueStatus(token: awkward, userId: awkward, concertId: 1, status: .waiting, position: 1,
                                 estimatedWaitSeconds: 1, activeUntil: nil, pollAfterSeconds: 1)
        let object = try Self.object(status.json)
        #expect(object["token"] as? String == awkward)
        #expect(object["userId"] as? String == awkward)
    }
}
