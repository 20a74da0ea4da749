import BoxOfficeDomain
import Testing

@Suite("CalendarDate.parse")
struct CalendarDateTests {
    @Test("real dates in YYYY-MM-DD parse to themselves",
          arguments: ["2026-12-24", "2026-01-01", "2026-12-31", "2028-02-29", "2000-02-29", "2026-04-30", "0001-01-01", "9999-12-31"])
    func valid(text: String) {
        #expect(CalendarDate.parse(text) == text)
    }

    @Test("impossible dates are rejected",
          arguments: ["2026-02-29", "1900-02-29", "2100-02-29", "2026-13-01", "2026-00-10", "2026-01-00", "2026-01-32",
                      "2026-04-31", "2026-06-31", "2026-09-31", "2026-11-31", "0000-01-01"])
    func impossible(text: String) {
        #expect(CalendarDate.parse(text) == nil)
    }

    @Test("other formats and garbage are rejected",
          arguments: ["2026-1-01", "2026-01-1", "26-01-01", "2026/01/01", "20260101", "2026-01-01T00:00:00Z", " 2026-01-01",
                      "2026-01-01 ", "", "garbage", "abcd-ef-gh", "2026-0a-01", "+026-01-01", "-026-01-01", "2026--1-01",
                      "２０２６-01-01", "2026-01-01\0", "202６-01-01"])
    func garbage(text: String) {
        #expect(CalendarDate.parse(text) == nil)
    }
}
