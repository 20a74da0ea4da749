import BoxOfficeDomain
import Foundation
import Testing

@Suite("Timestamp: API times to the millisecond")
struct TimestampTests {
    @Test("every millisecond time is written as that millisecond and reads back to it (a cut fraction once wrote 1796349083.090 s as .089)")
    func millisecondsRoundTrip() {
        var wrong: [Int] = []
        for milliseconds in 1_796_349_083_000..<1_796_349_093_000 {
            let text = Timestamp.format(Date(timeIntervalSince1970: Double(milliseconds) / 1000))
            let read = Timestamp.parse(text).map { Int(($0.timeIntervalSince1970 * 1000).rounded()) }
            if !text.hasSuffix(String(format: ".%03dZ", milliseconds % 1000)) || read != milliseconds { wrong.append(milliseconds) }
        }
        #expect(wrong.isEmpty, "\(wrong.count) of 10,000 wrong, first \(wrong.prefix(3))")
        #expect(Timestamp.format(Date(timeIntervalSince1970: 1_796_349_083.090)) == "2026-12-04T01:51:23.090Z")
    }

    @Test("a time between two milliseconds is written as the nearest one")
    func nearest() {
        #expect(Timestamp.format(Date(timeIntervalSince1970: 1_796_349_083.0896)) == "2026-12-04T01:51:23.090Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: 1_796_349_083.0894)) == "2026-12-04T01:51:23.089Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: 1_796_349_083.9996)) == "2026-12-04T01:51:24.000Z")
    }
}
