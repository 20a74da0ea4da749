import Metrics
import NIOConcurrencyHelpers

/// A Lua script, loaded into the server once and then run by SHA1 with EVALSHA.
public final class RedisScript: Sendable {
    public let name: String
    public let source: String
    private let cachedSHA = NIOLockedValueBox<String?>(nil)
    private let runs = NIOLockedValueBox<Counter?>(nil)

    public init(name: String, source: String) {
        self.name = name
        self.source = source
    }

    /// Counts a run in `boxoffice_redis_scripts_total{script}`. The counter is made on first use,
    /// after the metrics backend has been set up, and kept: scripts run on every poll.
    func countRun() {
        let counter = self.runs.withLockedValue { counter in
            if let counter { return counter }
            let made = Counter(label: "boxoffice_redis_scripts_total", dimensions: [("script", self.name)])
            counter = made
            return made
        }
        counter.increment()
    }

    /// The SHA1 the server gave on the last SCRIPT LOAD, if any.
    var sha: String? {
        get { self.cachedSHA.withLockedValue { $0 } }
        set { self.cachedSHA.withLockedValue { $0 = newValue } }
    }
}
