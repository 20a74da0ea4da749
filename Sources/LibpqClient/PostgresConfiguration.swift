/// Connection settings. `url` is any libpq connection string (postgres:// URI or key=value).
public struct PostgresConfiguration: Sendable, Equatable {
    public var url: String
    public var connectTimeoutSeconds: Int
    /// Server-side bound on any one statement (`statement_timeout`).
    public var statementTimeoutMilliseconds: Int
    /// Bound on waiting for a row or table lock (`lock_timeout`).
    public var lockTimeoutMilliseconds: Int
    /// Client-side bound on waiting for any reply. A server that stops answering without closing
    /// the connection (a blackholed host, a frozen VM) never sends the statement_timeout error;
    /// this deadline fails the call, and the connection, instead. Also the TCP user timeout.
    public var replyTimeoutMilliseconds: Int
    public var applicationName: String

    public init(
        url: String,
        connectTimeoutSeconds: Int = 2,
        statementTimeoutMilliseconds: Int = 5_000,
        lockTimeoutMilliseconds: Int = 2_000,
        replyTimeoutMilliseconds: Int? = nil,
        applicationName: String = "boxoffice"
    ) {
        self.replyTimeoutMilliseconds = replyTimeoutMilliseconds ?? statementTimeoutMilliseconds + 5_000
        self.url = url
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
        self.lockTimeoutMilliseconds = lockTimeoutMilliseconds
        self.applicationName = applicationName
    }
}
