/// Connection settings. `url` is any libpq connection string (postgres:// URI or key=value).
public struct PostgresConfiguration: Sendable, Equatable {
    public var url: String
    public var connectTimeoutSeconds: Int
    /// Server-side bound on any one statement (`statement_timeout`).
    public var statementTimeoutMilliseconds: Int
    /// Bound on waiting for a row or table lock (`lock_timeout`).
    public var lockTimeoutMilliseconds: Int
    public var applicationName: String

    public init(
        url: String,
        connectTimeoutSeconds: Int = 2,
        statementTimeoutMilliseconds: Int = 5_000,
        lockTimeoutMilliseconds: Int = 2_000,
        applicationName: String = "boxoffice"
    ) {
        self.url = url
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
        self.lockTimeoutMilliseconds = lockTimeoutMilliseconds
        self.applicationName = applicationName
    }
}
