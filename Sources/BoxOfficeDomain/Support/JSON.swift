import Foundation

/// One encoder for every response body, so stored idempotent replies are byte-identical to live ones.
public enum JSON {
    public static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// A response computed by the domain as status plus JSON body: money-moving calls store exactly
/// this next to the money movement and replay it for a retried Idempotency-Key.
public struct StoredResponse: Sendable, Equatable {
    public let status: Int
    public let body: String

    public init(status: Int, body: String) {
        self.status = status
        self.body = body
    }
}
