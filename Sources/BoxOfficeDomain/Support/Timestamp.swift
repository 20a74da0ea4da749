import Foundation

/// RFC 3339 UTC timestamps with millisecond precision, as every API time is written.
public enum Timestamp {
    public static func format(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: true).timeSeparator(.colon).timeZone(separator: .omitted))
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
