import Foundation

/// RFC 3339 UTC timestamps with millisecond precision, as every API time is written.
public enum Timestamp {
    /// The time to the nearest millisecond. The formatter cuts the fraction instead of rounding it,
    /// and a millisecond time as a `Date` (a Double of seconds) often lies just below its
    /// millisecond: 1796349083.090 s wrote ".089". So the value given to it is the millisecond plus
    /// half of one, which it cuts to exactly that millisecond.
    public static func format(_ date: Date) -> String {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded()
        return Date(timeIntervalSince1970: (milliseconds + 0.5) / 1000).formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: true).timeSeparator(.colon).timeZone(separator: .omitted))
    }

    /// An RFC 3339 time, with or without fractional seconds, between 1970 and 9999; nil otherwise.
    public static func parse(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var date = formatter.date(from: text)
        if date == nil {
            formatter.formatOptions = [.withInternetDateTime]
            date = formatter.date(from: text)
        }
        guard let date, date.timeIntervalSince1970 > 0, date.timeIntervalSince1970 < 253_402_300_800 else { return nil }  // before 10000-01-01
        return date
    }
}
