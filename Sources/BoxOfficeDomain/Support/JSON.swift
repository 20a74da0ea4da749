import Foundation

/// The JSON form of stored results (idempotent replays), one encoder for all of them.
public enum JSON {
    public static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// `text` as a JSON string literal.
    public static func quoted(_ text: String) -> String {
        (try? self.encode(text)) ?? "\"\""
    }

    public static func decode<Value: Decodable>(_ type: Value.Type, from text: String) throws -> Value {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}
