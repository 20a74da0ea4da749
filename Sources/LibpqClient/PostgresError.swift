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
        default: self = .other
        }
    }

    /// Errors worth retrying the whole transaction for.
    public var isTransient: Bool {
        self == .serializationFailure || self == .deadlockDetected
    }
}
