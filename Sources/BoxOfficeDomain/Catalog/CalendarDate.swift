/// A `YYYY-MM-DD` path or body value, validated before it reaches SQL.
public enum CalendarDate {
    /// The canonical date text, or nil when `text` is not a real calendar date in that format.
    public static func parse(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return nil }
        guard let year = Text.decimal(bytes[0..<4]), let month = Text.decimal(bytes[5..<7]), let day = Text.decimal(bytes[8..<10]),
            year >= 1, (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year)
        else { return nil }
        return text
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
