/// The rows of a result, copied out of the libpq result so it can be freed at once.
public struct PostgresRows: Sendable, Sequence {
    public let columns: [String]
    public let rows: [PostgresRow]
    /// Rows changed by INSERT/UPDATE/DELETE (`PQcmdTuples`).
    public let affectedRows: Int

    public var count: Int { self.rows.count }
    public var first: PostgresRow? { self.rows.first }
    public func makeIterator() -> IndexingIterator<[PostgresRow]> { self.rows.makeIterator() }
}

public struct PostgresRow: Sendable {
    public let columns: [String]
    public let values: [String?]

    /// Decodes column `index`; throws on NULL.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, at index: Int) throws -> T {
        guard index < self.values.count else { throw PostgresError.decoding("no column \(index)") }
        guard let text = self.values[index] else {
            throw PostgresError.decoding("column \(self.columns[index]) is NULL")
        }
        return try T(postgresText: text)
    }

    /// Decodes column `index`, nil for NULL.
    public func decode<T: PostgresDecodable>(_ type: T?.Type = T?.self, at index: Int) throws -> T? {
        guard index < self.values.count else { throw PostgresError.decoding("no column \(index)") }
        return try self.values[index].map { try T(postgresText: $0) }
    }

    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, column name: String) throws -> T {
        guard let index = self.columns.firstIndex(of: name) else { throw PostgresError.decoding("no column \(name)") }
        return try self.decode(type, at: index)
    }

    public func decode<T: PostgresDecodable>(_ type: T?.Type = T?.self, column name: String) throws -> T? {
        guard let index = self.columns.firstIndex(of: name) else { throw PostgresError.decoding("no column \(name)") }
        return try self.decode(type, at: index)
    }
}
