/// Errors of the PostgreSQL client. Server errors carry their SQLSTATE, mapped to the kinds the
/// domain branches on.
public enum PostgresError: Error, Equatable, CustomStringConvertible {
    case connection(String)
    case server(kind: ServerErrorKind, sqlState: String, message: String)
    case decoding(String)

    public var description: String {
        switch self {
        case .connection(let message): "postgres connection error: \(message)"
        case .server(_, let sqlState, let message): "postgres error \(sqlState): \(message)"
        case .decoding(let message): "postgres decoding error: \(message)"
        }
    }

    /// True when the server cannot serve now and a later retry may succeed: the connection
    /// failed, the server is shutting down or starting, is read-only (a standby, or
    /// `default_transaction_read_only`), is out of connections or resources, timed out a
    /// statement or a lock wait, or kept failing a transaction on deadlocks or serialization.
    public var isUnavailable: Bool {
        switch self {
        case .connection: return true
        case .server(let kind, _, _): return kind.isUnavailable
        case .decoding: return false
        }
    }

    /// The server error kind, or nil for client-side errors.
    public var kind: ServerErrorKind? {
        if case .server(let kind, _, _) = self { return kind }
        return nil
    }
}

public enum ServerErrorKind: Sendable, Equatable {
    case uniqueViolation
    case foreignKeyViolation
    case checkViolation
    case notNullViolation
    case lockNotAvailable
    case serializationFailure
    case deadlockDetected
    case queryCanceled
    case invalidTextRepresentation
    case undefinedTable
    case adminShutdown
    case readOnlyTransaction
    case connectionException
    case insufficientResources
    /// The commit happened on the primary, but its wait for the synchronous standby was canceled:
    /// not acknowledged (see PostgresConnection's notice receiver).
    case unreplicatedCommit
    case other

    public init(sqlState: String) {
        switch sqlState {
        case "23505": self = .uniqueViolation
        case "23503": self = .foreignKeyViolation
        case "23514": self = .checkViolation
        case "23502": self = .notNullViolation
        case "55P03": self = .lockNotAvailable
        case "40001": self = .serializationFailure
        case "40P01": self = .deadlockDetected
        case "57014": self = .queryCanceled
        case "22P02": self = .invalidTextRepresentation
        case "42P01": self = .undefinedTable
        case "57P01", "57P02", "57P03": self = .adminShutdown
        case "25006": self = .readOnlyTransaction
        default:
            switch sqlState.prefix(2) {
            case "08": self = .connectionException
            case "53": self = .insufficientResources  // disk full, out of memory, too many connections
            default: self = .other
            }
        }
    }

    /// The server cannot serve now; see `PostgresError.isUnavailable`.
    public var isUnavailable: Bool {
        switch self {
        case .adminShutdown, .readOnlyTransaction, .connectionException, .insufficientResources, .unreplicatedCommit,
            .queryCanceled, .lockNotAvailable, .serializationFailure, .deadlockDetected:
            return true
        default:
            return false
        }
    }

    /// Errors worth retrying the whole transaction for.
    public var isTransient: Bool {
        self == .serializationFailure || self == .deadlockDetected
    }
}
