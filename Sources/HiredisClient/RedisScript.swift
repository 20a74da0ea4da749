import NIOConcurrencyHelpers

/// A Lua script, loaded into the server once and then run by SHA1 with EVALSHA.
public final class RedisScript: Sendable {
    public let name: String
    public let source: String
    private let cachedSHA = NIOLockedValueBox<String?>(nil)

    public init(name: String, source: String) {
        self.name = name
        self.source = source
    }

    /// The SHA1 the server gave on the last SCRIPT LOAD, if any.
    var sha: String? {
        get { self.cachedSHA.withLockedValue { $0 } }
        set { self.cachedSHA.withLockedValue { $0 = newValue } }
    }
}
