/// Small text checks and formats shared by the domain and the HTTP layer.
public enum Text {
    /// 1...maxLength printable ASCII characters without spaces (header values such as
    /// Idempotency-Key and X-Request-Id).
    public static func isPrintableToken(_ text: String, maxLength: Int = 128) -> Bool {
        (1...maxLength).contains(text.utf8.count) && text.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// 16 lowercase hex digits, zero-padded.
    public static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The value of a run of ASCII decimal digits, nil if any byte is not a digit.
    public static func decimal(_ bytes: some Collection<UInt8>) -> Int? {
        guard !bytes.isEmpty else { return nil }
        var value = 0
        for byte in bytes {
            guard (48...57).contains(byte) else { return nil }
            value = value * 10 + Int(byte - 48)
        }
        return value
    }
}
