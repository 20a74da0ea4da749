/// A decoded RESP reply. Bulk strings stay bytes so binary values survive the round trip.
public enum RedisReply: Sendable, Equatable {
    case status(String)
    case error(String)
    case integer(Int64)
    case bulk([UInt8])
    case array([RedisReply])
    case null

    /// The reply as text: bulk strings and status replies decode as UTF-8, integers print.
    public var string: String? {
        switch self {
        case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        case .integer(let value): String(value)
        default: nil
        }
    }

    /// Integers, and bulk strings holding an integer (Lua scripts and HGET return those).
    public var int: Int? {
        switch self {
        case .integer(let value): Int(value)
        case .bulk: self.string.flatMap { Int($0) }
        default: nil
        }
    }

    public var array: [RedisReply]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    public var isNull: Bool { self == .null }

    /// Throws `RedisError.server` for an error reply, so callers can `try reply.checked()`.
    @discardableResult
    public func checked() throws -> RedisReply {
        if case .error(let message) = self { throw RedisError.server(message) }
        return self
    }
}

public enum RedisError: Error, Equatable, CustomStringConvertible {
    /// Could not connect: nothing was sent, so the request may go elsewhere (a cluster retries it).
    case connect(String)
    /// The connection broke (the pool discards it); a request in flight may or may not have run.
    case connection(String)
    /// The server answered with an error reply.
    case server(String)
    /// The URL in REDIS_URL could not be parsed.
    case invalidURL(String)
    /// A reply did not have the shape the caller expected.
    case unexpectedReply(String)

    /// Error replies that say the server cannot serve now, not that the request was wrong:
    /// out of memory, loading its data, persistence failing, busy with a script, a read-only
    /// replica, a replica cut off from its master, a cluster that is down or resharding.
    public static let unavailableReplyPrefixes: Set<String> = [
        "OOM", "LOADING", "MISCONF", "BUSY", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS",
    ]

    /// True when retrying later may succeed: the connection failed, or the server said it cannot
    /// serve now (`unavailableReplyPrefixes`).
    public var isUnavailable: Bool {
        switch self {
        case .connect, .connection: return true
        case .server(let message):
            let code = message.prefix { $0 != " " }
            return Self.unavailableReplyPrefixes.contains(String(code))
        case .invalidURL, .unexpectedReply: return false
        }
    }

    public var description: String {
        switch self {
        case .connect(let message): "cannot connect to redis: \(message)"
        case .connection(let message): "redis connection error: \(message)"
        case .server(let message): "redis error reply: \(message)"
        case .invalidURL(let url): "invalid redis url: \(url)"
        case .unexpectedReply(let message): "unexpected redis reply: \(message)"
        }
    }
}

/// One command argument, as raw bytes so keys and values are binary safe.
public struct RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(_ string: String) { self.bytes = Array(string.utf8) }
    public init(_ value: Int) { self.bytes = Array(String(value).utf8) }
    public init(stringLiteral value: String) { self.init(value) }
    public init(integerLiteral value: Int) { self.init(value) }
}

/// One pipelinable request: a command, or a Lua script run by EVALSHA.
public enum RedisRequest: Sendable {
    case command([RedisArgument])
    case script(RedisScript, keys: [RedisArgument], arguments: [RedisArgument])
}
