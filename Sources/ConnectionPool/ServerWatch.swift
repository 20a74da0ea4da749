import Logging
import Synchronization

/// Logs the changes of which server a pool's connections reach: the first connection, a lost
/// server, the one that replaced it after a failover. Once per change, not per connection, so a
/// pool of 20 that loses its server logs one line, not 20 (and nothing more per failed call).
public final class ServerWatch: Sendable {
    private enum State: Equatable {
        case unknown
        case connected(String)
        case unreachable(last: String?)
    }

    private let server: String
    private let logger: Logger
    private let state = Mutex(State.unknown)

    /// `server`: what the log lines call it ("postgres", "redis").
    public init(server: String, logger: Logger) {
        self.server = server
        self.logger = logger
    }

    /// A connection was opened to `address` ("host:port").
    public func connected(to address: String) {
        let previous = self.state.withLock { state in
            defer { state = .connected(address) }
            return state
        }
        switch previous {
        case .connected(address):
            return
        case .unknown:
            // Every pool's first connection: only worth a line when debugging.
            self.logger.debug("\(self.server) connected", metadata: ["server": "\(address)"])
        case .connected(let old), .unreachable(last: .some(let old)):
            let metadata: Logger.Metadata = ["server": "\(address)", "previous": "\(old)"]
            if old == address {
                self.logger.notice("\(self.server) reachable again", metadata: metadata)
            } else {
                self.logger.notice("\(self.server) server changed", metadata: metadata)
            }
        case .unreachable(last: nil):
            self.logger.notice("\(self.server) reachable again", metadata: ["server": "\(address)"])
        }
    }

    /// A connection could not be opened.
    public func failed(_ error: any Error) {
        let first = self.state.withLock { state -> Bool in
            switch state {
            case .unreachable: return false
            case .connected(let address): state = .unreachable(last: address)
            case .unknown: state = .unreachable(last: nil)
            }
            return true
        }
        if first {
            self.logger.warning("\(self.server) unreachable", metadata: ["error": "\(error)"])
        }
    }
}
