/// SQL text with its parameters, built by string interpolation: every interpolated value becomes
/// a `$n` placeholder bound to that value, so the placeholders can never drift from their values
/// and user data never becomes SQL text (the idea of postgres-nio's `PostgresQuery`).
///
///     try connection.query("SELECT balance FROM balances WHERE user_id = \(userID)")
///     // sql: "SELECT balance FROM balances WHERE user_id = $1", binds: [userID]
///
/// Casts stay in the SQL: `\(date)::date`, `\(seats)::int[]`. Trusted SQL fragments (never user
/// data) go in with `\(unescaped: "...")`.
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation {
    public private(set) var sql: String
    public private(set) var binds: [any PostgresEncodable]

    public init(stringLiteral value: String) {
        self.sql = value
        self.binds = []
    }

    public init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.sql
        self.binds = stringInterpolation.binds
    }

    /// Raw SQL with positional parameters, for callers that build SQL dynamically.
    public init(unsafeSQL sql: String, binds: [any PostgresEncodable] = []) {
        self.sql = sql
        self.binds = binds
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql: String
        var binds: [any PostgresEncodable] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            self.sql = ""
            self.sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            self.binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            self.sql += literal
        }

        /// A bound parameter.
        public mutating func appendInterpolation(_ value: some PostgresEncodable) {
            self.binds.append(value)
            self.sql += "$\(self.binds.count)"
        }

        /// A bound parameter that may be NULL (an explicit overload, so optionals need no cast).
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value?) {
            self.binds.append(value)
            self.sql += "$\(self.binds.count)"
        }

        /// Trusted SQL text, pasted as it is.
        public mutating func appendInterpolation(unescaped text: String) {
            self.sql += text
        }
    }
}
